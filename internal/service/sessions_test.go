package service_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workers"
)

// ssFixture is the sessions service on its own database and Redis prefix, with one user.
type ssFixture struct {
	db     *pgxpool.Pool
	bus    *events.Bus
	router *router.Router
	svc    *service.Sessions
	user   *auth.Principal
}

func newSsFixture(t *testing.T) *ssFixture {
	t.Helper()
	db := testenv.NewDB(t)
	rdb, keys := testenv.NewRedis(t)
	logger := slog.New(slog.DiscardHandler)
	bus := events.NewBus()
	rt := router.New(db, rdb, keys, logger)
	f := &ssFixture{db: db, bus: bus, router: rt, svc: &service.Sessions{
		DB: db, Router: rt, Client: workers.NewClient("token", metrics.New(), logger),
		APIKeys: &service.APIKeys{DB: db, Logger: logger}, Events: &service.SessionEvents{DB: db, Bus: bus, Logger: logger},
		Metrics: metrics.New(), Logger: logger, TierLimits: model.DefaultTierLimits(), QRTTL: time.Minute,
	}}
	f.user = f.newUser(t, "owner@example.com", model.RoleUser)
	return f
}

func (f *ssFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f *ssFixture) newUser(t *testing.T, email string, role model.UserRole) *auth.Principal {
	t.Helper()
	p := &auth.Principal{Email: email, Role: role, Tier: model.TierBasic}
	if err := f.db.QueryRow(context.Background(), `INSERT INTO users (name, email, password_hash, role) VALUES ('U', $1, 'x', $2)
		RETURNING id::text`, email, role).Scan(&p.UserID); err != nil {
		t.Fatal(err)
	}
	return p
}

