package httpapi_test

// Tests of the worker protocol's worker → backend routes (registration, credentials,
// heartbeats, recovery, unregistration). Helpers shared with worker_events_test.go and
// worker_admin_test.go start with wrk so that they cannot collide with other test files.

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/testenv"
)

const wrkPassword = "Sup3r-Secret!"

// wrkGateway is a gateway whose auth guessing limit is out of the way.
func wrkGateway(t *testing.T, env map[string]string) *testenv.Gateway {
	t.Helper()
	merged := map[string]string{"AUTH_RATE_LIMIT_PER_MINUTE": "100000"}
	maps.Copy(merged, env)
	return testenv.NewGateway(t, testenv.Options{Env: merged})
}

func wrkBearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func wrkShared(g *testenv.Gateway) []string { return wrkBearer(g.Config.WorkerAuthToken) }

// wrkFakeWorker is a worker process: GET .../health answers 200; hits counts every request.
type wrkFakeWorker struct {
	*httptest.Server
	hits atomic.Int64
}

func newWrkFakeWorker(t *testing.T) *wrkFakeWorker {
	t.Helper()
	w := &wrkFakeWorker{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		rw.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/health") {
			rw.WriteHeader(http.StatusNotFound)
			_, _ = rw.Write([]byte(`{"success":false,"error":"no such route"}`))
			return
		}
		_, _ = rw.Write([]byte(`{"status":"healthy","workerId":"someone-else","uptime":12,"sessions":{"total":0,"maxSessions":50},"version":"1.0.0"}`))
	}))
	t.Cleanup(w.Close)
	return w
}

// wrkClosedEndpoint is an endpoint where nothing listens (connection refused).
func wrkClosedEndpoint(t *testing.T) string {
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

// wrkData checks a success envelope of status and returns its data object.
func wrkData(t *testing.T, res testenv.Response, status int) map[string]any {
	t.Helper()
	if res.Code != status {
		t.Fatalf("status = %d, want %d; body %s", res.Code, status, res.Body)
	}
	body := res.JSON(t)
	if body["success"] != true {
		t.Fatalf("success = %v; body %s", body["success"], res.Body)
	}
	data, ok := body["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is not an object: %s", res.Body)
	}
	return data
}

// wrkWantError checks an error envelope of status and type and returns it.
func wrkWantError(t *testing.T, res testenv.Response, status int, typ string) map[string]any {
	t.Helper()
	if res.Code != status {
		t.Fatalf("status = %d, want %d; body %s", res.Code, status, res.Body)
	}
	body := res.JSON(t)
	if body["success"] != false || body["type"] != typ {
		t.Fatalf("success %v type %v, want false and %s; body %s", body["success"], body["type"], typ, res.Body)
	}
	if msg, _ := body["message"].(string); msg == "" || body["error"] != msg {
		t.Fatalf("error and message must be the same non-empty text: %s", res.Body)
	}
	return body
}

// wrkFields lists the fields of an error's details, sorted.
func wrkFields(body map[string]any) []string {
	var fields []string
	details, _ := body["details"].([]any)
	for _, d := range details {
		if m, ok := d.(map[string]any); ok {
			f, _ := m["field"].(string)
			fields = append(fields, f)
		}
	}
	slices.Sort(fields)
	return fields
}

func wrkExec(t *testing.T, g *testenv.Gateway, sql string, args ...any) {
	t.Helper()
	if _, err := g.DB.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func wrkCount(t *testing.T, g *testenv.Gateway, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := g.DB.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return n
}

// wrkRegister registers a worker with the shared token and returns the answer's data.
func wrkRegister(t *testing.T, g *testenv.Gateway, workerID, endpoint string) map[string]any {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
		map[string]any{"workerId": workerID, "endpoint": endpoint}, wrkShared(g)...)
	return wrkData(t, res, http.StatusCreated)
}

// wrkInsertWorker inserts a worker row directly (no reachability check).
func wrkInsertWorker(t *testing.T, g *testenv.Gateway, id, status string, maxSessions int) {
	t.Helper()
	wrkExec(t, g, `INSERT INTO workers (id, endpoint, status, max_sessions, last_heartbeat) VALUES ($1, $2, $3, $4, now())`,
		id, "http://"+id+".invalid:8001", status, maxSessions)
}

var wrkUserSeq atomic.Int64

