package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// outage is a database that is away until it is brought back; writes made while it is away
// fail as a dropped connection does.
type outage struct {
	mu      sync.Mutex
	down    bool
	written []string
	tries   int
}

func (o *outage) write(name string) func(context.Context) error {
	return func(context.Context) error {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.tries++
		if o.down {
			return fmt.Errorf("record: %w", io.ErrUnexpectedEOF)
		}
		o.written = append(o.written, name)
		return nil
	}
}

func (o *outage) set(down bool) {
	o.mu.Lock()
	o.down = down
	o.mu.Unlock()
}

func (o *outage) snapshot() ([]string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.written), o.tries
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runLate(t *testing.T, l *store.LateWrites) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func TestLateWrites_KeepsOnlyWhatTheOutageRefused(t *testing.T) {
	t.Parallel()
	l := &store.LateWrites{}
	noop := func(context.Context) error { return nil }
	if l.Keep(nil, "ok", noop) || l.Keep(errors.New("syntax error"), "bug", noop) || l.Keep(fmt.Errorf("x: %w", context.Canceled), "gone", noop) {
		t.Fatal("kept a write that did not fail for an outage")
	}
	var none *store.LateWrites
	if none.Keep(io.ErrUnexpectedEOF, "no late writes", noop) {
		t.Fatal("a nil LateWrites kept a write")
	}
	if !l.Keep(io.ErrUnexpectedEOF, "dropped connection", noop) || !l.Keep(store.Unavailable(io.EOF), "mapped", noop) {
		t.Fatal("did not keep writes refused by an outage")
	}
	if n := l.Len(); n != 2 {
		t.Fatalf("%d writes waiting, want 2", n)
	}
}

// Kept writes wait while the database is away and land in the order they came once it is
// back; the gauge follows.
func TestLateWrites_LandInOrderOnceTheDatabaseIsBack(t *testing.T) {
	t.Parallel()
	var db outage
	db.set(true)
	var gauge sync.Map
	l := &store.LateWrites{Kept: func(n int) { gauge.Store("n", n) }}
	runLate(t, l)
	for _, name := range []string{"first", "second", "third"} {
		w := db.write(name)
		if !l.Keep(w(context.Background()), name, w) {
			t.Fatalf("%s not kept", name)
		}
	}
	if n, _ := gauge.Load("n"); n != 3 {
		t.Fatalf("gauge %v, want 3", n)
	}
	// Retried while away, nothing lands.
	waitUntil(t, "retried during the outage", func() bool { _, tries := db.snapshot(); return tries >= 5 })
	if written, _ := db.snapshot(); len(written) != 0 || l.Len() != 3 {
		t.Fatalf("written %v with %d waiting during the outage", written, l.Len())
	}

	db.set(false)
	waitUntil(t, "writes landed", func() bool { return l.Len() == 0 })
	if written, _ := db.snapshot(); !slices.Equal(written, []string{"first", "second", "third"}) {
		t.Fatalf("written %v, want first, second, third in order", written)
	}
	if n, _ := gauge.Load("n"); n != 0 {
		t.Fatalf("gauge %v after landing, want 0", n)
	}
}

// A write that fails for another reason once the database is back is logged and dropped;
// the next ones still land.
func TestLateWrites_AWriteThatFailsOtherwiseIsDroppedNotRetriedForever(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	l := &store.LateWrites{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	var db outage
	broken := func(context.Context) error { return errors.New("constraint violated") }
	l.Keep(io.ErrUnexpectedEOF, "broken", broken)
	l.Keep(io.ErrUnexpectedEOF, "fine", db.write("fine"))
	runLate(t, l)
	waitUntil(t, "writes done", func() bool { return l.Len() == 0 })
	if written, _ := db.snapshot(); !slices.Equal(written, []string{"fine"}) {
		t.Fatalf("written %v, want fine", written)
	}
	if !strings.Contains(logs.String(), "constraint violated") {
		t.Fatalf("the dropped write was not logged: %s", logs.String())
	}
}

func TestLateWrites_KeepsAtMostMax(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	l := &store.LateWrites{Max: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	noop := func(context.Context) error { return nil }
	if !l.Keep(io.ErrUnexpectedEOF, "a", noop) || !l.Keep(io.ErrUnexpectedEOF, "b", noop) {
		t.Fatal("refused a write below Max")
	}
	if l.Keep(io.ErrUnexpectedEOF, "c", noop) {
		t.Fatal("kept a write past Max")
	}
	if !strings.Contains(logs.String(), "not kept") {
		t.Fatalf("the refused write was not logged: %s", logs.String())
	}
}

// Told to stop, Run still tries for a few seconds: a database back meanwhile gets what was
// kept.
func TestLateWrites_StopMakesALastTry(t *testing.T) {
	t.Parallel()
	var db outage
	db.set(true)
	l := &store.LateWrites{}
	stop := runLate(t, l)
	l.Keep(io.ErrUnexpectedEOF, "late", db.write("late"))
	go func() {
		time.Sleep(200 * time.Millisecond)
		db.set(false)
	}()
	stop()
	if written, _ := db.snapshot(); !slices.Equal(written, []string{"late"}) || l.Len() != 0 {
		t.Fatalf("written %v with %d waiting after stop, want the write landed", written, l.Len())
	}
	// Nothing would write what is kept from now on: it is refused, and the caller answers it.
	if l.Keep(io.ErrUnexpectedEOF, "too late", db.write("too late")) {
		t.Fatal("a write was kept after Run ended")
	}
}
