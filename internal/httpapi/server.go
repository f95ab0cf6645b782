// Package httpapi is the HTTP surface of the gateway: chi routes, middleware, and the one
// place that turns errors into the API's envelope. Handlers decode and validate, call one
// service function, and respond.
package httpapi

import (
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/netguard"
	"github.com/wagateway/gateway/internal/ratelimit"
	"github.com/wagateway/gateway/internal/realtime"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workers"
)

// Deps are what the HTTP layer needs from the application.
type Deps struct {
	Config *config.Config
	Logger *slog.Logger
	DB     *pgxpool.Pool
	Redis  redis.UniversalClient
	Keys   redisdb.Keys
	// Limiter counts the per-IP limit (one of its own when nil).
	Limiter *ratelimit.Limiter
	Metrics *metrics.Metrics
	Health  *service.Health
	// Accounts and APIKeys authenticate users and keys.
	Accounts *service.Accounts
	APIKeys  *service.APIKeys
	// Workers, WorkerAuth and SessionEvents serve the worker protocol.
	Workers       *service.Workers
	WorkerAuth    *service.WorkerAuth
	SessionEvents *service.SessionEvents
	Sessions      *service.Sessions
	// Monitor is the worker health monitor (admin routes under /workers/health).
	Monitor *workers.Monitor
	// Messaging, Quotas and Usage serve the Messaging API; Guard checks media URLs.
	Messaging *service.Messaging
	Quotas    *service.Quotas
	Usage     *service.UsageRecorder
	Guard     netguard.Guard
	// Maintenance is the shared maintenance-mode switch.
	Maintenance *service.Maintenance
	// Realtime serves Socket.IO and SSE; Webhooks manages customer webhooks.
	Realtime *realtime.Hub
	Webhooks *service.Webhooks
	// ReplicaID names this gateway replica in the Idempotency-Key claims it makes (see
	// store.BeatReplica); empty, its claims are taken over only after idempotencyStaleAfter.
	ReplicaID string
	// LateWrites keeps the answers of Idempotency-Keys that PostgreSQL went away before
	// storing (none: the claim waits until it is stale).
	LateWrites *store.LateWrites
}

// Server holds the dependencies of the handlers.
type Server struct {
	cfg      *config.Config
	logger   *slog.Logger
	db       *pgxpool.Pool
	rdb      redis.UniversalClient
	keys     redisdb.Keys
	metrics  *metrics.Metrics
	limiter  *ratelimit.Limiter
	health   *service.Health
	accounts *service.Accounts
	apiKeys  *service.APIKeys

	workers       *service.Workers
	workerAuth    *service.WorkerAuth
	sessionEvents *service.SessionEvents
	sessions      *service.Sessions
	monitor       *workers.Monitor

	messaging *service.Messaging
	quotas    *service.Quotas
	usage     *service.UsageRecorder
	guard     netguard.Guard

	maintenance *service.Maintenance

	realtime *realtime.Hub
	webhooks *service.Webhooks

	replicaID string
	late      *store.LateWrites

	series sync.Map // seriesKey → *requestSeries (seriesOf)
}

// NewServer wires the handlers to their dependencies.
func NewServer(d Deps) *Server {
	if d.Limiter == nil {
		d.Limiter = ratelimit.New(d.Redis)
	}
	return &Server{
		cfg:      d.Config,
		logger:   d.Logger,
		db:       d.DB,
		rdb:      d.Redis,
		keys:     d.Keys,
		metrics:  d.Metrics,
		limiter:  d.Limiter,
		health:   d.Health,
		accounts: d.Accounts,
		apiKeys:  d.APIKeys,

		workers:       d.Workers,
		workerAuth:    d.WorkerAuth,
		sessionEvents: d.SessionEvents,
		sessions:      d.Sessions,
		monitor:       d.Monitor,

		messaging: d.Messaging,
		quotas:    d.Quotas,
		usage:     d.Usage,
		guard:     d.Guard,

		maintenance: d.Maintenance,

		realtime: d.Realtime,
		webhooks: d.Webhooks,

		replicaID: d.ReplicaID,
		late:      d.LateWrites,
	}
}
