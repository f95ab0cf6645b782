// Package app assembles the gateway from its configuration: it opens the database and Redis,
// applies migrations, builds the HTTP handler and runs the server and its background loops
// until the context ends, then shuts everything down in order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/buildinfo"
	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/httpapi"
	"github.com/wagateway/gateway/internal/mailer"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/netguard"
	"github.com/wagateway/gateway/internal/ratelimit"
	"github.com/wagateway/gateway/internal/realtime"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/webhooks"
	"github.com/wagateway/gateway/internal/workers"
)

// App is one running replica of the gateway.
type App struct {
	Config *config.Config
	Logger *slog.Logger
	DB     *pgxpool.Pool
	// BatchDB runs the group-committed batch statements of sends (store.OpenBatchWriter).
	BatchDB *pgxpool.Pool
	Redis   redis.UniversalClient
	Keys    redisdb.Keys
	Metrics *metrics.Metrics
	Handler http.Handler
	// Bus carries session, message and worker events to their consumers.
	Bus *events.Bus
	// WorkerClient calls workers.
	WorkerClient *workers.Client
	// Router answers which worker runs a session.
	Router *router.Router
	// HealthMonitor checks workers on the replica that holds the lease.
	HealthMonitor *workers.Monitor
	// Realtime serves Socket.IO and SSE clients; WebhookDeliverer delivers customer webhooks.
	Realtime         *realtime.Hub
	WebhookDeliverer *webhooks.Deliverer
	// ReplicaID names this replica in gateway_replicas, where it says every store.ReplicaBeat
	// that it is alive, and in the Idempotency-Key claims it makes.
	ReplicaID string
	// LateWrites keeps what a request could not write because PostgreSQL went away after
	// the work was done, and writes it once the database is back.
	LateWrites *store.LateWrites

	// background loops started by Run, each waited for at shutdown.
	loops []func(ctx context.Context)
	// beforeShutdown run, in order, before the HTTP server drains: they end streams that
	// would otherwise hold the drain until its timeout.
	beforeShutdown []func()
	// writers serve requests (group commit, usage); they run from New until Close.
	stopWriters context.CancelFunc
	writerCtx   context.Context //nolint:containedctx // the writers' lifetime, from New to Close
	writers     sync.WaitGroup
}

// startWriter runs fn until Close.
func (a *App) startWriter(ctx context.Context, fn func(ctx context.Context)) {
	if a.stopWriters == nil {
		a.writerCtx, a.stopWriters = context.WithCancel(context.WithoutCancel(ctx))
	}
	a.writers.Go(func() { fn(a.writerCtx) })
}

