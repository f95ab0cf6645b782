// Package service holds the business rules of the gateway as functions and small structs
// whose dependencies are passed in explicitly. Handlers call exactly one of them per request.
package service

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/wagateway/gateway/internal/store"
)

// DependencyCheck is the state of one dependency.
type DependencyCheck struct {
	Status    string  `json:"status"` // "up" or "down"
	LatencyMs float64 `json:"latencyMs"`
	Error     string  `json:"error,omitempty"`
}

// MonitorStatus is the state of the worker health monitor on this replica.
type MonitorStatus struct {
	Running   bool       `json:"running"`
	Leader    bool       `json:"leader"`
	LastRunAt *time.Time `json:"lastRunAt"`
}

// HealthChecks groups the checks of the readiness report.
type HealthChecks struct {
	Database      DependencyCheck       `json:"database"`
	Redis         DependencyCheck       `json:"redis"`
	Workers       *store.WorkerCapacity `json:"workers"`
	HealthMonitor MonitorStatus         `json:"healthMonitor"`
}

// HealthReport is the readiness report of /health/detailed.
type HealthReport struct {
	Status  string       `json:"status"` // "healthy" or "unhealthy"
	Uptime  float64      `json:"uptime"` // seconds
	Version string       `json:"version"`
	Checks  HealthChecks `json:"checks"`
}

// Healthy reports whether every dependency answered.
func (h HealthReport) Healthy() bool { return h.Status == "healthy" }

// Health checks the gateway's dependencies.
type Health struct {
	DB      *pgxpool.Pool
	Redis   redis.UniversalClient
	Started time.Time
	Version string
	// Monitor reports the health monitor's state; nil until the monitor is wired in.
	Monitor func() MonitorStatus
}

// dependencyTimeout bounds each check so that a hung dependency makes readiness fail fast
// instead of hanging the probe.
const dependencyTimeout = 2 * time.Second

// Check pings Postgres and Redis concurrently and summarises the worker fleet.
func (h *Health) Check(ctx context.Context) HealthReport {
	report := HealthReport{
		Status:  "healthy",
		Uptime:  time.Since(h.Started).Seconds(),
		Version: h.Version,
	}
	var g errgroup.Group
	g.Go(func() error {
		report.Checks.Database = ping(ctx, func(ctx context.Context) error { return h.DB.Ping(ctx) })
		if report.Checks.Database.Status == "up" {
			ctx, cancel := context.WithTimeout(ctx, dependencyTimeout)
			defer cancel()
			if c, err := store.GetWorkerCapacity(ctx, h.DB); err == nil {
				report.Checks.Workers = &c
			}
		}
		return nil
	})
	g.Go(func() error {
		report.Checks.Redis = ping(ctx, func(ctx context.Context) error { return h.Redis.Ping(ctx).Err() })
		return nil
	})
	_ = g.Wait()
	if h.Monitor != nil {
		report.Checks.HealthMonitor = h.Monitor()
	}
	if report.Checks.Database.Status != "up" || report.Checks.Redis.Status != "up" {
		report.Status = "unhealthy"
	}
	return report
}

func ping(ctx context.Context, fn func(context.Context) error) DependencyCheck {
	ctx, cancel := context.WithTimeout(ctx, dependencyTimeout)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	check := DependencyCheck{Status: "up", LatencyMs: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		// The cause stays generic: readiness is public and must not reveal hosts.
		check.Status, check.Error = "down", "unreachable"
		if ctx.Err() != nil {
			check.Error = "timeout"
		}
	}
	return check
}