// wrkUser inserts a user and returns its ID.
func wrkUser(t *testing.T, g *testenv.Gateway) string {
	t.Helper()
	var id string
	email := fmt.Sprintf("owner-%d@example.com", wrkUserSeq.Add(1))
	if err := g.DB.QueryRow(context.Background(), `INSERT INTO users (name, email, password_hash, tier) VALUES ('Owner', $1, 'x', 'PRO')
		RETURNING id::text`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// wrkSession inserts a session of userID placed on workerID ("" for none) in status.
func wrkSession(t *testing.T, g *testenv.Gateway, userID, id, workerID, status string) {
	t.Helper()
	var worker *string
	if workerID != "" {
		worker = &workerID
	}
	wrkExec(t, g, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ($1, $2, $3, $4, $5)`,
		id, userID, "Session "+id, worker, status)
}

// wrkSessionRow is a session as stored.
type wrkSessionRow struct {
	Status         string
	WorkerID       *string
	QRCode         *string
	Phone          *string
	DisplayName    *string
	LastSeenAt     *time.Time
	LastEventAt    *time.Time
	PreservedUntil *time.Time
	Reason         *string
}

func wrkSessionOf(t *testing.T, g *testenv.Gateway, id string) wrkSessionRow {
	t.Helper()
	var r wrkSessionRow
	if err := g.DB.QueryRow(context.Background(), `SELECT status::text, worker_id, qr_code, phone_number, display_name,
		last_seen_at, last_event_at, preserved_until, status_reason FROM sessions WHERE id = $1`, id).
		Scan(&r.Status, &r.WorkerID, &r.QRCode, &r.Phone, &r.DisplayName, &r.LastSeenAt, &r.LastEventAt, &r.PreservedUntil, &r.Reason); err != nil {
		t.Fatalf("load session %s: %v", id, err)
	}
	return r
}

func wrkWorkerStatus(t *testing.T, g *testenv.Gateway, id string) string {
	t.Helper()
	var status string
	if err := g.DB.QueryRow(context.Background(), `SELECT status::text FROM workers WHERE id = $1`, id).Scan(&status); err != nil {
		t.Fatalf("load worker %s: %v", id, err)
	}
	return status
}

// wrkEventually polls cond until it holds or within passes.
func wrkEventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wrkNextEvent returns the next event of typ for sessionID published on ch; the handler
// publishes before it answers, so the event is already there or never comes.
func wrkNextEvent(t *testing.T, ch <-chan events.Event, typ, sessionID string) events.Event {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.Type == typ && e.SessionID == sessionID {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event for %s", typ, sessionID)
		}
	}
}

// wrkNoEvent checks that no event of typ for sessionID is queued on ch.
func wrkNoEvent(t *testing.T, ch <-chan events.Event, typ, sessionID string) {
	t.Helper()
	for {
		select {
		case e := <-ch:
			if e.Type == typ && e.SessionID == sessionID {
				t.Fatalf("unexpected %s event for %s: %+v", typ, sessionID, e.Payload)
			}
		default:
			return
		}
	}
}

func wrkHeartbeat(t *testing.T, g *testenv.Gateway, workerID string, body any) map[string]any {
	t.Helper()
	res := g.Do(t, http.MethodPut, "/api/v1/workers/"+workerID+"/heartbeat", body, wrkShared(g)...)
	return wrkData(t, res, http.StatusOK)
}

func wrkStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	slices.Sort(out)
	return out
}

// wrkCase is one behaviour, checked on a gateway shared with the other cases of its suite:
// a fresh database costs more than the checks themselves. Each case uses worker and session
// IDs of its own, so that the cases may run in parallel.
type wrkCase struct {
	name string
	run  func(t *testing.T, g *testenv.Gateway)
}

func wrkRunSuite(t *testing.T, g *testenv.Gateway, cases []wrkCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, g)
		})
	}
}

// --- Registration ---------------------------------------------------------------------------

func TestRegisterWorker(t *testing.T) {
	t.Parallel()
	wrkRunSuite(t, wrkGateway(t, nil), []wrkCase{
		{"NewWorker_Returns201WithTheNormalisedIDDefaultsAndAToken", wrkRegisterNewWorker},
		{"IDIsNormalisedOnTheWire", wrkRegisterNormalisesIDs},
		{"InvalidOrReservedIDs_Return400", wrkRegisterInvalidIDs},
		{"BadFields_Return400ListingEveryOneAtOnce", wrkRegisterBadFields},
		{"UnreachableEndpoint_Returns503NamingTheCause", wrkRegisterUnreachable},
		{"Again_Returns201OnlineWithANewTokenAndRetiresTheOld", wrkRegisterAgain},
		{"SameEndpointUnderAnotherID_Returns409", wrkRegisterSameEndpoint},
		{"SameIDAtAnotherEndpoint_409WhileTheOldAnswers201WhenItIsDead", wrkRegisterMoved},
		{"SessionsStillPlaced_RecoveryRequired", wrkRegisterRecoveryRequired},
	})
}

func wrkRegisterNewWorker(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
		map[string]any{"workerId": "Worker_01", "endpoint": worker.URL + "/", "description": "WhatsApp Worker Instance",
			"version": "1.0.0", "unknownField": true}, wrkShared(g)...)
	data := wrkData(t, res, http.StatusCreated)

	want := map[string]any{"workerId": "worker-01", "endpoint": worker.URL, "status": "ONLINE", "maxSessions": float64(50),
		"environment": "DEVELOPMENT", "version": "1.0.0", "recoveryRequired": false, "assignedSessionCount": float64(0)}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("data.%s = %v, want %v", k, data[k], v)
		}
	}
	token, _ := data["workerToken"].(string)
	if !strings.HasPrefix(token, "wkt_") || len(token) < 24 {
		t.Errorf("workerToken = %q, want a wkt_ token", token)
	}
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(data["registeredAt"])); err != nil {
		t.Errorf("registeredAt = %v: %v", data["registeredAt"], err)
	}
	if worker.hits.Load() == 0 {
		t.Error("the worker's /health was never asked")
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id = 'worker-01' AND status = 'ONLINE' AND token_hash IS NOT NULL
		AND token_hash <> $1`, token); n != 1 {
		t.Errorf("worker row not stored ONLINE with a hashed token")
	}
}

func wrkRegisterNormalisesIDs(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	tests := []struct{ in, want string }{
		{"Node_01", "node-01"},
		{"  My Worker  ", "my-worker"},
		{"a--b__c", "a-b-c"},
		{"--xyz--", "xyz"},
		{"ÄÖ-node-7", "node-7"},
		{"Shop.Worker#2", "shopworker2"},
	}
	for i, tt := range tests {
		// Distinct endpoints on one fake worker: an endpoint belongs to one worker.
		data := wrkRegister(t, g, tt.in, fmt.Sprintf("%s/w%d", worker.URL, i))
		if data["workerId"] != tt.want {
			t.Errorf("register %q: workerId = %v, want %s", tt.in, data["workerId"], tt.want)
		}
	}
}

func wrkRegisterInvalidIDs(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	reserved := []string{"register", "unregister", "statistics", "available", "test", "health", "health-check"}
	ids := append([]string{"ÄÖ", "___", "!!!", "", "--x--", "ab", strings.Repeat("w", 51), "Health_Check", " REGISTER "}, reserved...)
	for _, id := range ids {
		res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
			map[string]any{"workerId": id, "endpoint": worker.URL}, wrkShared(g)...)
		body := wrkWantError(t, res, http.StatusBadRequest, "validation_error")
		if got := wrkFields(body); !slices.Equal(got, []string{"workerId"}) {
			t.Errorf("register %q: fields %v, want [workerId]", id, got)
		}
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id = ANY($1) OR endpoint = $2`, reserved, worker.URL); n != 0 {
		t.Fatalf("%d workers registered under invalid IDs", n)
	}
}

func wrkRegisterBadFields(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	tests := []struct {
		name string
		body map[string]any
		want []string
	}{
		{"all at once", map[string]any{"workerId": "worker-fields", "endpoint": "not a url", "maxSessions": 0,
			"version": "1.0", "environment": "PROD"}, []string{"endpoint", "environment", "maxSessions", "version"}},
		{"maxSessions 1001", map[string]any{"workerId": "worker-fields", "endpoint": worker.URL, "maxSessions": 1001}, []string{"maxSessions"}},
		{"maxSessions 0", map[string]any{"workerId": "worker-fields", "endpoint": worker.URL, "maxSessions": 0}, []string{"maxSessions"}},
		{"ftp endpoint", map[string]any{"workerId": "worker-fields", "endpoint": "ftp://10.0.0.5:21"}, []string{"endpoint"}},
		{"no endpoint", map[string]any{"workerId": "worker-fields"}, []string{"endpoint"}},
		{"version 1.0", map[string]any{"workerId": "worker-fields", "endpoint": worker.URL, "version": "1.0"}, []string{"version"}},
		{"environment PROD", map[string]any{"workerId": "worker-fields", "endpoint": worker.URL, "environment": "PROD"}, []string{"environment"}},
		{"maxSessions of the wrong type", map[string]any{"workerId": "worker-fields", "endpoint": worker.URL, "maxSessions": "fifty"}, []string{"maxSessions"}},
	}
	for _, tt := range tests {
		res := g.Do(t, http.MethodPost, "/api/v1/workers/register", tt.body, wrkShared(g)...)
		body := wrkWantError(t, res, http.StatusBadRequest, "validation_error")
		if got := wrkFields(body); !slices.Equal(got, tt.want) {
			t.Errorf("%s: fields %v, want %v", tt.name, got, tt.want)
		}
	}
	// The boundaries and other spellings are accepted.
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/register", map[string]any{"workerId": "worker-fields",
		"endpoint": worker.URL, "maxSessions": 1000, "version": "2.10.3", "environment": "production"}, wrkShared(g)...), http.StatusCreated)
	if data["maxSessions"] != float64(1000) || data["environment"] != "PRODUCTION" {
		t.Fatalf("data = %v", data)
	}
}

func wrkRegisterUnreachable(t *testing.T, g *testenv.Gateway) {
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
			map[string]any{"workerId": "worker-refused", "endpoint": wrkClosedEndpoint(t)}, wrkShared(g)...)
		body := wrkWantError(t, res, http.StatusServiceUnavailable, "connectivity_error")
		if msg := body["message"].(string); !strings.Contains(msg, "connection refused") {
			t.Fatalf("message %q does not name the cause", msg)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		// Connections complete in the kernel's backlog, but nothing ever answers.
		var lc net.ListenConfig
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		start := time.Now()
		res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
			map[string]any{"workerId": "worker-silent", "endpoint": "http://" + ln.Addr().String()}, wrkShared(g)...)
		body := wrkWantError(t, res, http.StatusServiceUnavailable, "connectivity_error")
		if msg := body["message"].(string); !strings.Contains(msg, "timeout") {
			t.Fatalf("message %q does not name the timeout", msg)
		}
		if elapsed := time.Since(start); elapsed > 8*time.Second {
			t.Fatalf("registration took %v, want the 5 s health timeout", elapsed)
		}
	})
	t.Run("health answers 500", func(t *testing.T) {
		t.Parallel()
		sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"status":"unhealthy","error":"baileys store corrupt"}`))
		}))
		t.Cleanup(sick.Close)
		res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
			map[string]any{"workerId": "worker-sick", "endpoint": sick.URL}, wrkShared(g)...)
		wrkWantError(t, res, http.StatusServiceUnavailable, "connectivity_error")
	})
	t.Cleanup(func() {
		if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id IN ('worker-refused', 'worker-silent', 'worker-sick')`); n != 0 {
			t.Errorf("%d unreachable workers were registered", n)
		}
	})
}

func wrkRegisterAgain(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	first := wrkRegister(t, g, "worker-again", worker.URL)
	oldToken := first["workerToken"].(string)
	wrkExec(t, g, `UPDATE workers SET status = 'OFFLINE' WHERE id = 'worker-again'`)

	second := wrkRegister(t, g, "Worker_Again", worker.URL)
	newToken := second["workerToken"].(string)
	if second["status"] != "ONLINE" || wrkWorkerStatus(t, g, "worker-again") != "ONLINE" {
		t.Fatalf("re-registration left the worker %v", second["status"])
	}
	if newToken == oldToken || !strings.HasPrefix(newToken, "wkt_") {
		t.Fatalf("token not rotated: %q then %q", oldToken, newToken)
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE endpoint = $1`, worker.URL); n != 1 {
		t.Fatalf("%d workers after re-registering, want 1", n)
	}
	wrkData(t, g.Do(t, http.MethodPut, "/api/v1/workers/worker-again/heartbeat", map[string]any{}, wrkBearer(newToken)...), http.StatusOK)
	wrkEventually(t, 3*time.Second, "the rotated-out token is refused", func() bool {
		res := g.Do(t, http.MethodPut, "/api/v1/workers/worker-again/heartbeat", map[string]any{}, wrkBearer(oldToken)...)
		return res.Code == http.StatusUnauthorized
	})
	wrkData(t, g.Do(t, http.MethodPut, "/api/v1/workers/worker-again/heartbeat", map[string]any{}, wrkBearer(newToken)...), http.StatusOK)
}

