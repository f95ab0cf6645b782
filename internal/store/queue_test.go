package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// queueMessage inserts a QUEUED message of the session, created at created (ordering the queue)
// and due at due, with attempts already made.
func queueMessage(t *testing.T, db *pgxpool.Pool, sessionID string, created, due time.Time, attempts int) {
	t.Helper()
	msgExec(t, db, `INSERT INTO messages (id, session_id, direction, to_number, message_type, content, payload, status,
		attempts, next_attempt_at, created_at)
		VALUES (gen_random_uuid(), $1, 'OUTBOUND', '6281234567890@s.whatsapp.net', 'TEXT', 'x', '{"type":"text"}', 'QUEUED', $4, $3, $2)`,
		sessionID, created, due, attempts)
}

// queueDB is a database with CONNECTED sessions s1…sn.
func queueDB(t *testing.T, sessions ...string) *pgxpool.Pool {
	t.Helper()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Queue", "queue@example.com")
	for _, id := range sessions {
		msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES ($1, $2, $1, 'CONNECTED')`, id, u.ID)
	}
	return db
}

func dueSessions(t *testing.T, db *pgxpool.Pool, minInterval time.Duration, limit int) ([]string, time.Time) {
	t.Helper()
	due, next, err := store.DueSessions(context.Background(), db, minInterval, limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(due))
	for i, d := range due {
		ids[i] = d.ID
	}
	return ids, next
}

func TestDueSessions_AHeadBackingOff_HoldsItsSessionHoweverManyWaitBehind(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "blocked", "ready")
	now := time.Now()
	// blocked: its head failed and retries in a minute; the three behind it are "due" by
	// their own time, but must wait for the head.
	queueMessage(t, db, "blocked", now.Add(-time.Hour), now.Add(time.Minute), 2)
	for i := range 3 {
		queueMessage(t, db, "blocked", now.Add(-time.Hour+time.Duration(i+1)*time.Second), now.Add(-time.Hour), 0)
	}
	queueMessage(t, db, "ready", now.Add(-time.Second), now.Add(-time.Second), 0)

	due, next := dueSessions(t, db, time.Millisecond, 10)
	if !slices.Equal(due, []string{"ready"}) {
		t.Fatalf("due = %v, want only the session whose head is due", due)
	}
	if next.Before(now.Add(59*time.Second)) || next.After(now.Add(61*time.Second)) {
		t.Fatalf("next = %s, want the blocked head's retry in a minute", next)
	}
}

func TestDueSessions_BlockedSessions_DoNotCrowdOutTheDueOnes(t *testing.T) {
	t.Parallel()
	// More sessions blocked by a retrying head (with older messages behind it) than a page
	// holds: the due session, younger than all of them, is still listed.
	db := queueDB(t, "blocked-1", "blocked-2", "blocked-3", "due")
	now := time.Now()
	for _, id := range []string{"blocked-1", "blocked-2", "blocked-3"} {
		queueMessage(t, db, id, now.Add(-2*time.Hour), now.Add(time.Hour), 5)
		queueMessage(t, db, id, now.Add(-2*time.Hour+time.Second), now.Add(-2*time.Hour), 0)
	}
	queueMessage(t, db, "due", now.Add(-time.Second), now.Add(-time.Second), 0)

	if due, _ := dueSessions(t, db, time.Millisecond, 2); !slices.Equal(due, []string{"due"}) {
		t.Fatalf("due = %v, want [due]", due)
	}
}

func TestDueSessions_PacingAndSchedules_MostOverdueFirstAndTheNextReadyTime(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "paced", "scheduled", "old", "young", "empty")
	now := time.Now()
	// paced: sent 200 ms ago, at one send per second it may send again in 800 ms.
	msgExec(t, db, `UPDATE sessions SET last_dispatched_at = $1 WHERE id = 'paced'`, now.Add(-200*time.Millisecond))
	queueMessage(t, db, "paced", now.Add(-time.Minute), now.Add(-time.Minute), 0)
	// scheduled: its only message is for in five seconds.
	queueMessage(t, db, "scheduled", now, now.Add(5*time.Second), 0)
	queueMessage(t, db, "young", now.Add(-time.Second), now.Add(-time.Second), 0)
	queueMessage(t, db, "old", now.Add(-time.Hour), now.Add(-time.Hour), 0)

	due, next := dueSessions(t, db, time.Second, 10)
	if !slices.Equal(due, []string{"old", "young"}) {
		t.Fatalf("due = %v, want [old young]: the most overdue first, neither the paced nor the scheduled one", due)
	}
	if want := now.Add(800 * time.Millisecond); next.Sub(want).Abs() > 50*time.Millisecond {
		t.Fatalf("next = %s, want when the paced session may send again (%s)", next.Format(time.StampMilli), want.Format(time.StampMilli))
	}

	msgExec(t, db, `DELETE FROM messages`)
	if due, next = dueSessions(t, db, time.Second, 10); len(due) != 0 || !next.IsZero() {
		t.Fatalf("empty queue: due %v, next %s; want nothing", due, next)
	}
}

// TestRequeueUnanswered_OnlyPendingOutboundInTheWindow_QueuedDueNowAndAnnounced hands to the
// queue the PENDING outbound sends of the window, and nothing else: not a send outside it, not
// one answered, not an inbound message; the dispatchers hear of it.
func TestRequeueUnanswered_OnlyPendingOutboundInTheWindow_QueuedDueNowAndAnnounced(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	insert := func(direction, status string, age time.Duration) string {
		t.Helper()
		var id string
		if err := db.QueryRow(ctx, `INSERT INTO messages (session_id, direction, message_type, status, created_at)
			VALUES ('live', $1, 'TEXT', $2, now() - $3::interval) RETURNING id::text`, direction, status, age).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	inWindow := insert("OUTBOUND", "PENDING", 10*time.Minute)
	tooOld := insert("OUTBOUND", "PENDING", 2*time.Hour)
	tooYoung := insert("OUTBOUND", "PENDING", 0)
	answered := insert("OUTBOUND", "SENT", 10*time.Minute)
	inbound := insert("INBOUND", "PENDING", 10*time.Minute)

	conn := testenv.Listen(t, db, store.QueueChannel)

	now := time.Now()
	n, err := store.RequeueUnanswered(ctx, db, now.Add(-time.Hour), now.Add(-time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("requeued %d (%v), want the one PENDING outbound send of the window", n, err)
	}
	for id, want := range map[string]string{inWindow: "QUEUED", tooOld: "PENDING", tooYoung: "PENDING", answered: "SENT", inbound: "PENDING"} {
		var status string
		var due *time.Time
		if err := db.QueryRow(ctx, `SELECT status::text, next_attempt_at FROM messages WHERE id = $1`, id).Scan(&status, &due); err != nil {
			t.Fatal(err)
		}
		if status != want || (want == "QUEUED") != (due != nil) {
			t.Errorf("message %s: %s due %v, want %s", id, status, due, want)
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if note, err := conn.Conn().WaitForNotification(waitCtx); err != nil || !store.QueueDue(note.Payload, now).Before(now.Add(time.Second)) {
		t.Errorf("dispatchers not told of work due now: %+v %v", note, err)
	}

	// One message of a session: only when it is still PENDING.
	if ok, err := store.RequeueUnansweredMessage(ctx, db, "live", tooYoung); err != nil || !ok {
		t.Errorf("requeue the PENDING message: %v %v, want done", ok, err)
	}
	if ok, err := store.RequeueUnansweredMessage(ctx, db, "live", answered); err != nil || ok {
		t.Errorf("requeue a SENT message: %v %v, want nothing done", ok, err)
	}
	if ok, err := store.RequeueUnansweredMessage(ctx, db, "idle", tooOld); err != nil || ok {
		t.Errorf("requeue another session's message: %v %v, want nothing done", ok, err)
	}
}

// queueHeadOf is the ID of the first message queued for the session.
func queueHeadOf(t *testing.T, db *pgxpool.Pool, sessionID string) string {
	t.Helper()
	var id string
	if err := db.QueryRow(context.Background(), `SELECT id::text FROM messages WHERE session_id = $1 AND next_attempt_at IS NOT NULL
		ORDER BY created_at LIMIT 1`, sessionID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestLockQueueHeads_TakesEveryFreeSessionsHeadWithoutWaiting locks, in one statement, the
// head of each session it can: not a session another dispatcher holds, nor one whose head
// another transaction has locked (a cancel, a deletion), and then not the message behind that
// head either; it waits for neither.
func TestLockQueueHeads_TakesEveryFreeSessionsHeadWithoutWaiting(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "free", "head-locked", "dispatched-elsewhere", "empty")
	ctx := context.Background()
	now := time.Now()
	for _, id := range []string{"free", "head-locked", "dispatched-elsewhere"} {
		queueMessage(t, db, id, now.Add(-time.Minute), now.Add(-time.Minute), 0)
		queueMessage(t, db, id, now.Add(-time.Second), now.Add(-time.Second), 0)
	}
	freeHead := queueHeadOf(t, db, "free")

	other, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx) //nolint:errcheck // test cleanup
	msgExec(t, other, `SELECT 1 FROM messages WHERE id = $1 FOR UPDATE`, queueHeadOf(t, db, "head-locked"))
	msgExec(t, other, `SELECT pg_advisory_xact_lock(hashtextextended('wagw-dispatch:dispatched-elsewhere', 0))`)

	lockCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = store.WithTx(lockCtx, db, func(tx pgx.Tx) error {
		heads, err := store.LockQueueHeads(lockCtx, tx, []string{"free", "head-locked", "dispatched-elsewhere", "empty", "unknown"})
		if err != nil {
			return err
		}
		if len(heads) != 1 || heads[0].ID != freeHead || heads[0].SessionID != "free" ||
			heads[0].SessionStatus != model.SessionConnected || heads[0].UserID == "" {
			t.Errorf("heads = %+v, want only the free session's first message, with its session's status and owner", heads)
		}
		var mode string
		if err := tx.QueryRow(lockCtx, `SHOW synchronous_commit`).Scan(&mode); err != nil {
			return err
		}
		if mode != "off" {
			t.Errorf("synchronous_commit = %s in the dispatch transaction, want off", mode)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("lock queue heads: %v", err)
	}
}

// TestMarkDispatched_RecordsEverySendOfABatch records the sends of several sessions in one
// statement: each SENT out of the queue with its WhatsApp ID, each session's pacing clock,
// and the webhook delivery of a send whose session subscribes to it.
func TestMarkDispatched_RecordsEverySendOfABatch(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "hooked", "plain")
	ctx := context.Background()
	now := time.Now()
	msgExec(t, db, `INSERT INTO webhooks (session_id, url, events, secret, is_active)
		VALUES ('hooked', 'https://example.com/hook', '{*}', 'whsec_a', true)`)
	queueMessage(t, db, "hooked", now.Add(-time.Minute), now.Add(-time.Minute), 0)
	queueMessage(t, db, "plain", now.Add(-time.Minute), now.Add(-time.Minute), 2)
	hooked, plain := queueHeadOf(t, db, "hooked"), queueHeadOf(t, db, "plain")
	at := now.UTC().Truncate(time.Millisecond)

	var stored int64
	err := store.WithTx(ctx, db, func(tx pgx.Tx) error {
		var err error
		stored, err = store.MarkDispatched(ctx, tx, []store.Dispatched{
			{ID: hooked, SessionID: "hooked", WAMessageID: "wa-hooked", At: at,
				Hook: &store.NewWebhookDelivery{SessionID: "hooked", Event: "message.status", Payload: []byte(`{"event":"message.status"}`)}},
			{ID: plain, SessionID: "plain", WAMessageID: "wa-plain", At: at.Add(time.Millisecond)},
		})
		return err
	})
	if err != nil || stored != 1 {
		t.Fatalf("mark dispatched: %d deliveries stored (%v), want 1", stored, err)
	}
	for id, want := range map[string]struct {
		session, wa string
		attempts    int
		at          time.Time
	}{hooked: {"hooked", "wa-hooked", 1, at}, plain: {"plain", "wa-plain", 3, at.Add(time.Millisecond)}} {
		var status, waID, mapped string
		var attempts int
		var queued bool
		var sentAt, paced time.Time
		if err := db.QueryRow(ctx, `SELECT m.status, m.wa_message_id, m.attempts, m.next_attempt_at IS NOT NULL, m.sent_at,
				s.last_dispatched_at, w.message_id::text
			FROM messages m JOIN sessions s ON s.id = m.session_id
			JOIN message_wa_ids w ON w.session_id = m.session_id AND w.wa_message_id = m.wa_message_id
			WHERE m.id = $1`, id).Scan(&status, &waID, &attempts, &queued, &sentAt, &paced, &mapped); err != nil {
			t.Fatalf("%s: %v", want.session, err)
		}
		if status != "SENT" || waID != want.wa || attempts != want.attempts || queued || !sentAt.Equal(want.at) ||
			!paced.Equal(want.at) || mapped != id {
			t.Errorf("%s: status %s, wa %s, attempts %d, queued %v, sent_at %s, paced %s, wa id maps to %s; want SENT %s, %d, out of the queue, at %s",
				want.session, status, waID, attempts, queued, sentAt, paced, mapped, want.wa, want.attempts, want.at)
		}
	}
	var event string
	if err := db.QueryRow(ctx, `SELECT d.event FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE w.session_id = 'hooked' AND d.status = 'PENDING'`).Scan(&event); err != nil || event != "message.status" {
		t.Fatalf("webhook delivery: %q (%v), want the hooked session's message.status", event, err)
	}
}

// TestLockQueueHeads_LocksEachHeadThroughThePrimaryKey: with statistics taken while nothing
// was queued, a head looked up by ID under the queue index's own condition was read through
// that index, all of it, for each head; the statement locks it through the primary key.
func TestLockQueueHeads_LocksEachHeadThroughThePrimaryKey(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "planned")
	ctx := context.Background()
	msgExec(t, db, `INSERT INTO messages (session_id, direction, to_number, message_type, content, payload, status, created_at)
		SELECT 'planned', 'OUTBOUND', 'x', 'TEXT', 'x', '{}', 'SENT', now() - g * interval '1 second' FROM generate_series(1, 5000) g`)
	msgExec(t, db, `ANALYZE messages`)
	conn, err := db.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET plan_cache_mode") //nolint:errcheck // the pooled connection is the test's
	plan := genericPlan(t, conn.Conn(), store.LockQueueHeadsSQL)
	if !strings.Contains(plan, "Index Scan using messages_pkey") {
		t.Fatalf("the head is not locked through the primary key:\n%s", plan)
	}
}
