package controller

import (
	"slices"
	"strings"
	"sync"
	"time"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// Limits of what a member's status shows (the CRD's MaxItems).
const (
	maxChallenges      = 20
	maxChallengeOption = 50
)

// institutionCache remembers institutions' credential fields for a while, so that creating
// members costs one MX call per institution per TTL rather than one per member.
type institutionCache struct {
	mu      sync.Mutex
	entries map[string]institutionEntry
}

type institutionEntry struct {
	fields  []mx.CredentialField
	expires time.Time
}

// get returns the cached fields of code, if they have not expired at now.
func (c *institutionCache) get(code string, now time.Time) ([]mx.CredentialField, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[code]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.fields, true
}

// put caches the fields of code until expires.
func (c *institutionCache) put(code string, fields []mx.CredentialField, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]institutionEntry{}
	}
	c.entries[code] = institutionEntry{fields: fields, expires: expires}
}

// credentialValues maps a credentials Secret onto an institution's credential fields: the value
// of the field named F is the Secret's key F. It returns the values and the sorted names of the
// fields whose key is missing or empty. It never returns or formats a value.
func credentialValues(fields []mx.CredentialField, data map[string][]byte) ([]mx.CredentialValue, []string) {
	var values []mx.CredentialValue
	var missing []string
	for _, f := range fields {
		v := data[f.FieldName]
		if len(v) == 0 {
			missing = append(missing, f.FieldName)
			continue
		}
		values = append(values, mx.CredentialValue{GUID: f.GUID, Value: string(v)})
	}
	slices.Sort(missing)
	return values, missing
}

// fieldNames returns the field names of an institution's credentials, sorted.
func fieldNames(fields []mx.CredentialField) []string {
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		names = append(names, f.FieldName)
	}
	slices.Sort(names)
	return names
}

// challengesFromMX converts MX challenges to what status shows: guid, label, type and the
// options' labels and values. Images are never copied.
func challengesFromMX(cs []mx.Challenge) []mxv1alpha1.Challenge {
	if len(cs) == 0 {
		return nil
	}
	out := make([]mxv1alpha1.Challenge, 0, min(len(cs), maxChallenges))
	for _, c := range cs[:min(len(cs), maxChallenges)] {
		ch := mxv1alpha1.Challenge{GUID: c.GUID, Label: c.Label, Type: string(c.Type)}
		for _, o := range c.Options {
			ch.Options = append(ch.Options, mxv1alpha1.ChallengeOption{Label: o.Label, Value: o.Value})
		}
		for _, o := range c.ImageOptions {
			ch.Options = append(ch.Options, mxv1alpha1.ChallengeOption{Label: o.Label, Value: o.Value})
		}
		if len(ch.Options) > maxChallengeOption {
			ch.Options = ch.Options[:maxChallengeOption]
		}
		out = append(out, ch)
	}
	return out
}

// challengeSet identifies a set of challenges: their guids, sorted and comma-separated.
func challengeSet(cs []mxv1alpha1.Challenge) string {
	guids := make([]string, 0, len(cs))
	for _, c := range cs {
		guids = append(guids, c.GUID)
	}
	slices.Sort(guids)
	return strings.Join(guids, ",")
}

// challengeAnswers takes the answer to each challenge from the answers Secret's data (key =
// challenge guid). It returns the answers and the sorted guids that have no answer.
func challengeAnswers(cs []mxv1alpha1.Challenge, data map[string][]byte) ([]mx.ChallengeAnswer, []string) {
	var answers []mx.ChallengeAnswer
	var missing []string
	for _, c := range cs {
		v := data[c.GUID]
		if len(v) == 0 {
			missing = append(missing, c.GUID)
			continue
		}
		answers = append(answers, mx.ChallengeAnswer{GUID: c.GUID, Value: string(v)})
	}
	slices.Sort(missing)
	return answers, missing
}

// accountSummaries returns the bounded summary of accounts for status, in MX's order: at most
// MaxAccountSummaries entries, the total count, and whether the list was cut.
func accountSummaries(accts []mx.Account) ([]mxv1alpha1.AccountSummary, int32, bool) {
	n := min(len(accts), mxv1alpha1.MaxAccountSummaries)
	out := make([]mxv1alpha1.AccountSummary, 0, n)
	for _, a := range accts[:n] {
		out = append(out, mxv1alpha1.AccountSummary{
			GUID:             a.GUID,
			Name:             a.Name,
			Type:             a.Type,
			Subtype:          a.Subtype,
			LastFour:         lastFour(a.AccountNumber),
			Balance:          a.Balance.String(),
			AvailableBalance: a.AvailableBalance.String(),
			Currency:         a.CurrencyCode,
			Closed:           a.IsClosed,
		})
	}
	if len(out) == 0 {
		out = nil
	}
	return out, int32(len(accts)), len(accts) > n //nolint:gosec // G115: a member has far fewer than 2^31 accounts.
}

// lastFour returns the last four characters of an account number.
func lastFour(number string) string {
	r := []rune(number)
	return string(r[max(len(r)-4, 0):])
}