func wrkRegisterSameEndpoint(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	wrkRegister(t, g, "worker-first", worker.URL)
	res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
		map[string]any{"workerId": "worker-second", "endpoint": worker.URL + "/"}, wrkShared(g)...)
	wrkWantError(t, res, http.StatusConflict, "conflict")
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id = 'worker-second'`); n != 0 {
		t.Fatal("the second worker was registered")
	}
}

func wrkRegisterMoved(t *testing.T, g *testenv.Gateway) {
	oldWorker := newWrkFakeWorker(t)
	newWorker := newWrkFakeWorker(t)
	wrkRegister(t, g, "worker-moving", oldWorker.URL)

	res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
		map[string]any{"workerId": "worker-moving", "endpoint": newWorker.URL}, wrkShared(g)...)
	wrkWantError(t, res, http.StatusConflict, "conflict")
	var endpoint string
	if err := g.DB.QueryRow(context.Background(), `SELECT endpoint FROM workers WHERE id = 'worker-moving'`).Scan(&endpoint); err != nil || endpoint != oldWorker.URL {
		t.Fatalf("endpoint = %q (%v), want the old one kept", endpoint, err)
	}

	oldWorker.Close()
	data := wrkRegister(t, g, "worker-moving", newWorker.URL)
	if data["endpoint"] != newWorker.URL || data["status"] != "ONLINE" {
		t.Fatalf("data = %v, want the new endpoint", data)
	}
}

func wrkRegisterRecoveryRequired(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	wrkRegister(t, g, "worker-restarted", worker.URL)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "restart-connected", "worker-restarted", "CONNECTED")
	wrkSession(t, g, user, "restart-qr", "worker-restarted", "QR_REQUIRED")
	wrkSession(t, g, user, "restart-unplaced", "", "DISCONNECTED")

	data := wrkRegister(t, g, "worker-restarted", worker.URL)
	if data["recoveryRequired"] != true || data["assignedSessionCount"] != float64(2) {
		t.Fatalf("recoveryRequired %v, assignedSessionCount %v; want true and 2", data["recoveryRequired"], data["assignedSessionCount"])
	}
}

// --- Credentials ----------------------------------------------------------------------------

type wrkRoute struct {
	method, path string
	body         any
}

// wrkWorkerRoutes are every route a worker calls, each with a body it accepts, for a worker
// and a session placed on it. Unregister comes last.
func wrkWorkerRoutes(workerID, sessionID string) []wrkRoute {
	return []wrkRoute{
		{http.MethodPost, "/api/v1/workers/register", map[string]any{"workerId": workerID, "endpoint": "http://127.0.0.1:1"}},
		{http.MethodPut, "/api/v1/workers/" + workerID + "/heartbeat", map[string]any{}},
		{http.MethodGet, "/api/v1/workers/" + workerID + "/sessions/assigned", nil},
		{http.MethodPost, "/api/v1/workers/" + workerID + "/sessions/recovery-status", map[string]any{"recoveryResults": []any{}}},
		{http.MethodPost, "/api/v1/workers/" + workerID + "/sessions-preserved", map[string]any{"preservedSessions": []any{}}},
		{http.MethodPost, "/api/v1/webhooks/session-status", map[string]any{"sessionId": sessionID, "status": "CONNECTED"}},
		{http.MethodPost, "/api/v1/webhooks/worker-heartbeat", map[string]any{"workerId": workerID, "status": "ONLINE"}},
		{http.MethodDelete, "/api/v1/workers/unregister", map[string]any{"workerId": workerID}},
	}
}

func TestWorkerCredentials(t *testing.T) {
	t.Parallel()
	wrkRunSuite(t, wrkGateway(t, map[string]string{"SESSION_FAILOVER": "false"}), []wrkCase{
		{"NoOrWrongToken_Returns401", wrkCredentialsRefused},
		{"SharedToken_WorksEverywhere", wrkCredentialsShared},
		{"OwnToken_WorksForItsOwnWorkerAndIs403ForAnother", wrkCredentialsOwn},
		{"OwnToken_UnregistersItsOwnWorker", wrkCredentialsOwnUnregister},
		{"OwnToken_SessionEventForAnotherWorkersSession_Returns409", wrkCredentialsOwnSessionEvent},
	})
}

func wrkCredentialsRefused(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-auth", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "sess-auth", "worker-auth", "INIT")
	credentials := map[string][]string{
		"no header":          nil,
		"wrong token":        wrkBearer("not-the-token"),
		"unknown own token":  wrkBearer("wkt_" + strings.Repeat("a", 43)),
		"shared token+1":     wrkBearer(g.Config.WorkerAuthToken + "x"),
		"basic scheme":       {"Authorization", "Basic " + g.Config.WorkerAuthToken},
		"token in X-API-Key": {"X-API-Key", g.Config.WorkerAuthToken},
	}
	for _, route := range wrkWorkerRoutes("worker-auth", "sess-auth") {
		for name, headers := range credentials {
			res := g.Do(t, route.method, route.path, route.body, headers...)
			if res.Code != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: status %d, want 401; body %s", route.method, route.path, name, res.Code, res.Body)
				continue
			}
			wrkWantError(t, res, http.StatusUnauthorized, "unauthorized")
		}
	}
	if wrkWorkerStatus(t, g, "worker-auth") != "ONLINE" || wrkSessionOf(t, g, "sess-auth").Status != "INIT" {
		t.Fatal("a refused request changed something")
	}
}

func wrkCredentialsShared(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	user := wrkUser(t, g)
	for _, route := range wrkWorkerRoutes("worker-shared", "sess-shared") {
		if strings.HasSuffix(route.path, "/register") {
			route.body = map[string]any{"workerId": "worker-shared", "endpoint": worker.URL}
		}
		res := g.Do(t, route.method, route.path, route.body, wrkShared(g)...)
		if res.Code < 200 || res.Code > 299 {
			t.Fatalf("%s %s with the shared token: status %d; body %s", route.method, route.path, res.Code, res.Body)
		}
		if strings.HasSuffix(route.path, "/register") {
			wrkSession(t, g, user, "sess-shared", "worker-shared", "INIT")
		}
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id = 'worker-shared'`); n != 0 {
		t.Fatal("unregister with the shared token did not remove the worker")
	}
}

