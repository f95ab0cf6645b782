package workerkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/workerkittest"
)

func TestRegister_RetriesUntilBackendAnswers_ThenUsesWorkerToken(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	backend.FailRegistrations(3)
	backend.SetWorkerToken("own-worker-token")
	tw := startWorker(t, backend, workerOptions{})

	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.Heartbeats(tw.ID)) >= 2 }, "two heartbeats")

	registers := backend.Requests(http.MethodPost, "/api/v1/workers/register")
	if len(registers) != 4 {
		t.Fatalf("registrations = %d, want 3 refused and 1 accepted", len(registers))
	}
	for _, r := range registers {
		if r.Authorization != "Bearer "+sharedToken {
			t.Errorf("register sent with %q, want the shared token", r.Authorization)
		}
	}
	var req protocol.RegisterRequest
	if err := json.Unmarshal(registers[3].Body, &req); err != nil {
		t.Fatal(err)
	}
	if req.WorkerID != tw.ID || req.Endpoint != tw.URL || *req.MaxSessions != 10 || *req.Version != "1.2.3" ||
		*req.Environment != "DEVELOPMENT" || *req.Description == "" {
		t.Errorf("register body = %s", registers[3].Body)
	}
	for _, r := range backend.Requests(http.MethodPut, "") {
		if r.Authorization != "Bearer own-worker-token" {
			t.Errorf("%s sent with %q, want the workerToken", r.Path, r.Authorization)
		}
	}
}

func TestRegister_NoWorkerToken_KeepsUsingSharedToken(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.Heartbeats(tw.ID)) >= 1 }, "a heartbeat")
	if err := tw.Stop(t); err != nil {
		t.Fatal(err)
	}
	for _, r := range backend.Requests("", "") {
		if r.Authorization != "Bearer "+sharedToken || r.Status >= 300 {
			t.Errorf("%s %s: auth %q, status %d", r.Method, r.Path, r.Authorization, r.Status)
		}
	}
}

func TestRegister_Refused_RunReturnsError(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			backend := workerkittest.NewBackend(t, sharedToken)
			backend.RefuseRegistrations(status)
			tw := startWorker(t, backend, workerOptions{noServingWait: true})
			select {
			case err := <-tw.done:
				if err == nil || !strings.Contains(err.Error(), "registration refused") {
					t.Fatalf("Run = %v, want registration refused", err)
				}
				tw.stopOnce.Do(func() {}) // already stopped
			case <-time.After(waitLong):
				t.Fatal("Run did not give up on a refused registration")
			}
		})
	}
}

func TestRun_BadConfig_ReturnsError(t *testing.T) {
	t.Parallel()
	err := workerkit.Run(t.Context(), workerkit.Config{Endpoint: "not a url", BackendURL: "ftp://x"})
	if err == nil {
		t.Fatal("Run accepted an empty config")
	}
	for _, want := range []string{"WorkerID", "endpoint", "backend URL", "SharedToken", "engine", "listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestRun_ListensOnAddress(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	engine := simengine.New(fastEngine())
	defer engine.Close()
	// Find a free port, then let Run listen on it itself.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- workerkit.Run(ctx, workerkit.Config{WorkerID: "listen-test", Endpoint: "http://" + addr, Listen: addr,
			BackendURL: backend.URL, SharedToken: sharedToken, Engine: engine, HeartbeatInterval: 10 * time.Millisecond})
	}()
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Heartbeats("listen-test")) >= 1
	}, "a heartbeat")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(backend.Accepted("/api/v1/workers/unregister")) != 1 {
		t.Error("no unregister")
	}
}

func TestHeartbeat_CarriesSessionsAndMetrics(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.waitRegistered(t)
	tw.startConnected(t, "s1")

	var hb protocol.HeartbeatRequest
	workerkittest.Eventually(t, waitLong, func() bool {
		beats := backend.Heartbeats(tw.ID)
		if len(beats) == 0 {
			return false
		}
		hb = beats[len(beats)-1]
		return len(hb.Sessions) == 1 && hb.Sessions[0].Status == "CONNECTED"
	}, "a heartbeat with the connected session")

	s := hb.Sessions[0]
	if s.SessionID != "s1" || s.PhoneNumber == nil || !strings.HasPrefix(*s.PhoneNumber, "+62812") ||
		s.DisplayName == nil || *s.DisplayName != "Shop" || s.LastActivity == nil {
		t.Errorf("session = %+v", s)
	}
	m := hb.Metrics
	if m == nil || m.CPUUsage == nil || m.MemoryUsage == nil || m.Uptime == nil || m.MessageCount == nil ||
		*m.TotalSessions != 1 || *m.ActiveSessions != 1 || hb.LastActivity == nil {
		t.Fatalf("metrics = %+v", m)
	}
	if *m.CPUUsage < 0 || *m.CPUUsage > 100 || *m.MemoryUsage < 0 || *m.MemoryUsage > 100 {
		t.Errorf("usage out of range: cpu %v mem %v", *m.CPUUsage, *m.MemoryUsage)
	}
}

