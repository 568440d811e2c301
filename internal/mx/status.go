package mx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ConnectionStatus is a member's connection_status (MX-API.md §5). The empty
// value means null: a manual member or one without credentials.
type ConnectionStatus string

// The 22 connection statuses, with MX's integer codes in comments.
const (
	StatusNone         ConnectionStatus = ""
	StatusCreated      ConnectionStatus = "CREATED"      // 0
	StatusPrevented    ConnectionStatus = "PREVENTED"    // 1
	StatusDenied       ConnectionStatus = "DENIED"       // 2
	StatusChallenged   ConnectionStatus = "CHALLENGED"   // 3
	StatusRejected     ConnectionStatus = "REJECTED"     // 4
	StatusLocked       ConnectionStatus = "LOCKED"       // 5
	StatusConnected    ConnectionStatus = "CONNECTED"    // 6
	StatusImpeded      ConnectionStatus = "IMPEDED"      // 7
	StatusReconnected  ConnectionStatus = "RECONNECTED"  // 8
	StatusDegraded     ConnectionStatus = "DEGRADED"     // 9
	StatusDisconnected ConnectionStatus = "DISCONNECTED" // 10
	StatusDiscontinued ConnectionStatus = "DISCONTINUED" // 11
	StatusClosed       ConnectionStatus = "CLOSED"       // 12
	StatusDelayed      ConnectionStatus = "DELAYED"      // 13
	StatusFailed       ConnectionStatus = "FAILED"       // 14
	StatusUpdated      ConnectionStatus = "UPDATED"      // 15
	StatusDisabled     ConnectionStatus = "DISABLED"     // 16
	StatusImported     ConnectionStatus = "IMPORTED"     // 17
	StatusResumed      ConnectionStatus = "RESUMED"      // 18
	StatusExpired      ConnectionStatus = "EXPIRED"      // 19
	StatusImpaired     ConnectionStatus = "IMPAIRED"     // 20
	StatusPending      ConnectionStatus = "PENDING"      // 21
)

// connectionStatusCodes lists the statuses by MX integer code.
var connectionStatusCodes = [...]ConnectionStatus{
	StatusCreated, StatusPrevented, StatusDenied, StatusChallenged, StatusRejected,
	StatusLocked, StatusConnected, StatusImpeded, StatusReconnected, StatusDegraded,
	StatusDisconnected, StatusDiscontinued, StatusClosed, StatusDelayed, StatusFailed,
	StatusUpdated, StatusDisabled, StatusImported, StatusResumed, StatusExpired,
	StatusImpaired, StatusPending,
}

// StatusClass is what a connection status means for the operator.
type StatusClass string

// Status classes (MX-API.md §5).
const (
	// StatusClassNone: null status, a manual member or one without
	// credentials. Nothing to poll.
	StatusClassNone StatusClass = "none"
	// StatusClassTransient: work in progress; keep polling (no faster than
	// every 3 s).
	StatusClassTransient StatusClass = "transient"
	// StatusClassSuccess: connected; aggregation is complete once
	// is_being_aggregated is false.
	StatusClassSuccess StatusClass = "success"
	// StatusClassNeedsUser: the end user must act (new credentials, MFA,
	// OAuth, the institution's site).
	StatusClassNeedsUser StatusClass = "needsUser"
	// StatusClassRetryLater: failing at MX's or the institution's end; poll
	// slowly, it usually self-resolves.
	StatusClassRetryLater StatusClass = "retryLater"
	// StatusClassTerminal: the member will not aggregate again (institution
	// discontinued, member closed or disabled).
	StatusClassTerminal StatusClass = "terminal"
)