func wrkCredentialsOwn(t *testing.T, g *testenv.Gateway) {
	workerA, workerB := newWrkFakeWorker(t), newWrkFakeWorker(t)
	tokenA := wrkRegister(t, g, "worker-own-a", workerA.URL)["workerToken"].(string)
	wrkRegister(t, g, "worker-own-b", workerB.URL)
	own := wrkBearer(tokenA)

	for _, route := range wrkWorkerRoutes("worker-own-b", "unused-session") {
		if strings.HasSuffix(route.path, "/session-status") {
			continue // sessions are checked by placement: see the 409 case
		}
		res := g.Do(t, route.method, route.path, route.body, own...)
		if res.Code != http.StatusForbidden {
			t.Errorf("%s %s with another worker's token: status %d, want 403; body %s", route.method, route.path, res.Code, res.Body)
			continue
		}
		wrkWantError(t, res, http.StatusForbidden, "forbidden")
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id = 'worker-own-b'`); n != 1 {
		t.Fatal("worker-own-a's token removed worker-own-b")
	}

	wrkData(t, g.Do(t, http.MethodPut, "/api/v1/workers/worker-own-a/heartbeat", map[string]any{}, own...), http.StatusOK)
	wrkData(t, g.Do(t, http.MethodPut, "/api/workers/Worker_Own_A/heartbeat", map[string]any{}, own...), http.StatusOK)
	wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-own-a/sessions/assigned", nil, own...), http.StatusOK)
	wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/worker-own-a/sessions/recovery-status",
		map[string]any{"recoveryResults": []any{}}, own...), http.StatusOK)
	wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/worker-own-a/sessions-preserved",
		map[string]any{"preservedSessions": []any{}}, own...), http.StatusOK)
	wrkData(t, g.Do(t, http.MethodPost, "/api/v1/webhooks/worker-heartbeat",
		map[string]any{"workerId": "worker-own-a", "status": "ONLINE"}, own...), http.StatusOK)
	wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/register",
		map[string]any{"workerId": "Worker_Own_A", "endpoint": workerA.URL}, own...), http.StatusCreated)
}

func wrkCredentialsOwnUnregister(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	token := wrkRegister(t, g, "worker-leaving", worker.URL)["workerToken"].(string)
	data := wrkData(t, g.Do(t, http.MethodDelete, "/api/v1/workers/unregister",
		map[string]any{"workerId": "worker-leaving", "endpoint": worker.URL}, wrkBearer(token)...), http.StatusOK)
	if data["workerId"] != "worker-leaving" {
		t.Fatalf("data = %v", data)
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id = 'worker-leaving'`); n != 0 {
		t.Fatal("the worker was not removed")
	}
}

