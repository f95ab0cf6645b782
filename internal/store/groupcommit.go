package store

import (
	"context"
	"sync"
)

// GroupCommit turns many concurrent single-row writes into few multi-row statements: callers
// hand in a row and wait; a flusher takes whatever rows are waiting (up to MaxBatch) and
// writes them in one statement, one commit. Under load a batch grows by itself while the
// previous commit runs; alone, a row is written at once. No row is ever answered before its
// statement committed.
//
// A batch's rows are many callers', often of many tenants: a batch that PostgreSQL aborts as a
// deadlock's victim (say, against a user deleting their account, whose sessions the batch
// references) is flushed again, up to DeadlockRetries times, rather than failing every
// caller of the batch for one tenant's delete.
type GroupCommit[In, Out any] struct {
	// Flush writes a batch and returns one result per row, in order. It writes all or nothing
	// (one statement, or one transaction): a batch aborted as a deadlock's victim wrote
	// nothing and is flushed again.
	Flush    func(ctx context.Context, rows []In) ([]Out, error)
	MaxBatch int
	// Flushers is how many batches may be in flight at once (default 1). One is usually best:
	// Postgres's cost is per statement and per commit far more than per row, and a second
	// flusher halves every batch. Measured with the sync-send benchmark on 2 cores (64
	// connections): 1 flusher ~0.36 commits and ~170 µs of Postgres CPU per message, 2
	// flushers ~0.46 and ~300 µs, 4 flushers ~0.67 and ~350 µs.
	Flushers int

	once  sync.Once
	queue chan pending[In, Out]
}

type pending[In, Out any] struct {
	row  In
	done chan result[Out]
}

type result[Out any] struct {
	out Out
	err error
}

func (g *GroupCommit[In, Out]) init() {
	g.once.Do(func() {
		if g.MaxBatch <= 0 {
			g.MaxBatch = 128
		}
		if g.Flushers <= 0 {
			g.Flushers = 1
		}
		g.queue = make(chan pending[In, Out], g.MaxBatch*g.Flushers)
	})
}

// Do writes row with others and returns its result once committed.
func (g *GroupCommit[In, Out]) Do(ctx context.Context, row In) (Out, error) {
	g.init()
	p := pending[In, Out]{row: row, done: make(chan result[Out], 1)}
	var zero Out
	select {
	case g.queue <- p:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	// Once queued, the row will be written: wait for the outcome even if the caller gives up,
	// so that an answer never contradicts the database.
	r := <-p.done
	return r.out, r.err
}

// Run flushes until ctx ends, then drains what is queued. It blocks; the app runs it as a
// background loop.
func (g *GroupCommit[In, Out]) Run(ctx context.Context) {
	g.init()
	var wg sync.WaitGroup
	for range g.Flushers {
		wg.Go(func() { g.flushLoop(ctx) })
	}
	wg.Wait()
}

func (g *GroupCommit[In, Out]) flushLoop(ctx context.Context) {
	batch := make([]pending[In, Out], 0, g.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-g.queue:
			batch = append(batch, p)
		case <-ctx.Done():
			g.drain(context.WithoutCancel(ctx))
			return
		}
	collect:
		for len(batch) < g.MaxBatch {
			select {
			case p := <-g.queue:
				batch = append(batch, p)
			default:
				break collect
			}
		}
		g.flush(context.WithoutCancel(ctx), batch)
	}
}

func (g *GroupCommit[In, Out]) drain(ctx context.Context) {
	for {
		select {
		case p := <-g.queue:
			g.flush(ctx, []pending[In, Out]{p})
		default:
			return
		}
	}
}

func (g *GroupCommit[In, Out]) flush(ctx context.Context, batch []pending[In, Out]) {
	rows := make([]In, len(batch))
	for i, p := range batch {
		rows[i] = p.row
	}
	var outs []Out
	err := retryDeadlock(func() (err error) {
		outs, err = g.Flush(ctx, rows)
		return err
	})
	for i, p := range batch {
		var r result[Out]
		switch {
		case err != nil:
			r.err = err
		case i < len(outs):
			r.out = outs[i]
		}
		p.done <- r
	}
}
