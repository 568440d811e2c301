package txsync

import (
	"context"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// FutureDays is how far past today a window reaches, to catch the pending transactions MX
// dates ahead (MX's own default to_date).
const FutureDays = 5

// Pager is the MX call a window needs; *mx.Client implements it.
type Pager interface {
	// MemberTransactionPages calls fn with each page of the member's transactions dated within
	// r, one page at a time; an error from fn stops the walk and is returned as it is.
	MemberTransactionPages(ctx context.Context, userGUID, memberGUID string, r mx.DateRange, fn func(mx.TransactionPage) error) error
}

// Window is one delivery: the member's transactions dated From..To (inclusive UTC days),
// read on the day Today.
type Window struct {
	UserGUID, MemberGUID string
	From, To, Today      time.Time
}

// SyncedThrough is what status.syncedThrough becomes once the whole window is acknowledged:
// its last day, capped at Today (later days cannot be complete yet).
func (w Window) SyncedThrough() string {
	if w.To.After(w.Today) {
		return w.Today.Format(dateLayout)
	}
	return w.To.Format(dateLayout)
}

// Plan is what decides a sync's next window: its spec and the status.syncedThrough of the last
// complete window ("" before the first).
type Plan struct {
	// InitialHistoryDays is how many days before today the first window starts;
	// mxv1alpha1.DefaultInitialHistoryDays when zero.
	InitialHistoryDays int
	// OverlapDays is how many days before SyncedThrough a later window starts.
	OverlapDays int
	// SyncedThrough is YYYY-MM-DD; anything else counts as no window delivered yet.
	SyncedThrough string
}

// Next returns the window to read at now (in UTC days): the first is [today −
// InitialHistoryDays, today + FutureDays], a later one [SyncedThrough − OverlapDays, today +
// FutureDays]. From never reaches further back than the mxv1alpha1.MaxInitialHistoryDays MX
// serves, nor later than today. The guids are left for the caller.
func (p Plan) Next(now time.Time) Window {
	y, mo, d := now.UTC().Date()
	today := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	days := p.InitialHistoryDays
	if days <= 0 {
		days = mxv1alpha1.DefaultInitialHistoryDays
	}
	from := today.AddDate(0, 0, -days)
	if through, err := time.Parse(dateLayout, p.SyncedThrough); err == nil {
		from = through.AddDate(0, 0, -max(p.OverlapDays, 0))
	}
	if oldest := today.AddDate(0, 0, -mxv1alpha1.MaxInitialHistoryDays); from.Before(oldest) {
		from = oldest
	}
	if from.After(today) {
		from = today
	}
	return Window{From: from, To: today.AddDate(0, 0, FutureDays), Today: today}
}

// Progress counts what a delivery got acknowledged so far (also when it fails part way).
type Progress struct {
	// Transactions and Events count acknowledged transaction events and all events.
	Transactions, Events int64
	// Pages counts the MX pages read.
	Pages int
}

// Deliver reads w page by page and sends each transaction, in MX's order, then the window
// marker: in ModeStructured one request per event; in ModeBatched one batch per MX page, then
// the marker alone in a batch of its own (so pages + 1 requests a window, and the marker is
// sent only once every page was acknowledged). Only after Deliver returns nil is the whole
// window acknowledged; progress counts what was acknowledged also when it fails part way. An
// error is a *SinkError (the sink did not acknowledge), ctx's error, or an MX error from the
// pager.
func Deliver(ctx context.Context, p Pager, s *Sender, w Window, now time.Time, progress *Progress) error {
	source := Source(w.UserGUID, w.MemberGUID)
	var guids []string
	err := p.MemberTransactionPages(ctx, w.UserGUID, w.MemberGUID, mx.DateRange{From: w.From, To: w.To}, func(page mx.TransactionPage) error {
		progress.Pages++
		events := make([]event.Event, 0, len(page.Transactions))
		for _, tx := range page.Transactions {
			e, err := TransactionEvent(source, tx)
			if err != nil {
				return err
			}
			guids = append(guids, tx.Transaction.GUID)
			if s.Mode() == ModeBatched {
				events = append(events, e)
				continue
			}
			if err := s.Send(ctx, &e); err != nil {
				return err
			}
			progress.Transactions++
			progress.Events++
		}
		if len(events) == 0 {
			return nil
		}
		if err := s.SendBatch(ctx, events); err != nil {
			return err
		}
		progress.Transactions += int64(len(events))
		progress.Events += int64(len(events))
		return nil
	})
	if err != nil {
		return err
	}
	e, err := MarkerEvent(source, NewWindowMarker(w.From, w.To, guids), now)
	if err != nil {
		return err
	}
	if s.Mode() == ModeBatched {
		err = s.SendBatch(ctx, []event.Event{e})
	} else {
		err = s.Send(ctx, &e)
	}
	if err != nil {
		return err
	}
	progress.Events++
	return nil
}
