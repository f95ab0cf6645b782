package service

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/ratelimit"
	"github.com/wagateway/gateway/internal/redisdb"
)

// Quotas counts each user's hourly messages and API calls in Redis (shared by replicas) and
// refuses the request past the tier's limit.
type Quotas struct {
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