func wrkCredentialsOwnSessionEvent(t *testing.T, g *testenv.Gateway) {
	workerA, workerB := newWrkFakeWorker(t), newWrkFakeWorker(t)
	tokenA := wrkRegister(t, g, "worker-ev-a", workerA.URL)["workerToken"].(string)
	wrkRegister(t, g, "worker-ev-b", workerB.URL)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "on-ev-b", "worker-ev-b", "CONNECTED")
	wrkSession(t, g, user, "on-ev-a", "worker-ev-a", "INIT")

	// The token says who calls: a workerId in the body cannot override it.
	for _, body := range []map[string]any{
		{"sessionId": "on-ev-b", "status": "DISCONNECTED"},
		{"sessionId": "on-ev-b", "status": "DISCONNECTED", "workerId": "worker-ev-b"},
	} {
		res := g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", body, wrkBearer(tokenA)...)
		wrkWantError(t, res, http.StatusConflict, "conflict")
	}
	if got := wrkSessionOf(t, g, "on-ev-b").Status; got != "CONNECTED" {
		t.Fatalf("on-ev-b = %s, want CONNECTED", got)
	}
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status",
		map[string]any{"sessionId": "on-ev-a", "status": "CONNECTED"}, wrkBearer(tokenA)...), http.StatusOK)
	if data["applied"] != true {
		t.Fatalf("own session's event: %v", data)
	}
}

func TestWorkerCredentials_RequireOwnToken_RefusesTheSharedTokenEverywhereButRegister(t *testing.T) {
	t.Parallel()
	g := wrkGateway(t, map[string]string{"WORKER_REQUIRE_OWN_TOKEN": "true", "SESSION_FAILOVER": "false"})
	worker := newWrkFakeWorker(t)
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/register",
		map[string]any{"workerId": "worker-strict", "endpoint": worker.URL}, wrkShared(g)...), http.StatusCreated)
	token := data["workerToken"].(string)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "sess-strict", "worker-strict", "INIT")

	routes := wrkWorkerRoutes("worker-strict", "sess-strict")[1:] // all but register
	for _, route := range routes {
		res := g.Do(t, route.method, route.path, route.body, wrkShared(g)...)
		wrkWantError(t, res, http.StatusUnauthorized, "unauthorized")
	}
	for _, route := range routes {
		res := g.Do(t, route.method, route.path, route.body, wrkBearer(token)...)
		if res.Code < 200 || res.Code > 299 {
			t.Fatalf("%s %s with the own token: status %d; body %s", route.method, route.path, res.Code, res.Body)
		}
	}
}

// --- Heartbeat ------------------------------------------------------------------------------

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	wrkRunSuite(t, wrkGateway(t, nil), []wrkCase{
		{"UnknownWorker_Returns404", wrkHeartbeatUnknownWorker},
		{"LenientBodies_AreAll200NeverA400", wrkHeartbeatLenient},
		{"MarksOnlineKeepsMaintenanceUpdatesFiguresAndStoresASample", wrkHeartbeatLiveness},
		{"ReportedChange_IsAppliedAsAnEventStampedWithLastActivity", wrkHeartbeatReconciles},
		{"LoggedOut_DisconnectsAndClearsPhoneAndLastSeen", wrkHeartbeatLoggedOut},
		{"SessionsPlacedElsewhereOrUnknown_AreToStop", wrkHeartbeatToStop},
		{"PlacedSessionOmittedTwiceInARow_IsDisconnectedAndUnplaced", wrkHeartbeatOmitted},
		{"SessionCount_IsThePlacedSessions", wrkHeartbeatSessionCount},
	})
}

func wrkHeartbeatUnknownWorker(t *testing.T, g *testenv.Gateway) {
	res := g.Do(t, http.MethodPut, "/api/v1/workers/worker-ghost/heartbeat", map[string]any{"sessions": []any{}}, wrkShared(g)...)
	wrkWantError(t, res, http.StatusNotFound, "not_found")
	if n := wrkCount(t, g, `SELECT count(*) FROM worker_metrics WHERE worker_id = 'worker-ghost'`); n != 0 {
		t.Fatalf("%d samples stored for an unknown worker", n)
	}
}

func wrkHeartbeatLenient(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-lenient", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "sess-lenient", "worker-lenient", "CONNECTED")
	bodies := map[string]string{
		"null phone and display name": `{"sessions":[{"sessionId":"sess-lenient","status":"CONNECTED","phoneNumber":null,"displayName":null}]}`,
		"LOGGED_OUT":                  `{"sessions":[{"sessionId":"sess-lenient","status":"LOGGED_OUT"}]}`,
		"lower-case status":           `{"sessions":[{"sessionId":"sess-lenient","status":"connected"}]}`,
		"unknown status":              `{"sessions":[{"sessionId":"sess-lenient","status":"BANANA"}]}`,
		"unknown fields":              `{"sessions":[{"sessionId":"sess-lenient","status":"CONNECTED","battery":80}],"region":"id","metrics":{"cpuUsage":5,"gpu":{"x":1}}}`,
		"missing metrics":             `{"sessions":[{"sessionId":"sess-lenient","status":"CONNECTED"}]}`,
		"null everything":             `{"sessions":null,"metrics":null,"lastActivity":null}`,
		"empty object":                `{}`,
		"garbage lastActivity":        `{"sessions":[{"sessionId":"sess-lenient","status":"CONNECTED","lastActivity":"last tuesday"}],"lastActivity":"soon"}`,
		"unix millis lastActivity":    `{"sessions":[{"sessionId":"sess-lenient","status":"CONNECTED","lastActivity":1767323045678}]}`,
		"metrics out of range":        `{"metrics":{"cpuUsage":250,"memoryUsage":-4,"uptime":12.5,"messageCount":3.0}}`,
		"entry without a session ID":  `{"sessions":[{"status":"CONNECTED"}]}`,
		"unknown session":             `{"sessions":[{"sessionId":"never-heard-of-it","status":"CONNECTED"}]}`,
	}
	for name, body := range bodies {
		res := g.Do(t, http.MethodPut, "/api/v1/workers/worker-lenient/heartbeat", body, wrkShared(g)...)
		if res.Code != http.StatusOK {
			t.Errorf("%s: status %d, want 200; body %s", name, res.Code, res.Body)
		}
	}
	var cpu, mem *float64
	if err := g.DB.QueryRow(context.Background(), `SELECT cpu_usage, memory_usage FROM workers WHERE id = 'worker-lenient'`).Scan(&cpu, &mem); err != nil {
		t.Fatal(err)
	}
	if (cpu != nil && *cpu > 100) || (mem != nil && *mem < 0) {
		t.Fatalf("implausible figures were stored: cpu %v, memory %v", *cpu, *mem)
	}
}

