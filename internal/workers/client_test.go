package workers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workers"
)

const clientTestToken = "shared-worker-token"

func newClientForTest() *workers.Client {
	return workers.NewClient(clientTestToken, metrics.New(), slog.New(slog.DiscardHandler))
}

// countingWorker is a fake worker that counts the requests reaching handler.
type countingWorker struct {
	*httptest.Server
	hits atomic.Int64
}

func newCountingWorker(t *testing.T, handler http.HandlerFunc) *countingWorker {
	t.Helper()
	w := &countingWorker{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		handler(rw, r)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *countingWorker) target(id string) workers.Target {
	return workers.Target{ID: id, Endpoint: w.URL}
}

// hangUp closes the connection without answering: the request reached the worker, which
// then vanished.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// closedPort returns an endpoint nothing listens on.
func closedPort(t *testing.T) string {
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

// wantKind checks that err is a *model.Error of kind whose message contains every part.
func wantKind(t *testing.T, err error, kind model.Kind, parts ...string) {
	t.Helper()
	var e *model.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *model.Error", err, err)
	}
	if e.Kind != kind {
		t.Fatalf("kind = %s, want %s (%v)", e.Kind, kind, err)
	}
	for _, p := range parts {
		if !strings.Contains(e.Message, p) {
			t.Fatalf("message %q does not mention %q", e.Message, p)
		}
	}
}

func TestClient_CallCarriesTheSharedTokenAndDecodesTheEnvelope(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+clientTestToken {
			answer(w, http.StatusUnauthorized, `{"success":false,"error":"bad token"}`)
			return
		}
		if r.Method != http.MethodGet || r.URL.EscapedPath() != "/api/sessions/shop%20one/status" {
			answer(w, http.StatusNotFound, `{"success":false,"error":"wrong path `+r.URL.EscapedPath()+`"}`)
			return
		}
		answer(w, http.StatusOK, `{"success":true,"data":{"sessionId":"shop one","status":"connected","phoneNumber":"+62811"}}`)
	})
	state, err := newClientForTest().SessionStatus(context.Background(), worker.target("w-ok"), "shop one")
	if err != nil {
		t.Fatal(err)
	}
	if state.Status != "connected" || state.PhoneNumber == nil || *state.PhoneNumber != "+62811" {
		t.Fatalf("state = %+v", state)
	}
}

func TestClient_Timeout_IsConnectivityErrorNamingTheTimeout(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newClientForTest().Send(ctx, worker.target("w-slow"), "s1", protocol.SendRequest{To: "62811", Type: protocol.SendText})
	wantKind(t, err, model.KindConnectivity, "timeout")
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("the call took %v, want it bounded by the caller's deadline", elapsed)
	}
	if got := worker.hits.Load(); got != 1 {
		t.Fatalf("a send that timed out reached the worker %d times, want 1 (never re-sent)", got)
	}
}

func TestClient_ConnectionRefused_IsConnectivityErrorNamingTheCause(t *testing.T) {
	t.Parallel()
	client := newClientForTest()
	endpoint := closedPort(t)

	t.Run("command", func(t *testing.T) {
		t.Parallel()
		_, err := client.StartSession(context.Background(), workers.Target{ID: "w-gone", Endpoint: endpoint},
			protocol.StartSessionRequest{SessionID: "s1"})
		wantKind(t, err, model.KindConnectivity, "connection refused")
	})
	t.Run("health", func(t *testing.T) {
		t.Parallel()
		_, err := client.Health(context.Background(), "", endpoint)
		wantKind(t, err, model.KindConnectivity, "connection refused")
	})
}

