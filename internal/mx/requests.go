package mx

import (
	"encoding/json"
	"fmt"
	"time"
)

// redacted replaces secrets in every printed or encoded form.
const redacted = "[REDACTED]"

// CredentialValue is the value of one institution credential field (e.g. the
// password) for creating or updating a member. Value is secret: it is sent
// only in the request body, and every fmt verb, String, GoString, JSON,
// text and logr encoding of a CredentialValue prints "[REDACTED]" instead.
type CredentialValue struct {
	// GUID is the [CredentialField] GUID, "CRD-…".
	GUID string
	// Value is the secret value.
	Value string
}

// String returns the GUID with the value redacted.
func (c CredentialValue) String() string {
	return fmt.Sprintf("{GUID:%s Value:%s}", c.GUID, redacted)
}

// GoString returns a Go-syntax form with the value redacted.
func (c CredentialValue) GoString() string {
	return fmt.Sprintf("mx.CredentialValue{GUID:%q, Value:%q}", c.GUID, redacted)
}

// Format prints String (or GoString for %#v) for every verb.
func (c CredentialValue) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c) }

// MarshalJSON encodes the GUID with the value redacted. The request body is
// built from a separate wire type, so this never reaches MX.
func (c CredentialValue) MarshalJSON() ([]byte, error) {
	return json.Marshal(secretWire{GUID: c.GUID, Value: redacted})
}

// MarshalText returns the redacted String form.
func (c CredentialValue) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// MarshalLog implements logr.Marshaler with the value redacted.
func (c CredentialValue) MarshalLog() any { return secretWire{GUID: c.GUID, Value: redacted} }

// ChallengeAnswer answers one MFA [Challenge]. Value is secret and redacted
// exactly like [CredentialValue.Value].
type ChallengeAnswer struct {
	// GUID is the challenge GUID.
	GUID string
	// Value is the answer: the text, or the chosen option's Value.
	Value string
}

// String returns the GUID with the value redacted.
func (a ChallengeAnswer) String() string {
	return fmt.Sprintf("{GUID:%s Value:%s}", a.GUID, redacted)
}

// GoString returns a Go-syntax form with the value redacted.
func (a ChallengeAnswer) GoString() string {
	return fmt.Sprintf("mx.ChallengeAnswer{GUID:%q, Value:%q}", a.GUID, redacted)
}

// Format prints String (or GoString for %#v) for every verb.
func (a ChallengeAnswer) Format(f fmt.State, verb rune) { formatRedacted(f, verb, a) }

// MarshalJSON encodes the GUID with the value redacted.
func (a ChallengeAnswer) MarshalJSON() ([]byte, error) {
	return json.Marshal(secretWire{GUID: a.GUID, Value: redacted})
}

// MarshalText returns the redacted String form.
func (a ChallengeAnswer) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// MarshalLog implements logr.Marshaler with the value redacted.
func (a ChallengeAnswer) MarshalLog() any { return secretWire{GUID: a.GUID, Value: redacted} }

// formatRedacted writes GoString for %#v and String for every other verb.
func formatRedacted(f fmt.State, verb rune, v interface {
	fmt.Stringer
	fmt.GoStringer
}) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(v.GoString()))
		return
	}
	_, _ = f.Write([]byte(v.String()))
}

// secretWire is the wire form {"guid","value"} of credentials and answers.
type secretWire struct {
	GUID  string `json:"guid"`
	Value string `json:"value"`
}

// CreateUserRequest is the body of [Client.CreateUser].
type CreateUserRequest struct {
	// ID is the partner's unique id for the user. Set it: it is how
	// [Client.FindUserByID] resolves a create whose outcome is unknown.
	ID         string
	Email      string
	IsDisabled bool
	Metadata   string
}

// UpdateUserRequest is the body of [Client.UpdateUser]. Nil fields are left
// unchanged; at least one must be set.
type UpdateUserRequest struct {
	ID         *string
	Email      *string
	IsDisabled *bool
	Metadata   *string
}