// New connects to Postgres (creating the database and applying migrations as configured)
// and Redis, and builds the HTTP handler.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	if err := store.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		// Not fatal: the role may lack CREATEDB while the database exists on another host.
		logger.WarnContext(ctx, "could not ensure the database exists", slog.Any("err", err))
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		if err := Migrate(ctx, db, logger, func(m *store.Migrator) error { return m.Up(ctx) }); err != nil {
			db.Close()
			return nil, err
		}
	}
	rdb, err := redisdb.Open(ctx, cfg.RedisURL)
	if err != nil {
		// Redis holds nothing that cannot be rebuilt: start degraded, readiness reports it,
		// and the client reconnects by itself.
		logger.WarnContext(ctx, "redis is unreachable at start", slog.Any("err", err))
		opts, parseErr := redisdb.ParseURL(cfg.RedisURL)
		if parseErr != nil {
			db.Close()
			return nil, parseErr
		}
		rdb = redis.NewUniversalClient(opts)
	}

	a := &App{
		Config:  cfg,
		Logger:  logger,
		DB:      db,
		Redis:   rdb,
		Keys:    redisdb.NewKeys(cfg.RedisKeyPrefix),
		Metrics: metrics.New(),

		ReplicaID: uuid.NewString(),
	}
	if a.BatchDB, err = store.OpenBatchWriter(ctx, cfg.DatabaseURL); err != nil {
		a.Close()
		return nil, err
	}
	a.Metrics.RegisterDBPool(db, "main")
	a.Metrics.RegisterDBPool(a.BatchDB, "batch")
	a.Metrics.RegisterRedisPool(rdb)

	accounts, apiKeys, err := newAccountServices(cfg, db, logger)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.loops = append(a.loops, a.pruneExpired)
	// Alive from here to Close: the handler serves (and claims keys) without Run in tests.
	// Not fatal: with AUTO_MIGRATE off the schema may come later; the beats go on trying.
	if err := store.BeatReplica(ctx, db, a.ReplicaID); err != nil {
		logger.WarnContext(ctx, "replica heartbeat", slog.Any("err", err))
	}
	a.startWriter(ctx, a.beat)
	a.Bus = events.NewBus()
	a.WorkerClient = workers.NewClient(cfg.WorkerAuthToken, a.Metrics, logger)
	sessionEvents := &service.SessionEvents{DB: db, Bus: a.Bus, Logger: logger}
	a.Router = router.New(db, rdb, a.Keys, logger)
	accounts.Router = a.Router
	workerService := &service.Workers{DB: db, Client: a.WorkerClient, Sessions: sessionEvents, Bus: a.Bus,
		Router: a.Router, Logger: logger}
	sessions := &service.Sessions{DB: db, Router: a.Router, Client: a.WorkerClient, APIKeys: apiKeys,
		Events: sessionEvents, Metrics: a.Metrics, Logger: logger, TierLimits: cfg.TierLimits, QRTTL: cfg.QRTTL}
	a.Metrics.RegisterFleet(db, logger)
	a.wireHealthMonitor(workerService, sessions)

	// One limiter for the per-IP limit and the quotas: its leases are given back when it stops.
	limiter := ratelimit.New(rdb)
	a.startWriter(ctx, limiter.Run)
	quotas := &service.Quotas{Redis: rdb, Limiter: limiter, Keys: a.Keys, TierLimits: cfg.TierLimits,
		Metrics: a.Metrics, Logger: logger}
	usage := &service.UsageRecorder{DB: db, Logger: logger}
	late := &store.LateWrites{Logger: logger, Kept: func(n int) { a.Metrics.LateWrites.Set(float64(n)) }}
	a.LateWrites = late
	a.startWriter(ctx, late.Run)
	messaging := service.NewMessaging(service.MessagingDeps{DB: db, Batches: a.BatchDB, Router: a.Router, Client: a.WorkerClient, Bus: a.Bus,
		Quotas: quotas, Metrics: a.Metrics, Logger: logger, LateWrites: late})
	dispatcher := &service.Dispatcher{Pool: db, Messaging: messaging, MinInterval: cfg.SendMinInterval,
		RetryBase: cfg.SendRetryBase, RetryMax: cfg.SendRetryMax, MaxAttempts: cfg.SendMaxAttempts,
		Concurrency: 8, Logger: logger}
	messaging.Dispatcher = dispatcher
	a.loops = append(a.loops, dispatcher.Run)
	// The group-commit writers serve requests, so they run from here to Close, not only
	// while Run serves: tests drive the handler directly.
	a.startWriter(ctx, messaging.Run)
	a.Metrics.RegisterQueue(func(ctx context.Context) (float64, float64, error) {
		st, err := store.GetQueueStats(ctx, db)
		return float64(st.Depth), st.OldestAgeSec, err
	}, logger)
	a.startWriter(ctx, usage.Run)

	health := &service.Health{DB: db, Redis: rdb, Started: time.Now(), Version: buildinfo.Version,
		Monitor: func() service.MonitorStatus {
			st := a.HealthMonitor.Status()
			return service.MonitorStatus{Running: st.Running, Leader: st.Leader, LastRunAt: st.LastRunAt}
		}}
	webhookService, err := a.wireEvents(ctx, accounts, sessions)
	if err != nil {
		a.Close()
		return nil, err
	}
	messaging.WebhooksQueued = a.WebhookDeliverer.Kick
	sessionEvents.WebhooksQueued = a.WebhookDeliverer.Kick
	a.Handler = httpapi.NewServer(httpapi.Deps{
		Config: cfg, Logger: logger, DB: db, Redis: rdb, Keys: a.Keys, Metrics: a.Metrics, Health: health, Limiter: limiter,
		Accounts: accounts, APIKeys: apiKeys,
		Workers: workerService, SessionEvents: sessionEvents, Sessions: sessions, Monitor: a.HealthMonitor,
		Messaging: messaging, Quotas: quotas, Usage: usage, Maintenance: &service.Maintenance{DB: db, Logger: logger}, Guard: netguard.Guard{AllowPrivate: cfg.WebhookAllowPrivate},
		WorkerAuth: &service.WorkerAuth{DB: db, SharedToken: cfg.WorkerAuthToken, RequireOwnToken: cfg.WorkerRequireOwnToken},
		Realtime:   a.Realtime, Webhooks: webhookService, ReplicaID: a.ReplicaID,
		LateWrites: late,
	}).Handler()
	return a, nil
}

