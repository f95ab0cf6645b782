// Package router answers "which worker runs this session?" on the hot path. Postgres is the
// truth (sessions.worker_id); Redis keeps two hashes under the key prefix — session_routing
// (session ID → worker ID) and workers (worker ID → a snapshot of its endpoint and status) —
// so that a lookup is one round trip. A miss, or a Redis that was flushed or is down, falls
// back to Postgres and repairs Redis.
package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/store"
)

// Route is where a session runs.
type Route struct {
	SessionID    string
	WorkerID     string
	Endpoint     string
	WorkerStatus model.WorkerStatus
}

// snapshot is a worker as the workers hash keeps it.
type snapshot struct {
	Endpoint string             `json:"endpoint"`
	Status   model.WorkerStatus `json:"status"`
}

// Router looks routes up in Redis and Postgres.
type Router struct {
	db     *pgxpool.Pool
	rdb    redis.UniversalClient
	pipe   *redisdb.AutoPipeline
	logger *slog.Logger

	sessionsKey string
	workersKey  string
}

// New returns a router over db and rdb with keys under keys' prefix.
func New(db *pgxpool.Pool, rdb redis.UniversalClient, keys redisdb.Keys, logger *slog.Logger) *Router {
	return &Router{db: db, rdb: rdb, pipe: redisdb.NewAutoPipeline(rdb), logger: logger,
		sessionsKey: keys.Key("session_routing"), workersKey: keys.Key("workers")}
}

// ErrNotPlaced is returned for a session that no worker runs.
var ErrNotPlaced = errors.New("session is not placed on a worker")

// Lookup returns the route of a session: from Redis when both entries are there, else from
// Postgres, repairing Redis. A session not placed anywhere is ErrNotPlaced; an unknown
// session is model.ErrNotFound.
func (r *Router) Lookup(ctx context.Context, sessionID string) (Route, error) {
	if route, ok := r.lookupCache(ctx, sessionID); ok {
		return route, nil
	}
	it, err := store.GetSessionListItem(ctx, r.db, sessionID)
	if err != nil {
		return Route{}, err
	}
	if it.WorkerID == nil || it.WorkerEndpoint == nil || it.WorkerStatus == nil {
		return Route{}, ErrNotPlaced
	}
	route := Route{SessionID: sessionID, WorkerID: *it.WorkerID, Endpoint: *it.WorkerEndpoint, WorkerStatus: *it.WorkerStatus}
	r.Set(ctx, route)
	return route, nil
}

func (r *Router) lookupCache(ctx context.Context, sessionID string) (Route, bool) {
	// Two steps (the worker's snapshot is found by the session's entry), each in a pipeline
	// shared with concurrent lookups; no script, so that it works on a Cluster too.
	var worker *redis.StringCmd
	r.pipe.Do(ctx, func(p redis.Pipeliner) { worker = p.HGet(ctx, r.sessionsKey, sessionID) })
	workerID, err := worker.Result()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			r.logger.WarnContext(ctx, "routing cache unavailable; using Postgres", slog.Any("err", err))
		}
		return Route{}, false
	}
	var snapshotCmd *redis.StringCmd
	r.pipe.Do(ctx, func(p redis.Pipeliner) { snapshotCmd = p.HGet(ctx, r.workersKey, workerID) })
	raw, err := snapshotCmd.Result()
	if err != nil {
		return Route{}, false
	}
	var snap snapshot
	if json.Unmarshal([]byte(raw), &snap) != nil || snap.Endpoint == "" {
		return Route{}, false
	}
	return Route{SessionID: sessionID, WorkerID: workerID, Endpoint: snap.Endpoint, WorkerStatus: snap.Status}, true
}

// Set records a route in Redis. Failures are logged: Postgres stays the truth and the next
// lookup repairs the cache.
func (r *Router) Set(ctx context.Context, route Route) {
	raw, _ := json.Marshal(snapshot{Endpoint: route.Endpoint, Status: route.WorkerStatus})
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.workersKey, route.WorkerID, raw)
		p.HSet(ctx, r.sessionsKey, route.SessionID, route.WorkerID)
		return nil
	})
	if err != nil {
		r.logger.WarnContext(ctx, "write routing cache", slog.String("session_id", route.SessionID), slog.Any("err", err))
	}
}

// Clear forgets a session's route (released, deleted or moved).
func (r *Router) Clear(ctx context.Context, sessionIDs ...string) {
	if len(sessionIDs) == 0 {
		return
	}
	if err := r.rdb.HDel(ctx, r.sessionsKey, sessionIDs...).Err(); err != nil {
		r.logger.WarnContext(ctx, "clear routing cache", slog.Any("err", err))
	}
}

// PutWorker refreshes a worker's snapshot after its endpoint or status changed.
func (r *Router) PutWorker(ctx context.Context, w model.Worker) {
	raw, _ := json.Marshal(snapshot{Endpoint: w.Endpoint, Status: w.Status})
	if err := r.rdb.HSet(ctx, r.workersKey, w.ID, raw).Err(); err != nil {
		r.logger.WarnContext(ctx, "write worker snapshot", slog.String("worker_id", w.ID), slog.Any("err", err))
	}
}

// RemoveWorker forgets a worker that left, and the routes of sessions it ran.
func (r *Router) RemoveWorker(ctx context.Context, workerID string, sessionIDs []string) {
	if err := r.rdb.HDel(ctx, r.workersKey, workerID).Err(); err != nil {
		r.logger.WarnContext(ctx, "remove worker snapshot", slog.String("worker_id", workerID), slog.Any("err", err))
	}
	r.Clear(ctx, sessionIDs...)
}

// Size reports the number of cached routes, for tests and the benchmark.
func (r *Router) Size(ctx context.Context) (int64, error) {
	n, err := r.rdb.HLen(ctx, r.sessionsKey).Result()
	if err != nil {
		return 0, fmt.Errorf("routing cache size: %w", err)
	}
	return n, nil
}