func wrkHeartbeatLiveness(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-beat", "OFFLINE", 10)
	wrkExec(t, g, `UPDATE workers SET last_heartbeat = now() - interval '1 hour' WHERE id = 'worker-beat'`)
	before := time.Now().Add(-time.Second)

	data := wrkHeartbeat(t, g, "worker-beat", map[string]any{"sessions": []any{},
		"metrics": map[string]any{"cpuUsage": 35, "memoryUsage": 61.5, "uptime": 3600, "messageCount": 9, "totalSessions": 0}})
	if data["status"] != "ONLINE" || data["workerId"] != "worker-beat" {
		t.Fatalf("data = %v", data)
	}
	for _, field := range []string{"lastHeartbeat", "sessionCount", "sessionsProcessed", "sessionsSynced", "sessionsToStop", "metrics"} {
		if _, ok := data[field]; !ok {
			t.Errorf("data lacks %s", field)
		}
	}
	var status string
	var cpu, mem float64
	var last time.Time
	if err := g.DB.QueryRow(context.Background(), `SELECT status::text, cpu_usage, memory_usage, last_heartbeat FROM workers
		WHERE id = 'worker-beat'`).Scan(&status, &cpu, &mem, &last); err != nil {
		t.Fatal(err)
	}
	if status != "ONLINE" || cpu != 35 || mem != 61.5 || last.Before(before) {
		t.Fatalf("worker = %s cpu %v mem %v last %v", status, cpu, mem, last)
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM worker_metrics WHERE worker_id = 'worker-beat' AND cpu_usage = 35
		AND memory_usage = 61.5 AND uptime = 3600 AND message_count = 9 AND session_count = 0`); n != 1 {
		t.Fatalf("%d matching metrics samples, want 1", n)
	}

	// An administrator's MAINTENANCE survives heartbeats.
	wrkExec(t, g, `UPDATE workers SET status = 'MAINTENANCE' WHERE id = 'worker-beat'`)
	data = wrkHeartbeat(t, g, "worker-beat", map[string]any{})
	if data["status"] != "MAINTENANCE" || wrkWorkerStatus(t, g, "worker-beat") != "MAINTENANCE" {
		t.Fatalf("after a heartbeat in MAINTENANCE: %v", data["status"])
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM worker_metrics WHERE worker_id = 'worker-beat'`); n != 2 {
		t.Fatalf("%d samples after two heartbeats, want 2", n)
	}
}

func wrkHeartbeatReconciles(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-sync", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "sess-sync", "worker-sync", "INIT")
	ch, unsubscribe := g.Bus.Subscribe(1024)
	defer unsubscribe()

	t1 := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	data := wrkHeartbeat(t, g, "worker-sync", map[string]any{"sessions": []any{map[string]any{"sessionId": "sess-sync",
		"status": "CONNECTED", "phoneNumber": "+6281234567890", "displayName": "Shop", "lastActivity": t1.Format(time.RFC3339Nano)}}})
	if data["sessionsSynced"] != float64(1) || data["sessionsProcessed"] != float64(1) {
		t.Fatalf("data = %v, want one session synced", data)
	}
	row := wrkSessionOf(t, g, "sess-sync")
	if row.Status != "CONNECTED" || *row.Phone != "+6281234567890" || *row.DisplayName != "Shop" || !row.LastEventAt.Equal(t1) {
		t.Fatalf("row = %+v, want CONNECTED with phone and name, event time %v", row, t1)
	}
	wrkNextEvent(t, ch, events.SessionStatusChanged, "sess-sync")

	// An entry older than the last applied event is not applied.
	data = wrkHeartbeat(t, g, "worker-sync", map[string]any{"sessions": []any{map[string]any{"sessionId": "sess-sync",
		"status": "RECONNECTING", "lastActivity": t1.Add(-time.Minute).Format(time.RFC3339Nano)}}})
	if data["sessionsSynced"] != float64(0) {
		t.Fatalf("stale entry counted as synced: %v", data)
	}
	if row := wrkSessionOf(t, g, "sess-sync"); row.Status != "CONNECTED" || !row.LastEventAt.Equal(t1) {
		t.Fatalf("a stale heartbeat entry changed the session: %+v", row)
	}
	wrkNoEvent(t, ch, events.SessionStatusChanged, "sess-sync")

	// A newer one is.
	wrkHeartbeat(t, g, "worker-sync", map[string]any{"sessions": []any{map[string]any{"sessionId": "sess-sync",
		"status": "reconnecting", "lastActivity": t1.Add(time.Minute).Format(time.RFC3339Nano)}}})
	if row := wrkSessionOf(t, g, "sess-sync"); row.Status != "RECONNECTING" {
		t.Fatalf("a newer heartbeat entry was not applied: %+v", row)
	}
}

func wrkHeartbeatLoggedOut(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-logout", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "sess-logout", "worker-logout", "CONNECTED")
	wrkExec(t, g, `UPDATE sessions SET phone_number = '+62811', last_seen_at = now() WHERE id = 'sess-logout'`)

	wrkHeartbeat(t, g, "worker-logout", map[string]any{"sessions": []any{map[string]any{"sessionId": "sess-logout",
		"status": "LOGGED_OUT", "phoneNumber": nil}}})
	row := wrkSessionOf(t, g, "sess-logout")
	if row.Status != "DISCONNECTED" || row.Phone != nil || row.LastSeenAt != nil {
		t.Fatalf("row = %+v, want DISCONNECTED without phone and lastSeenAt", row)
	}
}

func wrkHeartbeatToStop(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-one", "ONLINE", 10)
	wrkInsertWorker(t, g, "worker-two", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "stop-mine", "worker-one", "CONNECTED")
	wrkSession(t, g, user, "stop-theirs", "worker-two", "CONNECTED")
	wrkSession(t, g, user, "stop-nobodys", "", "DISCONNECTED")

	data := wrkHeartbeat(t, g, "worker-one", map[string]any{"sessions": []any{
		map[string]any{"sessionId": "stop-mine", "status": "CONNECTED"},
		map[string]any{"sessionId": "stop-theirs", "status": "CONNECTED"},
		map[string]any{"sessionId": "stop-nobodys", "status": "CONNECTED"},
		map[string]any{"sessionId": "stop-unknown", "status": "CONNECTED"},
	}})
	if got := wrkStrings(data["sessionsToStop"]); !slices.Equal(got, []string{"stop-nobodys", "stop-theirs", "stop-unknown"}) {
		t.Fatalf("sessionsToStop = %v", got)
	}
	if row := wrkSessionOf(t, g, "stop-theirs"); *row.WorkerID != "worker-two" {
		t.Fatalf("another worker's session moved: %+v", row)
	}
	if row := wrkSessionOf(t, g, "stop-nobodys"); row.WorkerID != nil || row.Status != "DISCONNECTED" {
		t.Fatalf("an unplaced session was adopted: %+v", row)
	}
	// Nothing to stop is an empty list, not null: the worker iterates over it.
	data = wrkHeartbeat(t, g, "worker-one", map[string]any{"sessions": []any{map[string]any{"sessionId": "stop-mine", "status": "CONNECTED"}}})
	if list, ok := data["sessionsToStop"].([]any); !ok || len(list) != 0 {
		t.Fatalf("sessionsToStop = %#v, want []", data["sessionsToStop"])
	}
}

