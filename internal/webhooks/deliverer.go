package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wagateway/gateway/internal/buildinfo"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/netguard"
	"github.com/wagateway/gateway/internal/store"
)

// errSecretUnreadable says a sealed secret does not open: the key it was sealed with is gone.
var errSecretUnreadable = errors.New("the webhook's signing secret cannot be read (the encryption key changed?); rotate it")

// Defaults of a Deliverer.
const (
	DefaultConcurrency  = 32
	DefaultMaxFailures  = 50
	DefaultLease        = time.Minute
	DefaultPollInterval = time.Second
	// responseBodyCap is how much of a receiver's answer is kept in the delivery log.
	responseBodyCap = 4 << 10
	// drainCap is how much more of an answer is read, to keep the connection reusable.
	drainCap = 64 << 10
)

// DelivererConfig configures a Deliverer; zero values take the defaults.
type DelivererConfig struct {
	DB     store.DBTX
	Client *http.Client
	Box    *SecretBox
	Retry  RetryPolicy
	// Concurrency is the number of workers, so the bound on attempts in flight on this
	// replica; at most as many more are claimed ahead, so memory and goroutines stay bounded
	// at any backlog.
	Concurrency int
	// Lease is how long a claimed delivery is this replica's; above AttemptTimeout.
	Lease time.Duration
	// PollInterval is how often due deliveries are looked for without a wake-up (retries, and
	// deliveries stored by other replicas).
	PollInterval time.Duration
	// MaxFailures consecutive failed deliveries disable a webhook.
	MaxFailures int
	// AttemptTimeout bounds one attempt (AttemptTimeout by default).
	AttemptTimeout time.Duration
	Metrics        *metrics.Events
	Logger         *slog.Logger
}

// Deliverer attempts due deliveries: it claims them with a lease (FOR UPDATE SKIP LOCKED),
// so several replicas share the work and never attempt one delivery at once, sends each
// through a bounded pool, and records the outcome and the next retry.
type Deliverer struct {
	cfg  DelivererConfig
	kick chan struct{}
	// freed says an attempt finished, so the queue has room.
	freed chan struct{}
}

// NewDeliverer returns a Deliverer; Run starts it.
func NewDeliverer(cfg DelivererConfig) *Deliverer {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = AttemptTimeout
	}
	return &Deliverer{cfg: cfg, kick: make(chan struct{}, 1), freed: make(chan struct{}, 1)}
}

