package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/app"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// slowRoute makes g serve /slow by blocking until release is closed; every other path goes
// to the gateway's own handler. started is closed when the slow handler begins.
func slowRoute(g *testenv.Gateway) (started <-chan struct{}, release func()) {
	startedCh, releaseCh := make(chan struct{}), make(chan struct{})
	var startOnce, releaseOnce sync.Once
	next := g.Handler
	g.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			next.ServeHTTP(w, r)
			return
		}
		startOnce.Do(func() { close(startedCh) })
		<-releaseCh
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "done")
	})
	return startedCh, func() { releaseOnce.Do(func() { close(releaseCh) }) }
}

type slowResult struct {
	status int
	body   string
	err    error
}

// fire sends GET /slow in the background.
func fire(baseURL string) <-chan slowResult {
	done := make(chan slowResult, 1)
	go func() {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, baseURL+"/slow", nil)
		if err != nil {
			done <- slowResult{err: err}
			return
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- slowResult{err: err}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		done <- slowResult{status: res.StatusCode, body: string(body), err: err}
	}()
	return done
}

func waitFor[T any](t *testing.T, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("timed out after %v waiting for %s", within, what)
		panic("unreachable")
	}
}

func TestRun_Shutdown_DrainsInFlightRequestAndRefusesNewConnections(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	started, release := slowRoute(g)
	baseURL, stop := g.Serve(t)
	t.Cleanup(release) // runs before Serve's cleanup, so a failing test never waits for the drain
	addr := strings.TrimPrefix(baseURL, "http://")

	result := fire(baseURL)
	waitFor(t, started, 10*time.Second, "the slow handler to start")

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()

	// The listener closes promptly: new connections are refused while the request drains.
	deadline := time.Now().Add(5 * time.Second)
	var dialer net.Dialer
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		cancel()
		if err != nil {
			break
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections were still accepted 5s after shutdown began")
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for an outcome
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a request was still in flight", err)
	default:
	}

	release()
	res := waitFor(t, result, 10*time.Second, "the slow request")
	if res.err != nil || res.status != http.StatusOK || res.body != "done" {
		t.Errorf("slow request = %d %q (%v), want 200 done", res.status, res.body, res.err)
	}
	if err := waitFor(t, stopped, 10*time.Second, "Run to return"); err != nil {
		t.Errorf("Run after a clean drain = %v, want nil", err)
	}
}

func TestRun_RequestOutlivesShutdownTimeout_ReturnsDrainError(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"SHUTDOWN_TIMEOUT": "1s"}})
	started, release := slowRoute(g)
	baseURL, stop := g.Serve(t)
	t.Cleanup(release)

	result := fire(baseURL)
	waitFor(t, started, 10*time.Second, "the slow handler to start")

	begin := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	err := waitFor(t, stopped, 10*time.Second, "Run to give up on the drain")
	elapsed := time.Since(begin)

	if err == nil || !strings.Contains(err.Error(), "drain") {
		t.Errorf("Run = %v, want an error about draining requests", err)
	}
	if elapsed < 900*time.Millisecond {
		t.Errorf("Run returned after %v, before SHUTDOWN_TIMEOUT", elapsed)
	}
	release()
	waitFor(t, result, 10*time.Second, "the slow request to end")
}

func TestRun_ClosedListener_ReturnsServerError(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()

	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background(), ln) }()
	if err := waitFor(t, done, 10*time.Second, "Run on a closed listener"); err == nil || !strings.Contains(err.Error(), "http server") {
		t.Errorf("Run on a closed listener = %v, want an http server error", err)
	}
}

// newDatabaseURL names a database that does not exist yet on the test server; it is dropped
// at the end of the test.
func newDatabaseURL(t *testing.T) (name, databaseURL string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "app_test_" + hex.EncodeToString(b[:])
	u, err := url.Parse(testenv.DatabaseServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, testenv.DatabaseServerURL())
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name, u.String()
}

