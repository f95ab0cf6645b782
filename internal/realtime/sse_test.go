package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/realtime"
	"github.com/wagateway/gateway/internal/testenv"
)

func TestSSE_StreamsTheSessionsEvents_AndResumesWithLastEventID(t *testing.T) {
	t.Parallel()
	g := rtGateway(t)
	base, _ := g.Serve(t)
	u := rtNewUser(t, g, false)
	other := rtNewUser(t, g, false)

	s := openSSE(t, base, u.Token, u.SessionID, "", "Accept-Encoding", "gzip")
	if ct := s.Response.Header.Get("Content-Type"); s.Response.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", s.Response.StatusCode, ct)
	}
	if ce := s.Response.Header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("the stream is compressed (%s): it would be buffered", ce)
	}
	if c := s.Comment(t, 5*time.Second); c != "connected" {
		t.Fatalf("first comment %q", c)
	}

	status := map[string]any{"sessionId": u.SessionID, "status": "CONNECTED", "phoneNumber": "15550001111", "timestamp": "2026-01-01T00:00:00Z"}
	rtRaise(g, events.SessionStatusChanged, other.SessionID, other.ID, map[string]any{"sessionId": other.SessionID, "status": "INIT"})
	rtRaise(g, events.SessionStatusChanged, u.SessionID, u.ID, status)
	first := s.Next(t, 5*time.Second)
	if first.Event != events.SessionStatusChanged || first.ID == "" || !rtSameJSON(t, first.Data, status) {
		t.Fatalf("first event %+v %s", first, first.Data)
	}
	qr := map[string]any{"sessionId": u.SessionID, "qrCode": "2@abc", "status": "QR_REQUIRED", "timestamp": "2026-01-01T00:00:01Z"}
	rtRaise(g, events.QRCodeUpdated, u.SessionID, u.ID, qr)
	second := s.Next(t, 5*time.Second)
	if second.Event != events.QRCodeUpdated || second.ID == "" || second.ID == first.ID || !rtSameJSON(t, second.Data, qr) {
		t.Fatalf("second event %+v", second)
	}
	s.Close()

	// Missed while disconnected, then resumed from the second event.
	missed := []map[string]any{
		{"sessionId": u.SessionID, "messageId": "wa-1", "status": "DELIVERED", "timestamp": "2026-01-01T00:00:02Z"},
		{"sessionId": u.SessionID, "messageId": "wa-1", "status": "READ", "timestamp": "2026-01-01T00:00:03Z"},
	}
	for _, p := range missed {
		rtRaise(g, events.MessageStatusUpdated, u.SessionID, u.ID, p)
	}
	// The hub has the events once a fresh stream without Last-Event-ID sees nothing of them
	// and a live event arrives after; a resumed stream must replay them first.
	resumed := openSSE(t, base, u.Token, u.SessionID, second.ID)
	for i, want := range missed {
		ev := resumed.Next(t, 5*time.Second)
		if ev.Event != events.MessageStatusUpdated || !rtSameJSON(t, ev.Data, want) {
			t.Fatalf("replayed event %d: %+v, want %v", i, ev, want)
		}
	}
	live := map[string]any{"sessionId": u.SessionID, "message": map[string]any{"id": "m1", "content": "hi"}}
	rtRaise(g, events.MessageReceived, u.SessionID, u.ID, live)
	if ev := resumed.Next(t, 5*time.Second); ev.Event != events.MessageReceived || !rtSameJSON(t, ev.Data, live) {
		t.Fatalf("live event after the replay: %+v", ev)
	}
}

func TestSSE_AResumedStreamFromAnotherReplica_GetsWhatItMissed(t *testing.T) {
	t.Parallel()
	a := rtGateway(t)
	b := rtReplica(t, a)
	baseA, _ := a.Serve(t)
	baseB, _ := b.Serve(t)
	rtWaitSubscribed(t, a, b)
	u := rtNewUser(t, a, false)

	s := openSSE(t, baseA, u.Token, u.SessionID, "")
	s.Comment(t, 5*time.Second)
	rtRaise(a, events.SessionStatusChanged, u.SessionID, u.ID, map[string]any{"sessionId": u.SessionID, "status": "INIT"})
	seen := s.Next(t, 5*time.Second)
	s.Close()
	rtRaise(a, events.SessionStatusChanged, u.SessionID, u.ID, map[string]any{"sessionId": u.SessionID, "status": "QR_REQUIRED"})

	resumed := openSSE(t, baseB, u.Token, u.SessionID, seen.ID)
	ev := resumed.Next(t, 5*time.Second)
	if !strings.Contains(string(ev.Data), "QR_REQUIRED") {
		t.Fatalf("resumed on the other replica: %+v, want the missed QR_REQUIRED", ev)
	}
}

func rtWaitSubscribed(t testing.TB, gateways ...*testenv.Gateway) {
	t.Helper()
	for _, g := range gateways {
		select {
		case <-g.Realtime.Subscribed():
		case <-time.After(5 * time.Second):
			t.Fatal("a replica did not subscribe to the fan-out channel")
		}
	}
}

