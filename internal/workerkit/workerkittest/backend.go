// Package workerkittest provides a fake backend for tests of workers: an httptest server
// with the worker-facing backend routes of worker-protocol.md (register, heartbeat, events,
// recovery, sessions-preserved, unregister) that records what it received and can be told
// to misbehave. Like the real backend, it checks GET {endpoint}/health before it accepts a
// registration.
package workerkittest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/protocol"
)

// Request is one request the backend received, with the status it answered.
type Request struct {
	Method        string
	Path          string
	Authorization string
	Body          []byte
	Status        int
}

// Backend is the fake backend.
type Backend struct {
	// URL is the base URL to give the worker.
	URL         string
	sharedToken string
	srv         *httptest.Server
	client      *http.Client

	mu                sync.Mutex
	requests          []Request
	workerToken       string
	registerFailures  int
	registerStatus    int
	recoveryRequired  bool
	assigned          []protocol.AssignedSession
	heartbeatNotFound int
	sessionsToStop    []string
	eventsDown        bool
	eventsStatus      int
}

// NewBackend starts a fake backend that accepts sharedToken for registration; it stops when
// the test ends.
func NewBackend(t testing.TB, sharedToken string) *Backend {
	t.Helper()
	b := &Backend{sharedToken: sharedToken, client: &http.Client{Timeout: 2 * time.Second}}
	b.srv = httptest.NewServer(b.routes())
	b.URL = b.srv.URL
	t.Cleanup(b.srv.Close)
	return b
}

// SetWorkerToken makes registrations return token as the workerToken, which the other
// routes then require.
func (b *Backend) SetWorkerToken(token string) { b.with(func() { b.workerToken = token }) }

// FailRegistrations makes the next n registrations answer 503.
func (b *Backend) FailRegistrations(n int) { b.with(func() { b.registerFailures = n }) }

// RefuseRegistrations makes every registration answer status (0 restores).
func (b *Backend) RefuseRegistrations(status int) { b.with(func() { b.registerStatus = status }) }

// RequireRecovery makes registrations answer recoveryRequired with these sessions assigned.
func (b *Backend) RequireRecovery(sessions ...protocol.AssignedSession) {
	b.with(func() { b.recoveryRequired, b.assigned = len(sessions) > 0, sessions })
}

// ForgetWorker makes the next n heartbeats answer 404, as for a worker the backend does not know.
func (b *Backend) ForgetWorker(n int) { b.with(func() { b.heartbeatNotFound = n }) }

// StopSessions makes heartbeats answer these sessions in sessionsToStop.
func (b *Backend) StopSessions(ids ...string) { b.with(func() { b.sessionsToStop = ids }) }

// SetEventsDown makes the event routes answer 503 (true) or accept again (false).
func (b *Backend) SetEventsDown(down bool) { b.with(func() { b.eventsDown = down }) }

// RefuseEvents makes the event routes answer status, as the backend does for an unknown
// session (404) or one placed on another worker (409); 0 accepts again.
func (b *Backend) RefuseEvents(status int) { b.with(func() { b.eventsStatus = status }) }

func (b *Backend) with(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
}

// Requests returns the requests received on method and path ("" matches any), in order.
func (b *Backend) Requests(method, path string) []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Request
	for _, r := range b.requests {
		if (method == "" || r.Method == method) && (path == "" || r.Path == path) {
			out = append(out, r)
		}
	}
	return out
}

// Accepted returns the requests received on path that were answered with a 2xx, in order.
func (b *Backend) Accepted(path string) []Request {
	var out []Request
	for _, r := range b.Requests("", path) {
		if r.Status >= 200 && r.Status < 300 {
			out = append(out, r)
		}
	}
	return out
}

// SessionEvents returns the accepted session-status events, in order.
func (b *Backend) SessionEvents() []protocol.SessionEvent {
	return decodeAll[protocol.SessionEvent](b.Accepted("/api/v1/webhooks/session-status"))
}

// MessageStatuses returns the accepted message-status events, in order.
func (b *Backend) MessageStatuses() []protocol.MessageStatusEvent {
	return decodeAll[protocol.MessageStatusEvent](b.Accepted("/api/v1/webhooks/message-status"))
}

// IncomingMessages returns the accepted incoming messages, in order.
func (b *Backend) IncomingMessages() []protocol.IncomingMessage {
	return decodeAll[protocol.IncomingMessage](b.Accepted("/api/v1/webhooks/message"))
}

// Heartbeats returns the accepted heartbeats of workerID, in order.
func (b *Backend) Heartbeats(workerID string) []protocol.HeartbeatRequest {
	return decodeAll[protocol.HeartbeatRequest](b.Accepted("/api/v1/workers/" + workerID + "/heartbeat"))
}

func decodeAll[T any](reqs []Request) []T {
	out := make([]T, 0, len(reqs))
	for _, r := range reqs {
		var v T
		if json.Unmarshal(r.Body, &v) == nil {
			out = append(out, v)
		}
	}
	return out
}

// Eventually polls cond every few milliseconds until it holds, and fails the test when
// timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, fmt.Sprintf(format, args...))
		}
		<-tick.C
	}
}

func (b *Backend) routes() http.Handler {
	r := chi.NewRouter()
	r.Route("/api/v1", func(r chi.Router) {
		r.Post("/workers/register", b.register)
		r.Delete("/workers/unregister", b.accept(nil))
		r.Put("/workers/{id}/heartbeat", b.heartbeat)
		r.Get("/workers/{id}/sessions/assigned", b.assignedSessions)
		r.Post("/workers/{id}/sessions/recovery-status", b.accept(map[string]bool{"recorded": true}))
		r.Post("/workers/{id}/sessions-preserved", b.accept(map[string]bool{"recorded": true}))
		r.Post("/webhooks/session-status", b.event(map[string]bool{"applied": true}))
		r.Post("/webhooks/message-status", b.event(map[string]bool{"recorded": true}))
		r.Post("/webhooks/message", b.event(map[string]bool{"recorded": true}))
	})
	return r
}