// Kick wakes the Deliverer: new deliveries are due.
func (d *Deliverer) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the attempts in flight; an attempt cut short
// by shutdown, and a claimed delivery not yet attempted, is given back, due at once.
//
// A fixed pool of Concurrency workers takes deliveries from a queue of at most Concurrency
// claimed ones; the queue is refilled a batch at a time, when half of it is free, so a
// backlog costs one claim query per batch rather than per delivery.
func (d *Deliverer) Run(ctx context.Context) {
	queue := make(chan store.ClaimedDelivery, d.cfg.Concurrency)
	var workers sync.WaitGroup
	for range d.cfg.Concurrency {
		workers.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case c := <-queue:
					d.attempt(ctx, c)
					select {
					case d.freed <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	defer func() {
		workers.Wait()
		d.releaseQueued(ctx, queue)
	}()

	refillAt := max(1, d.cfg.Concurrency/2)
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	for {
		room := cap(queue) - len(queue)
		moreDue := false
		if room >= refillAt {
			claimed, err := store.ClaimWebhookDeliveries(ctx, d.cfg.DB, room, d.cfg.Lease)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.WarnContext(ctx, "claim webhook deliveries", slog.Any("err", err))
			}
			for _, c := range claimed {
				queue <- c // never blocks: only this loop fills the queue, and room was free
			}
			moreDue = len(claimed) == room
		}
		var freed chan struct{}
		if moreDue || room < refillAt {
			freed = d.freed // the queue is what limits us: wait for room
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-d.kick:
		case <-freed:
		}
	}
}

// releaseQueued gives back the deliveries claimed but not attempted before shutdown.
func (d *Deliverer) releaseQueued(ctx context.Context, queue chan store.ClaimedDelivery) {
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for {
		select {
		case c := <-queue:
			if err := store.ReleaseWebhookDelivery(releaseCtx, d.cfg.DB, c.ID, c.LeaseToken); err != nil {
				d.cfg.Logger.Warn("release webhook delivery", slog.String("delivery_id", c.ID), slog.Any("err", err))
			}
		default:
			return
		}
	}
}

// attemptResult is what one HTTP attempt gave.
type attemptResult struct {
	status     int
	body       string
	err        error
	retryAfter time.Duration
}

// attempt sends one claimed delivery and records the outcome.
func (d *Deliverer) attempt(ctx context.Context, c store.ClaimedDelivery) {
	logger := d.cfg.Logger.With(slog.String("delivery_id", c.ID), slog.String("session_id", c.SessionID))
	start := time.Now()
	res := d.send(ctx, c)
	if ctx.Err() != nil && res.status == 0 {
		// Cut short by shutdown: not the receiver's fault, give it back.
		releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := store.ReleaseWebhookDelivery(releaseCtx, d.cfg.DB, c.ID, c.LeaseToken); err != nil {
			logger.Warn("release webhook delivery", slog.Any("err", err))
		}
		return
	}
	d.cfg.Metrics.WebhookAttemptDuration.Observe(time.Since(start).Seconds())

	now := time.Now()
	outcome := store.DeliveryAttempt{ID: c.ID, LeaseToken: c.LeaseToken, MaxFailures: d.cfg.MaxFailures}
	if res.status != 0 {
		outcome.ResponseCode = &res.status
		outcome.ResponseBody = &res.body
	}
	var retry bool
	switch {
	case res.err != nil:
		msg := res.err.Error()
		outcome.Error = &msg
		// Neither a refused address nor an unreadable secret changes by retrying.
		retry = !errors.Is(res.err, netguard.ErrNotPublic) && !errors.Is(res.err, errBadSecret) &&
			!errors.Is(res.err, errSecretUnreadable)
	case res.status >= 200 && res.status < 300:
		outcome.Status = model.WebhookDelivered
	default:
		msg := fmt.Sprintf("receiver answered HTTP %d", res.status)
		outcome.Error = &msg
		retry = retryable(res.status)
	}
	metric := "delivered"
	if outcome.Status != model.WebhookDelivered {
		outcome.Status, metric = model.WebhookFailed, "failed"
		if retry {
			if next, ok := d.cfg.Retry.Next(c.Attempts+1, c.CreatedAt, now, res.retryAfter); ok {
				outcome.Status, outcome.NextRetry, metric = model.WebhookRetrying, &next, "retry"
			}
		}
		outcome.DisabledReason = fmt.Sprintf("Disabled after %d consecutive failed deliveries; the last: %s",
			d.cfg.MaxFailures, *outcome.Error)
	}

	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	recorded, disabled, err := store.RecordWebhookAttempt(recordCtx, d.cfg.DB, outcome)
	switch {
	case err != nil:
		// The lease runs out and the delivery is attempted again: at least once.
		logger.Error("record webhook attempt", slog.Any("err", err))
		return
	case !recorded:
		metric = "lease_lost"
		logger.Warn("webhook delivery lease lost before its outcome was recorded")
	}
	d.cfg.Metrics.WebhookDeliveries.WithLabelValues(metric).Inc()
	if outcome.Status == model.WebhookDelivered && recorded {
		d.cfg.Metrics.WebhookDeliveryLag.Observe(now.Sub(c.CreatedAt).Seconds())
	}
	if disabled {
		logger.Warn("webhook disabled after consecutive failed deliveries", slog.Int("failures", d.cfg.MaxFailures))
		sessionID := c.SessionID
		if err := store.InsertSystemLog(recordCtx, d.cfg.DB, store.SystemLogEntry{Level: model.LevelWarn, Service: "webhooks",
			Message: outcome.DisabledReason, SessionID: &sessionID}); err != nil {
			logger.Warn("write system log", slog.Any("err", err))
		}
	}
}

// send makes one HTTP attempt, signed for now.
func (d *Deliverer) send(ctx context.Context, c store.ClaimedDelivery) attemptResult {
	secret, err := d.cfg.Box.Open(c.Secret, c.SessionID)
	if err != nil {
		d.cfg.Logger.Error("webhook secret cannot be opened", slog.String("session_id", c.SessionID), slog.Any("err", err))
		return attemptResult{err: errSecretUnreadable}
	}
	eventID, err := payloadID(c.Payload)
	if err != nil {
		return attemptResult{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Payload))
	if err != nil {
		return attemptResult{err: fmt.Errorf("bad webhook URL: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wagateway-webhooks/"+buildinfo.Version)
	if err := setSignatureHeaders(req.Header, secret, eventID, time.Now(), c.Payload); err != nil {
		return attemptResult{err: err}
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return attemptResult{err: describeSendError(err, d.cfg.AttemptTimeout)}
	}
	defer resp.Body.Close()
	kept, _ := io.ReadAll(io.LimitReader(resp.Body, responseBodyCap))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainCap))
	return attemptResult{status: resp.StatusCode, body: storableText(kept), retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
}

// payloadID reads the event ID of a stored payload: the webhook-id of every attempt.
func payloadID(payload []byte) (string, error) {
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.ID == "" {
		return "", errors.New("stored webhook payload has no id")
	}
	return p.ID, nil
}

// describeSendError keeps the cause of a failed request short and free of the URL's query.
func describeSendError(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, netguard.ErrNotPublic):
		return fmt.Errorf("connection refused: the receiver's address is private or reserved: %w", netguard.ErrNotPublic)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// storableText makes a receiver's answer fit a text column: valid UTF-8, no NUL.
func storableText(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}
