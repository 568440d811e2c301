package mxsandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Institution codes served by the sandbox.
const (
	// InstitutionMXBank is MX's test bank: the password selects the outcome
	// (see the package documentation).
	InstitutionMXBank = "mxbank"
	// InstitutionMXBankOAuth is the OAuth test bank: members are created with
	// is_oauth and wait in PENDING until the end user authorises them.
	InstitutionMXBankOAuth = "mx_bank_oauth"
	// InstitutionMXBankThrottled behaves like mxbank but, like every
	// institution other than mxbank, ignores a foreground aggregation
	// requested within the throttle window after the last successful one.
	InstitutionMXBankThrottled = "mxbank_throttled"
	// InstitutionMXBankDegraded accepts any credentials and always ends DEGRADED.
	InstitutionMXBankDegraded = "mxbank_degraded"
	// InstitutionMXBankSlow behaves like mxbank but a successful aggregation
	// shows DELAYED and takes three aggregation durations.
	InstitutionMXBankSlow = "mxbank_slow"
)

// ThrottleWindow is MX's aggregation throttle: how long after a member's last
// successful aggregation (foreground or background) a foreground aggregation
// request starts nothing (MX-API.md §4 and §11: "typically three hours").
// Options.AggregationThrottle overrides it.
const ThrottleWindow = 3 * time.Hour

// Credential field names of the credential-based institutions.
const (
	CredentialFieldUsername = "username"
	CredentialFieldPassword = "password"
)

type credentialField struct {
	GUID         string
	FieldName    string
	Label        string
	Type         string
	DisplayOrder int
}

type institution struct {
	Code          string
	GUID          string
	Name          string
	URL           string
	SupportsOAuth bool
	Credentials   []credentialField
	// Unthrottled exempts the institution from the aggregation throttle
	// (MX-API.md §8: mxbank has no throttle window).
	Unthrottled bool
	// AlwaysDegraded ends every aggregation in DEGRADED.
	AlwaysDegraded bool
	// Slow shows DELAYED and takes three aggregation durations to connect.
	Slow bool
}