func TestHeartbeat_SessionsToStop_DisconnectsKeepingCredentialsAndStopsReporting(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.waitRegistered(t)
	tw.startConnected(t, "moved")
	tw.startConnected(t, "kept")

	backend.StopSessions("moved", "unknown-here")
	workerkittest.Eventually(t, waitLong, func() bool {
		st, err := tw.Engine.Status(t.Context(), "moved")
		return err == nil && st.Status == "disconnected"
	}, "the moved session disconnected")
	st, _ := tw.Engine.Status(t.Context(), "moved")
	if st.PhoneNumber == nil {
		t.Error("the moved session lost its credentials (phone), want only a disconnect")
	}
	n := len(backend.Heartbeats(tw.ID))
	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.Heartbeats(tw.ID)) >= n+2 }, "two more heartbeats")
	beats := backend.Heartbeats(tw.ID)
	last := beats[len(beats)-1]
	if len(last.Sessions) != 1 || last.Sessions[0].SessionID != "kept" {
		t.Errorf("heartbeat sessions = %+v, want only kept", last.Sessions)
	}
	var health struct {
		Sessions map[string]float64 `json:"sessions"`
	}
	a := tw.call(t, http.MethodGet, "/health", nil)
	if err := json.Unmarshal(a.Raw, &health); err != nil || health.Sessions["total"] != 1 {
		t.Errorf("health after the stop = %s", a.Raw)
	}

	// Placed here again: reported again.
	backend.StopSessions()
	if a := tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "moved"}); a.Status != http.StatusOK {
		t.Fatalf("start again = %d %s", a.Status, a.Raw)
	}
	workerkittest.Eventually(t, waitLong, func() bool {
		beats := backend.Heartbeats(tw.ID)
		return len(beats[len(beats)-1].Sessions) == 2
	}, "both sessions reported again")
}

func TestHeartbeat_WorkerUnknown_RegistersAgain(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.waitRegistered(t)
	backend.ForgetWorker(1)
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Accepted("/api/v1/workers/register")) == 2
	}, "a second registration")
	n := len(backend.Heartbeats(tw.ID))
	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.Heartbeats(tw.ID)) > n }, "heartbeats again")
}

func TestHeartbeat_WorkerUnknownAndRegistrationRefused_RunReturnsError(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.waitRegistered(t)
	backend.RefuseRegistrations(http.StatusBadRequest)
	backend.ForgetWorker(1)
	select {
	case err := <-tw.done:
		if err == nil || !strings.Contains(err.Error(), "registration refused") {
			t.Fatalf("Run = %v", err)
		}
		tw.stopOnce.Do(func() {})
	case <-time.After(waitLong):
		t.Fatal("Run did not stop")
	}
	if len(backend.Requests(http.MethodDelete, "/api/v1/workers/unregister")) != 0 {
		t.Error("a refused worker unregistered")
	}
}

// failingResume is the simulated engine with a Resume that fails for one session.
type failingResume struct {
	*simengine.Engine
	failFor string
}

func (f failingResume) Resume(ctx context.Context, sessionID, userID, name string) error {
	if sessionID == f.failFor {
		return errors.New("no credentials stored")
	}
	return f.Engine.Resume(ctx, sessionID, userID, name)
}

func TestRecovery_ResumesAssignedSessionsAndReports(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	backend.SetWorkerToken("own")
	backend.RequireRecovery(
		protocol.AssignedSession{SessionID: "r1", UserID: "u1", SessionName: "One", Status: "CONNECTED"},
		protocol.AssignedSession{SessionID: "r2", UserID: "u2", SessionName: "Two", Status: "RECONNECTING"},
		protocol.AssignedSession{SessionID: "broken", UserID: "u3", SessionName: "Three", Status: "CONNECTED"},
		protocol.AssignedSession{SessionID: "running", UserID: "u4", SessionName: "Four", Status: "CONNECTED"},
	)
	var engine failingResume
	tw := startWorker(t, backend, workerOptions{kit: func(c *workerkit.Config) {
		sim := c.Engine.(*simengine.Engine)
		// Already held before the worker registers: skipped.
		if err := sim.Resume(t.Context(), "running", "u4", "Four"); err != nil {
			t.Fatal(err)
		}
		engine = failingResume{Engine: sim, failFor: "broken"}
		c.Engine = engine
	}})

	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Accepted("/api/v1/workers/"+tw.ID+"/sessions/recovery-status")) == 1
	}, "the recovery report")
	if got := backend.Accepted("/api/v1/workers/" + tw.ID + "/sessions/assigned"); len(got) != 1 || got[0].Authorization != "Bearer own" {
		t.Fatalf("assigned sessions asked %d times", len(got))
	}
	var report protocol.RecoveryStatusRequest
	if err := json.Unmarshal(backend.Accepted("/api/v1/workers/" + tw.ID + "/sessions/recovery-status")[0].Body, &report); err != nil {
		t.Fatal(err)
	}
	totals := report.Totals()
	if *totals.TotalSessions != 4 || *totals.SuccessfulRecoveries != 2 || *totals.FailedRecoveries != 1 {
		t.Errorf("totals = %v/%v/%v", *totals.TotalSessions, *totals.SuccessfulRecoveries, *totals.FailedRecoveries)
	}
	want := map[string]string{"r1": "SUCCESS", "r2": "SUCCESS", "broken": "FAILED", "running": "SKIPPED"}
	for _, r := range report.RecoveryResults {
		if want[r.SessionID] != r.Status {
			t.Errorf("%s: %s, want %s", r.SessionID, r.Status, want[r.SessionID])
		}
		if r.Status == "SUCCESS" && r.RecoveredAt == nil {
			t.Errorf("%s: no recoveredAt", r.SessionID)
		}
		if r.Status == "FAILED" && (r.Error == nil || !strings.Contains(*r.Error, "no credentials")) {
			t.Errorf("%s: error %v", r.SessionID, r.Error)
		}
	}
	for _, id := range []string{"r1", "r2"} {
		if st, err := engine.Status(t.Context(), id); err != nil || st.Status != "connected" {
			t.Errorf("%s after recovery: %+v %v", id, st, err)
		}
	}
	workerkittest.Eventually(t, waitLong, func() bool {
		return slices.Contains(statuses(backend.SessionEvents(), "r1"), "CONNECTED")
	}, "r1 reported CONNECTED")
}

