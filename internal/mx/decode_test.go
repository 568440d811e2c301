package mx

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestDecodeChallengeType proves both forms of challenge type (MX-API.md §6)
// decode to the name.
func TestDecodeChallengeType(t *testing.T) {
	tests := []struct {
		reason string
		json   string
		want   FieldType
	}{
		{"string TEXT", `"TEXT"`, FieldTypeText},
		{"integer 0 is TEXT (MX's MFA guide)", `0`, FieldTypeText},
		{"integer 1 is PASSWORD", `1`, FieldTypePassword},
		{"integer 2 is OPTIONS", `2`, FieldTypeOptions},
		{"integer 12 is TOKEN", `12`, FieldTypeToken},
		{"integer 13 is IMAGE_DATA", `13`, FieldTypeImageData},
		{"integer 14 is IMAGE_OPTIONS", `14`, FieldTypeImageOptions},
		{"string OPTIONS", `"OPTIONS"`, FieldTypeOptions},
		{"string IMAGE_OPTIONS", `"IMAGE_OPTIONS"`, FieldTypeImageOptions},
		{"a code sent as a numeric string", `"13"`, FieldTypeImageData},
		{"an unknown code is kept as its number", `7`, FieldType("7")},
		{"an unknown name is kept", `"SECURITY_KEY"`, FieldType("SECURITY_KEY")},
		{"null is empty", `null`, FieldType("")},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			var c Challenge
			g.Expect(json.Unmarshal([]byte(`{"guid":"CRD-1","type":`+tt.json+`}`), &c)).To(Succeed())
			g.Expect(c.Type).To(Equal(tt.want), tt.reason)
		})
	}
	g := NewWithT(t)
	var c Challenge
	g.Expect(json.Unmarshal([]byte(`{"type":true}`), &c)).NotTo(Succeed(), "a boolean type is not a type")
}

// TestDecodeJobGUID proves most_recent_job_guid is accepted as a string (the
// real API), a boolean (the spec bug) or null.
func TestDecodeJobGUID(t *testing.T) {
	tests := []struct {
		reason string
		json   string
		want   string
	}{
		{"a real job guid", `"JOB-12345678"`, "JOB-12345678"},
		{"the spec's boolean false", `false`, ""},
		{"the spec's boolean true", `true`, ""},
		{"null", `null`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			var m Member
			g.Expect(json.Unmarshal([]byte(`{"guid":"MBR-1","most_recent_job_guid":`+tt.json+`}`), &m)).To(Succeed())
			g.Expect(m.MostRecentJobGUID).To(Equal(tt.want), tt.reason)
			g.Expect(m.GUID).To(Equal("MBR-1"))
		})
	}
}

// TestDecodeTimestamps proves null and empty timestamps decode to nil and
// MX's ISO 8601 forms decode to the instant.
func TestDecodeTimestamps(t *testing.T) {
	want := time.Date(2016, 10, 13, 18, 7, 57, 0, time.UTC)
	tests := []struct {
		reason string
		json   string
		want   *time.Time
	}{
		{"null", `null`, nil},
		{"empty string", `""`, nil},
		{"fractional seconds and Z (member example)", `"2016-10-13T18:07:57.000Z"`, &want},
		{"no fraction", `"2016-10-13T18:07:57Z"`, &want},
		{"numeric offset with colon", `"2016-10-13T20:07:57+02:00"`, &want},
		{"numeric offset without colon", `"2016-10-13T18:07:57+0000"`, &want},
		{"no zone means UTC", `"2016-10-13T18:07:57"`, &want},
		{"Unix seconds (webhook style)", `1476382077`, &want},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			var s MemberStatus
			g.Expect(json.Unmarshal([]byte(`{"aggregated_at":`+tt.json+`,"successfully_aggregated_at":null}`), &s)).To(Succeed())
			g.Expect(s.SuccessfullyAggregatedAt).To(BeNil())
			if tt.want == nil {
				g.Expect(s.AggregatedAt).To(BeNil(), tt.reason)
				return
			}
			g.Expect(s.AggregatedAt).NotTo(BeNil())
			g.Expect(s.AggregatedAt.Equal(*tt.want)).To(BeTrue(), "got %v", s.AggregatedAt)
		})
	}
	g := NewWithT(t)
	var m Member
	g.Expect(json.Unmarshal([]byte(`{"aggregated_at":"yesterday"}`), &m)).NotTo(Succeed(), "an unknown format is an error, not a silent zero")
}

// TestDecodeDecimal proves money decodes to exact decimal text from a JSON
// number or string, never through float64.
func TestDecodeDecimal(t *testing.T) {
	tests := []struct {
		reason  string
		json    string
		want    Decimal
		wantErr bool
	}{
		{"a number keeps its exact text", `1000.10`, "1000.10", false},
		{"beyond float64 precision stays exact", `12345678901234567.89`, "12345678901234567.89", false},
		{"a string number", `"999.99"`, "999.99", false},
		{"a negative number", `-0.01`, "-0.01", false},
		{"exponent form is kept", `1e2`, "1e2", false},
		{"spaces around a string number are trimmed", `" 42.00 "`, "42.00", false},
		{"null is unknown", `null`, "", false},
		{"empty string is unknown", `""`, "", false},
		{"a non-numeric string is an error", `"N/A"`, "", true},
		{"a string with trailing text is an error", `"12.5 USD"`, "", true},
		{"a boolean is an error", `true`, "", true},
		{"a leading plus is not JSON", `"+1"`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			var a Account
			err := json.Unmarshal([]byte(`{"balance":`+tt.json+`}`), &a)
			if tt.wantErr {
				g.Expect(err).To(HaveOccurred(), tt.reason)
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(a.Balance).To(Equal(tt.want), tt.reason)
			out, err := json.Marshal(a.Balance)
			g.Expect(err).NotTo(HaveOccurred())
			if tt.want == "" {
				g.Expect(string(out)).To(Equal("null"))
				return
			}
			g.Expect(string(out)).To(Equal(string(tt.want)), "encodes back as the same number literal")
		})
	}
}