func TestClient_WorkerErrorAnswer_IsWorkerErrorWithTheWorkersMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"string error 404", http.StatusNotFound, `{"success":false,"error":"Session s1 not found"}`, "Session s1 not found"},
		{"object error 400", http.StatusBadRequest, `{"success":false,"error":{"code":"INVALID_PHONE","message":"Phone number is invalid"}}`, "Phone number is invalid"},
		{"object error 500", http.StatusInternalServerError, `{"success":false,"error":{"code":"BAILEYS_CRASHED","message":"Socket closed"}}`, "Socket closed"},
		{"message only 503", http.StatusServiceUnavailable, `{"success":false,"message":"Worker is shutting down"}`, "Worker is shutting down"},
		{"no JSON body", http.StatusBadGateway, `<html>bad gateway</html>`, "Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) { answer(w, tt.status, tt.body) })
			_, err := newClientForTest().SessionStatus(context.Background(), worker.target("w-err"), "s1")
			wantKind(t, err, model.KindWorker, tt.want)
			// The worker answered: its answer stands, even for a call that is safe to repeat.
			if got := worker.hits.Load(); got != 1 {
				t.Fatalf("a worker answer of %d was tried %d times, want 1", tt.status, got)
			}
		})
	}
}

func TestClient_LongWorkerMessage_IsTruncated(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 2000)
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusBadRequest, `{"success":false,"error":"`+long+`"}`)
	})
	_, err := newClientForTest().Pair(context.Background(), worker.target("w-long"), "s1", "62811")
	wantKind(t, err, model.KindWorker, "xxxx")
	var e *model.Error
	if errors.As(err, &e) && len(e.Message) > 600 {
		t.Fatalf("message of %d bytes passed on, want it truncated", len(e.Message))
	}
}

func TestClient_IdempotentCall_IsRetriedAfterTheConnectionDrops(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			hangUp(w)
			return
		}
		answer(w, http.StatusOK, `{"success":true,"data":{"sessionId":"s1","status":"qr_ready"}}`)
	})
	state, err := newClientForTest().SessionStatus(context.Background(), worker.target("w-flaky"), "s1")
	if err != nil {
		t.Fatalf("status after one dropped connection: %v", err)
	}
	if state.Status != "qr_ready" {
		t.Fatalf("status = %q, want qr_ready", state.Status)
	}
	if got := worker.hits.Load(); got != 2 {
		t.Fatalf("worker hit %d times, want 2 (one drop, one retry)", got)
	}
}

func TestClient_IdempotentCall_GivesUpAfterTwoRetries(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) { hangUp(w) })
	_, err := newClientForTest().Restart(context.Background(), worker.target("w-dropping"), "s1")
	wantKind(t, err, model.KindConnectivity)
	if got := worker.hits.Load(); got != 3 {
		t.Fatalf("worker hit %d times, want 3 (the call and at most two retries)", got)
	}
}

func TestClient_SendThatMayHaveReachedTheWorker_IsNotRetried(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) { hangUp(w) })
	_, err := newClientForTest().Send(context.Background(), worker.target("w-send"), "s1",
		protocol.SendRequest{To: "62811", Type: protocol.SendText, ClientMessageID: "m1"})
	wantKind(t, err, model.KindConnectivity)
	if got := worker.hits.Load(); got != 1 {
		t.Fatalf("a send whose connection dropped reached the worker %d times, want 1", got)
	}
}

// A recorded send hands the worker the very bytes it stored, the same as Send would encode.
func TestClient_SendEncoded_PostsThePayloadAsIs(t *testing.T) {
	t.Parallel()
	bodies := make(chan []byte, 2)
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.EscapedPath() != "/api/sessions/s%201/send" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("worker got %s %s (%s)", r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"))
		}
		bodies <- body
		answer(w, http.StatusOK, `{"success":true,"data":{"messageId":"wa-7","status":"sent","type":"text","to":"62811"}}`)
	})
	text := "hi"
	req := protocol.SendRequest{To: "62811", Type: protocol.SendText, Message: &text, ClientMessageID: "m-7"}
	payload, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	client := newClientForTest()
	res, err := client.SendEncoded(context.Background(), worker.target("w-enc"), "s 1", payload)
	if err != nil || res.MessageID != "wa-7" || res.Status != "sent" {
		t.Fatalf("SendEncoded = %+v, %v", res, err)
	}
	if _, err := client.Send(context.Background(), worker.target("w-enc"), "s 1", req); err != nil {
		t.Fatal(err)
	}
	encoded, sent := <-bodies, <-bodies
	if !bytes.Equal(encoded, payload) || !bytes.Equal(sent, payload) {
		t.Errorf("bodies: SendEncoded %s, Send %s, want both %s", encoded, sent, payload)
	}
}