func TestFanout_AnEventRaisedOnOneReplica_ReachesClientsOfAnotherOnce(t *testing.T) {
	t.Parallel()
	a := rtGateway(t)
	b := rtReplica(t, a)
	a.Serve(t)
	baseB, _ := b.Serve(t)
	rtWaitSubscribed(t, a, b)
	u := rtNewUser(t, a, false)

	s := openSSE(t, baseB, u.Token, u.SessionID, "")
	s.Comment(t, 5*time.Second)
	fromA := map[string]any{"sessionId": u.SessionID, "status": "CONNECTED"}
	rtRaise(a, events.SessionStatusChanged, u.SessionID, u.ID, fromA)
	ev := s.Next(t, 5*time.Second)
	if ev.Event != events.SessionStatusChanged || !rtSameJSON(t, ev.Data, fromA) || !strings.Contains(ev.ID, a.Realtime.Origin()) {
		t.Fatalf("on replica b: %+v, want a's event", ev)
	}
	// b's own event arrives next: a's was not delivered twice, and b does not deliver its own
	// twice (once raised, once back from Redis).
	fromB := map[string]any{"sessionId": u.SessionID, "status": "DISCONNECTED"}
	rtRaise(b, events.SessionStatusChanged, u.SessionID, u.ID, fromB)
	rtRaise(b, events.SessionStatusChanged, u.SessionID, u.ID, fromA)
	if ev := s.Next(t, 5*time.Second); !rtSameJSON(t, ev.Data, fromB) {
		t.Fatalf("after a's event: %+v, want b's", ev)
	}
	if ev := s.Next(t, 5*time.Second); !rtSameJSON(t, ev.Data, fromA) || !strings.Contains(ev.ID, b.Realtime.Origin()) {
		t.Fatalf("third event %+v, want b's second", ev)
	}
}

func TestSSE_StreamsEndAtShutdown_SoTheServerStopsPromptly(t *testing.T) {
	t.Parallel()
	g := rtGateway(t)
	base, stop := g.Serve(t)
	u := rtNewUser(t, g, false)
	s := openSSE(t, base, u.Token, u.SessionID, "")
	s.Comment(t, 5*time.Second)

	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with an open stream", took)
	}
	s.Ended(t, time.Second)
}

