package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// maintenanceCacheTTL bounds how long a replica keeps the flag: a switch reaches every replica
// within this time.
const maintenanceCacheTTL = time.Second

// Maintenance is the maintenance-mode switch, kept in Postgres so that every replica shares it.
type Maintenance struct {
	DB     *pgxpool.Pool
	Logger *slog.Logger

	mu      sync.Mutex
	cached  store.Maintenance
	fetched time.Time
}

// Current returns the flag, cached for a second. If it cannot be read, the last known value
// stands (off at start): maintenance must not become an outage of its own.
func (m *Maintenance) Current(ctx context.Context) store.Maintenance {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.fetched) < maintenanceCacheTTL {
		return m.cached
	}
	cur, err := store.GetMaintenance(ctx, m.DB)
	if err != nil {
		m.Logger.WarnContext(ctx, "read maintenance mode", slog.Any("err", err))
		return m.cached
	}
	m.cached, m.fetched = cur, time.Now()
	return cur
}

// Set switches maintenance mode and logs it in the system log.
func (m *Maintenance) Set(ctx context.Context, adminID string, enabled bool, message string) (store.Maintenance, error) {
	if enabled && message == "" {
		message = "The service is under maintenance; please try again later"
	}
	next := store.Maintenance{Enabled: enabled, Message: message, UpdatedAt: time.Now().UTC()}
	if err := store.SetMaintenance(ctx, m.DB, next); err != nil {
		return next, err
	}
	m.mu.Lock()
	m.cached, m.fetched = next, time.Now()
	m.mu.Unlock()
	state := "off"
	if enabled {
		state = "on"
	}
	if err := store.InsertSystemLog(ctx, m.DB, store.SystemLogEntry{Level: model.LevelWarn, Service: "admin",
		Message: "Maintenance mode " + state + ": " + message, UserID: &adminID}); err != nil {
		m.Logger.WarnContext(ctx, "write system log", slog.Any("err", err))
	}
	return next, nil
}