func TestClient_InvalidJSONAnswer_IsWorkerError(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, `{"success":true,"data":{"sessionId":`)
	})
	_, err := newClientForTest().StartSession(context.Background(), worker.target("w-garbled"), protocol.StartSessionRequest{SessionID: "s1"})
	wantKind(t, err, model.KindWorker, "invalid JSON")
}

func TestClient_OversizedAnswer_IsWorkerError(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, `{"success":true,"data":{"sessionId":"`+strings.Repeat("x", 5<<20)+`"}}`)
	})
	_, err := newClientForTest().StartSession(context.Background(), worker.target("w-flood"), protocol.StartSessionRequest{SessionID: "s1"})
	wantKind(t, err, model.KindWorker, "more than")
}

// A caller that gives up mid-call gets its answer at once, while the worker is still busy.
func TestClient_CancelledMidCall_ReturnsAtOnce(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	reached := make(chan struct{}, 1)
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		<-release
		answer(w, http.StatusOK, `{"success":true,"data":{}}`)
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-reached
		cancel()
	}()
	_, err := newClientForTest().SessionStatus(ctx, worker.target("w-busy"), "s1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the caller's cancellation", err)
	}
}

func TestClient_BreakerOpensAfterFiveTransportFailuresAndHealthClosesIt(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	var apiHits atomic.Int64
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			answer(w, http.StatusOK, `{"status":"healthy","workerId":"w-breaker"}`)
			return
		}
		apiHits.Add(1)
		if failing.Load() {
			hangUp(w)
			return
		}
		answer(w, http.StatusOK, `{"success":true,"data":{"sessionId":"s1","status":"initializing"}}`)
	})
	client := newClientForTest()
	target := worker.target("w-breaker")
	start := func() error {
		_, err := client.StartSession(context.Background(), target, protocol.StartSessionRequest{SessionID: "s1"})
		return err
	}

	for i := range 5 {
		if err := start(); err == nil {
			t.Fatalf("call %d succeeded against a worker that hangs up", i+1)
		}
		if i < 4 && client.BreakerOpen(target.ID) {
			t.Fatalf("breaker open after %d failures, want it to wait for 5", i+1)
		}
	}
	if !client.BreakerOpen(target.ID) {
		t.Fatal("breaker still closed after 5 consecutive transport failures")
	}
	if got := apiHits.Load(); got != 5 {
		t.Fatalf("worker hit %d times by 5 calls, want 5", got)
	}

	// Open: calls fail fast without reaching the worker.
	failing.Store(false)
	for range 3 {
		wantKind(t, start(), model.KindConnectivity, "circuit")
	}
	if got := apiHits.Load(); got != 5 {
		t.Fatalf("worker hit %d times, want still 5 while the breaker is open", got)
	}
	// Another worker's breaker is its own.
	if _, err := client.StartSession(context.Background(), worker.target("w-other"), protocol.StartSessionRequest{SessionID: "s1"}); err != nil {
		t.Fatalf("another worker's call failed: %v", err)
	}

	// A successful health check closes it at once, without waiting for the breaker timeout.
	if _, err := client.Health(context.Background(), target.ID, worker.URL); err != nil {
		t.Fatal(err)
	}
	if client.BreakerOpen(target.ID) {
		t.Fatal("breaker still open after a successful health check")
	}
	if err := start(); err != nil {
		t.Fatalf("call after the health check: %v", err)
	}
	if got := apiHits.Load(); got != 7 {
		t.Fatalf("worker hit %d times, want 7 (5 failures, the other worker, the call after the health check)", got)
	}
}