func wrkHeartbeatOmitted(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-forgetful", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "omit-reported", "worker-forgetful", "CONNECTED")
	wrkSession(t, g, user, "omit-forgotten", "worker-forgetful", "CONNECTED")
	ch, unsubscribe := g.Bus.Subscribe(1024)
	defer unsubscribe()
	body := map[string]any{"sessions": []any{map[string]any{"sessionId": "omit-reported", "status": "CONNECTED"}}}

	data := wrkHeartbeat(t, g, "worker-forgetful", body)
	if row := wrkSessionOf(t, g, "omit-forgotten"); row.Status != "CONNECTED" || row.WorkerID == nil {
		t.Fatalf("after one omission: %+v, want still CONNECTED and placed", row)
	}
	if data["sessionCount"] != float64(2) {
		t.Fatalf("sessionCount = %v, want 2", data["sessionCount"])
	}
	wrkNoEvent(t, ch, events.SessionStatusChanged, "omit-forgotten")

	data = wrkHeartbeat(t, g, "worker-forgetful", body)
	row := wrkSessionOf(t, g, "omit-forgotten")
	if row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Reason == nil {
		t.Fatalf("after two omissions: %+v, want DISCONNECTED, unplaced, with a reason", row)
	}
	if data["sessionCount"] != float64(1) {
		t.Fatalf("sessionCount = %v, want 1", data["sessionCount"])
	}
	e := wrkNextEvent(t, ch, events.SessionStatusChanged, "omit-forgotten")
	if payload, _ := e.Payload.(map[string]any); fmt.Sprint(payload["status"]) != "DISCONNECTED" {
		t.Fatalf("event payload = %v", e.Payload)
	}
	if row := wrkSessionOf(t, g, "omit-reported"); row.Status != "CONNECTED" || row.WorkerID == nil {
		t.Fatalf("the reported session changed: %+v", row)
	}
}

func wrkHeartbeatSessionCount(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-count", "ONLINE", 10)
	user := wrkUser(t, g)
	for i, status := range []string{"CONNECTED", "QR_REQUIRED", "DISCONNECTED"} {
		wrkSession(t, g, user, fmt.Sprintf("count-%d", i), "worker-count", status)
	}
	wrkSession(t, g, user, "count-other", "", "CONNECTED")
	// The worker claims other figures; the backend counts its own rows.
	data := wrkHeartbeat(t, g, "worker-count", map[string]any{"metrics": map[string]any{"totalSessions": 99, "activeSessions": 42},
		"sessions": []any{
			map[string]any{"sessionId": "count-0", "status": "CONNECTED"},
			map[string]any{"sessionId": "count-1", "status": "QR_REQUIRED"},
			map[string]any{"sessionId": "count-2", "status": "DISCONNECTED"},
		}})
	if data["sessionCount"] != float64(3) {
		t.Fatalf("sessionCount = %v, want 3", data["sessionCount"])
	}
}

// --- Recovery and unregistration ------------------------------------------------------------

func TestWorkerRecovery(t *testing.T) {
	t.Parallel()
	wrkRunSuite(t, wrkGateway(t, map[string]string{"SESSION_FAILOVER": "false"}), []wrkCase{
		{"AssignedSessions_ListsTheWorkersRecoverableSessionsWithTheirOwners", wrkRecoveryAssigned},
		{"RecoveryStatus_TotalsAtTheTopLevel", func(t *testing.T, g *testenv.Gateway) {
			wrkRecoveryStatus(t, g, "top", func(results []any) map[string]any {
				return map[string]any{"workerId": "worker-rs-top", "totalSessions": 4, "successfulRecoveries": 1,
					"failedRecoveries": 1, "recoveryResults": results, "timestamp": time.Now().Format(time.RFC3339)}
			})
		}},
		{"RecoveryStatus_TotalsInsideSummary", func(t *testing.T, g *testenv.Gateway) {
			wrkRecoveryStatus(t, g, "summary", func(results []any) map[string]any {
				return map[string]any{"workerId": "worker-rs-summary", "summary": map[string]any{"totalSessions": 4,
					"successfulRecoveries": 1, "failedRecoveries": 1, "skippedSessions": 2}, "recoveryResults": results}
			})
		}},
		{"SessionsPreserved_IDsAsStringsOrObjects_OnlyThisWorkersSessions", wrkRecoveryPreserved},
		{"Unregister_ReleasesSessionsAndDeletesTheWorker", wrkRecoveryUnregister},
	})
}

func wrkRecoveryAssigned(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-asg", "ONLINE", 10)
	wrkInsertWorker(t, g, "worker-asg-else", "ONLINE", 10)
	user := wrkUser(t, g)
	for _, s := range []struct{ id, worker, status string }{
		{"asg-connected", "worker-asg", "CONNECTED"},
		{"asg-qr", "worker-asg", "QR_REQUIRED"},
		{"asg-reconnecting", "worker-asg", "RECONNECTING"},
		{"asg-init", "worker-asg", "INIT"},
		{"asg-disconnected", "worker-asg", "DISCONNECTED"},
		{"asg-error", "worker-asg", "ERROR"},
		{"asg-elsewhere", "worker-asg-else", "CONNECTED"},
		{"asg-unplaced", "", "CONNECTED"},
	} {
		wrkSession(t, g, user, s.id, s.worker, s.status)
	}
	wrkExec(t, g, `UPDATE sessions SET phone_number = '+62811' WHERE id = 'asg-connected'`)

	data := wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-asg/sessions/assigned", nil, wrkShared(g)...), http.StatusOK)
	if data["workerId"] != "worker-asg" || data["sessionCount"] != float64(4) {
		t.Fatalf("data = %v", data)
	}
	list, _ := data["sessions"].([]any)
	var ids []string
	for _, item := range list {
		s := item.(map[string]any)
		ids = append(ids, s["sessionId"].(string))
		if s["userId"] != user || s["userTier"] != "PRO" || !strings.HasPrefix(fmt.Sprint(s["userEmail"]), "owner-") ||
			s["sessionName"] != "Session "+s["sessionId"].(string) {
			t.Errorf("session %v lacks its owner's fields", s)
		}
		for _, field := range []string{"phoneNumber", "status", "createdAt", "updatedAt", "lastSeenAt"} {
			if _, ok := s[field]; !ok {
				t.Errorf("session %v lacks %s", s["sessionId"], field)
			}
		}
		if s["sessionId"] == "asg-connected" && (s["phoneNumber"] != "+62811" || s["status"] != "CONNECTED") {
			t.Errorf("asg-connected = %v", s)
		}
	}
	slices.Sort(ids)
	if want := []string{"asg-connected", "asg-init", "asg-qr", "asg-reconnecting"}; !slices.Equal(ids, want) {
		t.Fatalf("sessions = %v, want %v", ids, want)
	}
	wrkWantError(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-asg-nope/sessions/assigned", nil, wrkShared(g)...),
		http.StatusNotFound, "not_found")
}

