package app

import (
	"context"
	"time"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/netguard"
	"github.com/wagateway/gateway/internal/realtime"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/webhooks"
)

// wireEvents builds what carries the bus's events out of the gateway: the real-time hub
// (Socket.IO, SSE, Redis fan-out), which runs from New to Close and closes before the HTTP
// server shuts down, and customer webhooks: the recorder, which stores deliveries from New to
// Close, and the deliverer, which runs with the server.
func (a *App) wireEvents(ctx context.Context, accounts *service.Accounts, sessions *service.Sessions) (*service.Webhooks, error) {
	cfg := a.Config
	a.Realtime = realtime.New(ctx, realtime.Config{
		Bus: a.Bus, Redis: a.Redis, Channel: a.Keys.Key("realtime", "events"),
		Authenticate: accounts.Authenticate,
		CanSee: func(ctx context.Context, p *auth.Principal, sessionID string) error {
			_, err := sessions.Visible(ctx, p, sessionID)
			return err
		},
		AuthRecheck: cfg.RealtimeAuthRecheck,
		Metrics:     a.Metrics.Events, Logger: a.Logger,
	})
	a.startWriter(ctx, a.Realtime.Run)
	a.beforeShutdown = append(a.beforeShutdown, a.Realtime.Close)

	// Webhook secrets are sealed under a key derived from the API-key encryption key, or from
	// JWT_SECRET when API keys are not kept encrypted (API_KEY_REVEAL=false without a key).
	keyMaterial := cfg.APIKeyEncryptionKey
	if len(keyMaterial) == 0 {
		keyMaterial = []byte(cfg.JWTSecret)
	}
	box, err := webhooks.NewSecretBox(keyMaterial)
	if err != nil {
		return nil, err
	}
	guard := netguard.Guard{AllowPrivate: cfg.WebhookAllowPrivate}
	a.WebhookDeliverer = webhooks.NewDeliverer(webhooks.DelivererConfig{
		DB: a.DB, Client: webhooks.NewHTTPClient(guard, 64), Box: box,
		Retry: webhooks.RetryPolicy{Base: cfg.WebhookRetryBase, Window: webhooks.DefaultRetryWindow},
		// Retries fall due on their own; look for them about as often as the shortest backoff.
		PollInterval: min(max(cfg.WebhookRetryBase, 50*time.Millisecond), time.Second),
		Metrics:      a.Metrics.Events, Logger: a.Logger,
	})
	recorder := webhooks.NewRecorder(a.Bus, a.DB, a.Metrics.Events, a.Logger, a.WebhookDeliverer.Kick)
	a.startWriter(ctx, recorder.Run)
	a.loops = append(a.loops, a.WebhookDeliverer.Run)
	a.Metrics.RegisterBusDrops(a.Bus.Dropped)
	a.Metrics.RegisterWebhookBacklog(func(ctx context.Context) (float64, float64, error) {
		n, oldest, err := store.CountPendingWebhookDeliveries(ctx, a.DB)
		return float64(n), oldest, err
	}, a.Logger)
	return &service.Webhooks{DB: a.DB, Sessions: sessions, Guard: guard, Box: box, Queued: a.WebhookDeliverer.Kick}, nil
}
