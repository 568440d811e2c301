package mxtest_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	. "github.com/onsi/gomega"

	"github.com/mxoperator/mx-operator/pkg/mxtest"
)

func txnEvent(id, guid, data string) event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("mx://users/U/members/M")
	e.SetType(mxtest.TransactionEventType)
	e.SetSubject(guid)
	_ = e.SetData(event.ApplicationJSON, []byte(data))
	return e
}

func post(t *testing.T, req *http.Request, header ...string) int {
	t.Helper()
	if len(header) == 2 {
		req.Header.Set(header[0], header[1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// structured is a structured-mode request of e (what txsync.Sender sends).
func structured(t *testing.T, url string, e event.Event) *http.Request {
	t.Helper()
	body, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	return req
}

func batch(t *testing.T, url string, events ...event.Event) *http.Request {
	t.Helper()
	req, err := cehttp.NewHTTPRequestFromEvents(context.Background(), url, events)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSinkRecordsStructuredEvents(t *testing.T) {
	g := NewWithT(t)
	sink := mxtest.NewSink()
	defer sink.Close()
	data := `{"guid":"TRN-1","date":"2026-03-01","status":"POSTED","amount":"61.10","description":"Cafe Rio"}`
	g.Expect(post(t, structured(t, sink.URL(), txnEvent("id-1", "TRN-1", data)))).To(Equal(http.StatusAccepted))
	g.Expect(sink.Requests()).To(Equal(1))
	g.Expect(sink.Total()).To(Equal(1))
	g.Expect(sink.Transactions()).To(Equal(map[string]mxtest.SinkTransaction{
		"TRN-1": {ID: "id-1", GUID: "TRN-1", Date: "2026-03-01", Status: "POSTED", Amount: `"61.10"`, Description: "Cafe Rio"},
	}))
}

func TestSinkRecordsEveryEventOfABatch(t *testing.T) {
	g := NewWithT(t)
	sink := mxtest.NewSink()
	defer sink.Close()
	req := batch(t, sink.URL(),
		txnEvent("id-1", "TRN-1", `{"guid":"TRN-1","date":"2026-03-01","status":"POSTED","amount":"1.00"}`),
		txnEvent("id-2", "TRN-2", `{"guid":"TRN-2","date":"2026-03-01","status":"PENDING","amount":"2.00"}`),
	)
	g.Expect(req.Header.Get("Content-Type")).To(Equal("application/cloudevents-batch+json"))
	g.Expect(post(t, req)).To(Equal(http.StatusAccepted))
	g.Expect(sink.Requests()).To(Equal(1))
	g.Expect(sink.Batches()).To(Equal(1))
	g.Expect(sink.Total()).To(Equal(2))
	g.Expect(sink.Order()).To(Equal([]string{"id-1", "id-2"}))
	g.Expect(sink.Transactions()).To(HaveKey("TRN-2"))

	why := "a batch with one bad event is refused whole"
	bad := batch(t, sink.URL(),
		txnEvent("id-3", "TRN-3", `{"guid":"TRN-3","date":"2026-03-01","status":"POSTED"}`),
		txnEvent("id-4", "TRN-4", `{"guid":"TRN-other"}`),
	)
	g.Expect(post(t, bad)).To(Equal(http.StatusBadRequest), why)
	g.Expect(sink.Total()).To(Equal(2), why)
	g.Expect(sink.Transactions()).NotTo(HaveKey("TRN-3"), why)
}

func TestSinkRequiresTheAuthorizationItWasGiven(t *testing.T) {
	g := NewWithT(t)
	sink := mxtest.NewSink()
	defer sink.Close()
	sink.RequireAuthorization("Bearer s3cret")
	e := txnEvent("id-1", "TRN-1", `{"guid":"TRN-1","date":"2026-03-01","status":"POSTED"}`)
	g.Expect(post(t, structured(t, sink.URL(), e))).To(Equal(http.StatusUnauthorized), "none")
	g.Expect(post(t, structured(t, sink.URL(), e), "Authorization", "Bearer wrong")).To(Equal(http.StatusUnauthorized), "another")
	g.Expect(post(t, structured(t, sink.URL(), e), "Authorization", "Bearer s3cret")).To(Equal(http.StatusAccepted))
	g.Expect(sink.Unauthorized()).To(Equal(2))
	g.Expect(sink.Total()).To(Equal(1))
	g.Expect(sink.String()).NotTo(ContainSubstring("s3cret"))
}