// stableGUID derives a guid that is the same in every sandbox and every run,
// so documentation and tests can name credential and institution guids.
func stableGUID(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h := hex.EncodeToString(sum[:16])
	return prefix + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func passwordInstitution(code, name string) *institution {
	return &institution{
		Code: code,
		GUID: stableGUID("INS", code),
		Name: name,
		URL:  "https://www.mxbank.example/" + code,
		Credentials: []credentialField{
			{GUID: stableGUID("CRD", code, CredentialFieldUsername), FieldName: CredentialFieldUsername, Label: "Username", Type: "TEXT", DisplayOrder: 1},
			{GUID: stableGUID("CRD", code, CredentialFieldPassword), FieldName: CredentialFieldPassword, Label: "Password", Type: "PASSWORD", DisplayOrder: 2},
		},
	}
}

// catalog returns the institutions in the order the list endpoint serves them.
func catalog() []*institution {
	mxbank := passwordInstitution(InstitutionMXBank, "MX Bank")
	mxbank.Unthrottled = true

	oauth := &institution{
		Code:          InstitutionMXBankOAuth,
		GUID:          stableGUID("INS", InstitutionMXBankOAuth),
		Name:          "MX Bank (OAuth)",
		URL:           "https://www.mxbank.example/" + InstitutionMXBankOAuth,
		SupportsOAuth: true,
	}

	throttled := passwordInstitution(InstitutionMXBankThrottled, "MX Bank (Throttled)")

	degraded := passwordInstitution(InstitutionMXBankDegraded, "MX Bank (Degraded)")
	degraded.AlwaysDegraded = true

	slow := passwordInstitution(InstitutionMXBankSlow, "MX Bank (Slow)")
	slow.Slow = true

	return []*institution{mxbank, oauth, throttled, degraded, slow}
}

// CredentialGUID returns the stable guid of a credential field ("username" or
// "password") of a credential-based sandbox institution, or "" if there is none.
func CredentialGUID(institutionCode, fieldName string) string {
	for _, inst := range catalog() {
		if inst.Code != institutionCode {
			continue
		}
		for _, c := range inst.Credentials {
			if c.FieldName == fieldName {
				return c.GUID
			}
		}
	}
	return ""
}

// Connection statuses, as MX names them.
const (
	StatusCreated      = "CREATED"
	StatusPrevented    = "PREVENTED"
	StatusDenied       = "DENIED"
	StatusChallenged   = "CHALLENGED"
	StatusRejected     = "REJECTED"
	StatusLocked       = "LOCKED"
	StatusConnected    = "CONNECTED"
	StatusImpeded      = "IMPEDED"
	StatusReconnected  = "RECONNECTED"
	StatusDegraded     = "DEGRADED"
	StatusDisconnected = "DISCONNECTED"
	StatusDiscontinued = "DISCONTINUED"
	StatusClosed       = "CLOSED"
	StatusDelayed      = "DELAYED"
	StatusFailed       = "FAILED"
	StatusUpdated      = "UPDATED"
	StatusDisabled     = "DISABLED"
	StatusImported     = "IMPORTED"
	StatusResumed      = "RESUMED"
	StatusExpired      = "EXPIRED"
	StatusImpaired     = "IMPAIRED"
	StatusPending      = "PENDING"
)

// statusIDs are MX's numeric connection status codes.
var statusIDs = map[string]int{
	StatusCreated: 0, StatusPrevented: 1, StatusDenied: 2, StatusChallenged: 3,
	StatusRejected: 4, StatusLocked: 5, StatusConnected: 6, StatusImpeded: 7,
	StatusReconnected: 8, StatusDegraded: 9, StatusDisconnected: 10, StatusDiscontinued: 11,
	StatusClosed: 12, StatusDelayed: 13, StatusFailed: 14, StatusUpdated: 15,
	StatusDisabled: 16, StatusImported: 17, StatusResumed: 18, StatusExpired: 19,
	StatusImpaired: 20, StatusPending: 21,
}

// userActionable lists the statuses that need the end user; entering one of
// them sends a CONNECTION_STATUS webhook.
var userActionable = map[string]bool{
	StatusPrevented: true, StatusDenied: true, StatusChallenged: true, StatusRejected: true,
	StatusLocked: true, StatusImpeded: true, StatusImported: true, StatusExpired: true,
	StatusImpaired: true, StatusPending: true,
}

// statusMessage is the end-user text MX shows for a status (sandbox wording).
func statusMessage(status, institutionName string) string {
	switch status {
	case StatusCreated:
		return "We're connecting to " + institutionName + ". This usually takes a moment."
	case StatusPrevented:
		return "We stopped trying to sign in to " + institutionName + " after several failed attempts. Please update your credentials."
	case StatusDenied:
		return "The credentials you entered for " + institutionName + " were not accepted. Please check them and try again."
	case StatusChallenged:
		return institutionName + " needs a little more information to verify it's you. Please answer the security question."
	case StatusRejected:
		return institutionName + " did not accept the answer to its security question. Please try again."
	case StatusLocked:
		return "Your " + institutionName + " account is locked. Please visit " + institutionName + "'s website to unlock it."
	case StatusConnected:
		return "Connected to " + institutionName + "."
	case StatusImpeded:
		return institutionName + " needs you to take action on its website before we can connect. Please sign in there and follow its instructions."
	case StatusReconnected:
		return "Reconnected to " + institutionName + ". We're updating your data."
	case StatusDegraded:
		return institutionName + " is having trouble sending us your data right now. We'll keep trying."
	case StatusDisconnected:
		return "We haven't been able to reach " + institutionName + " for a while. We'll keep trying."
	case StatusDiscontinued:
		return institutionName + " is no longer supported."
	case StatusClosed:
		return "This connection to " + institutionName + " has been closed."
	case StatusDelayed:
		return institutionName + " is taking longer than usual to respond. Thanks for your patience."
	case StatusFailed:
		return "We couldn't update your " + institutionName + " data this time. We'll try again soon."
	case StatusUpdated:
		return "Your " + institutionName + " credentials were updated. We're connecting now."
	case StatusDisabled:
		return "Updates from " + institutionName + " are paused."
	case StatusImported:
		return "Please enter your " + institutionName + " credentials to finish connecting."
	case StatusResumed:
		return "Thanks! We're checking your answer with " + institutionName + "."
	case StatusExpired:
		return "The security question from " + institutionName + " timed out. Please try again."
	case StatusImpaired:
		return "Some of your " + institutionName + " credentials are missing. Please provide them to continue."
	case StatusPending:
		return "Please sign in at " + institutionName + " to authorize this connection."
	}
	return ""
}
