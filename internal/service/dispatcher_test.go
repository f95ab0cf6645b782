package service_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/service"
)

// TestDispatcher_SendLeftPendingByAStoppedGateway_IsHandedToTheQueue: a synchronous send
// recorded but never answered (its gateway stopped) is QUEUED once it is older than
// UnansweredAfter; a younger one, still possibly in flight, stays PENDING until it is old
// enough; sends created before the look-back are not the dispatcher's business.
func TestDispatcher_SendLeftPendingByAStoppedGateway_IsHandedToTheQueue(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	pending := func(age time.Duration) string {
		t.Helper()
		var id string
		if err := f.db.QueryRow(ctx, `INSERT INTO messages (session_id, direction, to_number, message_type, content, payload,
				status, attempts, created_at)
			VALUES ('s-1', 'OUTBOUND', '6281234567890@s.whatsapp.net', 'TEXT', 'x', '{"type":"text"}', 'PENDING', 1, now() - $1::interval)
			RETURNING id::text`, age).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	old, young, ancient := pending(5*time.Minute), pending(time.Second), pending(3*time.Hour)

	d := &service.Dispatcher{Pool: f.db, Logger: slog.New(slog.DiscardHandler), UnansweredAfter: 2 * time.Second}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.RequeueUnansweredEvery(runCtx, time.Now().Add(-time.Hour), 50*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	status := func(id string) model.MessageStatus {
		s, _ := f.status(t, id)
		return s
	}
	waitStatus := func(id string, want model.MessageStatus) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for status(id) != want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := status(id); got != want {
			t.Fatalf("message %s is %s, want %s", id, got, want)
		}
	}
	waitStatus(old, model.MessageQueued)
	waitStatus(young, model.MessageQueued)
	// The young one was queued only once it was old enough.
	var waited time.Duration
	if err := f.db.QueryRow(ctx, `SELECT e.at - m.created_at FROM message_events e JOIN messages m ON m.id = e.message_id
		WHERE e.message_id = $1 AND e.status = 'QUEUED'`, young).Scan(&waited); err != nil {
		t.Fatal(err)
	}
	if waited < d.UnansweredAfter {
		t.Errorf("a send was queued %s after its record, before UnansweredAfter (%s)", waited, d.UnansweredAfter)
	}
	if got := status(ancient); got != model.MessagePending {
		t.Errorf("a send from before the look-back is %s, want untouched", got)
	}
	view, err := f.svc.Get(ctx, "s-1", old)
	if err != nil {
		t.Fatal(err)
	}
	var history []model.MessageStatus
	for _, h := range view.StatusHistory {
		history = append(history, h.Status)
	}
	if len(history) != 2 || history[0] != model.MessagePending || history[1] != model.MessageQueued ||
		view.StatusHistory[1].Detail == nil {
		t.Errorf("history %+v, want PENDING then QUEUED with the reason", view.StatusHistory)
	}
}

// A queued send the dispatcher settles is announced to its session's owner (the realtime hub
// and the user's webhooks are keyed by the owner): the owner comes with the queue head, with
// no lookup of the session per send.
func TestDispatcher_SettledSendIsAnnouncedToTheSessionsOwner(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	announced, unsubscribe := f.bus.Subscribe(16)
	defer unsubscribe()
	queued, err := f.svc.Queue(ctx, f.user, "s-1", textOut("6281234567890"), nil)
	if err != nil {
		t.Fatal(err)
	}

	// The worker of s-1 refuses every send: with one attempt allowed, the send ends FAILED.
	d := &service.Dispatcher{Pool: f.db, Messaging: f.svc, MinInterval: time.Millisecond, RetryBase: time.Millisecond,
		RetryMax: time.Millisecond, MaxAttempts: 1, Concurrency: 1, Logger: slog.New(slog.DiscardHandler)}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()

	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-announced:
			if e.Type != events.MessageStatusUpdated || e.Payload.(map[string]any)["id"] != queued.ID {
				continue
			}
			if e.UserID != f.user.UserID || e.SessionID != "s-1" || e.Payload.(map[string]any)["status"] != model.MessageFailed {
				t.Fatalf("announced %+v, want FAILED for user %s on s-1", e, f.user.UserID)
			}
			return
		case <-deadline:
			t.Fatal("the settled send was not announced within 10s")
		}
	}
}