// A wedged worker answers /health (its HTTP server is fine) while every command times out
// (its engine is stuck). Its health checks must not close the breaker, or every call would
// wait for the full timeout again and a busy gateway would pile up requests behind it.
func TestClient_TimeoutsKeepTheBreakerOpenDespiteHealthyHealthChecks(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var apiHits atomic.Int64
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			answer(w, http.StatusOK, `{"status":"healthy","workerId":"w-wedged"}`)
			return
		}
		apiHits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the caller hanging up
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before the worker's Close, which waits for handlers
	client := newClientForTest()
	target := worker.target("w-wedged")
	start := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := client.StartSession(ctx, target, protocol.StartSessionRequest{SessionID: "s1"})
		return err
	}
	for i := range 5 {
		if err := start(); err == nil {
			t.Fatalf("call %d succeeded against a hung worker", i+1)
		}
	}
	if !client.BreakerOpen(target.ID) {
		t.Fatal("breaker still closed after 5 timeouts")
	}
	for range 3 {
		if _, err := client.CheckHealth(context.Background(), target.ID, worker.URL); err != nil {
			t.Fatalf("health check: %v", err)
		}
		if !client.BreakerOpen(target.ID) {
			t.Fatal("a good health check closed the breaker of a worker whose commands time out")
		}
		wantKind(t, start(), model.KindConnectivity, "circuit")
	}
	if got := apiHits.Load(); got != 5 {
		t.Fatalf("worker hit %d times, want 5: the open breaker must keep calls away", got)
	}
	// Forgetting the worker (it left) drops what was known of it.
	client.Forget(target.ID)
	if client.BreakerOpen(target.ID) {
		t.Fatal("breaker open after Forget")
	}
}

func TestClient_WorkerErrorsDoNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusInternalServerError, `{"success":false,"error":"Baileys socket crashed"}`)
	})
	client := newClientForTest()
	for range 8 {
		_, err := client.StartSession(context.Background(), worker.target("w-500"), protocol.StartSessionRequest{SessionID: "s1"})
		wantKind(t, err, model.KindWorker, "Baileys socket crashed")
	}
	if client.BreakerOpen("w-500") {
		t.Fatal("breaker opened for a worker that answers (with errors)")
	}
	if got := worker.hits.Load(); got != 8 {
		t.Fatalf("worker hit %d times, want 8", got)
	}
}

func TestClient_CallerCancellationDoesNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, `{"success":true,"data":{"sessionId":"s1","status":"connected"}}`)
	})
	client := newClientForTest()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for range 7 {
		if _, err := client.StartSession(cancelled, worker.target("w-cancel"), protocol.StartSessionRequest{SessionID: "s1"}); err == nil {
			t.Fatal("a cancelled call succeeded")
		}
	}
	if client.BreakerOpen("w-cancel") {
		t.Fatal("the caller's own cancellations opened the worker's breaker")
	}
	if _, err := client.StartSession(context.Background(), worker.target("w-cancel"), protocol.StartSessionRequest{SessionID: "s1"}); err != nil {
		t.Fatal(err)
	}
}

