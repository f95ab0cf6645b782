package service

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// workerTokenCacheTTL bounds how long a replica trusts a per-worker token it looked up; a
// re-registration rotates the token and the old one stops working within this time.
const workerTokenCacheTTL = time.Second

// WorkerAuth authenticates workers: the shared token, or a worker's own token.
type WorkerAuth struct {
	DB              *pgxpool.Pool
	SharedToken     string
	RequireOwnToken bool

	mu    sync.Mutex
	cache map[string]cachedWorkerToken
}

type cachedWorkerToken struct {
	workerID string
	fetched  time.Time
}

var errBadWorkerToken = model.Errorf(model.KindUnauthorized, "Invalid worker authentication token")

// Authenticate resolves a bearer token. registering allows the shared token even when workers
// must otherwise use their own.
func (a *WorkerAuth) Authenticate(ctx context.Context, token string, registering bool) (WorkerCaller, error) {
	if subtle.ConstantTimeCompare([]byte(token), []byte(a.SharedToken)) == 1 {
		if a.RequireOwnToken && !registering {
			return WorkerCaller{}, model.Errorf(model.KindUnauthorized, "This backend requires the worker's own token")
		}
		return WorkerCaller{}, nil
	}
	if !strings.HasPrefix(token, WorkerTokenPrefix) {
		return WorkerCaller{}, errBadWorkerToken
	}
	hash := auth.HashToken(token)
	now := time.Now()
	a.mu.Lock()
	entry, ok := a.cache[hash]
	a.mu.Unlock()
	if !ok || now.Sub(entry.fetched) >= workerTokenCacheTTL {
		worker, err := store.GetWorkerByTokenHash(ctx, a.DB, hash)
		switch {
		case errors.Is(err, model.ErrNotFound):
			entry = cachedWorkerToken{fetched: now}
		case err != nil:
			return WorkerCaller{}, err
		default:
			entry = cachedWorkerToken{workerID: worker.ID, fetched: now}
		}
		a.mu.Lock()
		if a.cache == nil || len(a.cache) > 10_000 {
			a.cache = map[string]cachedWorkerToken{}
		}
		a.cache[hash] = entry
		a.mu.Unlock()
	}
	if entry.workerID == "" {
		return WorkerCaller{}, errBadWorkerToken
	}
	return WorkerCaller{ID: entry.workerID}, nil
}
