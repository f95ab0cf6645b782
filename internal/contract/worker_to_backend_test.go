package contract_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

// TestWorkerToBackend_EveryRecordedExchangeIsAccepted replays every request the existing
// worker made in the recorded run, in order, with the state changes the dashboard made in
// between (connect, disconnect, logout, delete), and checks that each answer is a 2xx the
// worker can read — including the heartbeats the original wrongly refused with 400.
func TestWorkerToBackend_EveryRecordedExchangeIsAccepted(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	ctx := context.Background()

	// The worker's endpoint must answer /health for registration to succeed.
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"healthy","workerId":"worker-orig-1"}`))
	}))
	t.Cleanup(worker.Close)

	const (
		recordedEndpoint = "http://127.0.0.1:8101"
		sessionID        = "4c4c4ee9-9cfc-4dfe-9e16-f6098f51e9b8-capture-session-1795709889507"
		userID           = "4c4c4ee9-9cfc-4dfe-9e16-f6098f51e9b8"
	)
	mustExec(t, g, `INSERT INTO users (id, name, email, password_hash) VALUES ($1, 'Capture User', 'capture@example.com', 'x')`, userID)
	mustExec(t, g, `INSERT INTO sessions (id, user_id, name) VALUES ($1, $2, 'Capture Session')`, sessionID, userID)

	replayed := 0
	for _, e := range loadExchanges(t, "02-worker-to-backend.jsonl", "02-client-to-backend.jsonl") {
		if e.Label == "client->backend" {
			applyDashboardEffect(t, g, e, sessionID)
			continue
		}
		body := strings.ReplaceAll(string(e.Request.Body), recordedEndpoint, worker.URL)
		if body == "null" {
			body = ""
		}
		res := g.Do(t, e.Request.Method, e.Request.Path, body,
			"Content-Type", "application/json", "Authorization", "Bearer "+g.Config.WorkerAuthToken)
		if res.Code < 200 || res.Code > 299 {
			t.Fatalf("seq %d %s %s: status %d (recorded %d), body %s",
				e.Seq, e.Request.Method, e.Request.Path, res.Code, e.Response.Status, res.Body)
		}
		var env struct {
			Success bool                       `json:"success"`
			Data    map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(res.Body.Bytes(), &env); err != nil || !env.Success {
			t.Fatalf("seq %d: not a success envelope: %s", e.Seq, res.Body)
		}
		checkWorkerReadable(t, e, env.Data)
		checkRecordedOutcome(t, g, e, env.Data, sessionID)
		replayed++
	}
	if replayed != 21 {
		t.Fatalf("replayed %d worker requests, want all 21 of the recording", replayed)
	}
	_ = ctx

	// The run ended with the worker unregistered and the session deleted by the dashboard.
	var workers int
	if err := g.DB.QueryRow(ctx, `SELECT count(*) FROM workers`).Scan(&workers); err != nil || workers != 0 {
		t.Fatalf("workers left = %d (%v), want 0", workers, err)
	}
}

// checkWorkerReadable asserts the fields the existing worker reads from each answer.
func checkWorkerReadable(t *testing.T, e exchange, data map[string]json.RawMessage) {
	t.Helper()
	need := func(fields ...string) {
		for _, f := range fields {
			if _, ok := data[f]; !ok {
				t.Fatalf("seq %d %s: answer lacks data.%s: %v", e.Seq, e.Request.Path, f, keys(data))
			}
		}
	}
	switch {
	case strings.HasSuffix(e.Request.Path, "/register"):
		need("workerId", "endpoint", "status", "maxSessions", "registeredAt", "recoveryRequired", "assignedSessionCount", "workerToken")
		var recovery bool
		if err := json.Unmarshal(data["recoveryRequired"], &recovery); err != nil {
			t.Fatalf("recoveryRequired is not a boolean: %s", data["recoveryRequired"])
		}
	case strings.HasSuffix(e.Request.Path, "/heartbeat"):
		need("workerId", "status", "lastHeartbeat", "sessionCount", "sessionsProcessed", "sessionsSynced", "sessionsToStop")
		var toStop []string
		if err := json.Unmarshal(data["sessionsToStop"], &toStop); err != nil {
			t.Fatalf("sessionsToStop is not a list of IDs: %s", data["sessionsToStop"])
		}
	case strings.HasSuffix(e.Request.Path, "/session-status"):
		need("sessionId", "status", "applied")
	case strings.HasSuffix(e.Request.Path, "/unregister"):
		need("workerId", "unregisteredAt")
	}
}

// checkRecordedOutcome checks what the backend made of the moments that matter in the run:
// the first heartbeat listing the session (phoneNumber null; the original answered 400) is
// reconciled into RECONNECTING, and the LOGGED_OUT heartbeats after the dashboard's logout
// tell the worker to drop the session it no longer has placed.
func checkRecordedOutcome(t *testing.T, g *testenv.Gateway, e exchange, data map[string]json.RawMessage, sessionID string) {
	t.Helper()
	switch e.Seq {
	case 7:
		var status string
		if err := g.DB.QueryRow(context.Background(), `SELECT status FROM sessions WHERE id = $1`, sessionID).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != "RECONNECTING" {
			t.Fatalf("after heartbeat seq 7 the session is %s, want RECONNECTING", status)
		}
	case 18, 19, 20:
		var toStop []string
		_ = json.Unmarshal(data["sessionsToStop"], &toStop)
		if len(toStop) != 1 || toStop[0] != sessionID {
			t.Fatalf("seq %d: sessionsToStop = %v, want the logged-out session", e.Seq, toStop)
		}
	}
}

// applyDashboardEffect reproduces, in the database, what the recorded dashboard call did to
// the session (the session routes of the port are exercised by their own tests).
func applyDashboardEffect(t *testing.T, g *testenv.Gateway, e exchange, sessionID string) {
	t.Helper()
	path := e.Request.Path
	switch {
	case strings.HasSuffix(path, "/connect"):
		mustExec(t, g, `UPDATE sessions SET worker_id = 'worker-orig-1', status = 'INIT' WHERE id = $1`, sessionID)
	case strings.HasSuffix(path, "/disconnect"):
		mustExec(t, g, `UPDATE sessions SET worker_id = NULL, status = 'DISCONNECTED' WHERE id = $1`, sessionID)
	case strings.HasSuffix(path, "/logout"):
		mustExec(t, g, `UPDATE sessions SET worker_id = NULL, status = 'DISCONNECTED', phone_number = NULL,
			last_seen_at = NULL WHERE id = $1`, sessionID)
	case e.Request.Method == http.MethodDelete && strings.Contains(path, "/sessions/"):
		mustExec(t, g, `DELETE FROM sessions WHERE id = $1`, sessionID)
	}
}

func mustExec(t *testing.T, g *testenv.Gateway, sql string, args ...any) {
	t.Helper()
	if _, err := g.DB.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