// TestDecodeConnectionStatus proves the status decodes from a name, an
// integer code or null.
func TestDecodeConnectionStatus(t *testing.T) {
	tests := []struct {
		reason string
		json   string
		want   ConnectionStatus
	}{
		{"a name", `"CONNECTED"`, StatusConnected},
		{"null is none", `null`, StatusNone},
		{"code 0 is CREATED", `0`, StatusCreated},
		{"code 3 is CHALLENGED", `3`, StatusChallenged},
		{"code 21 is PENDING", `21`, StatusPending},
		{"an unknown code is kept as its number", `99`, ConnectionStatus("99")},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			var m Member
			g.Expect(json.Unmarshal([]byte(`{"connection_status":`+tt.json+`}`), &m)).To(Succeed())
			g.Expect(m.ConnectionStatus).To(Equal(tt.want), tt.reason)
		})
	}
}

// TestConnectionStatusClass proves Class follows the table of MX-API.md §5
// for all 22 statuses, null, and an unknown status.
func TestConnectionStatusClass(t *testing.T) {
	tests := []struct {
		status ConnectionStatus
		want   StatusClass
		reason string
	}{
		{StatusNone, StatusClassNone, "null: manual member or no credentials"},
		{StatusCreated, StatusClassTransient, "keep polling"},
		{StatusPrevented, StatusClassNeedsUser, "3 failed attempts; new credentials needed"},
		{StatusDenied, StatusClassNeedsUser, "credentials invalid"},
		{StatusChallenged, StatusClassNeedsUser, "answer MFA"},
		{StatusRejected, StatusClassNeedsUser, "MFA answer wrong"},
		{StatusLocked, StatusClassNeedsUser, "locked at the institution"},
		{StatusConnected, StatusClassSuccess, "ready when not aggregating"},
		{StatusImpeded, StatusClassNeedsUser, "action on the institution's site"},
		{StatusReconnected, StatusClassTransient, "re-aggregate with the user present"},
		{StatusDegraded, StatusClassRetryLater, "repeated failures"},
		{StatusDisconnected, StatusClassRetryLater, "failing for two weeks"},
		{StatusDiscontinued, StatusClassTerminal, "institution no longer supported"},
		{StatusClosed, StatusClassTerminal, "member closed"},
		{StatusDelayed, StatusClassTransient, "slow; keep polling"},
		{StatusFailed, StatusClassRetryLater, "usually self-resolves"},
		{StatusUpdated, StatusClassTransient, "job about to run"},
		{StatusDisabled, StatusClassTerminal, "aggregation disabled (paused)"},
		{StatusImported, StatusClassNeedsUser, "credentials needed"},
		{StatusResumed, StatusClassTransient, "MFA answered, outcome pending"},
		{StatusExpired, StatusClassNeedsUser, "MFA not answered in time"},
		{StatusImpaired, StatusClassNeedsUser, "missing credentials"},
		{StatusPending, StatusClassNeedsUser, "OAuth: send the user to the window"},
		{ConnectionStatus("SOMETHING_NEW"), StatusClassRetryLater, "unknown: poll slowly, claim nothing"},
	}
	g := NewWithT(t)
	g.Expect(connectionStatusCodes).To(HaveLen(22))
	for _, tt := range tests {
		g.Expect(tt.status.Class()).To(Equal(tt.want), "%s: %s", tt.status, tt.reason)
		g.Expect(tt.status.Known()).To(Equal(tt.status != "SOMETHING_NEW"))
	}
}

// TestAggregationComplete proves completion needs CONNECTED and no running
// aggregation.
func TestAggregationComplete(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&MemberStatus{ConnectionStatus: StatusConnected}).AggregationComplete()).To(BeTrue())
	g.Expect((&MemberStatus{ConnectionStatus: StatusConnected, IsBeingAggregated: true}).AggregationComplete()).To(BeFalse())
	g.Expect((&MemberStatus{ConnectionStatus: StatusResumed}).AggregationComplete()).To(BeFalse())
}

// TestUnknownFieldsIgnored proves fields MX adds later do not break
// decoding.
func TestUnknownFieldsIgnored(t *testing.T) {
	g := NewWithT(t)
	var tr Transaction
	g.Expect(json.Unmarshal([]byte(`{"guid":"TRN-1","amount":1,"brand_new":{"nested":[1,2]},"is_international":true}`), &tr)).To(Succeed())
	g.Expect(tr.GUID).To(Equal("TRN-1"))
	g.Expect(tr.Amount).To(Equal(Decimal("1")))
}
