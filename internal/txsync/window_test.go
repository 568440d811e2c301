package txsync_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/mxoperator/mx-operator/internal/txsync"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNextWindow(t *testing.T) {
	// 23:30 in UTC-7 is already the next day in UTC: windows are UTC days.
	now := time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("MST", -7*3600))
	for _, tc := range []struct {
		reason        string
		plan          txsync.Plan
		from, to, day string
	}{
		{reason: "first window: initialHistoryDays before today through today+5",
			plan: txsync.Plan{InitialHistoryDays: 90, OverlapDays: 7},
			from: "2025-12-02", to: "2026-03-07", day: "2026-03-02"},
		{reason: "first window with no initialHistoryDays set: the default 90",
			plan: txsync.Plan{OverlapDays: 7},
			from: "2025-12-02", to: "2026-03-07", day: "2026-03-02"},
		{reason: "a later window starts overlapDays before syncedThrough",
			plan: txsync.Plan{InitialHistoryDays: 90, OverlapDays: 7, SyncedThrough: "2026-02-27"},
			from: "2026-02-20", to: "2026-03-07", day: "2026-03-02"},
		{reason: "no overlap: the day after syncedThrough is re-read from syncedThrough itself (it was capped at the day it was read)",
			plan: txsync.Plan{InitialHistoryDays: 90, OverlapDays: 0, SyncedThrough: "2026-03-02"},
			from: "2026-03-02", to: "2026-03-07", day: "2026-03-02"},
		{reason: "a sync that was suspended for months: clamped to the 120 days MX serves",
			plan: txsync.Plan{InitialHistoryDays: 30, OverlapDays: 7, SyncedThrough: "2025-06-01"},
			from: "2025-11-02", to: "2026-03-07", day: "2026-03-02"},
		{reason: "initialHistoryDays above what MX serves: clamped to 120",
			plan: txsync.Plan{InitialHistoryDays: 400, OverlapDays: 7},
			from: "2025-11-02", to: "2026-03-07", day: "2026-03-02"},
		{reason: "syncedThrough in the future (a clock that moved back): the window starts no later than today",
			plan: txsync.Plan{InitialHistoryDays: 90, OverlapDays: 2, SyncedThrough: "2026-04-30"},
			from: "2026-03-02", to: "2026-03-07", day: "2026-03-02"},
		{reason: "syncedThrough that is not a date: the first window again",
			plan: txsync.Plan{InitialHistoryDays: 10, OverlapDays: 7, SyncedThrough: "yesterday"},
			from: "2026-02-20", to: "2026-03-07", day: "2026-03-02"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			w := tc.plan.Next(now)
			g.Expect(w.From).To(Equal(date(tc.from)), "from")
			g.Expect(w.To).To(Equal(date(tc.to)), "to")
			g.Expect(w.Today).To(Equal(date(tc.day)), "today")
			g.Expect(w.From.After(w.To)).To(BeFalse())
		})
	}
}

func TestSyncedThroughIsCappedAtToday(t *testing.T) {
	g := NewWithT(t)
	w := txsync.Plan{InitialHistoryDays: 90, OverlapDays: 7}.Next(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	g.Expect(w.SyncedThrough()).To(Equal("2026-03-01"), "the days after today cannot be complete yet")
}
