package router_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/testenv"
)

// rtFixture is a router on a fresh database (one user, worker w-1, session s-1 placed on it,
// s-idle placed nowhere) and an empty Redis prefix.
type rtFixture struct {
	db     *pgxpool.Pool
	rdb    redis.UniversalClient
	keys   redisdb.Keys
	router *router.Router
}

func newRtFixture(t *testing.T) *rtFixture {
	t.Helper()
	db := testenv.NewDB(t)
	rdb, keys := testenv.NewRedis(t)
	f := &rtFixture{db: db, rdb: rdb, keys: keys, router: router.New(db, rdb, keys, slog.New(slog.DiscardHandler))}
	f.exec(t, `INSERT INTO users (id, name, email, password_hash) VALUES ('00000000-0000-4000-8000-000000000001', 'U', 'u@example.com', 'x')`)
	f.exec(t, `INSERT INTO workers (id, endpoint, status) VALUES ('w-1', 'http://w-1:8001', 'ONLINE'), ('w-2', 'http://w-2:8001', 'ONLINE')`)
	f.exec(t, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES
		('s-1', '00000000-0000-4000-8000-000000000001', 'S', 'w-1', 'CONNECTED'),
		('s-idle', '00000000-0000-4000-8000-000000000001', 'S', NULL, 'DISCONNECTED')`)
	return f
}

func (f *rtFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f *rtFixture) hget(t *testing.T, hash, field string) string {
	t.Helper()
	v, err := f.rdb.HGet(context.Background(), f.keys.Key(hash), field).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLookup_RedisMiss_FallsBackToPostgresAndRepairsRedis(t *testing.T) {
	t.Parallel()
	f := newRtFixture(t)
	if f.hget(t, "session_routing", "s-1") != "" {
		t.Fatal("the prefix is not empty")
	}
	route, err := f.router.Lookup(context.Background(), "s-1")
	if err != nil {
		t.Fatal(err)
	}
	want := router.Route{SessionID: "s-1", WorkerID: "w-1", Endpoint: "http://w-1:8001", WorkerStatus: model.WorkerOnline}
	if route != want {
		t.Fatalf("route = %+v, want %+v", route, want)
	}
	if got := f.hget(t, "session_routing", "s-1"); got != "w-1" {
		t.Errorf("session_routing s-1 = %q after the miss, want it repaired to w-1", got)
	}
	if snap := f.hget(t, "workers", "w-1"); !strings.Contains(snap, "http://w-1:8001") || !strings.Contains(snap, "ONLINE") {
		t.Errorf("workers w-1 = %q, want the endpoint and status", snap)
	}
}

func TestLookup_RedisHit_AnswersFromRedisAlone(t *testing.T) {
	t.Parallel()
	f := newRtFixture(t)
	ctx := context.Background()
	// A route Postgres does not have: only Redis can answer it.
	f.router.Set(ctx, router.Route{SessionID: "ghost", WorkerID: "w-9", Endpoint: "http://w-9:8001", WorkerStatus: model.WorkerOnline})
	route, err := f.router.Lookup(ctx, "ghost")
	if err != nil || route.WorkerID != "w-9" || route.Endpoint != "http://w-9:8001" {
		t.Fatalf("Lookup = %+v, %v; want the cached route", route, err)
	}
	if n, err := f.router.Size(ctx); err != nil || n != 1 {
		t.Errorf("Size = %d, %v; want 1", n, err)
	}
}

func TestLookup_IncompleteOrCorruptCache_FallsBackAndRepairs(t *testing.T) {
	t.Parallel()
	for name, spoil := range map[string]func(t *testing.T, f *rtFixture){
		"worker snapshot missing": func(t *testing.T, f *rtFixture) {
			f.rdb.HSet(context.Background(), f.keys.Key("session_routing"), "s-1", "w-1")
		},
		"worker snapshot corrupt": func(t *testing.T, f *rtFixture) {
			f.rdb.HSet(context.Background(), f.keys.Key("session_routing"), "s-1", "w-1")
			f.rdb.HSet(context.Background(), f.keys.Key("workers"), "w-1", "{not json")
		},
		"worker snapshot without endpoint": func(t *testing.T, f *rtFixture) {
			f.rdb.HSet(context.Background(), f.keys.Key("session_routing"), "s-1", "w-1")
			f.rdb.HSet(context.Background(), f.keys.Key("workers"), "w-1", `{"status":"ONLINE"}`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newRtFixture(t)
			spoil(t, f)
			route, err := f.router.Lookup(context.Background(), "s-1")
			if err != nil || route.Endpoint != "http://w-1:8001" {
				t.Fatalf("Lookup = %+v, %v; want the route from Postgres", route, err)
			}
			if snap := f.hget(t, "workers", "w-1"); !strings.Contains(snap, "http://w-1:8001") {
				t.Errorf("workers w-1 = %q, want it repaired", snap)
			}
		})
	}
}

func TestLookup_UnplacedOrUnknownSession(t *testing.T) {
	t.Parallel()
	f := newRtFixture(t)
	if _, err := f.router.Lookup(context.Background(), "s-idle"); !errors.Is(err, router.ErrNotPlaced) {
		t.Errorf("unplaced session: %v, want ErrNotPlaced", err)
	}
	if _, err := f.router.Lookup(context.Background(), "nobody"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown session: %v, want model.ErrNotFound", err)
	}
	if f.hget(t, "session_routing", "s-idle") != "" {
		t.Error("an unplaced session was cached")
	}
}

func TestLookup_RedisDown_AnswersFromPostgres(t *testing.T) {
	t.Parallel()
	f := newRtFixture(t)
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	r := router.New(f.db, down, f.keys, slog.New(slog.DiscardHandler))
	route, err := r.Lookup(context.Background(), "s-1")
	if err != nil || route.WorkerID != "w-1" || route.Endpoint != "http://w-1:8001" {
		t.Fatalf("Lookup with Redis down = %+v, %v; want the route from Postgres", route, err)
	}
	// Writes fail quietly: Postgres stays the truth.
	r.Set(context.Background(), route)
	r.Clear(context.Background(), "s-1")
	if _, err := r.Size(context.Background()); err == nil {
		t.Error("Size with Redis down reported no error")
	}
}

func TestRouter_ClearPutWorkerAndRemoveWorker(t *testing.T) {
	t.Parallel()
	f := newRtFixture(t)
	ctx := context.Background()
	f.exec(t, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ('s-2', '00000000-0000-4000-8000-000000000001', 'S', 'w-1', 'CONNECTED')`)
	for _, id := range []string{"s-1", "s-2"} {
		if _, err := f.router.Lookup(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	f.router.Clear(ctx, "s-1")
	f.router.Clear(ctx) // nothing to clear is fine
	if f.hget(t, "session_routing", "s-1") != "" || f.hget(t, "session_routing", "s-2") != "w-1" {
		t.Error("Clear(s-1) did not remove exactly s-1")
	}

	f.router.PutWorker(ctx, model.Worker{ID: "w-1", Endpoint: "http://w-1-moved:8001", Status: model.WorkerMaintenance})
	route, err := f.router.Lookup(ctx, "s-2")
	if err != nil || route.Endpoint != "http://w-1-moved:8001" || route.WorkerStatus != model.WorkerMaintenance {
		t.Errorf("after PutWorker: %+v, %v", route, err)
	}

	f.router.RemoveWorker(ctx, "w-1", []string{"s-2"})
	if f.hget(t, "workers", "w-1") != "" || f.hget(t, "session_routing", "s-2") != "" {
		t.Error("RemoveWorker left the snapshot or the route")
	}
	if n, err := f.router.Size(ctx); err != nil || n != 0 {
		t.Errorf("Size = %d, %v; want 0", n, err)
	}
}
