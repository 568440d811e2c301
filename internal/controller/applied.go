package controller

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// The applied-state record. Status says which desired state MX has confirmed, as a hash of the
// MX-relevant fields that were sent and acknowledged (status.appliedSettings) and, for a
// member, a keyed fingerprint of the credentials (status.appliedCredentials). Drift is a pure
// comparison of the hash of what the spec asks for now with the recorded one, so a change is
// sent whatever phase stopped the previous reconcile (a user not Ready, a 429, a crash): the
// record moves only when MX answered success.

// settingsHash returns a short, stable hash of the MX-relevant fields v (a struct of them).
func settingsHash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // v is a plain struct of strings and booleans
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// memberSettings are the member fields the operator keeps true in MX after the create.
type memberSettings struct {
	ID                           string `json:"id"`
	Metadata                     string `json:"metadata"`
	DisableBackgroundAggregation bool   `json:"disableBackgroundAggregation"`
}

func desiredMemberSettings(spec mxv1alpha1.MXMemberSpec, partnerID string) memberSettings {
	return memberSettings{ID: partnerID, Metadata: spec.Metadata, DisableBackgroundAggregation: spec.DisableBackgroundAggregation}
}

// update is the request that sends every setting.
func (m memberSettings) update() mx.UpdateMemberRequest {
	return mx.UpdateMemberRequest{ID: &m.ID, Metadata: &m.Metadata, BackgroundAggregationIsDisabled: &m.DisableBackgroundAggregation}
}

// userSettings are the user fields the operator keeps true in MX.
type userSettings struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Metadata string `json:"metadata"`
	Disabled bool   `json:"disabled"`
}

func desiredUserSettings(spec mxv1alpha1.MXUserSpec, partnerID string) userSettings {
	return userSettings{ID: partnerID, Email: spec.Email, Metadata: spec.Metadata, Disabled: spec.Disabled}
}

// update is the request that sends every setting.
func (u userSettings) update() mx.UpdateUserRequest {
	return mx.UpdateUserRequest{ID: &u.ID, Email: &u.Email, Metadata: &u.Metadata, IsDisabled: &u.Disabled}
}

// credentialsFingerprint is an HMAC-SHA256, keyed with key, of the credential values in field
// order. A plain hash of a bank password in status could be brute-forced by anyone who may read
// the MXMember; without the key (which only the operator holds) the fingerprint says nothing.
func credentialsFingerprint(key []byte, creds []mx.CredentialValue) string {
	creds = slices.Clone(creds)
	slices.SortFunc(creds, func(a, b mx.CredentialValue) int {
		switch {
		case a.GUID < b.GUID:
			return -1
		case a.GUID > b.GUID:
			return 1
		}
		return 0
	})
	mac := hmac.New(sha256.New, key)
	for _, c := range creds {
		// Length-prefixed, so no two lists of values produce the same input.
		_ = json.NewEncoder(mac).Encode([2]string{c.GUID, c.Value})
	}
	return "hmac-sha256:" + hex.EncodeToString(mac.Sum(nil)[:16])
}
