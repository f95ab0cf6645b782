package service

import (
	"context"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/store"
)

// Hourly quota kinds, counted per user in Redis.
const (
	QuotaMessages = "messages"
	QuotaAPICalls = "api_calls"
)

// QuotaKey is the Redis key of a user's hourly counter of kind, keyed by the user (the
// original shared one counter among all API-key users). The messaging layer counts into it;
// the tier endpoint reads it.
func QuotaKey(keys redisdb.Keys, kind, userID string) string {
	return keys.Key("quota", kind, userID)
}

// quotaWindow is the length of the hourly quota windows, which start at the first request.
const quotaWindow = time.Hour

// TierFeatures are what each tier offers beyond its limits.
var TierFeatures = map[model.UserTier][]string{
	model.TierBasic: {"1 WhatsApp session", "REST API", "Webhooks", "Dashboard"},
	model.TierPro:   {"5 WhatsApp sessions", "REST API", "Webhooks", "Scheduled and async sends", "Priority support"},
	model.TierMax:   {"20 WhatsApp sessions", "REST API", "Webhooks", "Scheduled and async sends", "Dedicated support"},
}

// TierUsage is what a user uses of their tier's limits now.
type TierUsage struct {
	Sessions         int `json:"sessions"`
	MessagesThisHour int `json:"messagesThisHour"`
	APICallsThisHour int `json:"apiCallsThisHour"`
}

// TierInfo is the answer of GET /users/tier.
type TierInfo struct {
	Current   model.UserTier   `json:"current"`
	Limits    model.TierLimits `json:"limits"`
	Features  []string         `json:"features"`
	Usage     TierUsage        `json:"usage"`
	UpgradeTo *model.UserTier  `json:"upgradeTo"`
}

// GetTierInfo reads a user's tier, its limits and the real counters: sessions from Postgres,
// hourly counters from Redis (zero when Redis has none, e.g. after a flush).
func GetTierInfo(ctx context.Context, db store.DBTX, quotas *Quotas, userID string) (TierInfo, error) {
	user, err := store.GetUser(ctx, db, userID)
	if err != nil {
		return TierInfo{}, err
	}
	stats, err := store.GetUserStats(ctx, db, userID)
	if err != nil {
		return TierInfo{}, err
	}
	info := TierInfo{
		Current:  user.Tier,
		Limits:   quotas.TierLimits[user.Tier],
		Features: TierFeatures[user.Tier],
		Usage:    TierUsage{Sessions: stats.TotalSessions},
	}
	for i, t := range model.Tiers {
		if t == user.Tier && i+1 < len(model.Tiers) {
			next := model.Tiers[i+1]
			info.UpgradeTo = &next
		}
	}
	info.Usage.MessagesThisHour, info.Usage.APICallsThisHour, err = quotas.Used(ctx, userID)
	return info, err
}
