package txsync_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/mxoperator/mx-operator/internal/mx"
	"github.com/mxoperator/mx-operator/internal/txsync"
)

// raw builds a transaction as the MX client hands it over: the JSON as MX sent it and its
// decoded form.
func raw(t *testing.T, js string) mx.RawTransaction {
	t.Helper()
	var tx mx.Transaction
	if err := json.Unmarshal([]byte(js), &tx); err != nil {
		t.Fatalf("decoding %s: %v", js, err)
	}
	return mx.RawTransaction{JSON: json.RawMessage(js), Transaction: tx}
}

func TestTransactionIDIsDeterministic(t *testing.T) {
	updated := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := mx.Transaction{GUID: "TRN-1", Status: "PENDING", UpdatedAt: &updated, Description: "Cafe Rio", Amount: "12.30"}
	later := updated.Add(time.Second)
	for _, tc := range []struct {
		reason string
		change func(*mx.Transaction)
		same   bool
	}{
		{reason: "the same guid, updated_at and status: the same id", change: func(*mx.Transaction) {}, same: true},
		{reason: "fields outside the id (description, amount) do not change it", same: true,
			change: func(t *mx.Transaction) { t.Description, t.Amount = "CAFE RIO 0231", "99.99" }},
		{reason: "updated_at in another zone is the same instant: the same id", same: true,
			change: func(t *mx.Transaction) { u := updated.In(time.FixedZone("MST", -7*3600)); t.UpdatedAt = &u }},
		{reason: "another guid: a new id", change: func(t *mx.Transaction) { t.GUID = "TRN-2" }},
		{reason: "a later updated_at: a new id", change: func(t *mx.Transaction) { t.UpdatedAt = &later }},
		{reason: "no updated_at: a new id", change: func(t *mx.Transaction) { t.UpdatedAt = nil }},
		{reason: "pending → posted: a new id", change: func(t *mx.Transaction) { t.Status = "POSTED" }},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			other := base
			tc.change(&other)
			id := txsync.TransactionID(other)
			g.Expect(id).To(HaveLen(32))
			if tc.same {
				g.Expect(id).To(Equal(txsync.TransactionID(base)))
				return
			}
			g.Expect(id).NotTo(Equal(txsync.TransactionID(base)))
		})
	}
}

func TestTransactionIDDoesNotCollideAcrossFieldBoundaries(t *testing.T) {
	g := NewWithT(t)
	// guid "a" + status "bc" must not hash like guid "ab" + status "c".
	g.Expect(txsync.TransactionID(mx.Transaction{GUID: "a", Status: "bc"})).
		NotTo(Equal(txsync.TransactionID(mx.Transaction{GUID: "ab", Status: "c"})))
}

func TestTransactionEvent(t *testing.T) {
	g := NewWithT(t)
	tx := raw(t, `{"guid":"TRN-1","status":"POSTED","amount":61.1,"updated_at":"2026-03-01T12:00:00Z","transacted_at":"2026-02-28T09:00:00Z","description":"Cafe Rio"}`)
	e, err := txsync.TransactionEvent(txsync.Source("USR-1", "MBR-1"), tx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.Validate()).To(Succeed())
	g.Expect(e.ID()).To(Equal(txsync.TransactionID(tx.Transaction)))
	g.Expect(e.Type()).To(Equal(txsync.TransactionEventType))
	g.Expect(e.Source()).To(Equal("mx://users/USR-1/members/MBR-1"))
	g.Expect(e.Subject()).To(Equal("TRN-1"))
	g.Expect(e.Time()).To(BeTemporally("==", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), "time is updated_at")
	g.Expect(e.DataContentType()).To(Equal("application/json"))

	noUpdate := raw(t, `{"guid":"TRN-2","status":"PENDING","amount":1,"transacted_at":"2026-02-28T09:00:00Z"}`)
	e, err = txsync.TransactionEvent(txsync.Source("USR-1", "MBR-1"), noUpdate)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.Time()).To(BeTemporally("==", time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC)), "else transacted_at")
}