func wrkRecoveryStatus(t *testing.T, g *testenv.Gateway, tag string, shape func(results []any) map[string]any) {
	worker, other := "worker-rs-"+tag, "worker-rs-else-"+tag
	wrkInsertWorker(t, g, worker, "ONLINE", 10)
	wrkInsertWorker(t, g, other, "ONLINE", 10)
	user := wrkUser(t, g)
	id := func(name string) string { return "rs-" + tag + "-" + name }
	wrkSession(t, g, user, id("ok"), worker, "INIT")
	wrkSession(t, g, user, id("failed"), worker, "CONNECTED")
	wrkSession(t, g, user, id("skipped"), worker, "QR_REQUIRED")
	wrkSession(t, g, user, id("foreign"), other, "CONNECTED")
	results := []any{
		map[string]any{"sessionId": id("ok"), "status": "SUCCESS", "recoveredAt": time.Now().Format(time.RFC3339), "error": nil},
		map[string]any{"sessionId": id("failed"), "status": "FAILED", "error": "auth state missing"},
		map[string]any{"sessionId": id("skipped"), "status": "SKIPPED"},
		map[string]any{"sessionId": id("foreign"), "status": "FAILED"},
		map[string]any{"sessionId": id("unknown"), "status": "SUCCESS"},
	}
	res := g.Do(t, http.MethodPost, "/api/v1/workers/"+worker+"/sessions/recovery-status", shape(results), wrkShared(g)...)
	data := wrkData(t, res, http.StatusOK)
	if data["recovered"] != float64(1) || data["failed"] != float64(1) {
		t.Fatalf("data = %v, want 1 recovered and 1 failed", data)
	}
	if row := wrkSessionOf(t, g, id("ok")); row.Status != "CONNECTED" || row.WorkerID == nil || *row.WorkerID != worker {
		t.Errorf("ok = %+v, want CONNECTED and still placed", row)
	}
	if row := wrkSessionOf(t, g, id("failed")); row.Status != "ERROR" || row.WorkerID != nil {
		t.Errorf("failed = %+v, want ERROR and unplaced", row)
	}
	if row := wrkSessionOf(t, g, id("skipped")); row.Status != "QR_REQUIRED" || row.WorkerID == nil {
		t.Errorf("skipped = %+v, want unchanged", row)
	}
	if row := wrkSessionOf(t, g, id("foreign")); row.Status != "CONNECTED" || *row.WorkerID != other {
		t.Errorf("foreign = %+v, want unchanged", row)
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM sessions WHERE id = $1`, id("unknown")); n != 0 {
		t.Errorf("an unknown session was created")
	}
}

func wrkRecoveryPreserved(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-stop", "ONLINE", 10)
	wrkInsertWorker(t, g, "worker-stop-else", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "keep-string", "worker-stop", "CONNECTED")
	wrkSession(t, g, user, "keep-object", "worker-stop", "CONNECTED")
	wrkSession(t, g, user, "keep-not-listed", "worker-stop", "CONNECTED")
	wrkSession(t, g, user, "keep-foreign", "worker-stop-else", "CONNECTED")

	before := time.Now()
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/worker-stop/sessions-preserved", map[string]any{
		"workerId": "worker-stop", "timestamp": time.Now().Format(time.RFC3339),
		"preservedSessions": []any{"keep-string", map[string]any{"sessionId": "keep-object", "status": "CONNECTED"}, "keep-foreign", "ghost"},
	}, wrkShared(g)...), http.StatusOK)
	if data["preservedSessions"] != float64(2) {
		t.Fatalf("data = %v, want 2 preserved", data)
	}
	for _, id := range []string{"keep-string", "keep-object"} {
		row := wrkSessionOf(t, g, id)
		if row.PreservedUntil == nil {
			t.Fatalf("%s has no preserved_until", id)
		}
		if d := row.PreservedUntil.Sub(before); d < 110*time.Second || d > 130*time.Second {
			t.Fatalf("%s preserved for %v, want about 2 minutes", id, d)
		}
	}
	for _, id := range []string{"keep-not-listed", "keep-foreign"} {
		if row := wrkSessionOf(t, g, id); row.PreservedUntil != nil {
			t.Fatalf("%s was preserved", id)
		}
	}
}

func wrkRecoveryUnregister(t *testing.T, g *testenv.Gateway) {
	worker := newWrkFakeWorker(t)
	wrkRegister(t, g, "worker-bye", worker.URL)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "bye-1", "worker-bye", "CONNECTED")
	wrkSession(t, g, user, "bye-2", "worker-bye", "QR_REQUIRED")

	for _, endpoint := range []string{"http://10.9.9.9:8001", "not a url"} {
		wrkWantError(t, g.Do(t, http.MethodDelete, "/api/v1/workers/unregister",
			map[string]any{"workerId": "worker-bye", "endpoint": endpoint}, wrkShared(g)...), http.StatusConflict, "conflict")
	}
	wrkWantError(t, g.Do(t, http.MethodDelete, "/api/v1/workers/unregister",
		map[string]any{"workerId": "worker-unknown", "endpoint": worker.URL}, wrkShared(g)...), http.StatusNotFound, "not_found")
	if row := wrkSessionOf(t, g, "bye-1"); row.WorkerID == nil {
		t.Fatal("a refused unregister released a session")
	}

	data := wrkData(t, g.Do(t, http.MethodDelete, "/api/v1/workers/unregister",
		map[string]any{"workerId": "Worker_Bye", "endpoint": worker.URL + "/"}, wrkShared(g)...), http.StatusOK)
	if data["workerId"] != "worker-bye" || data["releasedSessions"] != float64(2) {
		t.Fatalf("data = %v", data)
	}
	for _, id := range []string{"bye-1", "bye-2"} {
		row := wrkSessionOf(t, g, id)
		if row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Reason == nil || *row.Reason == "" {
			t.Fatalf("%s = %+v, want DISCONNECTED, unplaced, with a reason", id, row)
		}
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id = 'worker-bye'`); n != 0 {
		t.Fatal("the worker is still registered")
	}
}
