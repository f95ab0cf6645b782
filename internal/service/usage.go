package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/store"
)

// usageFlushInterval is how often counted usage is written to usage_records.
const usageFlushInterval = 5 * time.Second

// UsageRecorder counts API calls and messages in memory and adds them to the hourly
// usage_records every few seconds, so that the hot path never writes usage itself.
type UsageRecorder struct {
	DB     *pgxpool.Pool
	Logger *slog.Logger

	mu     sync.Mutex
	counts map[usageKey]usageCount
}

// usageKey is one usage_records row: one per user, session, kind and hour.
type usageKey struct {
	userID, sessionID, kind string
	bucket                  time.Time
}

type usageCount struct {
	n        int64
	apiKeyID string // the key last used
}

// Count adds one request of kind ("message" or "api_call") for a user's session.
func (u *UsageRecorder) Count(userID, sessionID, apiKeyID, kind string) {
	k := usageKey{userID: userID, sessionID: sessionID, kind: kind, bucket: time.Now().UTC().Truncate(time.Hour)}
	u.mu.Lock()
	if u.counts == nil {
		u.counts = map[usageKey]usageCount{}
	}
	c := u.counts[k]
	u.counts[k] = usageCount{n: c.n + 1, apiKeyID: apiKeyID}
	u.mu.Unlock()
}

// Run flushes every few seconds until ctx ends, and once more at the end.
func (u *UsageRecorder) Run(ctx context.Context) {
	t := time.NewTicker(usageFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			u.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			u.Flush(ctx)
		}
	}
}

// Flush writes what was counted since the last flush.
func (u *UsageRecorder) Flush(ctx context.Context) {
	u.mu.Lock()
	counts := u.counts
	u.counts = nil
	u.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	rows := make([]store.UsageCount, 0, len(counts))
	for k, c := range counts {
		rows = append(rows, store.UsageCount{UserID: k.userID, SessionID: k.sessionID, APIKeyID: c.apiKeyID,
			Kind: k.kind, Bucket: k.bucket, Count: c.n})
	}
	if err := store.AddUsage(ctx, u.DB, rows); err != nil {
		u.Logger.WarnContext(ctx, "record usage; counts kept for the next flush", slog.Any("err", err))
		u.mu.Lock()
		if u.counts == nil {
			u.counts = map[usageKey]usageCount{}
		}
		for k, c := range counts {
			cur := u.counts[k]
			u.counts[k] = usageCount{n: cur.n + c.n, apiKeyID: c.apiKeyID}
		}
		u.mu.Unlock()
	}
}
