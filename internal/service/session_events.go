package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/webhooks"
)

// maxQRLength bounds a stored QR (the protocol allows up to 2,000 characters).
const maxQRLength = 2000

// SessionEvents applies what workers report about sessions: events and heartbeat entries.
type SessionEvents struct {
	DB     *pgxpool.Pool
	Bus    *events.Bus
	Logger *slog.Logger
	// WebhooksQueued, when set, is called after a change stored customer webhook deliveries
	// (it wakes the deliverer).
	WebhooksQueued func()
}

// EventSource says who reported an event: the worker known from its own token or the body
// ("" when the shared token was used without a workerId).
type EventSource struct {
	WorkerID string
}

// Apply checks and applies one session event, in the protocol's order: unknown session → 404;
// from a worker other than the placed one → 409; older than the last applied worker event →
// not applied (200, applied=false); else applied. Workers are the truth about their
// connections, so any reported status is applied.
func (e *SessionEvents) Apply(ctx context.Context, src EventSource, ev protocol.SessionEvent) (protocol.SessionEventResult, error) {
	status, loggedOut, ok := protocol.ParseSessionStatus(ev.Status)
	if !ok {
		return protocol.SessionEventResult{}, model.ValidationError(model.FieldError{Field: "status",
			Message: "must be one of INIT, QR_REQUIRED, CONNECTED, DISCONNECTED, RECONNECTING, ERROR, LOGGED_OUT"})
	}
	if ev.QRCode != nil && len(*ev.QRCode) > maxQRLength {
		return protocol.SessionEventResult{}, model.ValidationError(model.FieldError{Field: "qrCode",
			Message: fmt.Sprintf("must be at most %d characters", maxQRLength)})
	}
	at := protocol.TimeOrZero(ev.Timestamp)
	if at.IsZero() {
		at = time.Now()
	}
	update := store.SessionEventUpdate{
		Status: status, QRCode: emptyToNil(ev.QRCode), PhoneNumber: emptyToNil(ev.PhoneNumber),
		DisplayName: emptyToNil(ev.DisplayName), LoggedOut: loggedOut || ev.LoggedOutAt != nil, Reason: ev.Reason, At: at,
	}
	return e.apply(ctx, ev.SessionID, src.WorkerID, update)
}

func (e *SessionEvents) apply(ctx context.Context, sessionID, workerID string, u store.SessionEventUpdate) (protocol.SessionEventResult, error) {
	var before, after model.Session
	var raised []events.Event
	var deliveries int64
	applied := false
	err := store.WithTx(ctx, e.DB, func(tx pgx.Tx) error {
		var err error
		before, err = store.LockSession(ctx, tx, sessionID)
		if errors.Is(err, model.ErrNotFound) {
			return model.Errorf(model.KindNotFound, "Session %s not found", sessionID)
		}
		if err != nil {
			return err
		}
		if workerID != "" && (before.WorkerID == nil || *before.WorkerID != workerID) {
			return model.Errorf(model.KindConflict, "Session %s is not placed on worker %s", sessionID, workerID)
		}
		if before.LastEventAt != nil && u.At.Before(*before.LastEventAt) {
			after = before
			return nil // stale: a late retry must not move the session backwards
		}
		after, err = store.ApplySessionEvent(ctx, tx, sessionID, u)
		if err != nil {
			return err
		}
		applied = true
		// The customer webhooks of the change commit with it: a crash after the commit
		// cannot lose them.
		raised = changeEvents(before, after, time.Now().UTC())
		if deliveries, err = storeWebhooks(ctx, tx, raised); err != nil {
			return err
		}
		if before.Status != after.Status {
			return store.InsertSystemLog(ctx, tx, store.SystemLogEntry{
				Level: model.LevelInfo, Service: "sessions",
				Message:   fmt.Sprintf("Session %s: %s → %s", sessionID, before.Status, after.Status),
				Details:   map[string]any{"from": before.Status, "to": after.Status, "reason": u.Reason, "loggedOut": u.LoggedOut},
				UserID:    &after.UserID,
				SessionID: &sessionID,
				WorkerID:  after.WorkerID,
			})
		}
		return nil
	})
	if err != nil {
		return protocol.SessionEventResult{}, err
	}
	e.raise(raised, deliveries)
	return protocol.SessionEventResult{
		SessionID: after.ID, Status: string(after.Status), PhoneNumber: after.PhoneNumber,
		DisplayName: after.DisplayName, Applied: applied, UpdatedAt: after.UpdatedAt,
	}, nil
}

