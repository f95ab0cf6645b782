package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/ratelimit"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workers"
)

// msFixture is the messaging service, running its writers, on its own database and Redis
// prefix, with one user whose session s-1 is placed on worker w-1.
type msFixture struct {
	db   *pgxpool.Pool
	bus  *events.Bus
	svc  *service.Messaging
	user *auth.Principal
}

func newMsFixture(t *testing.T, limits model.TierLimits) *msFixture {
	t.Helper()
	db := testenv.NewDB(t)
	rdb, keys := testenv.NewRedis(t)
	logger := slog.New(slog.DiscardHandler)
	m := metrics.New()
	bus := events.NewBus()
	svc := service.NewMessaging(service.MessagingDeps{DB: db, Router: router.New(db, rdb, keys, logger),
		Client: workers.NewClient("token", m, logger), Bus: bus, Metrics: m, Logger: logger,
		Quotas: &service.Quotas{Redis: rdb, Limiter: ratelimit.New(rdb), Keys: keys, Metrics: m, Logger: logger,
			TierLimits: map[model.UserTier]model.TierLimits{model.TierBasic: limits}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	f := &msFixture{db: db, bus: bus, svc: svc, user: &auth.Principal{Tier: model.TierBasic}}
	if err := db.QueryRow(context.Background(), `INSERT INTO users (name, email, password_hash) VALUES ('U', 'ms@example.com', 'x')
		RETURNING id::text`).Scan(&f.user.UserID); err != nil {
		t.Fatal(err)
	}
	// A worker nobody listens on: sends to it are refused at once.
	f.exec(t, `INSERT INTO workers (id, endpoint) VALUES ('w-1', $1), ('w-2', 'http://w-2:8001')`, closedEndpoint(t))
	f.exec(t, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ('s-1', $1, 'S', 'w-1', 'CONNECTED')`, f.user.UserID)
	return f
}

// closedEndpoint is an http URL on a loopback port nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

func (f *msFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// sent inserts an outbound message of s-1 with a WhatsApp ID, in status.
func (f *msFixture) sent(t *testing.T, waID string, status model.MessageStatus) string {
	t.Helper()
	var id string
	if err := f.db.QueryRow(context.Background(), `WITH m AS (
			INSERT INTO messages (session_id, direction, wa_message_id, message_type, status)
			VALUES ('s-1', 'OUTBOUND', $1, 'TEXT', $2) RETURNING id, session_id, wa_message_id
		), wa AS (INSERT INTO message_wa_ids (session_id, wa_message_id, message_id) SELECT session_id, wa_message_id, id FROM m)
		SELECT id::text FROM m`, waID, status).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *msFixture) status(t *testing.T, id string) (model.MessageStatus, *string) {
	t.Helper()
	var s model.MessageStatus
	var reason *string
	if err := f.db.QueryRow(context.Background(), `SELECT status, error_message FROM messages WHERE id = $1`, id).Scan(&s, &reason); err != nil {
		t.Fatal(err)
	}
	return s, reason
}

// sendingSession adds a CONNECTED session placed on a worker of its own, which answers every
// send of it with WhatsApp ID waID.
func (f *msFixture) sendingSession(t *testing.T, sessionID, waID string) {
	t.Helper()
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/sessions/"+sessionID+"/send" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true,"data":{"messageId":"` + waID + `","status":"SENT","type":"text","to":"6281234567890@s.whatsapp.net"}}`))
	}))
	t.Cleanup(worker.Close)
	f.exec(t, `INSERT INTO workers (id, endpoint) VALUES ($1, $2)`, "w-"+sessionID, worker.URL)
	f.exec(t, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ($1, $2, 'S', $3, 'CONNECTED')`,
		sessionID, f.user.UserID, "w-"+sessionID)
}

func textOut(to string) service.Outgoing {
	msg := "hello"
	return service.Outgoing{Type: model.MessageText, Content: &msg,
		Request: protocol.SendRequest{To: to, Type: protocol.SendText, Message: &msg}}
}

func TestMessagingReceipt_MovesForwardOnlyAndFailedIsFinal(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	ch, unsubscribe := f.bus.Subscribe(100)
	defer unsubscribe()

	for _, tc := range []struct {
		from    model.MessageStatus
		receipt string
		want    model.MessageStatus
	}{
		{model.MessagePending, "SENT", model.MessageSent},
		{model.MessagePending, "READ", model.MessageRead},
		{model.MessageSent, "DELIVERED", model.MessageDelivered},
		{model.MessageDelivered, "READ", model.MessageRead},
		{model.MessageRead, "DELIVERED", model.MessageRead},
		{model.MessageRead, "SENT", model.MessageRead},
		{model.MessageDelivered, "PENDING", model.MessageDelivered},
		{model.MessageSent, "SENT", model.MessageSent},
		{model.MessagePending, "FAILED", model.MessageFailed},
		{model.MessageSent, "FAILED", model.MessageFailed},
		{model.MessageDelivered, "FAILED", model.MessageDelivered},
		{model.MessageRead, "FAILED", model.MessageRead},
		{model.MessageFailed, "SENT", model.MessageFailed},
		{model.MessageFailed, "DELIVERED", model.MessageFailed},
		{model.MessageFailed, "READ", model.MessageFailed},
		{model.MessageCancelled, "READ", model.MessageCancelled},
	} {
		waID := "3EB0" + string(tc.from) + tc.receipt
		id := f.sent(t, waID, tc.from)
		recorded, err := f.svc.Receipt(ctx, service.EventSource{}, protocol.MessageStatusEvent{SessionID: "s-1", MessageID: waID, Status: tc.receipt})
		if err != nil || !recorded {
			t.Errorf("%s + %s: recorded %v, %v", tc.from, tc.receipt, recorded, err)
			continue
		}
		if got, _ := f.status(t, id); got != tc.want {
			t.Errorf("%s + %s receipt = %s, want %s", tc.from, tc.receipt, got, tc.want)
		}
		var published []events.Event
		for len(ch) > 0 {
			published = append(published, <-ch)
		}
		if applied := tc.want != tc.from; (len(published) == 1) != applied {
			t.Errorf("%s + %s: %d events published, want one exactly when applied (%v)", tc.from, tc.receipt, len(published), applied)
		}
	}
}

func TestMessagingReceipt_UnknownBadOrFromAnotherWorker(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	f.sent(t, "3EB0KNOWN", model.MessageSent)

	if recorded, err := f.svc.Receipt(ctx, service.EventSource{}, protocol.MessageStatusEvent{SessionID: "s-1", MessageID: "3EB0NONE", Status: "READ"}); err != nil || recorded {
		t.Errorf("unknown message: recorded %v, %v; want false, nil", recorded, err)
	}
	for _, tc := range []struct {
		ev   protocol.MessageStatusEvent
		src  string
		kind model.Kind
	}{
		{protocol.MessageStatusEvent{SessionID: "s-1", MessageID: "3EB0KNOWN", Status: "SEEN"}, "", model.KindValidation},
		{protocol.MessageStatusEvent{Status: "READ"}, "", model.KindValidation},
		{protocol.MessageStatusEvent{SessionID: "nope", MessageID: "3EB0KNOWN", Status: "READ"}, "", model.KindNotFound},
		{protocol.MessageStatusEvent{SessionID: "s-1", MessageID: "3EB0KNOWN", Status: "READ"}, "w-2", model.KindConflict},
	} {
		_, err := f.svc.Receipt(ctx, service.EventSource{WorkerID: tc.src}, tc.ev)
		if model.KindOf(err) != tc.kind {
			t.Errorf("%+v from %q: %v, want %s", tc.ev, tc.src, err, tc.kind)
		}
	}
	if recorded, err := f.svc.Receipt(ctx, service.EventSource{WorkerID: "w-1"}, protocol.MessageStatusEvent{SessionID: "s-1", MessageID: "3EB0KNOWN", Status: "READ"}); err != nil || !recorded {
		t.Errorf("from the session's own worker: recorded %v, %v; want it applied", recorded, err)
	}
}

func TestMessagingInbound_StoredOnceWithItsTypeAndPublishedOnce(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	ch, unsubscribe := f.bus.Subscribe(100)
	defer unsubscribe()
	text := "hi"

	for i, typ := range []string{"image", "IMAGE", "sticker"} {
		in := protocol.IncomingMessage{SessionID: "s-1", MessageID: "3EB0IN", From: "6281@s.whatsapp.net", Type: typ, Content: &text}
		msg, created, err := f.svc.Inbound(ctx, service.EventSource{WorkerID: "w-1"}, in)
		if err != nil || created != (i == 0) || msg.Type != model.MessageImage || msg.Direction != model.DirectionInbound {
			t.Errorf("delivery %d: %+v, created %v, %v", i, msg, created, err)
		}
	}
	for typ, want := range map[string]model.MessageType{"weird": model.MessageText, "": model.MessageText, " poll ": model.MessagePoll, "reaction": model.MessageReaction} {
		msg, _, err := f.svc.Inbound(ctx, service.EventSource{}, protocol.IncomingMessage{SessionID: "s-1", MessageID: "3EB0T" + typ, From: "6281@s.whatsapp.net", Type: typ})
		if err != nil || msg.Type != want {
			t.Errorf("type %q stored as %s (%v), want %s", typ, msg.Type, err, want)
		}
	}
	received := 0
	for len(ch) > 0 {
		if (<-ch).Type == events.MessageReceived {
			received++
		}
	}
	if received != 5 {
		t.Errorf("%d message_received events, want 5 (one per stored message, none for duplicates)", received)
	}
	_, _, err := f.svc.Inbound(ctx, service.EventSource{}, protocol.IncomingMessage{})
	var e *model.Error
	if !errors.As(err, &e) || e.Kind != model.KindValidation || len(e.Details) != 3 {
		t.Errorf("empty inbound: %v, want a validation error naming sessionId, messageId and from", err)
	}
	if _, _, err := f.svc.Inbound(ctx, service.EventSource{WorkerID: "w-2"}, protocol.IncomingMessage{SessionID: "s-1", MessageID: "3EB0W2", From: "1@s.whatsapp.net"}); model.KindOf(err) != model.KindConflict {
		t.Errorf("from another worker: %v, want a conflict", err)
	}
}

// An incoming message and a receipt are stored with their webhook deliveries, in one
// transaction: the deliveries exist once the report is answered, with no recorder running,
// and the event says so; a report stored already (the worker's retry) adds none.
func TestMessaging_InboundAndReceipt_StoreTheirWebhookDeliveriesWithThem(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	f.exec(t, `INSERT INTO webhooks (session_id, url, events, secret) VALUES ('s-1', 'https://example.com/hook', '{*}', 'whsec_test')`)
	woken := make(chan struct{}, 10)
	f.svc.WebhooksQueued = func() { woken <- struct{}{} }
	ch, unsubscribe := f.bus.Subscribe(10)
	defer unsubscribe()

	text := "hello hook"
	in := protocol.IncomingMessage{SessionID: "s-1", MessageID: "3EB0HOOKIN", From: "6281@s.whatsapp.net", Type: "text", Content: &text}
	f.sent(t, "3EB0HOOKOUT", model.MessageSent)
	receipt := protocol.MessageStatusEvent{SessionID: "s-1", MessageID: "3EB0HOOKOUT", Status: "DELIVERED"}
	for range 2 {
		if _, _, err := f.svc.Inbound(ctx, service.EventSource{WorkerID: "w-1"}, in); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Receipt(ctx, service.EventSource{WorkerID: "w-1"}, receipt); err != nil {
			t.Fatal(err)
		}
	}

	rows, err := f.db.Query(ctx, `SELECT event, coalesce(payload->'data'->'message'->>'content', payload->'data'->>'status')
		FROM webhook_deliveries ORDER BY created_at`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var event, detail string
		if err := rows.Scan(&event, &detail); err != nil {
			t.Fatal(err)
		}
		got = append(got, event+" "+detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"message.received hello hook", "message.status DELIVERED"}; !slices.Equal(got, want) {
		t.Errorf("deliveries stored: %q, want %q", got, want)
	}
	for range 2 {
		if e := <-ch; !e.WebhooksStored {
			t.Errorf("%s event raised without WebhooksStored: the recorder would store its deliveries again", e.Type)
		}
	}
	if len(ch) != 0 || len(woken) != 2 {
		t.Errorf("%d more events, deliverer woken %d times; want none more and 2", len(ch), len(woken))
	}
}

func TestMessagingSend_FailuresAreRecordedAsFailed(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	failed := func(sessionID string) (model.MessageStatus, string) {
		t.Helper()
		var status model.MessageStatus
		var reason string
		if err := f.db.QueryRow(ctx, `SELECT status, coalesce(error_message, '') FROM messages WHERE session_id = $1
			ORDER BY created_at DESC LIMIT 1`, sessionID).Scan(&status, &reason); err != nil {
			t.Fatalf("no record of the send: %v", err)
		}
		return status, reason
	}

	// The worker refuses connections: 503, recorded FAILED with the cause.
	_, err := f.svc.Send(ctx, f.user, "s-1", textOut("6281234567890@s.whatsapp.net"))
	if model.KindOf(err) != model.KindConnectivity {
		t.Fatalf("send to a dead worker = %v, want connectivity", err)
	}
	if status, reason := failed("s-1"); status != model.MessageFailed || reason == "" {
		t.Errorf("record = %s %q, want FAILED with the reason", status, reason)
	}

	// Not connected: a conflict naming the status, recorded FAILED.
	f.exec(t, `INSERT INTO sessions (id, user_id, name, status) VALUES ('s-idle', $1, 'S', 'QR_REQUIRED')`, f.user.UserID)
	_, err = f.svc.Send(ctx, f.user, "s-idle", textOut("6281234567890@s.whatsapp.net"))
	if model.KindOf(err) != model.KindConflict {
		t.Fatalf("send on a QR_REQUIRED session = %v, want a conflict", err)
	}
	if status, reason := failed("s-idle"); status != model.MessageFailed || reason != "session not connected: QR_REQUIRED" {
		t.Errorf("record = %s %q", status, reason)
	}

	// CONNECTED but placed nowhere: 503.
	f.exec(t, `INSERT INTO sessions (id, user_id, name, status) VALUES ('s-nowhere', $1, 'S', 'CONNECTED')`, f.user.UserID)
	if _, err := f.svc.Send(ctx, f.user, "s-nowhere", textOut("6281234567890@s.whatsapp.net")); model.KindOf(err) != model.KindConnectivity {
		t.Errorf("send on an unplaced session = %v, want connectivity", err)
	}
	if status, _ := failed("s-nowhere"); status != model.MessageFailed {
		t.Errorf("unplaced record = %s", status)
	}

	// An unknown session: not found, nothing recorded.
	if _, err := f.svc.Send(ctx, f.user, "s-missing", textOut("6281234567890@s.whatsapp.net")); model.KindOf(err) != model.KindNotFound {
		t.Errorf("send on a missing session = %v, want not found", err)
	}
}

func TestMessagingSend_QuotaRefusesWithRetryAfterBeforeRecording(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 2})
	ctx := context.Background()
	for range 2 { // attempts on the dead worker w-1: counted, recorded FAILED
		if _, err := f.svc.Send(ctx, f.user, "s-1", textOut("1@s.whatsapp.net")); model.KindOf(err) != model.KindConnectivity {
			t.Fatalf("send: %v", err)
		}
	}
	_, err := f.svc.Send(ctx, f.user, "s-1", textOut("1@s.whatsapp.net"))
	var e *model.Error
	if !errors.As(err, &e) || e.Kind != model.KindRateLimited || e.RetryAfter <= 0 || e.RetryAfter > time.Hour {
		t.Fatalf("third send = %v, want rate_limited with a Retry-After within the hour", err)
	}
	var n int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d messages recorded, want 2 (the refused one is not)", n)
	}
	// Another user has a quota of their own.
	other := &auth.Principal{UserID: "00000000-0000-4000-8000-000000000001", Tier: model.TierBasic}
	if _, err := f.svc.Send(ctx, other, "s-1", textOut("1@s.whatsapp.net")); model.KindOf(err) == model.KindRateLimited {
		t.Errorf("another user's send = %v, want their own quota", err)
	}
}

func TestQuotasCharge_RedisDown_LetsTheRequestThrough(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	q := &service.Quotas{Redis: rdb, Limiter: ratelimit.New(rdb), Keys: redisdb.NewKeys("down:"), Metrics: metrics.New(),
		Logger: slog.New(slog.DiscardHandler), TierLimits: model.DefaultTierLimits()}
	p := &auth.Principal{UserID: "u", Tier: model.TierBasic}
	for range 3 {
		if _, err := q.Charge(context.Background(), p, service.QuotaMessages); err != nil {
			t.Fatalf("Charge with Redis down = %v, want the request let through", err)
		}
	}
}

func TestMessagingGet_AnotherSessionsMessageIsNotFound(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	id := f.sent(t, "3EB0GET", model.MessagePending)
	if _, err := f.svc.Receipt(ctx, service.EventSource{}, protocol.MessageStatusEvent{SessionID: "s-1", MessageID: "3EB0GET", Status: "DELIVERED"}); err != nil {
		t.Fatal(err)
	}
	view, err := f.svc.Get(ctx, "s-1", id)
	if err != nil {
		t.Fatal(err)
	}
	var history []model.MessageStatus
	for _, h := range view.StatusHistory {
		history = append(history, h.Status)
	}
	if view.Status != model.MessageDelivered ||
		!slices.Equal(history, []model.MessageStatus{model.MessagePending, model.MessageSent, model.MessageDelivered}) {
		t.Errorf("view = %+v, history %v", view.Message, history)
	}
	f.exec(t, `INSERT INTO sessions (id, user_id, name) VALUES ('s-2', $1, 'S')`, f.user.UserID)
	if _, err := f.svc.Get(ctx, "s-2", id); model.KindOf(err) != model.KindNotFound {
		t.Errorf("Get from another session = %v, want not found", err)
	}
}

// hookedSession is a fixture whose session answers sends with waID and has a webhook for
// event, with the deliverer's wake-ups counted in woken and the bus watched on published.
func hookedSession(t *testing.T, session, waID, event string) (f *msFixture, woken chan struct{}, published <-chan events.Event) {
	t.Helper()
	f = newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	f.sendingSession(t, session, waID)
	f.exec(t, `INSERT INTO webhooks (session_id, url, events, secret) VALUES ($1, 'https://example.com/hook', $2, 'whsec_test')`,
		session, []string{event})
	woken = make(chan struct{}, 10)
	f.svc.WebhooksQueued = func() { woken <- struct{}{} }
	published, unsubscribe := f.bus.Subscribe(10)
	t.Cleanup(unsubscribe)
	return f, woken, published
}

// A sent message's webhook delivery is committed with the worker's answer: stored when Send
// returns, its event raised marked so that the recorder does not store it again, and the
// deliverer woken.
func TestMessagingSend_StoresTheSentWebhookWithTheAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, woken, ch := hookedSession(t, "s-hook", "3EB0SENTHOOK", "message.status")

	res, err := f.svc.Send(ctx, f.user, "s-hook", textOut("6281234567890@s.whatsapp.net"))
	if err != nil {
		t.Fatal(err)
	}
	var event, messageID, waID, status string
	if err := f.db.QueryRow(ctx, `SELECT event, payload->'data'->>'id', payload->'data'->>'messageId', payload->'data'->>'status'
		FROM webhook_deliveries`).Scan(&event, &messageID, &waID, &status); err != nil {
		t.Fatalf("no delivery stored when Send returned: %v", err)
	}
	if event != "message.status" || messageID != res.ID || waID != "3EB0SENTHOOK" || status != "SENT" {
		t.Errorf("delivery %s of %s (%s) %s, want message.status of %s (3EB0SENTHOOK) SENT", event, messageID, waID, status, res.ID)
	}
	if e := <-ch; e.Type != events.MessageStatusUpdated || !e.WebhooksStored {
		t.Errorf("event %s raised with WebhooksStored %v, want %s with true", e.Type, e.WebhooksStored, events.MessageStatusUpdated)
	}
	if len(woken) != 1 {
		t.Errorf("deliverer woken %d times, want once", len(woken))
	}
}

// A session with no webhook for message.status when the send is recorded gets no delivery of
// the answer, and the event is raised settled (the recorder has nothing to store for it).
func TestMessagingSend_WithoutAStatusWebhookStoresNoDelivery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, woken, ch := hookedSession(t, "s-quiet", "3EB0QUIET", "message.received")

	if _, err := f.svc.Send(ctx, f.user, "s-quiet", textOut("6281234567890@s.whatsapp.net")); err != nil {
		t.Fatal(err)
	}
	var deliveries int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&deliveries); err != nil || deliveries != 0 {
		t.Errorf("%d deliveries (%v), want none", deliveries, err)
	}
	if e := <-ch; e.Type != events.MessageStatusUpdated || !e.WebhooksStored {
		t.Errorf("event %s raised with WebhooksStored %v, want %s with true", e.Type, e.WebhooksStored, events.MessageStatusUpdated)
	}
	if len(woken) != 0 {
		t.Errorf("deliverer woken %d times, want never", len(woken))
	}
}

// A batch of records and answers is one transaction; when it fails otherwise than as a
// deadlock's victim, the two kinds are written apart: the answers of a batch whose records
// fail (a taken new ID) are written, and only the records fail.
func TestWriteSends_AnAnswerIsWrittenWhenTheRecordsOfItsBatchFail(t *testing.T) {
	t.Parallel()
	f := newMsFixture(t, model.TierLimits{MessagesPerHour: 100})
	ctx := context.Background()
	send := func() store.OutboundMessage {
		text := "hello"
		return store.OutboundMessage{ID: uuid.NewString(), NewID: true, SessionID: "s-1", To: "6281234567890@s.whatsapp.net",
			Type: model.MessageText, Content: &text, Payload: json.RawMessage(`{"type":"text"}`)}
	}
	taken, answered := send(), send()
	if _, err := store.RecordOutboundBatch(ctx, f.db, []store.OutboundMessage{taken, answered}); err != nil {
		t.Fatal(err)
	}
	waID := "wa-answered"
	out, err := f.svc.WriteSends(ctx, []store.OutboundMessage{taken},
		[]store.SendOutcome{{ID: answered.ID, Status: model.MessageSent, WAMessageID: &waID, At: time.Now()}})
	if err != nil {
		t.Fatalf("the batch failed whole: %v", err)
	}
	if out[0].Err == nil {
		t.Errorf("the taken new ID: %+v, want its error", out[0])
	}
	if out[1].Err != nil {
		t.Errorf("the answer: %v, want written", out[1].Err)
	}
	if status, _ := f.status(t, answered.ID); status != model.MessageSent {
		t.Errorf("the answered send is %s, want SENT", status)
	}
}
