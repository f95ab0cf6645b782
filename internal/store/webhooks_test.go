package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// hookDB is a database with one session and its webhook; it returns the webhook's ID.
func hookDB(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Hooks", "hooks@example.com")
	msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES ('hooked', $1, 'H', 'CONNECTED')`, u.ID)
	var id string
	if err := db.QueryRow(context.Background(), `INSERT INTO webhooks (session_id, url, events, secret)
		VALUES ('hooked', 'https://hooks.example.com/in', '{*}', 'sealed') RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return db, id
}

func TestPruneWebhookDeliveries_DeletesFinishedOnesPastRetention_KeepsWhatIsStillOwed(t *testing.T) {
	t.Parallel()
	db, webhookID := hookDB(t)
	ctx := context.Background()
	// n deliveries of each status at each age, in batches bigger than one pruning statement.
	insert := func(status string, age time.Duration, n int) {
		msgExec(t, db, `INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_retry, created_at)
			SELECT $1, 'message.received', jsonb_build_object('id', 'evt_' || g), $2::webhook_delivery_status,
			       CASE WHEN $2 IN ('PENDING', 'RETRYING') THEN now() END, now() - $3::interval
			FROM generate_series(1, $4::int) g`, webhookID, status, age, n)
	}
	const old, recent = 10 * 24 * time.Hour, 2 * 24 * time.Hour
	insert("DELIVERED", old, 12_000)
	insert("FAILED", old, 3)
	insert("RETRYING", old, 4) // a receiver down (or a webhook disabled) for that long: still owed
	insert("PENDING", old, 5)
	insert("DELIVERED", recent, 6)
	insert("FAILED", recent, 7)

	n, err := store.PruneWebhookDeliveries(ctx, db, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12_003 {
		t.Fatalf("pruned %d, want the 12,003 finished deliveries older than 7 days", n)
	}
	left := map[string]int{}
	rows, err := db.Query(ctx, `SELECT status::text || (CASE WHEN created_at < now() - interval '7 days' THEN ' old' ELSE ' recent' END), count(*)
		FROM webhook_deliveries GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var c int
		if err := rows.Scan(&k, &c); err != nil {
			t.Fatal(err)
		}
		left[k] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"RETRYING old": 4, "PENDING old": 5, "DELIVERED recent": 6, "FAILED recent": 7}
	if len(left) != len(want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	for k, c := range want {
		if left[k] != c {
			t.Fatalf("left %v, want %v", left, want)
		}
	}
}

// TestRecordWebhookAttempt_LocksTheWebhookBeforeTheDelivery: a session (or webhook) being
// deleted locks the webhook, then its deliveries (the cascade). Recording an attempt at the
// same moment must wait for the webhook without holding the delivery, or the two deadlock.
func TestRecordWebhookAttempt_LocksTheWebhookBeforeTheDelivery(t *testing.T) {
	t.Parallel()
	db, webhookID := hookDB(t)
	ctx := context.Background()
	msgExec(t, db, `INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_retry)
		VALUES ($1, 'message.received', '{}', 'PENDING', now())`, webhookID)
	claimed, err := store.ClaimWebhookDeliveries(ctx, db, 1, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}

	// The deletion's first step: the webhook's row, locked.
	deleting, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = deleting.Rollback(ctx) }()
	if _, err := deleting.Exec(ctx, `SELECT 1 FROM webhooks WHERE id = $1 FOR UPDATE`, webhookID); err != nil {
		t.Fatal(err)
	}

	type result struct {
		recorded bool
		err      error
	}
	done := make(chan result, 1)
	go func() {
		reason := "receiver down"
		recorded, _, err := store.RecordWebhookAttempt(ctx, db, store.DeliveryAttempt{ID: claimed[0].ID,
			LeaseToken: claimed[0].LeaseToken, Status: model.WebhookFailed, Error: &reason, MaxFailures: 50})
		done <- result{recorded, err}
	}()
	// Wait until the attempt blocks on a lock.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the attempt never waited for the webhook's lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The deletion's second step: the deliveries. They must not be held by the attempt.
	if _, err := deleting.Exec(ctx, `SET LOCAL lock_timeout = '3s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := deleting.Exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = $1`, webhookID); err != nil {
		t.Fatalf("the attempt holds the delivery while it waits for the webhook: %v", err)
	}
	if _, err := deleting.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, webhookID); err != nil {
		t.Fatal(err)
	}
	if err := deleting.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.recorded {
		t.Fatalf("attempt on a webhook deleted meanwhile: recorded %v, %v; want false, nil", r.recorded, r.err)
	}
}