func TestSSE_RealWorkerEvents_ReachTheStream(t *testing.T) {
	t.Parallel()
	g := rtGateway(t)
	base, _ := g.Serve(t)
	u := rtNewUser(t, g, false)
	ctx := context.Background()
	if _, err := g.DB.Exec(ctx, `INSERT INTO workers (id, endpoint, status, max_sessions, last_heartbeat)
		VALUES ('worker-live', 'http://worker-live.invalid:8001', 'ONLINE', 10, now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := g.DB.Exec(ctx, `UPDATE sessions SET worker_id = 'worker-live', status = 'INIT' WHERE id = $1`, u.SessionID); err != nil {
		t.Fatal(err)
	}
	s := openSSE(t, base, u.Token, u.SessionID, "")
	s.Comment(t, 5*time.Second)

	res := g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", map[string]any{
		"sessionId": u.SessionID, "status": "QR_REQUIRED", "qrCode": "2@live,qr==", "workerId": "worker-live",
	}, "Authorization", "Bearer "+g.Config.WorkerAuthToken)
	if res.Code != http.StatusOK {
		t.Fatalf("worker event: %d %s", res.Code, res.Body)
	}
	got := map[string]string{}
	for range 2 {
		ev := s.Next(t, 5*time.Second)
		got[ev.Event] = string(ev.Data)
	}
	if !strings.Contains(got[events.SessionStatusChanged], `"status":"QR_REQUIRED"`) ||
		!strings.Contains(got[events.QRCodeUpdated], `"qrCode":"2@live,qr=="`) {
		t.Fatalf("events from a worker's report: %v", got)
	}
}

// bareHub is a hub without Redis, for the stream's own behaviour.
type bareHub struct {
	hub     *realtime.Hub
	bus     *events.Bus
	metrics *metrics.Events
	srv     *httptest.Server
}

func newBareHub(t *testing.T, heartbeat, writeTimeout time.Duration, rdb ...redis.UniversalClient) bareHub {
	t.Helper()
	b := bareHub{bus: events.NewBus(), metrics: metrics.New().Events}
	cfg := realtime.Config{Bus: b.bus, Heartbeat: heartbeat, WriteTimeout: writeTimeout,
		RingSize: 4, Metrics: b.metrics, Logger: slog.New(slog.DiscardHandler)}
	if len(rdb) > 0 {
		cfg.Redis, cfg.Channel = rdb[0], "test:realtime:events"
	}
	b.hub = realtime.New(context.Background(), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.hub.Run(ctx) }()
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/sessions/"), "/events")
		if err := b.hub.ServeSessionEvents(w, r, session); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(func() { b.hub.Close(); b.srv.Close(); cancel(); <-done })
	return b
}

func (b bareHub) streams() float64 {
	var m dto.Metric
	_ = b.metrics.SSEClients.Write(&m)
	return m.GetGauge().GetValue()
}

func TestSSE_SendsHeartbeatComments(t *testing.T) {
	t.Parallel()
	b := newBareHub(t, 20*time.Millisecond, 0)
	s := openSSE(t, b.srv.URL, "x", "s1", "")
	s.Comment(t, 5*time.Second) // connected
	for range 2 {
		if c := s.Comment(t, 5*time.Second); c != "heartbeat" {
			t.Fatalf("comment %q, want heartbeat", c)
		}
	}
}

func TestSSE_RingKeepsTheLastEvents_AnUnknownIDReplaysByTime(t *testing.T) {
	t.Parallel()
	b := newBareHub(t, time.Hour, 0)
	bus, srv := b.bus, b.srv
	live := openSSE(t, srv.URL, "x", "s1", "")
	live.Comment(t, 5*time.Second)
	var ids []string
	for i := range 6 {
		bus.Publish(events.Event{Type: events.MessageStatusUpdated, SessionID: "s1", At: time.Now().Add(time.Duration(i) * time.Second),
			Payload: map[string]any{"n": i}})
		ids = append(ids, live.Next(t, 5*time.Second).ID)
	}
	// The ring holds 4: resuming from the 1st (gone) replays by time, the last 4.
	gone := openSSE(t, srv.URL, "x", "s1", ids[0])
	for _, want := range ids[2:] {
		if ev := gone.Next(t, 5*time.Second); ev.ID != want {
			t.Fatalf("replayed %s, want %s", ev.ID, want)
		}
	}
	// Resuming from the 4th replays the 5th and 6th only.
	kept := openSSE(t, srv.URL, "x", "s1", ids[3])
	for _, want := range ids[4:] {
		if ev := kept.Next(t, 5*time.Second); ev.ID != want {
			t.Fatalf("replayed %s, want %s", ev.ID, want)
		}
	}
	// Nonsense replays nothing: the next event is a live one.
	junk := openSSE(t, srv.URL, "x", "s1", "not-an-id")
	junk.Comment(t, 5*time.Second)
	bus.Publish(events.Event{Type: events.MessageStatusUpdated, SessionID: "s1", Payload: map[string]any{"n": "live"}})
	if ev := junk.Next(t, 5*time.Second); !strings.Contains(string(ev.Data), "live") {
		t.Fatalf("after an unknown ID: %+v", ev)
	}
}

func TestSSE_AClientThatStopsReading_IsLetGo(t *testing.T) {
	t.Parallel()
	b := newBareHub(t, time.Hour, 100*time.Millisecond)
	// The client never reads: the server's writes fill the socket buffers and the stream's
	// queue; the hub drops the stream rather than queue more, and the write deadline frees
	// the handler.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.URL+"/api/v1/sessions/s1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b.streams() != 1 {
		t.Fatalf("%v streams open, want 1", b.streams())
	}
	big := strings.Repeat("x", 8<<10)
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; b.streams() != 0; n++ {
		if time.Now().After(deadline) {
			t.Fatal("a client that never reads is still connected")
		}
		b.bus.Publish(events.Event{Type: events.MessageReceived, SessionID: "s1", Payload: map[string]any{"n": n, "pad": big}})
		runtime.Gosched() // lets the hub's pump keep up with the bus
	}
}

func TestHub_WithRedisDown_LocalClientsStillGetEventsAtOnce(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	b := newBareHub(t, time.Hour, 0, down)
	s := openSSE(t, b.srv.URL, "x", "s1", "")
	s.Comment(t, 5*time.Second)
	for i := range 50 {
		b.bus.Publish(events.Event{Type: events.MessageStatusUpdated, SessionID: "s1", Payload: map[string]any{"n": i}})
	}
	for i := range 50 {
		if ev := s.Next(t, 2*time.Second); !strings.Contains(string(ev.Data), fmt.Sprintf(`"n":%d`, i)) {
			t.Fatalf("event %d: %s", i, ev.Data)
		}
	}
}

func TestSSE_ARevokedTokenEndsTheStream(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: rtEnv(map[string]string{"REALTIME_AUTH_RECHECK_MS": "100"})})
	base, _ := g.Serve(t)
	u := rtNewUser(t, g, false)
	s := openSSE(t, base, u.Token, u.SessionID, "")
	if c := s.Comment(t, 5*time.Second); c != "connected" {
		t.Fatalf("first comment %q", c)
	}
	if res := g.Do(t, http.MethodPost, "/api/v1/auth/logout", nil, "Authorization", "Bearer "+u.Token); res.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", res.Code, res.Body)
	}
	ev := s.Next(t, 5*time.Second)
	var body map[string]any
	if ev.Event != "error" || json.Unmarshal(ev.Data, &body) != nil || body["type"] != "unauthorized" {
		t.Fatalf("after logout: event %q %s, want error of type unauthorized", ev.Event, ev.Data)
	}
	s.Ended(t, 5*time.Second) // then the server ends the stream
}