func TestClient_HealthReadsTheAnswerLeniently(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  model.Kind
		workerID string
	}{
		{"full answer", http.StatusOK, `{"status":"healthy","workerId":"w9","uptime":12.5,"sessions":{"total":3,"maxSessions":50},"version":"1.2.3"}`, "", "w9"},
		{"body that is not JSON still counts", http.StatusOK, `OK`, "", ""},
		{"empty body still counts", http.StatusNoContent, ``, "", ""},
		{"500 is a worker error", http.StatusInternalServerError, `{"error":"sick"}`, model.KindWorker, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/health" {
					answer(w, http.StatusNotFound, `{}`)
					return
				}
				answer(w, tt.status, tt.body)
			})
			h, err := newClientForTest().Health(context.Background(), "", worker.URL+"/")
			if tt.wantErr != "" {
				wantKind(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.WorkerID != tt.workerID {
				t.Fatalf("workerId = %q, want %q", h.WorkerID, tt.workerID)
			}
		})
	}
}

func TestClient_EveryCallUsesItsMethodPathAndBody(t *testing.T) {
	t.Parallel()
	type seen struct{ method, path, body string }
	requests := make(chan seen, 1)
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		requests <- seen{r.Method, r.URL.EscapedPath(), string(body)}
		answer(w, http.StatusOK, `{"success":true,"data":{"sessionId":"s 1","status":"connected","qrCode":"2@qr",
			"pairingCode":"ABCD-1234","messageId":"3EB0","action":"star","success":true,"phone":"62811","exists":true}}`)
	})
	client := newClientForTest()
	target := worker.target("w-calls")
	ctx := context.Background()
	tests := []struct {
		name       string
		call       func() error
		method     string
		path       string
		bodyHasAll []string
	}{
		{"start", func() error {
			_, err := client.StartSession(ctx, target, protocol.StartSessionRequest{SessionID: "s 1", UserID: "u1", SessionName: "Shop"})
			return err
		}, http.MethodPost, "/api/sessions/start", []string{`"sessionId":"s 1"`, `"userId":"u1"`, `"sessionName":"Shop"`}},
		{"status", func() error { _, err := client.SessionStatus(ctx, target, "s 1"); return err },
			http.MethodGet, "/api/sessions/s%201/status", nil},
		{"qr", func() error {
			res, err := client.QR(ctx, target, "s 1")
			if err == nil && res.QRCode != "2@qr" {
				err = errors.New("qrCode not decoded")
			}
			return err
		}, http.MethodGet, "/api/sessions/s%201/qr", nil},
		{"pair", func() error {
			res, err := client.Pair(ctx, target, "s 1", "62811")
			if err == nil && res.PairingCode != "ABCD-1234" {
				err = errors.New("pairingCode not decoded")
			}
			return err
		}, http.MethodPost, "/api/sessions/s%201/pair", []string{`"phoneNumber":"62811"`}},
		{"restart", func() error { _, err := client.Restart(ctx, target, "s 1"); return err },
			http.MethodPost, "/api/sessions/s%201/restart", nil},
		{"disconnect", func() error { _, err := client.Disconnect(ctx, target, "s 1"); return err },
			http.MethodPost, "/api/sessions/s%201/disconnect", nil},
		{"logout", func() error { _, err := client.Logout(ctx, target, "s 1"); return err },
			http.MethodPost, "/api/sessions/s%201/logout", nil},
		{"delete", func() error { return client.DeleteSession(ctx, target, "s 1") },
			http.MethodDelete, "/api/sessions/s%201", nil},
		{"send", func() error {
			text := "hello"
			res, err := client.Send(ctx, target, "s 1", protocol.SendRequest{To: "62811", Type: protocol.SendText, Message: &text, ClientMessageID: "m-1"})
			if err == nil && res.MessageID != "3EB0" {
				err = errors.New("messageId not decoded")
			}
			return err
		}, http.MethodPost, "/api/sessions/s%201/send", []string{`"to":"62811"`, `"type":"text"`, `"message":"hello"`, `"clientMessageId":"m-1"`}},
		{"manage", func() error {
			_, err := client.Manage(ctx, target, "s 1", protocol.ManageRequest{Action: protocol.ActionStar, MessageID: "3EB0", Phone: "62811"})
			return err
		}, http.MethodPost, "/api/message/s%201/manage", []string{`"action":"star"`, `"messageId":"3EB0"`, `"phone":"62811"`}},
		{"check number", func() error {
			res, err := client.CheckNumber(ctx, target, "s 1", "62811")
			if err == nil && !res.Exists {
				err = errors.New("exists not decoded")
			}
			return err
		}, http.MethodPost, "/api/sessions/s%201/check-number", []string{`"phone":"62811"`}},
	}
	for _, tt := range tests {
		if err := tt.call(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := <-requests
		if got.method != tt.method || got.path != tt.path {
			t.Errorf("%s: %s %s, want %s %s", tt.name, got.method, got.path, tt.method, tt.path)
		}
		for _, part := range tt.bodyHasAll {
			if !strings.Contains(got.body, part) {
				t.Errorf("%s: body %s lacks %s", tt.name, got.body, part)
			}
		}
		if tt.bodyHasAll == nil && got.body != "" {
			t.Errorf("%s: sent a body %q, want none", tt.name, got.body)
		}
	}
}

