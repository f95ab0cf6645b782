package webhooks_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/webhooks"
)

// unavailableDB fails its first writes as a database that went away does, then writes.
type unavailableDB struct {
	store.DBTX
	failures atomic.Int32
}

func (d *unavailableDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if d.failures.Add(-1) >= 0 {
		return pgconn.CommandTag{}, store.ErrDatabaseUnavailable
	}
	return d.DBTX.Exec(ctx, sql, args...)
}

// An event raised while PostgreSQL is away is stored once it is back, however many tries that
// takes: it lives only in the recorder's memory until then. Before, the recorder gave up
// after four tries (about a second) and the delivery was lost.
func TestRecorder_DatabaseAwayForAWhile_StoresTheDeliveryOnceItIsBack(t *testing.T) {
	t.Parallel()
	pool := testenv.NewDB(t)
	ctx := context.Background()
	var userID string
	if err := pool.QueryRow(ctx, `INSERT INTO users (name, email, password_hash) VALUES ('Rec', 'rec@example.com', 'x') RETURNING id::text`).
		Scan(&userID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (id, user_id, name) VALUES ('rec-1', $1, 'Rec')`, userID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO webhooks (session_id, url, events, secret) VALUES ('rec-1', 'https://example.com/hook', '{*}', $1)`,
		webhooks.NewSecret()); err != nil {
		t.Fatal(err)
	}
	db := &unavailableDB{DBTX: pool}
	db.failures.Store(6)
	bus := events.NewBus()
	rec := webhooks.NewRecorder(bus, db, metrics.New().Events, slog.New(slog.DiscardHandler), nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { rec.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	bus.Publish(events.Event{Type: events.MessageReceived, SessionID: "rec-1", UserID: userID, At: time.Now(),
		Payload: map[string]any{"from": "6281234567890", "body": "kept through the outage"}})

	deadline := time.Now().Add(20 * time.Second)
	for {
		var stored int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE payload->'data'->>'body' = 'kept through the outage'`).
			Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not stored 20s after the event (%d tries left to fail)", max(db.failures.Load(), 0))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left := db.failures.Load(); left > 0 {
		t.Fatalf("stored with %d failures still to come", left)
	}
}

// blockedDB is a database that never answers: every write waits until its context ends.
type blockedDB struct {
	store.DBTX
	calls atomic.Int32
}

func (d *blockedDB) Exec(ctx context.Context, _ string, _ ...any) (pgconn.CommandTag, error) {
	d.calls.Add(1)
	<-ctx.Done()
	return pgconn.CommandTag{}, fmt.Errorf("%w: %w", store.ErrDatabaseUnavailable, ctx.Err())
}

// At shutdown with a database that does not answer, the recorder gives what it holds
// recorderFinalTry (5 s) in all, not a full try per batch: three batches held must not keep
// the gateway from stopping for half a minute.
func TestRecorder_ShutdownWithADatabaseThatDoesNotAnswer_EndsWithinTheFinalTry(t *testing.T) {
	t.Parallel()
	db := &blockedDB{}
	bus := events.NewBus()
	rec := webhooks.NewRecorder(bus, db, metrics.New().Events, slog.New(slog.DiscardHandler), nil)
	for i := range 1500 { // three batches of 500
		bus.Publish(events.Event{Type: events.MessageReceived, SessionID: "rec-1", At: time.Now(), Payload: map[string]any{"n": i}})
	}
	ctx, stop := context.WithCancel(context.Background())
	stop() // shutting down from the start: everything held gets the final try
	start := time.Now()
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the recorder still runs 30s after shutdown began")
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("shutdown took %s with %d writes tried, want about 5s", took, db.calls.Load())
	}
}
