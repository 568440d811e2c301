package txsync

import (
	"context"
	"time"

	"github.com/mxoperator/mx-operator/internal/mx"
)

// Pager is the MX call a window needs; *mx.Client implements it.
type Pager interface {
	// MemberTransactionPages calls fn with each page of the member's transactions dated within
	// r, one page at a time; an error from fn stops the walk and is returned as it is.
	MemberTransactionPages(ctx context.Context, userGUID, memberGUID string, r mx.DateRange, fn func(mx.TransactionPage) error) error
}

// Window is one delivery: the member's transactions dated From..To (inclusive days).
type Window struct {
	UserGUID, MemberGUID string
	From, To             time.Time
}

// Progress counts what a delivery got acknowledged so far (also when it fails part way).
type Progress struct {
	// Transactions and Events count acknowledged transaction events and all events.
	Transactions, Events int64
	// Pages counts the MX pages read.
	Pages int
}

// Deliver reads w page by page and sends each transaction, in MX's order, then the window
// marker. Only after Deliver returns nil is the whole window acknowledged. An error is a
// *SinkError (the sink did not acknowledge), ctx's error, or an MX error from the pager.
func Deliver(ctx context.Context, p Pager, s *Sender, w Window, now time.Time, progress *Progress) error {
	source := Source(w.UserGUID, w.MemberGUID)
	var guids []string
	err := p.MemberTransactionPages(ctx, w.UserGUID, w.MemberGUID, mx.DateRange{From: w.From, To: w.To}, func(page mx.TransactionPage) error {
		progress.Pages++
		for _, tx := range page.Transactions {
			e, err := TransactionEvent(source, tx)
			if err != nil {
				return err
			}
			if err := s.Send(ctx, &e); err != nil {
				return err
			}
			progress.Transactions++
			progress.Events++
			guids = append(guids, tx.Transaction.GUID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e, err := MarkerEvent(source, NewWindowMarker(w.From, w.To, guids), now)
	if err != nil {
		return err
	}
	if err := s.Send(ctx, &e); err != nil {
		return err
	}
	progress.Events++
	return nil
}