func TestShutdown_ReportsPreservedSessionsThenUnregisters(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	backend.SetWorkerToken("own")
	tw := startWorker(t, backend, workerOptions{})
	tw.waitRegistered(t)
	tw.startConnected(t, "p1")
	tw.startConnected(t, "p2")

	if err := tw.Stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	all := backend.Requests("", "")
	preserved, unregister := -1, -1
	for i, r := range all {
		switch r.Path {
		case "/api/v1/workers/" + tw.ID + "/sessions-preserved":
			preserved = i
		case "/api/v1/workers/unregister":
			unregister = i
		}
	}
	if preserved < 0 || unregister < 0 || preserved > unregister || unregister != len(all)-1 {
		t.Fatalf("preserved at %d, unregister at %d of %d requests: want preserved, then unregister last", preserved, unregister, len(all))
	}
	var body protocol.SessionsPreservedRequest
	if err := json.Unmarshal(all[preserved].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.WorkerID != tw.ID || len(body.PreservedSessions) != 2 || body.Timestamp == nil {
		t.Errorf("sessions-preserved = %s", all[preserved].Body)
	}
	var un protocol.UnregisterRequest
	if err := json.Unmarshal(all[unregister].Body, &un); err != nil || un.WorkerID != tw.ID || un.Endpoint != tw.URL {
		t.Errorf("unregister = %s", all[unregister].Body)
	}
	if all[unregister].Authorization != "Bearer own" {
		t.Errorf("unregister with %q", all[unregister].Authorization)
	}
	// The events of the sessions were all delivered before the goodbye.
	if got := statuses(backend.SessionEvents(), "p2"); !slices.Contains(got, "CONNECTED") {
		t.Errorf("p2 events = %v", got)
	}
	if _, err := tw.do(t.Context(), http.MethodGet, "/health", nil, ""); err == nil {
		t.Error("the worker still serves after Run returned")
	}
}

func TestShutdown_BeforeRegistration_SaysNothing(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	backend.FailRegistrations(1 << 30)
	tw := startWorker(t, backend, workerOptions{})
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Requests(http.MethodPost, "/api/v1/workers/register")) >= 2
	}, "registration attempts")
	if err := tw.Stop(t); err != nil {
		t.Fatal(err)
	}
	for _, r := range backend.Requests("", "") {
		if r.Path != "/api/v1/workers/register" {
			t.Errorf("unexpected %s %s", r.Method, r.Path)
		}
	}
}

func TestShutdown_BackendDown_BoundedByTimeout(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{kit: func(c *workerkit.Config) { c.ShutdownTimeout = time.Second }})
	tw.waitRegistered(t)
	backend.SetEventsDown(true)
	if err := tw.Engine.Resume(t.Context(), "x", "u", "n"); err != nil { // an event that cannot be delivered
		t.Fatal(err)
	}
	start := time.Now()
	if err := tw.Stop(t); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s with a 1s timeout", d)
	}
	if len(backend.Accepted("/api/v1/workers/unregister")) != 1 {
		t.Error("no unregister after giving up on the events")
	}
}

func TestCrash_StopsAtOnceWithoutGoodbye(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.waitRegistered(t)
	tw.startConnected(t, "c1")
	if err := tw.Crash(t); !errors.Is(err, workerkit.ErrCrashed) {
		t.Fatalf("Run = %v, want ErrCrashed", err)
	}
	for _, r := range backend.Requests("", "") {
		if strings.HasSuffix(r.Path, "/unregister") || strings.HasSuffix(r.Path, "/sessions-preserved") {
			t.Errorf("a crashed worker sent %s", r.Path)
		}
	}
	if _, err := tw.do(t.Context(), http.MethodGet, "/health", nil, ""); err == nil {
		t.Error("a crashed worker still serves")
	}
}
