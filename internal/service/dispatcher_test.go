package service_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
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
	f.runDispatcher(t)

	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-announced:
			p, _ := e.Payload.(events.MessageStatus)
			if e.Type != events.MessageStatusUpdated || p.ID != queued.ID {
				continue
			}
			if e.UserID != f.user.UserID || e.SessionID != "s-1" || p.Status != string(model.MessageFailed) {
				t.Fatalf("announced %+v, want FAILED for user %s on s-1", e, f.user.UserID)
			}
			return
		case <-deadline:
			t.Fatal("the settled send was not announced within 10s")
		}
	}
}

// The webhook delivery of a queued send the dispatcher settles, SENT or FAILED for good, is
// committed with the outcome: stored when the event is raised, which is marked so that the
// recorder does not store it again.
func TestDispatcher_SettledSendsWebhookIsCommittedWithTheOutcome(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	f.sendingSession(t, "s-ok", "3EB0QUEUEDHOOK")
	f.exec(t, `INSERT INTO webhooks (session_id, url, events, secret) VALUES
		('s-ok', 'https://example.com/ok', '{*}', 'whsec_a'), ('s-1', 'https://example.com/s1', '{message.status}', 'whsec_b')`)
	announced, unsubscribe := f.bus.Subscribe(16)
	defer unsubscribe()
	sent, err := f.svc.Queue(ctx, f.user, "s-ok", textOut("6281234567890"), nil)
	if err != nil {
		t.Fatal(err)
	}
	failed, err := f.svc.Queue(ctx, f.user, "s-1", textOut("6281234567890"), nil) // its worker refuses sends
	if err != nil {
		t.Fatal(err)
	}

	f.runDispatcher(t)

	want := map[string]string{sent.ID: "SENT 3EB0QUEUEDHOOK https://example.com/ok", failed.ID: "FAILED  https://example.com/s1"}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case e := <-announced:
			id := e.Payload.(events.MessageStatus).ID
			expected, ok := want[id]
			if e.Type != events.MessageStatusUpdated || !ok {
				continue
			}
			delete(want, id)
			if !e.WebhooksStored {
				t.Errorf("event of %s raised without WebhooksStored", id)
			}
			var got string
			if err := f.db.QueryRow(ctx, `SELECT (d.payload->'data'->>'status') || ' ' || (d.payload->'data'->>'messageId') || ' ' || w.url
				FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.payload->'data'->>'id' = $1`, id).Scan(&got); err != nil {
				t.Fatalf("no delivery of %s when its event was raised: %v", id, err)
			}
			if got != expected {
				t.Errorf("delivery of %s: %q, want %q", id, got, expected)
			}
		case <-deadline:
			t.Fatalf("not settled within 10s: %v", want)
		}
	}
}

// The sessions of one worker are sent as one batch, and each send's outcome is its own: the
// worker takes the sends of one session (in queue order, one per round) and refuses the other
// session's, which fails alone.
func TestDispatcher_OneWorkersBatch_RecordsEachSendsOutcome(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	f.sendingSession(t, "s-ok", "3EB0BATCHED")
	// s-refused is placed on s-ok's worker, which answers 404 to its sends.
	f.exec(t, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ('s-refused', $1, 'S', 'w-s-ok', 'CONNECTED')`, f.user.UserID)
	var ids []string
	for _, session := range []string{"s-ok", "s-refused", "s-ok"} {
		queued, err := f.svc.Queue(ctx, f.user, session, textOut("6281234567890"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, queued.ID)
	}

	f.runDispatcher(t)

	want := []model.MessageStatus{model.MessageSent, model.MessageFailed, model.MessageSent}
	deadline := time.Now().Add(10 * time.Second)
	for i, id := range ids {
		for {
			got, reason := f.status(t, id)
			if got == want[i] {
				if got == model.MessageFailed && (reason == nil || *reason == "") {
					t.Errorf("message %d FAILED without its reason", i)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %d (%s) is %s, want %s", i, id, got, want[i])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var inOrder bool
	if err := f.db.QueryRow(ctx, `SELECT (SELECT sent_at FROM messages WHERE id = $1) < (SELECT sent_at FROM messages WHERE id = $2)`,
		ids[0], ids[2]).Scan(&inOrder); err != nil || !inOrder {
		t.Fatalf("s-ok's sends out of queue order (%v)", err)
	}
}

// runDispatcher runs a dispatcher of the fixture's queue, one attempt per message and no
// pacing, until the test ends.
func (f *msFixture) runDispatcher(t *testing.T) {
	t.Helper()
	d := &service.Dispatcher{Pool: f.db, Messaging: f.svc, MinInterval: time.Millisecond, RetryBase: time.Millisecond,
		RetryMax: time.Millisecond, MaxAttempts: 1, Concurrency: 1, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// While this replica's dispatcher runs, a queued send wakes it in-process and is announced to
// the other replicas only when the last announcement is AnnounceEvery old; with no dispatcher
// running, every batch is announced.
func TestQueue_WakesTheLocalDispatcherAndAnnouncesToOthersAtMostEveryInterval(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	d := &service.Dispatcher{Pool: f.db, Messaging: f.svc, Logger: slog.New(slog.DiscardHandler)}
	f.svc.Dispatcher = d
	conn := testenv.Listen(t, f.db, store.QueueChannel)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	queue := func(at *time.Time) service.SendResult {
		t.Helper()
		res, err := f.svc.Queue(ctx, f.user, "s-1", textOut("6281234567890"), at)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	nextPayload := func() string {
		t.Helper()
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n.Payload
	}

	// Not running: announced, as every batch is.
	queue(nil)
	if got := nextPayload(); got != "0" {
		t.Errorf("with no dispatcher running: payload %q, want \"0\"", got)
	}
	if d.Woken() {
		t.Error("a dispatcher that does not run was woken in-process")
	}

	d.SetRunning(true)
	// Announced a moment ago: this send only wakes the local dispatcher.
	f.svc.AnnouncedAt(time.Now())
	queue(nil)
	if !d.Woken() {
		t.Error("the running dispatcher was not woken by a send due now")
	}
	// Announced AnnounceEvery ago: announced again. Notifications arrive in commit order, so
	// the first one now is this send's (scheduled, so its payload is its time), not the
	// previous send's ("0").
	f.svc.AnnouncedAt(time.Now().Add(-service.AnnounceEvery))
	in1h := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	queue(&in1h)
	if got, want := nextPayload(), strconv.FormatInt(in1h.UnixMilli(), 10); got != want {
		t.Errorf("after AnnounceEvery: payload %q, want %q (the send announced, the one before it quiet)", got, want)
	}
}
