package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// gcRecorder is a Flush that records its batches and can be held at the gate.
type gcRecorder struct {
	mu      sync.Mutex
	batches [][]int
	gate    chan struct{} // the first Flush waits until it is closed (nil: never waits)
	held    chan struct{} // closed when the first Flush is waiting at the gate
	once    sync.Once
	fail    func(rows []int) error
}

func newGCRecorder() *gcRecorder {
	return &gcRecorder{gate: make(chan struct{}), held: make(chan struct{})}
}

func (r *gcRecorder) flush(ctx context.Context, rows []int) ([]string, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("flush got a finished context: %w", ctx.Err())
	}
	first := false
	r.once.Do(func() { first = true })
	if first && r.gate != nil {
		close(r.held)
		<-r.gate
	}
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(rows))
	r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(rows); err != nil {
			return nil, err
		}
	}
	outs := make([]string, len(rows))
	for i, row := range rows {
		outs[i] = fmt.Sprintf("row %d", row)
	}
	return outs, nil
}

func (r *gcRecorder) snapshot() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// gcNew returns a group commit whose queue exists before any Do, so tests can watch it.
func gcNew(flush func(context.Context, []int) ([]string, error), maxBatch, flushers int) *GroupCommit[int, string] {
	g := &GroupCommit[int, string]{Flush: flush, MaxBatch: maxBatch, Flushers: flushers}
	g.init()
	return g
}

// gcWaitQueued polls until n rows wait in the queue.
func gcWaitQueued(t *testing.T, g *GroupCommit[int, string], n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(g.queue) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d rows queued, want %d", len(g.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// gcRun runs g until the returned stop is called; stop waits for Run to return.
func gcRun(g *GroupCommit[int, string]) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

type gcResult struct {
	out string
	err error
}

// gcDoAll calls Do for rows from, to (exclusive) concurrently and returns their results.
func gcDoAll(g *GroupCommit[int, string], from, to int) (wait func() map[int]gcResult) {
	var mu sync.Mutex
	results := map[int]gcResult{}
	var wg sync.WaitGroup
	for row := from; row < to; row++ {
		wg.Go(func() {
			out, err := g.Do(context.Background(), row)
			mu.Lock()
			results[row] = gcResult{out, err}
			mu.Unlock()
		})
	}
	return func() map[int]gcResult { wg.Wait(); return results }
}

func TestGroupCommit_ConcurrentCallsShareFlushesAndEachGetsItsOwnResult(t *testing.T) {
	t.Parallel()
	rec := newGCRecorder()
	g := gcNew(rec.flush, 64, 1)
	defer gcRun(g)()

	first := gcDoAll(g, 0, 1)
	<-rec.held // the only flusher is busy with row 0
	const n = 60
	rest := gcDoAll(g, 1, n)
	gcWaitQueued(t, g, n-1)
	close(rec.gate)

	results := first()
	for row, r := range rest() {
		results[row] = r
	}
	for row := range n {
		if r := results[row]; r.err != nil || r.out != fmt.Sprintf("row %d", row) {
			t.Errorf("row %d got %q, %v; want its own result", row, r.out, r.err)
		}
	}
	batches := rec.snapshot()
	if len(batches) != 2 || len(batches[1]) != n-1 {
		t.Errorf("batches = %v, want row 0 alone and then the %d rows that queued meanwhile in one flush", batches, n-1)
	}
}

func TestGroupCommit_BatchesNeverExceedMaxBatch(t *testing.T) {
	t.Parallel()
	rec := newGCRecorder()
	g := gcNew(rec.flush, 4, 1)
	defer gcRun(g)()

	first := gcDoAll(g, 0, 1)
	<-rec.held
	rest := gcDoAll(g, 1, 11)
	gcWaitQueued(t, g, 4) // the queue holds MaxBatch × Flushers; the rest wait to enter it
	close(rec.gate)
	first()
	rest()
	total := 0
	for _, b := range rec.snapshot() {
		if len(b) > 4 {
			t.Errorf("a batch of %d rows, above MaxBatch 4", len(b))
		}
		total += len(b)
	}
	if total != 11 {
		t.Errorf("%d rows flushed, want 11", total)
	}
}

func TestGroupCommit_FlushErrorReachesEveryCallerOfThatBatchOnly(t *testing.T) {
	t.Parallel()
	rec := newGCRecorder()
	boom := errors.New("commit failed")
	rec.fail = func(rows []int) error {
		if slices.Contains(rows, 13) {
			return boom
		}
		return nil
	}
	g := gcNew(rec.flush, 64, 1)
	defer gcRun(g)()

	first := gcDoAll(g, 0, 1)
	<-rec.held
	poisoned := gcDoAll(g, 10, 20) // 13 poisons this batch
	gcWaitQueued(t, g, 10)
	close(rec.gate)
	if r := first()[0]; r.err != nil {
		t.Errorf("row 0, flushed alone before, got %v", r.err)
	}
	for row, r := range poisoned() {
		if !errors.Is(r.err, boom) || r.out != "" {
			t.Errorf("row %d of the failed batch got %q, %v; want the flush error", row, r.out, r.err)
		}
	}
	// Only a deadlock's victim is flushed again: this batch was written once.
	if n := gcFlushesOf(rec, 13); n != 1 {
		t.Errorf("the failed batch was flushed %d times, want 1", n)
	}
	// The failure does not stick: later rows are written.
	if out, err := g.Do(context.Background(), 99); err != nil || out != "row 99" {
		t.Errorf("after the failed batch: %q, %v", out, err)
	}
}

// gcFlushesOf counts the batches rec flushed that held row.
func gcFlushesOf(rec *gcRecorder, row int) int {
	n := 0
	for _, b := range rec.snapshot() {
		if slices.Contains(b, row) {
			n++
		}
	}
	return n
}

// errGCDeadlock is the error PostgreSQL returns to a deadlock's victim.
var errGCDeadlock = fmt.Errorf("record sends: %w", &pgconn.PgError{Code: "40P01", Message: "deadlock detected"})

func TestGroupCommit_ADeadlockVictimIsFlushedAgainWithTheSameRows(t *testing.T) {
	t.Parallel()
	rec := newGCRecorder()
	var mu sync.Mutex
	victims := DeadlockRetries // every retry but the last loses its race again
	rec.fail = func(rows []int) error {
		mu.Lock()
		defer mu.Unlock()
		if slices.Contains(rows, 10) && victims > 0 {
			victims--
			return errGCDeadlock
		}
		return nil
	}
	g := gcNew(rec.flush, 64, 1)
	defer gcRun(g)()

	first := gcDoAll(g, 0, 1)
	<-rec.held
	victim := gcDoAll(g, 10, 20) // one batch, which deadlocks DeadlockRetries times
	gcWaitQueued(t, g, 10)
	close(rec.gate)
	if r := first()[0]; r.err != nil {
		t.Errorf("row 0, flushed alone before, got %v", r.err)
	}
	for row, r := range victim() {
		if want := fmt.Sprintf("row %d", row); r.err != nil || r.out != want {
			t.Errorf("row %d got %q, %v; want %q", row, r.out, r.err, want)
		}
	}
	// The batch was flushed DeadlockRetries+1 times, whole: the aborted flushes and the one
	// that committed.
	want := slices.Repeat([][]int{{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}}, DeadlockRetries+1)
	var got [][]int
	for _, b := range rec.snapshot()[1:] {
		got = append(got, slices.Sorted(slices.Values(b)))
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("flushes after the first: %v, want %v", got, want)
	}
}

func TestGroupCommit_ABatchThatKeepsDeadlockingFailsAfterTheRetries(t *testing.T) {
	t.Parallel()
	rec := newGCRecorder()
	rec.gate = nil
	rec.fail = func([]int) error { return errGCDeadlock }
	g := gcNew(rec.flush, 64, 1)
	defer gcRun(g)()

	out, err := g.Do(context.Background(), 7)
	if !IsDeadlock(err) || out != "" {
		t.Errorf("got %q, %v; want the deadlock error", out, err)
	}
	if n := gcFlushesOf(rec, 7); n != DeadlockRetries+1 {
		t.Errorf("flushed %d times, want %d", n, DeadlockRetries+1)
	}
}

func TestGroupCommit_RunDrainsQueuedRowsAtShutdown(t *testing.T) {
	t.Parallel()
	rec := newGCRecorder()
	g := gcNew(rec.flush, 4, 1)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { g.Run(ctx); close(stopped) }()

	first := gcDoAll(g, 0, 1)
	<-rec.held // the only flusher is busy with row 0
	rest := gcDoAll(g, 1, 5)
	gcWaitQueued(t, g, 4)
	cancel() // shut down with four rows queued behind a running flush
	close(rec.gate)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the shutdown")
	}
	results := first()
	for row, r := range rest() {
		results[row] = r
	}
	for row := range 5 {
		if r := results[row]; r.err != nil || r.out != fmt.Sprintf("row %d", row) {
			t.Errorf("row %d after shutdown: %q, %v; want it written", row, r.out, r.err)
		}
	}
	if len(g.queue) != 0 {
		t.Errorf("%d rows left in the queue", len(g.queue))
	}
}