// record reads the request and keeps it with the status the handler answers.
func (b *Backend) record(r *http.Request) (body []byte, done func(status int)) {
	body, _ = io.ReadAll(io.LimitReader(r.Body, 4<<20))
	return body, func(status int) {
		b.mu.Lock()
		b.requests = append(b.requests, Request{Method: r.Method, Path: r.URL.Path,
			Authorization: r.Header.Get("Authorization"), Body: body, Status: status})
		b.mu.Unlock()
	}
}

// authorized checks the bearer: the workerToken once one was issued, else the shared token.
func (b *Backend) authorized(r *http.Request) bool {
	b.mu.Lock()
	want := b.sharedToken
	if b.workerToken != "" {
		want = b.workerToken
	}
	b.mu.Unlock()
	return r.Header.Get("Authorization") == "Bearer "+want
}

func (b *Backend) register(w http.ResponseWriter, r *http.Request) {
	body, done := b.record(r)
	status := b.answerRegister(w, r, body)
	done(status)
}

func (b *Backend) answerRegister(w http.ResponseWriter, r *http.Request, body []byte) int {
	if r.Header.Get("Authorization") != "Bearer "+b.sharedToken {
		return fail(w, http.StatusUnauthorized, "Invalid worker token")
	}
	var req protocol.RegisterRequest
	if err := json.Unmarshal(body, &req); err != nil || req.WorkerID == "" {
		return fail(w, http.StatusBadRequest, "invalid registration")
	}
	b.mu.Lock()
	forced, failing := b.registerStatus, b.registerFailures > 0
	if failing {
		b.registerFailures--
	}
	token, recovery, assigned := b.workerToken, b.recoveryRequired, len(b.assigned)
	b.mu.Unlock()
	if forced != 0 {
		return fail(w, forced, "registration refused")
	}
	if failing {
		return fail(w, http.StatusServiceUnavailable, "backend unavailable")
	}
	if err := b.checkHealth(r.Context(), req.Endpoint); err != nil {
		return fail(w, http.StatusServiceUnavailable, "Worker is unreachable: "+err.Error())
	}
	maxSessions := 50
	if req.MaxSessions != nil {
		maxSessions = *req.MaxSessions
	}
	return ok(w, http.StatusCreated, protocol.RegisterResult{
		WorkerID: strings.ToLower(req.WorkerID), Endpoint: req.Endpoint, Status: "ONLINE", MaxSessions: maxSessions,
		Version: req.Version, Environment: "DEVELOPMENT", RegisteredAt: time.Now().UTC(),
		RecoveryRequired: recovery, AssignedSessionCount: assigned, WorkerToken: token,
	})
}

func (b *Backend) checkHealth(ctx context.Context, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("health answered %d", resp.StatusCode)
	}
	return nil
}

func (b *Backend) heartbeat(w http.ResponseWriter, r *http.Request) {
	_, done := b.record(r)
	done(b.answerHeartbeat(w, r))
}

func (b *Backend) answerHeartbeat(w http.ResponseWriter, r *http.Request) int {
	if !b.authorized(r) {
		return fail(w, http.StatusUnauthorized, "Invalid worker token")
	}
	b.mu.Lock()
	forget := b.heartbeatNotFound > 0
	if forget {
		b.heartbeatNotFound--
	}
	stop := append([]string{}, b.sessionsToStop...)
	b.mu.Unlock()
	if forget {
		return fail(w, http.StatusNotFound, "Worker not found")
	}
	return ok(w, http.StatusOK, protocol.HeartbeatResult{WorkerID: chi.URLParam(r, "id"), Status: "ONLINE",
		LastHeartbeat: time.Now().UTC(), SessionsToStop: stop})
}

func (b *Backend) assignedSessions(w http.ResponseWriter, r *http.Request) {
	_, done := b.record(r)
	if !b.authorized(r) {
		done(fail(w, http.StatusUnauthorized, "Invalid worker token"))
		return
	}
	b.mu.Lock()
	sessions := append([]protocol.AssignedSession{}, b.assigned...)
	b.mu.Unlock()
	done(ok(w, http.StatusOK, protocol.AssignedSessions{WorkerID: chi.URLParam(r, "id"), SessionCount: len(sessions),
		Sessions: sessions, RetrievedAt: time.Now().UTC()}))
}

func (b *Backend) accept(data any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, done := b.record(r)
		if !b.authorized(r) {
			done(fail(w, http.StatusUnauthorized, "Invalid worker token"))
			return
		}
		done(ok(w, http.StatusOK, data))
	}
}

func (b *Backend) event(data any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, done := b.record(r)
		b.mu.Lock()
		down, refused := b.eventsDown, b.eventsStatus
		b.mu.Unlock()
		switch {
		case down:
			done(fail(w, http.StatusServiceUnavailable, "backend unavailable"))
		case refused != 0:
			done(fail(w, refused, "event refused"))
		case !b.authorized(r):
			done(fail(w, http.StatusUnauthorized, "Invalid worker token"))
		default:
			done(ok(w, http.StatusOK, data))
		}
	}
}

func ok(w http.ResponseWriter, status int, data any) int {
	writeJSON(w, status, map[string]any{"success": true, "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "data": data})
	return status
}

func fail(w http.ResponseWriter, status int, message string) int {
	writeJSON(w, status, map[string]any{"success": false, "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"error": message, "message": message})
	return status
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