func tableExists(t *testing.T, db *pgxpool.Pool, table string) bool {
	t.Helper()
	var exists bool
	if err := db.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

func TestNew_MissingDatabase_CreatesAndMigratesIt(t *testing.T) {
	t.Parallel()
	_, databaseURL := newDatabaseURL(t)
	g := testenv.NewGateway(t, testenv.Options{DatabaseURL: databaseURL})

	for _, table := range []string{"users", "workers", "sessions", "goose_db_version"} {
		if !tableExists(t, g.DB, table) {
			t.Errorf("table %s missing after New on a new database", table)
		}
	}
	if res := g.Do(t, http.MethodGet, "/health/detailed", nil); res.Code != http.StatusOK {
		t.Errorf("/health/detailed = %d, body %s", res.Code, res.Body)
	}
}

func TestNew_AutoMigrateFalse_LeavesTheDatabaseEmpty(t *testing.T) {
	t.Parallel()
	_, databaseURL := newDatabaseURL(t)
	g := testenv.NewGateway(t, testenv.Options{DatabaseURL: databaseURL, Env: map[string]string{"AUTO_MIGRATE": "false"}})

	for _, table := range []string{"users", "goose_db_version"} {
		if tableExists(t, g.DB, table) {
			t.Errorf("table %s exists although AUTO_MIGRATE=false", table)
		}
	}
}

func TestNew_DatabaseUnreachable_FailsWithAClearError(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, map[string]string{
		"DATABASE_URL":     "postgres://postgres@127.0.0.1:1/wagateway?sslmode=disable",
		"REDIS_KEY_PREFIX": testenv.NewKeyPrefix(t),
	})
	logs := &testenv.SyncBuffer{}
	logger, _ := app.NewLogger(cfg, logs)

	a, err := app.New(context.Background(), cfg, logger)
	if err == nil {
		a.Close()
		t.Fatal("New succeeded with Postgres unreachable")
	}
	if !strings.Contains(err.Error(), "connect to database") {
		t.Errorf("New = %v, want an error saying it could not connect to the database", err)
	}
	if !strings.Contains(logs.String(), "could not ensure the database exists") {
		t.Errorf("the failed database creation was not logged:\n%s", logs)
	}
}

func TestNew_RedisUnreachable_StartsDegraded(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}})
	if !strings.Contains(g.Logs.String(), "redis is unreachable at start") {
		t.Errorf("the degraded start was not logged:\n%s", g.Logs)
	}
	if res := g.Do(t, http.MethodGet, "/health", nil); res.Code != http.StatusOK {
		t.Errorf("/health = %d", res.Code)
	}
}

func TestMigrate_RunsTheGivenStep(t *testing.T) {
	t.Parallel()
	_, databaseURL := newDatabaseURL(t)
	g := testenv.NewGateway(t, testenv.Options{DatabaseURL: databaseURL, Env: map[string]string{"AUTO_MIGRATE": "false"}})
	ctx := context.Background()
	var status strings.Builder
	err := app.Migrate(ctx, g.DB, slog.New(slog.DiscardHandler), func(m *store.Migrator) error {
		if err := m.Up(ctx); err != nil {
			return err
		}
		return m.WriteStatus(ctx, &status)
	})
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if !tableExists(t, g.DB, "users") || !strings.Contains(status.String(), "applied") {
		t.Errorf("after Migrate(Up): users exists %v, status %q", tableExists(t, g.DB, "users"), status.String())
	}
}

func TestRun_PrunesWebhookDeliveriesPastTheirRetention(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"WEBHOOK_DELIVERY_RETENTION_DAYS": "3"}})
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO users (id, name, email, password_hash) VALUES ('00000000-0000-0000-0000-0000000000aa', 'U', 'prune@example.com', 'x')`,
		`INSERT INTO sessions (id, user_id, name, status) VALUES ('prune-1', '00000000-0000-0000-0000-0000000000aa', 'P', 'DISCONNECTED')`,
		`INSERT INTO webhooks (session_id, url, events, secret) VALUES ('prune-1', 'https://hooks.example.com/in', '{*}', 'sealed')`,
		// Four days old: delivered (pruned) and still waiting for a retry (kept); one day old: kept.
		`INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_retry, created_at)
		 SELECT id, 'message.received', '{"id":"evt_1"}', s.status::webhook_delivery_status, now() + interval '1 hour', now() - s.age
		 FROM webhooks, (VALUES ('DELIVERED', interval '4 days'), ('RETRYING', interval '4 days'), ('DELIVERED', interval '1 day')) s(status, age)`,
	} {
		if _, err := g.DB.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	g.Serve(t) // pruning runs at start, then hourly

	deadline := time.Now().Add(10 * time.Second)
	for {
		var old, kept int
		if err := g.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'DELIVERED' AND created_at < now() - interval '3 days'),
			count(*) FILTER (WHERE status = 'RETRYING' OR created_at > now() - interval '3 days') FROM webhook_deliveries`).Scan(&old, &kept); err != nil {
			t.Fatal(err)
		}
		if old == 0 {
			if kept != 2 {
				t.Fatalf("%d deliveries kept, want the one still owed and the recent one", kept)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the delivered delivery older than WEBHOOK_DELIVERY_RETENTION_DAYS was not pruned")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A replica says it is alive from New to Close, and is forgotten at Close: Idempotency-Key
// claims it held are then taken over at once.
func TestNew_RegistersTheReplicaUntilClose(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	seen := func(db *pgxpool.Pool) bool {
		t.Helper()
		var n int
		if err := db.QueryRow(context.Background(), `SELECT count(*) FROM gateway_replicas WHERE id = $1 AND seen_at > now() - interval '1 minute'`,
			g.ReplicaID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if g.ReplicaID == "" || !seen(g.DB) {
		t.Fatalf("replica %q not registered by New", g.ReplicaID)
	}
	observer, err := pgxpool.New(context.Background(), g.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	g.Close()
	if seen(observer) {
		t.Error("replica still registered after Close")
	}
}