// wireHealthMonitor builds failover and the health monitor and adds their loops.
func (a *App) wireHealthMonitor(workerService *service.Workers, sessions *service.Sessions) {
	cfg := a.Config
	failover := &service.Failover{DB: a.DB, Sessions: sessions, Metrics: a.Metrics.HealthMonitor, Logger: a.Logger,
		Enabled: cfg.SessionFailover}
	workerService.Failover = failover
	a.HealthMonitor = workers.NewMonitor(workers.MonitorConfig{
		Fleet: workerService, Checker: a.WorkerClient, Redis: a.Redis, Keys: a.Keys,
		Leader: workers.NewLeader(a.Redis, a.Keys, cfg.LeaderLeaseTTL, cfg.WorkerHealthCheckInterval,
			a.Metrics.HealthMonitor.Leader, a.Logger),
		Interval: cfg.WorkerHealthCheckInterval, HeartbeatTimeout: cfg.WorkerHeartbeatTimeout,
		Metrics: a.Metrics.HealthMonitor, Logger: a.Logger,
	})
	a.loops = append(a.loops, a.HealthMonitor.Run, failover.RunDrains)
}

func newAccountServices(cfg *config.Config, db *pgxpool.Pool, logger *slog.Logger) (*service.Accounts, *service.APIKeys, error) {
	passwords, err := auth.NewPasswords(cfg.BcryptRounds)
	if err != nil {
		return nil, nil, err
	}
	mail, err := mailer.New(cfg.SMTPURL, cfg.SMTPFrom, cfg.IsProduction(), logger)
	if err != nil {
		return nil, nil, err
	}
	accounts := &service.Accounts{
		DB: db, Passwords: passwords, JWTs: auth.NewJWTs(cfg.JWTSecret, cfg.JWTExpiresIn), Mailer: mail, Logger: logger,
		ResetURL: strings.TrimRight(cfg.CORSOrigins[0], "/") + "/reset-password?token=",
	}
	apiKeys := &service.APIKeys{DB: db, Logger: logger}
	if cfg.APIKeyReveal {
		if apiKeys.Sealer, err = auth.NewKeySealer(cfg.APIKeyEncryptionKey); err != nil {
			return nil, nil, err
		}
	}
	return accounts, apiKeys, nil
}

