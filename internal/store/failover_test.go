package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// foFixture is a database with one user, a worker wk1 of the given status, and sessions on it.
func foFixture(t *testing.T, status model.WorkerStatus, sessions ...string) *pgxpool.Pool {
	t.Helper()
	db := testenv.NewDB(t)
	ctx := context.Background()
	u, err := store.CreateUser(ctx, db, model.User{Name: "Owner", Email: "owner@x.com", PasswordHash: "h",
		Role: model.RoleUser, Tier: model.TierBasic})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO workers (id, endpoint, status, last_heartbeat) VALUES ('wk1', 'http://wk1:1', $1, now())`,
		status); err != nil {
		t.Fatal(err)
	}
	for _, id := range sessions {
		if _, err := db.Exec(ctx, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ($1, $2, $1, 'wk1', 'CONNECTED')`,
			id, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestReleaseForFailover_NeverTakesASessionFromAnOnlineWorker(t *testing.T) {
	t.Parallel()
	db := foFixture(t, model.WorkerOnline, "ses1")

	_, err := store.ReleaseForFailover(context.Background(), db, "ses1", "wk1", "test", true)

	if !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound for a session of an ONLINE worker", err)
	}
	var worker *string
	if err := db.QueryRow(context.Background(), `SELECT worker_id FROM sessions WHERE id = 'ses1'`).Scan(&worker); err != nil || worker == nil {
		t.Fatalf("the session lost its worker (%v)", err)
	}
}

func TestReleaseForFailover_PreservedSessionsStayUnlessIncluded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := foFixture(t, model.WorkerOffline, "kept", "free")
	if n, err := store.PreserveSessions(ctx, db, "wk1", []string{"kept"}, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("preserve: %d, %v", n, err)
	}

	stranded, err := store.ListStrandedSessions(ctx, db, 10)
	if err != nil || len(stranded) != 1 || stranded[0].ID != "free" || stranded[0].WorkerID != "wk1" {
		t.Fatalf("stranded = %+v, %v; want only the session without grace", stranded, err)
	}
	if _, err := store.ReleaseForFailover(ctx, db, "kept", "wk1", "test", false); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("release in grace: %v, want ErrNotFound", err)
	}
	p, err := store.ReleaseForFailover(ctx, db, "free", "wk1", "worker wk1 went OFFLINE", false)
	if err != nil || p.Status != model.SessionConnected {
		t.Fatalf("release = %+v, %v; want the status it had", p, err)
	}
	if _, err := store.ReleaseForFailover(ctx, db, "free", "wk1", "again", false); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("second release: %v, want ErrNotFound", err)
	}
	if _, err := store.ReleaseForFailover(ctx, db, "kept", "wk1", "drained", true); err != nil {
		t.Fatalf("release including preserved: %v", err)
	}
}

func TestRecordHealthFailure_ThirdFailureTakesTheWorkerOffline_UnlessItHeartbeatMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := foFixture(t, model.WorkerOnline)
	seen := func() *time.Time {
		var at *time.Time
		if err := db.QueryRow(ctx, `SELECT last_heartbeat FROM workers WHERE id = 'wk1'`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}

	for i, want := range []model.WorkerStatus{model.WorkerOnline, model.WorkerOnline, model.WorkerOffline} {
		tr, err := store.RecordHealthFailure(ctx, db, "wk1", seen(), 3)
		if err != nil || tr.After != want || tr.ConsecutiveFailures != i+1 {
			t.Fatalf("failure %d = %+v, %v; want %s", i+1, tr, err, want)
		}
	}

	stale := seen()
	if _, err := db.Exec(ctx, `UPDATE workers SET last_heartbeat = now() + interval '1 second' WHERE id = 'wk1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecordHealthFailure(ctx, db, "wk1", stale, 3); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("failure after a newer heartbeat: %v, want ErrNotFound", err)
	}
}

func TestRecordHealthSuccess_BringsBackOnlyWorkersFailedChecksTookOffline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := foFixture(t, model.WorkerOnline)
	for range 3 {
		var at *time.Time
		_ = db.QueryRow(ctx, `SELECT last_heartbeat FROM workers WHERE id = 'wk1'`).Scan(&at)
		if _, err := store.RecordHealthFailure(ctx, db, "wk1", at, 3); err != nil {
			t.Fatal(err)
		}
	}

	tr, ok, err := store.RecordHealthSuccess(ctx, db, "wk1", 3)
	if err != nil || !ok || tr.Before != model.WorkerOffline || tr.After != model.WorkerOnline || tr.ConsecutiveFailures != 0 {
		t.Fatalf("success = %+v, %v, %v; want back ONLINE", tr, ok, err)
	}
	if _, ok, err := store.RecordHealthSuccess(ctx, db, "wk1", 3); ok || err != nil {
		t.Fatalf("a second success changed something (%v, %v)", ok, err)
	}

	// A worker that left is OFFLINE with no failures: a check does not bring it back.
	if _, err := store.MarkWorkerLeaving(ctx, db, "wk1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := store.RecordHealthSuccess(ctx, db, "wk1", 3); ok || err != nil {
		t.Fatalf("a worker that left came back on a check (%v, %v)", ok, err)
	}
}
