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
