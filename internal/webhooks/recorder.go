package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// eventNames maps the internal bus's events to customer webhook events. Worker events are
// for administrators, not customers.
var eventNames = map[string]string{
	events.MessageReceived:      model.WebhookMessageReceived,
	events.MessageStatusUpdated: model.WebhookMessageStatus,
	events.SessionStatusChanged: model.WebhookSessionStatus,
	events.QRCodeUpdated:        model.WebhookSessionQR,
}

// Payload is the JSON body a receiver gets.
type Payload struct {
	// ID is unique per event and is also the webhook-id header, the same on every retry.
	ID        string    `json:"id"`
	Event     string    `json:"event"`
	Timestamp time.Time `json:"timestamp"`
	SessionID string    `json:"sessionId"`
	Data      any       `json:"data"`
}

// newEventID returns a unique, time-ordered event ID.
func newEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	return "evt_" + strings.ReplaceAll(id.String(), "-", "")
}

// recorderBuffer is the room the recorder has on the bus. The bus drops events for a
// subscriber that is full, so it is generous: a burst waits here while a batch is stored.
const recorderBuffer = 16384

// maxBatch bounds the events stored in one statement.
const maxBatch = 500

// Recorder stores a delivery for every bus event that a session's webhook subscribes to,
// before anything is attempted, so that a delivery survives a restart of the gateway or an
// outage of the receiver. Events are stored in batches, one statement each. Events whose
// deliveries were stored with the change that raised them (WebhooksStored: incoming messages,
// receipts, sends' outcomes and most session changes) are skipped.
type Recorder struct {
	db          store.DBTX
	logger      *slog.Logger
	metrics     *metrics.Events
	stored      func()
	events      <-chan events.Event
	unsubscribe func()
	giveUpAt    time.Time // when shutdown's last tries end (set when shutdown begins)
}

// NewRecorder subscribes to the bus at once, so that no event raised after it returns is
// missed; Run stores them. stored, when not nil, is called after deliveries were stored (to
// wake the local Deliverer).
func NewRecorder(bus *events.Bus, db store.DBTX, m *metrics.Events, logger *slog.Logger, stored func()) *Recorder {
	ch, unsubscribe := bus.Subscribe(recorderBuffer)
	return &Recorder{db: db, logger: logger, metrics: m, stored: stored, events: ch, unsubscribe: unsubscribe}
}

// Run stores deliveries until ctx ends, then stores what is already buffered and unsubscribes.
func (r *Recorder) Run(ctx context.Context) {
	defer r.unsubscribe()
	batch := make([]store.NewWebhookDelivery, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			// Shutting down: store what was raised before.
			for {
				batch = r.collect(batch[:0])
				if len(batch) == 0 {
					return
				}
				r.store(ctx, batch)
			}
		case e := <-r.events:
			batch = r.collect(r.add(batch[:0], e))
			r.store(ctx, batch)
		}
	}
}

// collect adds what is buffered, without waiting, up to maxBatch.
func (r *Recorder) collect(batch []store.NewWebhookDelivery) []store.NewWebhookDelivery {
	for len(batch) < maxBatch {
		select {
		case e := <-r.events:
			batch = r.add(batch, e)
		default:
			return batch
		}
	}
	return batch
}

func (r *Recorder) add(batch []store.NewWebhookDelivery, e events.Event) []store.NewWebhookDelivery {
	if e.WebhooksStored {
		return batch
	}
	d, ok, err := NewDelivery(e)
	if err != nil {
		r.logger.Error("webhook payload", slog.String("event", e.Type), slog.Any("err", err))
	}
	if !ok {
		return batch
	}
	return append(batch, d)
}

// NewDelivery is the delivery to store for an event, to every webhook of its session that
// subscribes to it; false for an event that is not for customers.
func NewDelivery(e events.Event) (store.NewWebhookDelivery, bool, error) {
	name, ok := eventNames[e.Type]
	if !ok || e.SessionID == "" {
		return store.NewWebhookDelivery{}, false, nil
	}
	body, err := json.Marshal(Payload{ID: newEventID(), Event: name, Timestamp: e.At.UTC(), SessionID: e.SessionID, Data: e.Payload})
	if err != nil {
		return store.NewWebhookDelivery{}, false, fmt.Errorf("webhook payload of %s: %w", e.Type, err)
	}
	return store.NewWebhookDelivery{SessionID: e.SessionID, Event: name, Payload: body}, true, nil
}

// recorderFinalTry bounds how long, once shutdown begins, the recorder keeps trying to store
// what it holds while PostgreSQL is unavailable.
const recorderFinalTry = 5 * time.Second

// store writes a batch. While PostgreSQL is unavailable it tries again, every 50 ms to 1 s,
// until the database is back: the events live only in memory until stored, and a short outage
// must not lose a customer's incoming messages and receipts. Meanwhile the bus keeps up to
// recorderBuffer more events for the recorder, and drops (and counts) what does not fit. Any
// other error is tried again briefly, then the batch is lost and logged. A batch taken from
// the bus is stored even when shutdown begins meanwhile; from then on, for recorderFinalTry at
// most.
func (r *Recorder) store(ctx context.Context, batch []store.NewWebhookDelivery) {
	if len(batch) == 0 {
		return
	}
	var err error
	failures := 0
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		deadline := time.Now().Add(10 * time.Second)
		if ctx.Err() != nil { // shutting down: what is left gets recorderFinalTry in all
			if r.giveUpAt.IsZero() {
				r.giveUpAt = time.Now().Add(recorderFinalTry)
			}
			if !time.Now().Before(r.giveUpAt) {
				if err == nil {
					err = errors.New("shutdown: no time left to try")
				}
				break
			}
			if r.giveUpAt.Before(deadline) {
				deadline = r.giveUpAt
			}
			wait = min(wait, time.Until(r.giveUpAt))
		}
		attempt, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		var n int64
		n, err = store.InsertWebhookDeliveries(attempt, r.db, batch)
		cancel()
		if err == nil {
			r.metrics.WebhookStored.Add(float64(n))
			if n > 0 && r.stored != nil {
				r.stored()
			}
			if failures > 0 {
				r.logger.Info("webhook deliveries stored after a failure", slog.Int("count", len(batch)), slog.Int("attempts", failures+1))
			}
			return
		}
		failures++
		unavailable := store.IsUnavailable(err)
		if !unavailable && failures > 3 {
			break
		}
		if unavailable && failures == 1 {
			r.logger.Warn("database unavailable: webhook deliveries kept until it is back", slog.Int("count", len(batch)), slog.Any("err", err))
		}
		time.Sleep(wait)
	}
	r.logger.Error("webhook deliveries lost: cannot store them", slog.Int("count", len(batch)), slog.Any("err", err))
}