func TestClient_RedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	elsewhere := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, `{"success":true,"data":{}}`)
	})
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	})
	_, err := newClientForTest().SessionStatus(context.Background(), worker.target("w-redirect"), "s1")
	wantKind(t, err, model.KindWorker)
	if got := elsewhere.hits.Load(); got != 0 {
		t.Fatalf("the redirect was followed %d times; the worker token must not travel elsewhere", got)
	}
}

func TestClient_CheckHealthIsNotRetried(t *testing.T) {
	t.Parallel()
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) { hangUp(w) })
	client := newClientForTest()
	_, err := client.CheckHealth(context.Background(), "w-checked", worker.URL)
	wantKind(t, err, model.KindConnectivity)
	if got := worker.hits.Load(); got != 1 {
		t.Fatalf("CheckHealth reached the worker %d times, want 1", got)
	}
}

func TestClient_ForgetDropsTheBreaker(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			hangUp(w)
			return
		}
		answer(w, http.StatusOK, `{"success":true,"data":{}}`)
	})
	client := newClientForTest()
	for range 5 {
		_, _ = client.StartSession(context.Background(), worker.target("w-forgotten"), protocol.StartSessionRequest{SessionID: "s1"})
	}
	if !client.BreakerOpen("w-forgotten") {
		t.Fatal("breaker not open after 5 failures")
	}
	failing.Store(false)
	client.Forget("w-forgotten")
	if _, err := client.StartSession(context.Background(), worker.target("w-forgotten"), protocol.StartSessionRequest{SessionID: "s1"}); err != nil {
		t.Fatalf("after Forget: %v, want a fresh breaker", err)
	}
}

func TestClient_WorkerPacing429_IsRateLimitedWithTheWorkersRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"none", "", 2 * time.Second},
		{"not a number", "soon", 2 * time.Second},
		{"absurd", "999999", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			worker := newCountingWorker(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				answer(w, http.StatusTooManyRequests, `{"success":false,"error":{"code":"RATE_LIMITED","message":"Too many messages to 6281234567890"}}`)
			})
			client := newClientForTest()
			for range 6 {
				_, err := client.Send(context.Background(), worker.target("w-429"), "s1", protocol.SendRequest{Type: "text", To: "6281234567890"})
				wantKind(t, err, model.KindRateLimited, "pacing", "Too many messages to 6281234567890")
				var e *model.Error
				if errors.As(err, &e); e.RetryAfter != tt.want {
					t.Fatalf("RetryAfter = %v, want %v", e.RetryAfter, tt.want)
				}
			}
			// A worker that paces is up: its 429s never open the breaker, and a send is not repeated.
			if client.BreakerOpen("w-429") || worker.hits.Load() != 6 {
				t.Fatalf("breaker open = %v after 6 answers of 429; worker hit %d times, want 6", client.BreakerOpen("w-429"), worker.hits.Load())
			}
		})
	}
}