// change writes a change of one session (write, in a transaction) with the customer webhook
// deliveries of the events it raises, then publishes them: committed together, a crash after
// the commit cannot lose a status or QR webhook.
func (e *SessionEvents) change(ctx context.Context, before model.Session, write func(tx pgx.Tx) (model.Session, error)) (model.Session, error) {
	var after model.Session
	var raised []events.Event
	var deliveries int64
	err := store.WithTx(ctx, e.DB, func(tx pgx.Tx) error {
		var err error
		if after, err = write(tx); err != nil {
			return err
		}
		raised = changeEvents(before, after, time.Now().UTC())
		deliveries, err = storeWebhooks(ctx, tx, raised)
		return err
	})
	if err != nil {
		return after, err
	}
	e.raise(raised, deliveries)
	return after, nil
}

// raise publishes events committed with their webhook deliveries, and wakes the deliverer.
func (e *SessionEvents) raise(raised []events.Event, deliveries int64) {
	for _, ev := range raised {
		e.Bus.Publish(ev)
	}
	if deliveries > 0 && e.WebhooksQueued != nil {
		e.WebhooksQueued()
	}
}

// storeReleased stores in tx the customer webhook deliveries of the sessions the change tx
// commits releases (DISCONNECTED), and returns their events, to raise once it committed.
func storeReleased(ctx context.Context, tx pgx.Tx, released []store.PlacedSession) ([]events.Event, int64, error) {
	var raised []events.Event
	now := time.Now().UTC()
	for _, p := range released {
		raised = append(raised, changeEvents(model.Session{ID: p.ID, Status: p.Status},
			model.Session{ID: p.ID, UserID: p.UserID, Status: model.SessionDisconnected}, now)...)
	}
	deliveries, err := storeWebhooks(ctx, tx, raised)
	return raised, deliveries, err
}

// publish raises the events of a change already committed without its webhook deliveries:
// the recorder stores those (in memory until then). Failover's moves, whose steps are
// several transactions and calls to workers, use it.
func (e *SessionEvents) publish(before, after model.Session) {
	for _, ev := range changeEvents(before, after, time.Now().UTC()) {
		e.Bus.Publish(ev)
	}
}

// changeEvents are the events a session's change raises: session_status_changed on a new
// status or phone number, qr_code_updated on a new QR.
func changeEvents(before, after model.Session, now time.Time) []events.Event {
	worker := ""
	if after.WorkerID != nil {
		worker = *after.WorkerID
	}
	var raised []events.Event
	if before.Status != after.Status || !equalPtr(before.PhoneNumber, after.PhoneNumber) {
		raised = append(raised, events.Event{Type: events.SessionStatusChanged, SessionID: after.ID, UserID: after.UserID,
			WorkerID: worker, At: now, Payload: map[string]any{
				"sessionId": after.ID, "status": after.Status, "phoneNumber": after.PhoneNumber,
				"displayName": after.DisplayName, "timestamp": now,
			}})
	}
	if after.Status == model.SessionQRRequired && after.QRCode != nil && !equalPtr(before.QRCode, after.QRCode) {
		raised = append(raised, events.Event{Type: events.QRCodeUpdated, SessionID: after.ID, UserID: after.UserID,
			WorkerID: worker, At: now, Payload: map[string]any{
				"sessionId": after.ID, "qrCode": *after.QRCode, "status": model.SessionQRRequired, "timestamp": now,
			}})
	}
	return raised
}

// storeWebhooks stores in tx, the transaction of the change that raises them, the customer
// webhook deliveries of raised, and marks those events WebhooksStored (the recorder skips
// them): committed together, the change is never without its deliveries. It returns how many
// deliveries it stored.
func storeWebhooks(ctx context.Context, tx pgx.Tx, raised []events.Event) (int64, error) {
	var batch []store.NewWebhookDelivery
	for i := range raised {
		d, ok, err := webhooks.NewDelivery(raised[i])
		if err != nil {
			return 0, err
		}
		if ok {
			batch = append(batch, d)
			raised[i].WebhooksStored = true
		}
	}
	return store.InsertWebhookDeliveries(ctx, tx, batch)
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func emptyToNil(s *string) *string {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil
	}
	return s
}
