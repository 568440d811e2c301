package txsync

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/mxoperator/mx-operator/internal/mx"
)

// CloudEvent types.
const (
	// TransactionEventType is the type of the event carrying one transaction; its data is the
	// transaction object as MX sent it, with money as decimal strings (MoneyAsStrings).
	TransactionEventType = "dev.mxoperator.transaction.v1"
	// WindowEventType is the type of the marker sent after every transaction of a window was
	// acknowledged; its data is a WindowMarker.
	WindowEventType = "dev.mxoperator.transactions.window.v1"
)

// dateLayout is the layout of window bounds.
const dateLayout = "2006-01-02"

// Source returns the CloudEvents source of a member's events.
func Source(userGUID, memberGUID string) string {
	return "mx://users/" + userGUID + "/members/" + memberGUID
}

// TransactionID is the event id of a transaction: a hash of its guid, updated_at and status,
// so a resend of an unchanged transaction has the same id and a change has a new one.
func TransactionID(t mx.Transaction) string {
	updated := ""
	if t.UpdatedAt != nil {
		updated = t.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	return hashID("txn", t.GUID, updated, t.Status)
}

func hashID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// MoneyFields are the members of MX's transaction object that hold money (MX-API.md §7: a
// transaction has one, amount). TransactionEvent writes them as decimal strings.
var MoneyFields = []string{"amount"}

// TransactionEvent returns the event of one transaction: subject its guid, time its updated_at
// (else transacted_at), data its JSON as MX sent it with money as decimal strings
// (MoneyAsStrings).
func TransactionEvent(source string, tx mx.RawTransaction) (event.Event, error) {
	e := event.New()
	e.SetID(TransactionID(tx.Transaction))
	e.SetSource(source)
	e.SetType(TransactionEventType)
	e.SetSubject(tx.Transaction.GUID)
	switch {
	case tx.Transaction.UpdatedAt != nil:
		e.SetTime(*tx.Transaction.UpdatedAt)
	case tx.Transaction.TransactedAt != nil:
		e.SetTime(*tx.Transaction.TransactedAt)
	}
	data, err := MoneyAsStrings(tx.JSON)
	if err != nil {
		return e, fmt.Errorf("transaction %s: %w", tx.Transaction.GUID, err)
	}
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		return e, fmt.Errorf("setting the data of transaction %s: %w", tx.Transaction.GUID, err)
	}
	return e, nil
}

// MoneyAsStrings returns the JSON object obj with each top-level MoneyFields member that is a
// JSON number rewritten as a JSON string holding the number's literal text exactly as written
// (0.10 stays "0.10", 1e2 stays "1e2"): no float is ever involved, so no digit is lost or
// added. Every other byte (whitespace, key order, strings, nested objects, other numbers) is
// kept; a money member that is already a string, or null, is left alone. obj itself is returned
// when nothing changes. The error never quotes obj.
func MoneyAsStrings(obj []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("the transaction is not a JSON object")
	}
	var out []byte
	last := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("reading the transaction object: %w", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("reading the transaction object: %w", err)
		}
		if !slices.Contains(MoneyFields, key) || !isNumber(v) {
			continue
		}
		// The decoder stands right after the value, and v is the value's bytes as written.
		end := int(dec.InputOffset())
		start := end - len(v)
		out = append(out, obj[last:start]...)
		out = append(out, '"')
		out = append(out, v...)
		out = append(out, '"')
		last = end
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("reading the transaction object: %w", err)
	}
	if out == nil {
		return obj, nil
	}
	return append(out, obj[last:]...), nil
}

// isNumber reports whether the JSON value v is a number (the decoder validated its syntax).
func isNumber(v []byte) bool {
	return len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))
}

// WindowMarker is the data of a window marker: the window (transaction dates, inclusive) and
// every transaction guid MX listed in it, in delivery order. A receiver drops the transactions
// it holds dated inside the window whose guid is not listed: MX replaced them (a pending
// transaction that posted under a new guid) or removed them.
type WindowMarker struct {
	From  string   `json:"from"`
	To    string   `json:"to"`
	Count int      `json:"count"`
	GUIDs []string `json:"guids"`
	// GUIDsSHA256 is the hex SHA-256 of the guids joined by "\n", for a receiver that only
	// wants to compare.
	GUIDsSHA256 string `json:"guidsSha256"`
}

// NewWindowMarker returns the marker of a window holding guids.
func NewWindowMarker(from, to time.Time, guids []string) WindowMarker {
	sum := sha256.Sum256([]byte(strings.Join(guids, "\n")))
	return WindowMarker{From: from.Format(dateLayout), To: to.Format(dateLayout), Count: len(guids), GUIDs: guids, GUIDsSHA256: hex.EncodeToString(sum[:])}
}

// MarkerEvent returns the event of a window marker; its id depends only on the window and its
// guids.
func MarkerEvent(source string, m WindowMarker, now time.Time) (event.Event, error) {
	e := event.New()
	e.SetID(hashID("window", m.From, m.To, m.GUIDsSHA256))
	e.SetSource(source)
	e.SetType(WindowEventType)
	e.SetSubject(m.From + "/" + m.To)
	e.SetTime(now)
	if err := e.SetData(event.ApplicationJSON, m); err != nil {
		return e, fmt.Errorf("setting the data of the window marker: %w", err)
	}
	return e, nil
}
