package txsync_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mxoperator/mx-operator/internal/mx"
	"github.com/mxoperator/mx-operator/internal/txsync"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
	"github.com/mxoperator/mx-operator/pkg/mxtest"
)

// BenchmarkDeliverHistory delivers 90 days of a 12-account member through the test sink over
// real HTTP on 127.0.0.1. It reports figures (events/s, MX pages, allocations) and asserts
// nothing about speed.
//
//	go test -run '^$' -bench . -benchmem ./internal/txsync/
func BenchmarkDeliverHistory(b *testing.B) {
	clock := sandbox.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	sb := sandbox.New(sandbox.Options{ClientID: "c", APIKey: "k", Clock: clock})
	srv := httptest.NewServer(sb)
	defer func() { srv.Close(); sb.Close() }()
	c, err := mx.New(mx.Config{BaseURL: srv.URL, ClientID: "c", APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	u, err := c.CreateUser(ctx, mx.CreateUserRequest{ID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	creds := []mx.CredentialValue{
		{GUID: sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldUsername), Value: "mxuser_accounts_12"},
		{GUID: sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldPassword), Value: "password"},
	}
	m, _, err := c.CreateMember(ctx, u.GUID, mx.CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: creds})
	if err != nil {
		b.Fatal(err)
	}
	sb.Advance(10 * sandbox.DefaultAggregationDuration)
	sink := mxtest.NewSink()
	defer sink.Close()
	today := clock.Now().UTC().Truncate(24 * time.Hour)
	w := txsync.Window{UserGUID: u.GUID, MemberGUID: m.GUID, From: today.AddDate(0, 0, -90), To: today.AddDate(0, 0, 5)}
	sb.ResetCalls()
	var events int64
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s := txsync.NewSender(txsync.SenderConfig{URL: sink.URL()})
		var p txsync.Progress
		if err := txsync.Deliver(ctx, c, s, w, clock.Now(), &p); err != nil {
			b.Fatal(err)
		}
		s.Close()
		events += p.Events
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
	b.ReportMetric(float64(sb.TotalCalls())/float64(b.N), "mx-pages/op")
}