// CreateMemberRequest is the body of [Client.CreateMember].
type CreateMemberRequest struct {
	// InstitutionCode is required, e.g. "mxbank".
	InstitutionCode string
	// Credentials are the values of the institution's credential fields.
	// Empty for an OAuth member.
	Credentials []CredentialValue
	// ID is the partner's unique id for the member. Set it: it is how
	// [Client.FindMemberByID] resolves a create whose outcome is unknown.
	ID       string
	Metadata string
	// SkipAggregation creates the member without aggregating (MX answers
	// 200 instead of 202).
	SkipAggregation                 bool
	BackgroundAggregationIsDisabled bool
	// IsOAuth creates an OAuth member; it starts PENDING and needs
	// [Client.OAuthWindowURI].
	IsOAuth bool
	// ReferralSource ("BROWSER" or "APP") and ClientRedirectURL are sent
	// beside the member object for OAuth members.
	ReferralSource    string
	ClientRedirectURL string
	// CallbackPayload, when set, is base64-encoded into X-CALLBACK-PAYLOAD
	// and echoed by MX in member webhooks. Encoded, it must not exceed 1024
	// bytes. It must not contain secrets.
	CallbackPayload []byte
}

// UpdateMemberRequest is the body of [Client.UpdateMember]. Nil or empty
// fields are left unchanged; at least one must be set. New credentials start
// an aggregation unless SkipAggregation is true.
type UpdateMemberRequest struct {
	Credentials                     []CredentialValue
	ID                              *string
	Metadata                        *string
	SkipAggregation                 *bool
	BackgroundAggregationIsDisabled *bool
	// CallbackPayload is as in [CreateMemberRequest].
	CallbackPayload []byte
}

// OAuthWindowOptions are the optional query parameters of
// [Client.OAuthWindowURI].
type OAuthWindowOptions struct {
	// ClientRedirectURL is where MX sends the end user after authorising.
	ClientRedirectURL string
	// ReferralSource is "BROWSER" or "APP".
	ReferralSource string
	// SkipAggregation stops MX from aggregating once the user authorises.
	SkipAggregation bool
}

// ListUsersOptions filters [Client.ListUsers]. Empty fields do not filter.
type ListUsersOptions struct {
	// ID is the partner's user id.
	ID    string
	Email string
}

// DateRange bounds transaction lists by from_date and to_date (inclusive
// calendar dates, taken in each time's own location). A zero time leaves
// the bound to MX's default: from = today − 120 days, to = today + 5 days.
type DateRange struct {
	From time.Time
	To   time.Time
}

// userWire is the wire form of a user create or update.
type userWire struct {
	ID         *string `json:"id,omitempty"`
	Email      *string `json:"email,omitempty"`
	IsDisabled *bool   `json:"is_disabled,omitempty"`
	Metadata   *string `json:"metadata,omitempty"`
}

// memberCreateWire is the wire form of a member create. Credentials has no
// omitempty: MX's spec requires the array, so an OAuth member (no
// credentials) sends "credentials":[].
type memberCreateWire struct {
	InstitutionCode                 string       `json:"institution_code"`
	Credentials                     []secretWire `json:"credentials"`
	ID                              *string      `json:"id,omitempty"`
	Metadata                        *string      `json:"metadata,omitempty"`
	SkipAggregation                 *bool        `json:"skip_aggregation,omitempty"`
	BackgroundAggregationIsDisabled *bool        `json:"background_aggregation_is_disabled,omitempty"`
	IsOAuth                         *bool        `json:"is_oauth,omitempty"`
}

// memberWire is the wire form of a member update; fields left nil or empty
// are not sent and so stay unchanged.
type memberWire struct {
	Credentials                     []secretWire `json:"credentials,omitempty"`
	ID                              *string      `json:"id,omitempty"`
	Metadata                        *string      `json:"metadata,omitempty"`
	SkipAggregation                 *bool        `json:"skip_aggregation,omitempty"`
	BackgroundAggregationIsDisabled *bool        `json:"background_aggregation_is_disabled,omitempty"`
}

// nonEmpty returns &s, or nil when s is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// trueOrNil returns &b when b is true, else nil.
func trueOrNil(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}

// credentialWire returns the wire form of creds and their values, which
// are redacted from errors.
func credentialWire(creds []CredentialValue) ([]secretWire, []string) {
	if len(creds) == 0 {
		return nil, nil
	}
	wire := make([]secretWire, len(creds))
	secrets := make([]string, len(creds))
	for i, c := range creds {
		wire[i] = secretWire(c)
		secrets[i] = c.Value
	}
	return wire, secrets
}
