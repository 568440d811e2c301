package mx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Decimal is a decimal number kept as its exact text, e.g. "1234.56", so that
// money never takes a float64 round trip. It decodes from a JSON number or a
// JSON string holding a number; null or "" decode to the empty Decimal
// (unknown). It encodes as a JSON number, or null when empty.
type Decimal string

// UnmarshalJSON accepts a JSON number, a string holding a JSON number
// (surrounding spaces trimmed), "" or null.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*d = ""
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*d = ""
			return nil
		}
		if !isJSONNumber(s) {
			return fmt.Errorf("mx: decimal: string of %d bytes is not a number", len(s))
		}
		*d = Decimal(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("mx: decimal: %w", err)
	}
	if !isJSONNumber(string(n)) {
		return fmt.Errorf("mx: decimal: not a number")
	}
	*d = Decimal(n)
	return nil
}

// MarshalJSON writes the number literal, or null when d is empty.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("null"), nil
	}
	if !isJSONNumber(string(d)) {
		return nil, fmt.Errorf("mx: decimal: %q is not a number", string(d))
	}
	return []byte(d), nil
}

// String returns the decimal text ("" when unknown).
func (d Decimal) String() string { return string(d) }

// isJSONNumber reports whether s is exactly a JSON number literal.
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return false
	}
	if _, ok := v.(json.Number); !ok {
		return false
	}
	return !dec.More() && dec.InputOffset() == int64(len(s))
}

// timestampLayouts are the ISO 8601 forms MX is known to use.
var timestampLayouts = []string{
	time.RFC3339Nano,                     // 2016-10-13T18:07:57.000Z, 2023-07-25T17:14:46+00:00
	"2006-01-02T15:04:05.999999999Z0700", // +0000 offsets
	"2006-01-02T15:04:05.999999999",      // no zone: UTC
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02",
}

// timestamp decodes an MX timestamp: an ISO 8601 string (see
// timestampLayouts), an integer of Unix seconds (webhooks), "" or null.
type timestamp struct{ t *time.Time }

// UnmarshalJSON implements the tolerant timestamp decoding.
func (ts *timestamp) UnmarshalJSON(b []byte) error {
	ts.t = nil
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] != '"' {
		secs, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("mx: timestamp: not a string or Unix seconds")
		}
		t := time.Unix(secs, 0).UTC()
		ts.t = &t
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			ts.t = &t
			return nil
		}
	}
	return fmt.Errorf("mx: timestamp: unrecognised format (%d bytes)", len(s))
}

// flexGUID decodes a guid that MX may send as a string, or (per the spec
// bug on most_recent_job_guid) as a boolean or null, which mean "none".
type flexGUID string

// UnmarshalJSON accepts a string, a boolean, a number or null.
func (g *flexGUID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*g = flexGUID(s)
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v.(type) {
	case nil, bool, float64:
		*g = ""
		return nil
	}
	return fmt.Errorf("mx: guid: unexpected JSON %T", v)
}

// pagination is MX's list pagination object.
type pagination struct {
	CurrentPage  int `json:"current_page"`
	PerPage      int `json:"per_page"`
	TotalEntries int `json:"total_entries"`
	TotalPages   int `json:"total_pages"`
}