// worker inserts an ONLINE worker with used sessions of another user already placed on it.
func (f *ssFixture) worker(t *testing.T, id string, maxSessions, used int) {
	t.Helper()
	f.exec(t, `INSERT INTO workers (id, endpoint, max_sessions, status, last_heartbeat) VALUES ($1, $2, $3, 'ONLINE', now())`,
		id, "http://"+id+":8001", maxSessions)
	for i := range used {
		f.exec(t, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ($1, $2, 'filler', $3, 'CONNECTED')`,
			fmt.Sprintf("%s-filler-%d", id, i), f.user.UserID, id)
	}
}

func (f *ssFixture) session(t *testing.T, id string, status model.SessionStatus, workerID string) {
	t.Helper()
	var w *string
	if workerID != "" {
		w = &workerID
	}
	f.exec(t, `INSERT INTO sessions (id, user_id, name, status, worker_id, phone_number) VALUES ($1, $2, 'S', $3, $4, '+628111')`,
		id, f.user.UserID, status, w)
}

type ssRow struct {
	Status   model.SessionStatus
	WorkerID *string
	Reason   *string
}

func (f *ssFixture) row(t *testing.T, id string) ssRow {
	t.Helper()
	var r ssRow
	if err := f.db.QueryRow(context.Background(), `SELECT status, worker_id, status_reason FROM sessions WHERE id = $1`, id).
		Scan(&r.Status, &r.WorkerID, &r.Reason); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSessionsPlace_ChoosesTheBestScoredWorkerWithRoom(t *testing.T) {
	t.Parallel()
	f := newSsFixture(t)
	ctx := context.Background()
	f.worker(t, "busy", 10, 5)
	f.worker(t, "idle", 10, 1)
	f.worker(t, "full", 2, 2)

	f.session(t, "sess-1", model.SessionDisconnected, "")
	placed, worker, err := f.svc.Place(ctx, "sess-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if worker.ID != "idle" || placed.Status != model.SessionInit || placed.WorkerID == nil || *placed.WorkerID != "idle" {
		t.Fatalf("placed %+v on %s, want INIT on the idle worker", placed, worker.ID)
	}
	route, err := f.router.Lookup(ctx, "sess-1")
	if err != nil || route.WorkerID != "idle" || route.Endpoint != "http://idle:8001" {
		t.Fatalf("route = %+v, %v", route, err)
	}

	// Excluding the best one (failover away from it) takes the next; the full one never.
	f.session(t, "sess-2", model.SessionDisconnected, "")
	if _, worker, err := f.svc.Place(ctx, "sess-2", "idle"); err != nil || worker.ID != "busy" {
		t.Fatalf("Place excluding idle = %s, %v; want busy", worker.ID, err)
	}
	// A worker that reports heavy load is passed over for a lighter one.
	f.exec(t, `UPDATE workers SET cpu_usage = 100, memory_usage = 100 WHERE id = 'idle'`)
	f.session(t, "sess-3", model.SessionDisconnected, "")
	if _, worker, err := f.svc.Place(ctx, "sess-3", ""); err != nil || worker.ID != "busy" {
		t.Fatalf("Place with idle overloaded = %s, %v; want busy", worker.ID, err)
	}
}

func TestSessionsPlace_RefusesRunningSessionsAndRollsBackWithoutRoom(t *testing.T) {
	t.Parallel()
	f := newSsFixture(t)
	ctx := context.Background()
	f.worker(t, "w-1", 1, 1)
	for _, status := range []model.SessionStatus{model.SessionConnected, model.SessionInit} {
		id := "running-" + strings.ToLower(string(status))
		f.session(t, id, status, "w-1")
		if _, _, err := f.svc.Place(ctx, id, ""); model.KindOf(err) != model.KindConflict {
			t.Errorf("Place %s = %v, want a conflict", status, err)
		}
	}
	if _, _, err := f.svc.Place(ctx, "nobody", ""); model.KindOf(err) != model.KindNotFound {
		t.Errorf("Place of an unknown session = %v, want not found", err)
	}

	ch, unsubscribe := f.bus.Subscribe(10)
	defer unsubscribe()
	f.session(t, "homeless", model.SessionError, "")
	_, _, err := f.svc.Place(ctx, "homeless", "")
	if model.KindOf(err) != model.KindConnectivity {
		t.Fatalf("Place with no room = %v, want connectivity", err)
	}
	row := f.row(t, "homeless")
	if row.Status != model.SessionDisconnected || row.WorkerID != nil || row.Reason == nil || *row.Reason == "" {
		t.Errorf("after no room: %+v, want DISCONNECTED with a reason", row)
	}
	select {
	case e := <-ch:
		if e.Type != events.SessionStatusChanged || e.SessionID != "homeless" {
			t.Errorf("event = %+v, want the session's change to DISCONNECTED", e)
		}
	default:
		t.Error("the rollback published no session_status_changed")
	}
}

func TestSessionsPlace_SessionInItsWorkersLastSlotIsPlacedThereAgain(t *testing.T) {
	t.Parallel()
	f := newSsFixture(t)
	f.worker(t, "tiny", 1, 0)
	f.session(t, "waiting", model.SessionQRRequired, "tiny")
	placed, worker, err := f.svc.Place(context.Background(), "waiting", "")
	if err != nil || worker.ID != "tiny" || placed.Status != model.SessionInit {
		t.Fatalf("Place = %+v on %q, %v; want INIT on tiny, its own slot", placed, worker.ID, err)
	}
	var used int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE worker_id = 'tiny'`).Scan(&used); err != nil || used != 1 {
		t.Fatalf("tiny holds %d sessions (%v), want 1", used, err)
	}
}

func TestSessionsPlace_ConcurrentPlacementsNeverOverfillAWorker(t *testing.T) {
	t.Parallel()
	f := newSsFixture(t)
	f.worker(t, "w-a", 3, 0)
	f.worker(t, "w-b", 2, 0)
	const n = 12
	for i := range n {
		f.session(t, fmt.Sprintf("race-%d", i), model.SessionDisconnected, "")
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = f.svc.Place(context.Background(), fmt.Sprintf("race-%d", i), "") })
	}
	wg.Wait()
	placed := 0
	for _, err := range errs {
		switch model.KindOf(err) {
		case "":
			placed++
		case model.KindConnectivity:
		default:
			t.Errorf("Place: %v", err)
		}
	}
	if placed != 5 {
		t.Errorf("%d placed, want 5 (3 + 2)", placed)
	}
	var over int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM workers w
		WHERE (SELECT count(*) FROM sessions s WHERE s.worker_id = w.id) > w.max_sessions`).Scan(&over); err != nil || over != 0 {
		t.Errorf("%d workers over capacity (%v)", over, err)
	}
}

func TestSessionsVisible_OwnersAndAdministratorsOnly(t *testing.T) {
	t.Parallel()
	f := newSsFixture(t)
	ctx := context.Background()
	f.session(t, "mine", model.SessionDisconnected, "")
	stranger := f.newUser(t, "stranger@example.com", model.RoleUser)
	admin := f.newUser(t, "admin@example.com", model.RoleAdministrator)

	if s, err := f.svc.Visible(ctx, f.user, "mine"); err != nil || s.ID != "mine" {
		t.Errorf("owner: %+v, %v", s, err)
	}
	if s, err := f.svc.Visible(ctx, admin, "mine"); err != nil || s.UserID != f.user.UserID {
		t.Errorf("administrator: %+v, %v", s, err)
	}
	for name, p := range map[string]*auth.Principal{"stranger": stranger} {
		_, err := f.svc.Visible(ctx, p, "mine")
		var e *model.Error
		if !errors.As(err, &e) || e.Kind != model.KindNotFound || e.Message != "Session not found" {
			t.Errorf("%s: %v, want the same not found as for a missing session", name, err)
		}
	}
	if _, err := f.svc.Visible(ctx, f.user, "missing"); model.KindOf(err) != model.KindNotFound {
		t.Errorf("missing: %v", err)
	}
}

func TestSessionsCreate_NamesIDsAndTierLimit(t *testing.T) {
	t.Parallel()
	f := newSsFixture(t)
	ctx := context.Background()
	f.svc.TierLimits = map[model.UserTier]model.TierLimits{model.TierBasic: {Sessions: 2}}

	created, err := f.svc.Create(ctx, f.user, "  Toko Budi  ", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if created.Session.Name != "Toko Budi" || !regexp.MustCompile(`^toko-budi-[a-z0-9]{6}$`).MatchString(created.Session.ID) ||
		created.Session.Status != model.SessionDisconnected {
		t.Errorf("created %+v", created.Session)
	}
	if p, err := f.svc.APIKeys.Authenticate(ctx, created.APIKey); err != nil || p.SessionID != created.Session.ID || p.UserID != f.user.UserID {
		t.Errorf("the new key authenticates as %+v, %v", p, err)
	}
	blank := "   "
	if _, err := f.svc.Create(ctx, f.user, "Shop", "", &blank); err != nil {
		t.Fatalf("a blank displayName: %v", err)
	}
	for _, tc := range []struct{ name, id string }{{"   ", ""}, {"Shop", "--"}, {"Shop", "!!!x"}} {
		_, err := f.svc.Create(ctx, f.user, tc.name, tc.id, nil)
		if model.KindOf(err) != model.KindValidation {
			t.Errorf("Create(%q, %q) = %v, want a validation error", tc.name, tc.id, err)
		}
	}
	_, err = f.svc.Create(ctx, f.user, "Third", "", nil)
	var e *model.Error
	if !errors.As(err, &e) || e.Kind != model.KindConflict {
		t.Fatalf("third session on a limit of 2 = %v, want a conflict", err)
	}
	var n int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE display_name IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d sessions store a display name of spaces (%v)", n, err)
	}
}

func TestSessionsCurrentQR_ServesAStoredQRUntilItsTTL(t *testing.T) {
	t.Parallel()
	f := newSsFixture(t)
	ctx := context.Background()
	f.svc.QRTTL = 30 * time.Second
	f.session(t, "qr-1", model.SessionQRRequired, "")
	scanned := time.Now().Add(-10 * time.Second).UTC().Truncate(time.Microsecond)
	f.exec(t, `UPDATE sessions SET qr_code = '2@abc', qr_updated_at = $1 WHERE id = 'qr-1'`, scanned)

	qr, err := f.svc.CurrentQR(ctx, f.user, "qr-1")
	if err != nil || qr.Code != "2@abc" || !qr.ExpiresAt.Equal(scanned.Add(30*time.Second)) {
		t.Fatalf("CurrentQR = %+v, %v; want 2@abc expiring 30 s after it was shown", qr, err)
	}
	f.exec(t, `UPDATE sessions SET qr_updated_at = now() - interval '31 seconds' WHERE id = 'qr-1'`)
	if _, err := f.svc.CurrentQR(ctx, f.user, "qr-1"); model.KindOf(err) != model.KindNotFound {
		t.Errorf("expired QR with no worker = %v, want not found", err)
	}
	f.exec(t, `UPDATE sessions SET status = 'CONNECTED', qr_updated_at = now() WHERE id = 'qr-1'`)
	if _, err := f.svc.CurrentQR(ctx, f.user, "qr-1"); model.KindOf(err) != model.KindNotFound {
		t.Errorf("QR of a CONNECTED session = %v, want not found", err)
	}
	if live := f.svc.LiveStatus(ctx, model.Session{ID: "qr-1"}); live != "" {
		t.Errorf("LiveStatus of an unplaced session = %q, want empty", live)
	}
}

// Disconnect and Logout store their session.status webhook with the release, in one
// transaction, and say so on the bus (the recorder skips the event).
func TestSessionsStop_StoresTheStatusWebhookWithTheRelease(t *testing.T) {
	t.Parallel()
	f := newSsFixture(t)
	ctx := context.Background()
	woken := 0
	f.svc.Events.WebhooksQueued = func() { woken++ }
	ch, unsubscribe := f.bus.Subscribe(16)
	defer unsubscribe()
	for _, id := range []string{"stopped", "logged-out"} {
		f.session(t, id, model.SessionConnected, "")
		f.exec(t, `INSERT INTO webhooks (session_id, url, events, secret) VALUES ($1, 'https://example.com/hook', '{session.status}', 'whsec_test')`, id)
	}
	if _, err := f.svc.Disconnect(ctx, f.user, "stopped"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Logout(ctx, f.user, "logged-out"); err != nil {
		t.Fatal(err)
	}

	var got []string
	rows, err := f.db.Query(ctx, `SELECT w.session_id || ' ' || d.event || ' ' || (d.payload->'data'->>'status')
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id ORDER BY w.session_id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if want := []string{"stopped session.status DISCONNECTED", "logged-out session.status DISCONNECTED"}; !slices.Equal(got, want) {
		t.Errorf("deliveries %q, want %q", got, want)
	}
	if woken != 2 {
		t.Errorf("the deliverer was woken %d times, want 2", woken)
	}
	for i := range 2 {
		select {
		case e := <-ch:
			if e.Type != events.SessionStatusChanged || !e.WebhooksStored {
				t.Errorf("published %s (WebhooksStored %v), want a status change already stored", e.Type, e.WebhooksStored)
			}
		default:
			t.Fatalf("%d events published, want 2", i)
		}
	}
}