// pruneExpired deletes, hourly, what can no longer be used: expired denylist entries,
// refresh and reset tokens, idempotency keys older than a day, and what is past its retention
// period (system logs, metrics samples, messages when set, finished webhook deliveries).
func (a *App) pruneExpired(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		for what, prune := range map[string]func(context.Context, store.DBTX) (int64, error){
			"tokens": store.PruneExpiredTokens, "idempotency keys": store.PruneIdempotencyKeys,
			"replicas not seen for an hour": store.PruneReplicas,
			"logs, metrics samples and messages": func(ctx context.Context, db store.DBTX) (int64, error) {
				return store.PruneOld(ctx, db, a.Config.SystemLogRetention, a.Config.MetricsRetention, a.Config.MessageRetention)
			},
			"webhook deliveries": func(ctx context.Context, db store.DBTX) (int64, error) {
				return store.PruneWebhookDeliveries(ctx, db, a.Config.WebhookDeliveryRetention)
			},
		} {
			if n, err := prune(ctx, a.DB); err != nil && ctx.Err() == nil {
				a.Logger.WarnContext(ctx, "prune expired "+what, slog.Any("err", err))
			} else if n > 0 {
				a.Logger.InfoContext(ctx, "pruned expired "+what, slog.Int64("count", n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// beat says every store.ReplicaBeat that this replica is alive, until ctx ends. A beat that
// failed is tried again every replicaBeatRetry: after a database outage longer than
// store.ReplicaGoneAfter the replica's claims look abandoned until it beats again.
func (a *App) beat(ctx context.Context) {
	t := time.NewTimer(store.ReplicaBeat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next := store.ReplicaBeat
		err := store.BeatReplica(ctx, a.DB, a.ReplicaID)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			if !failing { // once per failure, not every retry
				a.Logger.WarnContext(ctx, "replica heartbeat", slog.Any("err", err))
			}
			failing, next = true, replicaBeatRetry
		case failing:
			a.Logger.InfoContext(ctx, "replica heartbeat written again")
			failing = false
		}
		t.Reset(next)
	}
}

// replicaBeatRetry is how soon a failed replica heartbeat is tried again.
const replicaBeatRetry = 250 * time.Millisecond

// Migrate runs fn with a migrator on db.
func Migrate(ctx context.Context, db *pgxpool.Pool, logger *slog.Logger, fn func(*store.Migrator) error) error {
	m, err := store.NewMigrator(db, logger)
	if err != nil {
		return err
	}
	defer m.Close()
	return fn(m)
}

// Run serves HTTP on ln and runs the background loops until ctx ends, then shuts down
// gracefully within SHUTDOWN_TIMEOUT: stop accepting, drain in-flight requests, stop the
// loops. It returns nil after a clean shutdown.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Above the per-request timeout so that its 503 can still be written; streaming
		// routes clear their own write deadline.
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  120 * time.Second,
		// In-flight requests must survive the shutdown signal so that they can drain.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}

	loopCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoops()
	var loops sync.WaitGroup
	for _, loop := range a.loops {
		loops.Go(func() { loop(loopCtx) })
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	a.Logger.InfoContext(ctx, "gateway listening",
		slog.String("addr", ln.Addr().String()), slog.String("version", buildinfo.Version), slog.String("env", string(a.Config.Env)))

	var err error
	select {
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		a.Logger.Info("shutting down", slog.Duration("timeout", a.Config.ShutdownTimeout))
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Config.ShutdownTimeout)
		defer cancel()
		for _, hook := range a.beforeShutdown {
			hook()
		}
		if shutdownErr := srv.Shutdown(shutdownCtx); shutdownErr != nil {
			err = fmt.Errorf("drain requests: %w", shutdownErr)
		}
		if serveErr := <-serveErr; !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
	}
	stopLoops()
	loops.Wait()
	return err
}

// Close stops the writers (after they wrote what was queued), forgets this replica (its
// requests are over) and releases the pools.
func (a *App) Close() {
	if a.Realtime != nil {
		a.Realtime.Close()
	}
	if a.stopWriters != nil {
		a.stopWriters()
		a.writers.Wait()
	}
	if a.ReplicaID != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := store.RemoveReplica(ctx, a.DB, a.ReplicaID); err != nil {
			a.Logger.Warn("remove replica", slog.Any("err", err))
		}
		cancel()
	}
	if err := a.Redis.Close(); err != nil {
		a.Logger.Warn("close redis", slog.Any("err", err))
	}
	if a.BatchDB != nil {
		a.BatchDB.Close()
	}
	a.DB.Close()
}
