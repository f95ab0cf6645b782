package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/ratelimit"
	"github.com/wagateway/gateway/internal/redisdb"
)

// Quotas counts each user's hourly messages and API calls in Redis (shared by replicas) and
// refuses the request past the tier's limit.
type Quotas struct {
	Redis      redis.UniversalClient
	Limiter    *ratelimit.Limiter
	Keys       redisdb.Keys
	TierLimits map[model.UserTier]model.TierLimits
	Metrics    *metrics.Metrics
	Logger     *slog.Logger
}

// Charge counts one request of kind (QuotaMessages or QuotaAPICalls) for the principal's user.
// It returns the window's state for the X-RateLimit headers, and a rate_limited error with
// Retry-After once the limit is passed. When Redis is down the request is let through and
// logged: quotas bill, they must not take sending down.
func (q *Quotas) Charge(ctx context.Context, p *auth.Principal, kind string) (ratelimit.Result, error) {
	limits := q.TierLimits[p.Tier]
	limit := limits.APICallsPerHour
	if kind == QuotaMessages {
		limit = limits.MessagesPerHour
	}
	res, err := q.Limiter.Allow(ctx, QuotaKey(q.Keys, kind, p.UserID), limit, quotaWindow)
	if err != nil {
		q.Logger.WarnContext(ctx, "quota unavailable; request let through", slog.String("quota", kind), slog.Any("err", err))
		return res, nil
	}
	if !res.Allowed {
		q.Metrics.QuotaRejections.WithLabelValues(kind, string(p.Tier)).Inc()
		what := "API calls"
		if kind == QuotaMessages {
			what = "messages"
		}
		return res, &model.Error{Kind: model.KindRateLimited, RetryAfter: res.ResetIn,
			Window:  &model.RateWindow{Limit: res.Limit, Remaining: res.Remaining, ResetIn: res.ResetIn, Length: quotaWindow},
			Message: fmt.Sprintf("Hourly quota of %d %s for the %s tier reached", limit, what, p.Tier)}
	}
	return res, nil
}

// Refund takes back a charge of kind for a request that was refused before it did anything
// (a send to a session that is not connected). Failures are logged: quotas bill.
func (q *Quotas) Refund(ctx context.Context, p *auth.Principal, kind string) {
	if err := q.Limiter.Undo(ctx, QuotaKey(q.Keys, kind, p.UserID)); err != nil {
		q.Logger.WarnContext(ctx, "quota refund", slog.String("quota", kind), slog.Any("err", err))
	}
}

// Used returns the user's messages and API calls of the current hourly windows: Redis's
// counts less what this replica leased and has not used yet (zero when Redis has none, e.g.
// after a flush).
func (q *Quotas) Used(ctx context.Context, userID string) (messages, apiCalls int, err error) {
	keys := []string{QuotaKey(q.Keys, QuotaMessages, userID), QuotaKey(q.Keys, QuotaAPICalls, userID)}
	counts, err := q.Redis.MGet(ctx, keys...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, fmt.Errorf("read hourly counters: %w", err)
	}
	used := make([]int, len(keys))
	for i, v := range counts {
		s, _ := v.(string)
		n, _ := strconv.Atoi(s)
		used[i] = max(n-q.Limiter.Unused(keys[i]), 0)
	}
	return used[0], used[1], nil
}
