package mx

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeResponses feeds arbitrary bodies to the response decoders of the
// member, member status, challenges, accounts and transactions wrappers. It
// proves they never panic and that whatever they accept is normalised:
// integer codes are mapped to names, money is exact number text, and a
// decoded value survives an encode/decode round trip unchanged. The seed
// corpus is testdata/fuzz/FuzzDecodeResponses.
func FuzzDecodeResponses(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		res := &response{endpoint: "GET /fuzz", status: http.StatusOK, body: body}
		if m, err := decodeObject[Member](res, "member"); err == nil {
			checkStatus(t, m.ConnectionStatus)
			roundTrip(t, m)
		}
		if s, err := decodeObject[MemberStatus](res, "member"); err == nil {
			checkStatus(t, s.ConnectionStatus)
			for _, c := range s.Challenges {
				checkFieldType(t, c.Type)
			}
			roundTrip(t, s)
		}
		if cs, _, err := decodePage[Challenge](res, "challenges"); err == nil {
			for _, c := range cs {
				checkFieldType(t, c.Type)
			}
			roundTrip(t, &cs)
		}
		if as, pag, err := decodePage[Account](res, "accounts"); err == nil {
			for _, a := range as {
				for _, d := range []Decimal{a.Balance, a.AvailableBalance, a.AvailableCredit, a.CreditLimit, a.StatementBalance, a.MinimumPayment, a.APR, a.APY, a.InterestRate} {
					checkDecimal(t, d)
				}
			}
			_ = pag
			roundTrip(t, &as)
		}
		if ts, _, err := decodePage[Transaction](res, "transactions"); err == nil {
			for _, tr := range ts {
				checkDecimal(t, tr.Amount)
			}
			roundTrip(t, &ts)
		}
	})
}

// checkStatus fails when a known integer code survived decoding.
func checkStatus(t *testing.T, s ConnectionStatus) {
	t.Helper()
	if n, err := strconv.Atoi(string(s)); err == nil && n >= 0 && n < len(connectionStatusCodes) {
		t.Fatalf("connection status code %d not mapped to its name", n)
	}
}

// checkFieldType fails when a known integer code survived decoding.
func checkFieldType(t *testing.T, ft FieldType) {
	t.Helper()
	if n, err := strconv.Atoi(string(ft)); err == nil {
		if _, known := fieldTypeCodes[n]; known {
			t.Fatalf("field type code %d not mapped to its name", n)
		}
	}
}

// checkDecimal fails when a Decimal is neither empty nor a JSON number.
func checkDecimal(t *testing.T, d Decimal) {
	t.Helper()
	if d != "" && !isJSONNumber(string(d)) {
		t.Fatalf("decimal %q is not a number", string(d))
	}
}

// roundTrip encodes v (a pointer) and decodes it again into a fresh value,
// which must equal v. Values that cannot be encoded (a time outside years
// 0–9999) are skipped: encoding is not the client's job.
func roundTrip[T any](t *testing.T, v *T) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	var again T
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatalf("re-decoding %s: %v", b, err)
	}
	if diff := cmp.Diff(*v, again, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Fatalf("round trip changed the value (-first +second):\n%s", diff)
	}
}