// Class returns the status class per MX-API.md §5. RECONNECTED is transient;
// CHALLENGED, REJECTED and PENDING need the user; DISABLED is terminal.
//
// A status this package does not know (one MX added later) is
// StatusClassRetryLater: the operator neither reports success nor asks the
// user to act on something it cannot explain, and polls at the slow cadence,
// which costs little rate budget whether the state is short- or long-lived.
func (s ConnectionStatus) Class() StatusClass {
	switch s {
	case StatusNone:
		return StatusClassNone
	case StatusCreated, StatusReconnected, StatusDelayed, StatusUpdated, StatusResumed:
		return StatusClassTransient
	case StatusConnected:
		return StatusClassSuccess
	case StatusPrevented, StatusDenied, StatusChallenged, StatusRejected, StatusLocked,
		StatusImpeded, StatusImported, StatusExpired, StatusImpaired, StatusPending:
		return StatusClassNeedsUser
	case StatusDegraded, StatusDisconnected, StatusFailed:
		return StatusClassRetryLater
	case StatusDiscontinued, StatusClosed, StatusDisabled:
		return StatusClassTerminal
	}
	return StatusClassRetryLater
}

// Known reports whether s is null or one of the 22 documented statuses.
func (s ConnectionStatus) Known() bool {
	if s == StatusNone {
		return true
	}
	for _, k := range connectionStatusCodes {
		if s == k {
			return true
		}
	}
	return false
}

// UnmarshalJSON accepts the status name, its integer code (0–21, as in
// webhooks' connection_status_id; also as a numeric string) or null. An
// unknown integer code decodes to its decimal text, which Class treats as
// unknown.
func (s *ConnectionStatus) UnmarshalJSON(b []byte) error {
	name, err := decodeNameOrCode(b, "connection_status", func(code int) (string, bool) {
		if code >= 0 && code < len(connectionStatusCodes) {
			return string(connectionStatusCodes[code]), true
		}
		return "", false
	})
	*s = ConnectionStatus(name)
	return err
}

// FieldType is the type of an MFA challenge or an institution credential
// field. MX sends it as a name or, in its MFA guide, as an integer code;
// both decode to the name.
type FieldType string

// Field types with their MX integer codes.
const (
	FieldTypeText         FieldType = "TEXT"          // 0
	FieldTypePassword     FieldType = "PASSWORD"      // 1
	FieldTypeOptions      FieldType = "OPTIONS"       // 2
	FieldTypeToken        FieldType = "TOKEN"         // 12
	FieldTypeImageData    FieldType = "IMAGE_DATA"    // 13
	FieldTypeImageOptions FieldType = "IMAGE_OPTIONS" // 14
)

// fieldTypeCodes maps MX's integer codes to names.
var fieldTypeCodes = map[int]FieldType{
	0:  FieldTypeText,
	1:  FieldTypePassword,
	2:  FieldTypeOptions,
	12: FieldTypeToken,
	13: FieldTypeImageData,
	14: FieldTypeImageOptions,
}

// UnmarshalJSON accepts a name, an integer code (also as a numeric string,
// e.g. "0") or null. An unknown integer code decodes to its decimal text.
func (t *FieldType) UnmarshalJSON(b []byte) error {
	name, err := decodeNameOrCode(b, "field type", func(code int) (string, bool) {
		name, ok := fieldTypeCodes[code]
		return string(name), ok
	})
	*t = FieldType(name)
	return err
}

// decodeNameOrCode decodes a value MX sends either as a name or as an integer code (also as a
// numeric string). It returns "" for null, the name byCode knows for a code, the decimal text of
// an unknown code, and any other string as it is.
func decodeNameOrCode(b []byte, what string, byCode func(int) (string, bool)) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return "", nil
	}
	text := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &text); err != nil {
			return "", err
		}
	}
	code, err := strconv.Atoi(text)
	if err != nil {
		if b[0] != '"' {
			return "", fmt.Errorf("mx: %s: not a string or integer code", what)
		}
		return text, nil
	}
	if name, ok := byCode(code); ok {
		return name, nil
	}
	return strconv.Itoa(code), nil
}