func TestGroupCommit_RunWithAFinishedContextStillWritesWhatWasQueued(t *testing.T) {
	t.Parallel()
	rec := &gcRecorder{}
	g := gcNew(rec.flush, 8, 2)
	wait := gcDoAll(g, 0, 6)
	gcWaitQueued(t, g, 6)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.Run(ctx) // returns once the queue is drained
	for row, r := range wait() {
		if r.err != nil || r.out != fmt.Sprintf("row %d", row) {
			t.Errorf("row %d: %q, %v", row, r.out, r.err)
		}
	}
}

func TestGroupCommit_DoWaitsForItsRowOnceQueuedEvenIfTheCallerGivesUp(t *testing.T) {
	t.Parallel()
	rec := &gcRecorder{}
	g := gcNew(rec.flush, 2, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan gcResult, 1)
	go func() {
		out, err := g.Do(ctx, 7)
		done <- gcResult{out, err}
	}()
	gcWaitQueued(t, g, 1)
	cancel()
	select {
	case r := <-done:
		t.Fatalf("Do returned %q, %v before its queued row was written", r.out, r.err)
	default:
	}
	defer gcRun(g)()
	if r := <-done; r.err != nil || r.out != "row 7" {
		t.Errorf("Do = %q, %v; want the written row's result", r.out, r.err)
	}
}

func TestGroupCommit_DoOnAFullQueueHonoursItsContext(t *testing.T) {
	t.Parallel()
	g := gcNew((&gcRecorder{}).flush, 2, 1)
	fill := gcDoAll(g, 0, 2)
	gcWaitQueued(t, g, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Do(ctx, 9); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do on a full queue = %v, want the context's error", err)
	}
	defer gcRun(g)()
	fill()
}

func TestGroupCommit_ShortFlushAnswerGivesZeroValues(t *testing.T) {
	t.Parallel()
	g := gcNew(func(context.Context, []int) ([]string, error) { return nil, nil }, 0, 0)
	defer gcRun(g)()
	if out, err := g.Do(context.Background(), 1); err != nil || out != "" {
		t.Errorf("Do = %q, %v; want the zero value", out, err)
	}
}
