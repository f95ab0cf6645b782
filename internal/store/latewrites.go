package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Late-write pacing: a kept write is tried again lateRetryMin after it failed, then at up to
// lateRetryMax apart while PostgreSQL stays away, and for lateFinalTry once Run is told to
// stop.
const (
	lateRetryMin = 100 * time.Millisecond
	lateRetryMax = time.Second
	lateFinalTry = 5 * time.Second
	lateMax      = 10_000
)

// LateWrites keeps the writes that must not be lost to a database outage and retries them
// until they land: the worker's answer to a send it performed, the answer stored for an
// Idempotency-Key. A request that lost PostgreSQL after the work was done then answers what
// was done (200 for a message the worker sent) instead of a 503 that invites a second send,
// and its Idempotency-Key is answered or released as soon as the database is back instead of
// holding retries off until the claim is stale.
//
// Writes are retried in the order they came. Each must be safe to run again: a write whose
// commit was lost with the connection runs a second time. At most Max are kept; past that,
// and for what is still kept when Run ends after a last try, the paths that need no replica
// take over: the dispatcher sends a message left PENDING again under the same
// clientMessageId (the worker deduplicates), and a claim whose replica is gone is taken over.
type LateWrites struct {
	Logger *slog.Logger
	// Max is how many writes are kept at most (lateMax when zero).
	Max int
	// Kept, when set, is told how many writes are waiting after every change (under the
	// lock, so that the last value told is the count).
	Kept func(n int)

	mu      sync.Mutex
	pending []lateWrite
	wake    chan struct{}
	// closed is set once Run made its last try: nothing kept afterwards would be written.
	closed bool
}

type lateWrite struct {
	what  string
	write func(context.Context) error
}

// IsUnavailable reports whether err says that PostgreSQL could not be reached or went away
// mid-statement (see Unavailable).
func IsUnavailable(err error) bool {
	return err != nil && (errors.Is(err, ErrDatabaseUnavailable) || isUnavailable(err))
}

// Keep keeps write for later when err, the error it failed with, says the database is
// unavailable, and reports whether it did. Any other error, a nil LateWrites, a full one and
// one whose Run has ended keep nothing: the caller handles err.
func (l *LateWrites) Keep(err error, what string, write func(context.Context) error) bool {
	if l == nil || !IsUnavailable(err) {
		return false
	}
	l.mu.Lock()
	l.init()
	max := l.Max
	if max <= 0 {
		max = lateMax
	}
	full := len(l.pending) >= max
	kept := !full && !l.closed
	if kept {
		l.pending = append(l.pending, lateWrite{what: what, write: write})
		l.kept(len(l.pending))
		if len(l.pending) == 1 {
			select { // Run waits for the first write only; it paces the retries itself
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
	n, closed := len(l.pending), l.closed
	l.mu.Unlock()
	switch {
	case closed:
		l.logger().Error("database unavailable at shutdown; this write is not kept", slog.String("write", what))
	case full:
		l.logger().Error("database unavailable and too many writes waiting for it; this one is not kept",
			slog.String("write", what), slog.Int("waiting", n))
	}
	return kept
}

func (l *LateWrites) init() {
	if l.wake == nil {
		l.wake = make(chan struct{}, 1)
	}
}

// Len is how many writes are waiting.
func (l *LateWrites) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// Run writes what is kept until ctx ends, then tries for a few more seconds to write what is
// left, and logs what it could not. While nothing is kept it only waits.
func (l *LateWrites) Run(ctx context.Context) {
	l.mu.Lock()
	l.init()
	wake := l.wake
	l.mu.Unlock()
	defer l.finish(ctx)
	delay := lateRetryMin
	for {
		if l.Len() == 0 {
			delay = lateRetryMin
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
		}
		// The write failed just now: the first try waits lateRetryMin, the next ones longer
		// while the database stays away.
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if l.flush(ctx) {
			delay = lateRetryMin
		} else {
			delay = min(2*delay, lateRetryMax)
		}
	}
}

// finish makes the last tries once Run is told to stop, then refuses new writes.
func (l *LateWrites) finish(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lateFinalTry)
	defer cancel()
	for !l.flush(ctx) {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.closed = true
			n := len(l.pending)
			l.mu.Unlock()
			l.logger().Error("database still unavailable at shutdown; writes left to the recovery of other replicas",
				slog.Int("writes", n))
			return
		case <-time.After(lateRetryMax / 4):
		}
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// flush runs the waiting writes in order, and reports whether none is left. It stops at the
// first that finds the database still unavailable; one that fails otherwise is logged and
// dropped, as its first failure would have been.
func (l *LateWrites) flush(ctx context.Context) bool {
	landed := 0
	defer func() {
		if landed > 0 {
			l.logger().Info("writes kept during a database outage landed", slog.Int("writes", landed))
		}
	}()
	for {
		l.mu.Lock()
		if len(l.pending) == 0 {
			l.mu.Unlock()
			return true
		}
		w := l.pending[0]
		l.mu.Unlock()

		err := w.write(ctx)
		if IsUnavailable(err) || (err != nil && ctx.Err() != nil) {
			return false
		}
		if err != nil {
			l.logger().Error("late write failed", slog.String("write", w.what), slog.Any("err", err))
		} else {
			landed++
		}
		l.mu.Lock()
		l.pending[0] = lateWrite{}
		l.pending = l.pending[1:]
		l.kept(len(l.pending))
		l.mu.Unlock()
	}
}

func (l *LateWrites) kept(n int) {
	if l.Kept != nil {
		l.Kept(n)
	}
}

func (l *LateWrites) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.Default()
	}
	return l.Logger
}
