package service

import (
	"context"
	"time"

	"github.com/wagateway/gateway/internal/store"
)

// RequeueUnansweredEvery runs the dispatcher's look for unanswered sends from since, every
// interval, until ctx ends.
func (d *Dispatcher) RequeueUnansweredEvery(ctx context.Context, since time.Time, interval time.Duration) {
	d.requeueUnanswered(ctx, since, interval)
}

// OutboundMessageID is the ID a send made with ctx records its message under, and whether it
// is new (recorded without a conflict check).
func OutboundMessageID(ctx context.Context) (string, bool) { return outboundMessageID(ctx) }

// SetRunning makes the dispatcher count as running (or not) without running it.
func (d *Dispatcher) SetRunning(running bool) { d.running.Store(running) }

// Woken says whether the dispatcher was woken since the last look, and takes the wake-up.
func (d *Dispatcher) Woken() bool {
	select {
	case <-d.wakeUp():
		return true
	default:
		return false
	}
}

// AnnouncedAt sets when queued sends were last announced to every replica.
func (m *Messaging) AnnouncedAt(t time.Time) { m.announced.Store(t.UnixNano()) }

// WriteSends runs one batch of the sync sends' writer: records, then answers.
func (m *Messaging) WriteSends(ctx context.Context, records []store.OutboundMessage, outcomes []store.SendOutcome) ([]store.RecordedOutbound, error) {
	var rows []sendWrite
	for i := range records {
		rows = append(rows, sendWrite{record: &records[i]})
	}
	for i := range outcomes {
		rows = append(rows, sendWrite{outcome: &outcomes[i]})
	}
	return m.writeSends(ctx, rows)
}
