package txsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/mxoperator/mx-operator/internal/txsync"
	"github.com/mxoperator/mx-operator/pkg/mxtest"
)

// BenchmarkDeliverHistory delivers 90 days of a 12-account member through the test sink over
// real HTTP on 127.0.0.1, in each mode, at MX's largest page size. It reports figures
// (events/s, MX pages and sink requests per history, allocations) and asserts nothing about
// speed.
//
//	go test -run '^$' -bench . -benchmem ./internal/txsync/
func BenchmarkDeliverHistory(b *testing.B) {
	for _, mode := range []txsync.Mode{txsync.ModeStructured, txsync.ModeBatched} {
		b.Run(string(mode), func(b *testing.B) {
			m := newMember(b, "mxuser_accounts_12", 0)
			sink := mxtest.NewSink()
			defer sink.Close()
			w := m.window()
			ctx := context.Background()
			m.sb.ResetCalls()
			var events int64
			start := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				s := txsync.NewSender(txsync.SenderConfig{URL: sink.URL(), Mode: mode})
				var p txsync.Progress
				if err := txsync.Deliver(ctx, m.c, s, w, m.now, &p); err != nil {
					b.Fatal(err)
				}
				s.Close()
				events += p.Events
			}
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
			b.ReportMetric(float64(m.sb.TotalCalls())/float64(b.N), "mx-pages/op")
			b.ReportMetric(float64(sink.Requests())/float64(b.N), "requests/op")
		})
	}
}
