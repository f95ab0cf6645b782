package service

import (
	"context"
	"time"
)

// RequeueUnansweredEvery runs the dispatcher's look for unanswered sends from since, every
// interval, until ctx ends.
func (d *Dispatcher) RequeueUnansweredEvery(ctx context.Context, since time.Time, interval time.Duration) {
	d.requeueUnanswered(ctx, since, interval)
}

// OutboundMessageID is the ID a send made with ctx records its message under, and whether it
// is new (recorded without a conflict check).
func OutboundMessageID(ctx context.Context) (string, bool) { return outboundMessageID(ctx) }
