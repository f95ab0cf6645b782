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