func TestTransactionEventDataHasMoneyAsDecimalStrings(t *testing.T) {
	for _, tc := range []struct {
		reason   string
		mx, data string
	}{
		{reason: "a number becomes a string of its literal text",
			mx:   `{"guid":"TRN-1","amount":61.1,"status":"POSTED"}`,
			data: `{"guid":"TRN-1","amount":"61.1","status":"POSTED"}`},
		{reason: "trailing zeros are kept, not normalised away",
			mx:   `{"guid":"TRN-1","amount":0.10,"status":"POSTED"}`,
			data: `{"guid":"TRN-1","amount":"0.10","status":"POSTED"}`},
		{reason: "more digits than a float32 holds are kept exactly",
			mx:   `{"guid":"TRN-1","amount":1234567.89,"status":"POSTED"}`,
			data: `{"guid":"TRN-1","amount":"1234567.89","status":"POSTED"}`},
		{reason: "beyond float64 precision, still exact",
			mx:   `{"guid":"TRN-1","amount":90071992547409931.01,"status":"POSTED"}`,
			data: `{"guid":"TRN-1","amount":"90071992547409931.01","status":"POSTED"}`},
		{reason: "a negative integer",
			mx:   `{"guid":"TRN-1","amount":-5,"status":"POSTED"}`,
			data: `{"guid":"TRN-1","amount":"-5","status":"POSTED"}`},
		{reason: "an exponent is kept as MX wrote it (a decimal parser reads 1e2 as 100)",
			mx:   `{"guid":"TRN-1","amount":1e2,"status":"POSTED"}`,
			data: `{"guid":"TRN-1","amount":"1e2","status":"POSTED"}`},
		{reason: "an amount MX already sent as a string is left alone",
			mx:   `{"guid":"TRN-1","amount":"12.30","status":"POSTED"}`,
			data: `{"guid":"TRN-1","amount":"12.30","status":"POSTED"}`},
		{reason: "a null amount stays null",
			mx:   `{"guid":"TRN-1","amount":null,"status":"POSTED"}`,
			data: `{"guid":"TRN-1","amount":null,"status":"POSTED"}`},
		{reason: "every other byte stays as MX sent it: whitespace, key order, other numbers, nested objects",
			mx:   "{ \"guid\" : \"TRN-1\",\n  \"amount\" : 0.10 ,\"count\":3.50, \"extra\":{\"amount\":7.0},\"status\":\"POSTED\" }",
			data: "{ \"guid\" : \"TRN-1\",\n  \"amount\" : \"0.10\" ,\"count\":3.50, \"extra\":{\"amount\":7.0},\"status\":\"POSTED\" }"},
		{reason: "no amount: the object is unchanged",
			mx:   `{"guid":"TRN-1","status":"POSTED","description":"amount: 3.00"}`,
			data: `{"guid":"TRN-1","status":"POSTED","description":"amount: 3.00"}`},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			e, err := txsync.TransactionEvent("mx://users/U/members/M", raw(t, tc.mx))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(e.Data())).To(Equal(tc.data))
			g.Expect(e.ID()).To(Equal(txsync.TransactionID(raw(t, tc.mx).Transaction)), "the id does not depend on the data's form")
		})
	}
}

func TestTransactionEventRefusesDataThatIsNotAnObject(t *testing.T) {
	g := NewWithT(t)
	_, err := txsync.TransactionEvent("mx://users/U/members/M", mx.RawTransaction{JSON: json.RawMessage(`["amount",1]`), Transaction: mx.Transaction{GUID: "TRN-1"}})
	g.Expect(err).To(MatchError(ContainSubstring("TRN-1")))
}

func TestMarkerEvent(t *testing.T) {
	g := NewWithT(t)
	from, to := date("2026-02-20"), date("2026-03-06")
	m := txsync.NewWindowMarker(from, to, []string{"TRN-1", "TRN-2"})
	sum := sha256.Sum256([]byte("TRN-1\nTRN-2"))
	g.Expect(m).To(Equal(txsync.WindowMarker{From: "2026-02-20", To: "2026-03-06", Count: 2, GUIDs: []string{"TRN-1", "TRN-2"},
		GUIDsSHA256: hex.EncodeToString(sum[:])}))

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e, err := txsync.MarkerEvent("mx://users/U/members/M", m, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.Validate()).To(Succeed())
	g.Expect(e.Type()).To(Equal(txsync.WindowEventType))
	g.Expect(e.Subject()).To(Equal("2026-02-20/2026-03-06"))
	var data txsync.WindowMarker
	g.Expect(json.Unmarshal(e.Data(), &data)).To(Succeed())
	g.Expect(data).To(Equal(m))

	markerID := func(from, to string, guids ...string) string {
		e, err := txsync.MarkerEvent("mx://users/U/members/M", txsync.NewWindowMarker(date(from), date(to), guids), now.Add(time.Hour))
		g.Expect(err).NotTo(HaveOccurred())
		return e.ID()
	}
	g.Expect(markerID("2026-02-20", "2026-03-06", "TRN-1", "TRN-2")).To(Equal(e.ID()), "the same window and guids: the same id, whenever it is sent")
	g.Expect(markerID("2026-02-20", "2026-03-06", "TRN-2", "TRN-1")).NotTo(Equal(e.ID()), "another order")
	g.Expect(markerID("2026-02-20", "2026-03-06", "TRN-1")).NotTo(Equal(e.ID()), "other guids")
	g.Expect(markerID("2026-02-21", "2026-03-06", "TRN-1", "TRN-2")).NotTo(Equal(e.ID()), "another window")
	g.Expect(markerID("2026-02-20", "2026-03-06", "TRN-1", "TRN-2")).NotTo(Equal(txsync.TransactionID(mx.Transaction{GUID: "TRN-1"})))
}
