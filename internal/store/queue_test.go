package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

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
	return due, next
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
