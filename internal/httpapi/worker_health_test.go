package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/testenv"
)

// Health monitor, leader election and failover, end to end: gateways run for real (g.Serve,
// background loops included) against fake workers on httptest servers.

const (
	hmInterval = 100 * time.Millisecond
	hmLeaseTTL = 3 * time.Second
)

var hmEnv = map[string]string{
	"WORKER_HEALTH_CHECK_INTERVAL": "100",
	"LEADER_LEASE_TTL_MS":          "3000",
	"RATE_LIMIT_MAX_REQUESTS":      "100000",
	"AUTH_RATE_LIMIT_PER_MINUTE":   "100000",
}

func hmGateway(t *testing.T, opts testenv.Options) *testenv.Gateway {
	t.Helper()
	env := map[string]string{}
	for k, v := range hmEnv {
		env[k] = v
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	opts.Env = env
	return testenv.NewGateway(t, opts)
}

// hmWorker is a fake worker: it answers /health, starts and stops sessions, and counts them.
type hmWorker struct {
	*httptest.Server
	mu      sync.Mutex
	started []string
	stopped []string
}

func newHMWorker(t *testing.T) *hmWorker {
	t.Helper()
	w := &hmWorker{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/health":
			_, _ = rw.Write([]byte(`{"status":"healthy"}`))
		case r.URL.Path == "/api/sessions/start":
			var req struct {
				SessionID string `json:"sessionId"`
			}
			_ = json.NewDecoder(r.Body).Decode(&req)
			w.mu.Lock()
			w.started = append(w.started, req.SessionID)
			w.mu.Unlock()
			rw.WriteHeader(http.StatusCreated)
			_, _ = fmt.Fprintf(rw, `{"success":true,"data":{"sessionId":%q,"status":"initializing"}}`, req.SessionID)
		case strings.HasSuffix(r.URL.Path, "/disconnect"):
			w.mu.Lock()
			w.stopped = append(w.stopped, strings.Split(r.URL.Path, "/")[3])
			w.mu.Unlock()
			_, _ = rw.Write([]byte(`{"success":true,"data":{"status":"disconnected"}}`))
		default:
			_, _ = rw.Write([]byte(`{"success":true,"data":{}}`))
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *hmWorker) counts() (started, stopped int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.started), len(w.stopped)
}

func hmRegister(t *testing.T, g *testenv.Gateway, id, endpoint string, maxSessions int) {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/workers/register",
		map[string]any{"workerId": id, "endpoint": endpoint, "maxSessions": maxSessions},
		"Authorization", "Bearer "+g.Config.WorkerAuthToken)
	if res.Code != http.StatusCreated {
		t.Fatalf("register %s: %d %s", id, res.Code, res.Body)
	}
}

// hmSignUp registers a user and returns its ID and token; admin promotes it.
func hmSignUp(t *testing.T, g *testenv.Gateway, email string, admin bool) (id, token string) {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/auth/register",
		map[string]any{"name": "Monitor Test", "email": email, "password": "Sup3r-Secret!"})
	if res.Code != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	id, token = data["user"].(map[string]any)["id"].(string), data["token"].(string)
	if admin {
		hmExec(t, g.DB, `UPDATE users SET role = 'ADMINISTRATOR' WHERE id = $1`, id)
	}
	return id, token
}

// hmPlace inserts sessions of a user already placed on a worker, in status.
func hmPlace(t *testing.T, g *testenv.Gateway, userID, workerID, status string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		hmExec(t, g.DB, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ($1, $2, $1, $3, $4)`,
			id, userID, workerID, status)
	}
}

func hmExec(t *testing.T, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func hmCount(t *testing.T, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return n
}

func hmWorkerStatus(t *testing.T, g *testenv.Gateway, id string) string {
	t.Helper()
	var status string
	if err := g.DB.QueryRow(context.Background(), `SELECT status::text FROM workers WHERE id = $1`, id).Scan(&status); err != nil {
		t.Fatalf("status of %s: %v", id, err)
	}
	return status
}

// hmWaitFor polls cond every 10 ms until it holds, failing the test after within.
func hmWaitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// hmMonitor reads healthMonitor from /health/detailed.
func hmMonitor(t *testing.T, g *testenv.Gateway) map[string]any {
	t.Helper()
	res := g.Do(t, http.MethodGet, "/health/detailed", nil)
	if res.Code != http.StatusOK {
		t.Fatalf("/health/detailed: %d %s", res.Code, res.Body)
	}
	return res.JSON(t)["data"].(map[string]any)["checks"].(map[string]any)["healthMonitor"].(map[string]any)
}

// hmLeading waits until g leads and has finished a round.
func hmLeading(t *testing.T, g *testenv.Gateway) {
	t.Helper()
	hmWaitFor(t, hmLeaseTTL+time.Second, "the gateway leads and has run a round", func() bool {
		m := hmMonitor(t, g)
		return m["running"] == true && m["leader"] == true && m["lastRunAt"] != nil
	})
}

func TestHealthMonitor_KilledWorker_GoesOfflineAndItsSessionsMoveWithinCapacity(t *testing.T) {
	t.Parallel()
	g := hmGateway(t, testenv.Options{})
	a, b := newHMWorker(t), newHMWorker(t)
	hmRegister(t, g, "worker-a", a.URL, 10)
	hmRegister(t, g, "worker-b", b.URL, 3)
	userID, _ := hmSignUp(t, g, "owner@example.com", false)
	ids := []string{"s-1", "s-2", "s-3", "s-4", "s-5"}
	hmPlace(t, g, userID, "worker-a", "CONNECTED", ids...)
	ch, unsubscribe := g.Bus.Subscribe(256)
	defer unsubscribe()
	g.Serve(t)
	hmLeading(t, g)

	a.Close()
	killed := time.Now()
	took := hmWaitFor(t, 3*hmInterval+time.Second, "worker-a goes OFFLINE",
		func() bool { return hmWorkerStatus(t, g, "worker-a") == "OFFLINE" })
	t.Logf("OFFLINE %s after the kill (interval %s)", took, hmInterval)
	// Each session's move ends with its system log entry.
	hmWaitFor(t, 5*time.Second, "worker-a's sessions are failed over", func() bool {
		return hmCount(t, g.DB, `SELECT count(DISTINCT session_id) FROM system_logs WHERE service = 'failover'`) == len(ids)
	})
	t.Logf("failover done %s after the kill", time.Since(killed))

	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE worker_id = 'worker-b' AND status = 'INIT'`); n != 3 {
		t.Fatalf("%d sessions moved to worker-b, want its capacity 3", n)
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE worker_id IS NULL AND status = 'DISCONNECTED'
		AND status_reason LIKE '%worker-a went OFFLINE and no other worker has free capacity%'`); n != 2 {
		t.Fatalf("%d sessions DISCONNECTED with the reason, want 2", n)
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM system_logs WHERE service = 'failover' AND level = 'WARN'
		AND message LIKE '%no other worker has free capacity%'`); n != 2 {
		t.Fatalf("%d system log entries for sessions left without a worker, want 2", n)
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM system_logs WHERE worker_id = 'worker-a'
		AND message LIKE 'Worker worker-a is OFFLINE after 3 failed health checks%'`); n != 1 {
		t.Fatalf("%d system log entries for worker-a going OFFLINE, want 1", n)
	}
	if started, _ := b.counts(); started != 3 {
		t.Fatalf("worker-b was asked to start %d sessions, want 3", started)
	}
	snapshot, err := g.Redis.HGet(context.Background(), g.Keys.Key("workers"), "worker-a").Result()
	if err != nil || !strings.Contains(snapshot, `"OFFLINE"`) {
		t.Fatalf("routing snapshot of worker-a = %q (%v), want OFFLINE", snapshot, err)
	}
	offlineEvent := false
	for len(ch) > 0 {
		if e := <-ch; e.Type == events.WorkerStatusUpdated && e.WorkerID == "worker-a" &&
			fmt.Sprint(e.Payload.(map[string]any)["status"]) == "OFFLINE" {
			offlineEvent = true
		}
	}
	if !offlineEvent {
		t.Fatal("no worker_status_updated event for worker-a going OFFLINE")
	}
	metrics := g.Do(t, http.MethodGet, "/metrics", nil).Body.String()
	for _, want := range []string{"gateway_leader 1", `gateway_failovers_total{outcome="moved"} 3`,
		`gateway_failovers_total{outcome="no_capacity"} 2`, "gateway_health_rounds_total ",
		"gateway_health_round_duration_seconds_count ", "gateway_health_check_failures_total "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// worker-a comes back and heartbeats with the sessions it still had: it is told to drop
	// every one of them, since none is placed on it any more.
	sessions := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		sessions = append(sessions, map[string]any{"sessionId": id, "status": "CONNECTED"})
	}
	res := g.Do(t, http.MethodPut, "/api/v1/workers/worker-a/heartbeat", map[string]any{"sessions": sessions},
		"Authorization", "Bearer "+g.Config.WorkerAuthToken)
	if res.Code != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	toStop, _ := data["sessionsToStop"].([]any)
	if len(toStop) != len(ids) || data["status"] != "ONLINE" {
		t.Fatalf("heartbeat answer = %v, want ONLINE and all %d sessions in sessionsToStop", data, len(ids))
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE worker_id = 'worker-a'`); n != 0 {
		t.Fatalf("the returning worker got %d sessions back", n)
	}
}

func TestHealthMonitor_HungWorker_TimesOutWithoutHoldingUpOtherWorkers(t *testing.T) {
	t.Parallel()
	g := hmGateway(t, testenv.Options{})
	// A worker that accepts TCP connections and never answers: nobody calls Accept.
	var lc net.ListenConfig
	hung, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hung.Close() })
	hmExec(t, g.DB, `INSERT INTO workers (id, endpoint, status, max_sessions, last_heartbeat)
		VALUES ('worker-hung', $1, 'ONLINE', 10, now())`, "http://"+hung.Addr().String())
	healthy, doomed := newHMWorker(t), newHMWorker(t)
	hmRegister(t, g, "worker-healthy", healthy.URL, 10)
	hmRegister(t, g, "worker-doomed", doomed.URL, 10)
	g.Serve(t)
	hmLeading(t, g)
	start := time.Now()

	doomed.Close()
	// Three rounds fail worker-doomed while worker-hung's first check still waits for its 5 s
	// timeout: rounds do not wait for it.
	took := hmWaitFor(t, 2*time.Second, "worker-doomed goes OFFLINE while a check hangs",
		func() bool { return hmWorkerStatus(t, g, "worker-doomed") == "OFFLINE" })
	t.Logf("worker-doomed OFFLINE after %s", took)
	hmWaitFor(t, 7*time.Second, "worker-hung's check times out and counts as a failure", func() bool {
		return hmCount(t, g.DB, `SELECT consecutive_failures FROM workers WHERE id = 'worker-hung'`) >= 1
	})
	if elapsed := time.Since(start); elapsed < 4*time.Second {
		t.Fatalf("worker-hung failed after %s, before the 5 s health timeout could end", elapsed)
	}
	if status, n := hmWorkerStatus(t, g, "worker-healthy"),
		hmCount(t, g.DB, `SELECT consecutive_failures FROM workers WHERE id = 'worker-healthy'`); status != "ONLINE" || n != 0 {
		t.Fatalf("worker-healthy is %s with %d failures, want ONLINE with none", status, n)
	}
}

func TestHealthMonitor_TwoGateways_ElectOneLeaderAndTheOtherTakesOver(t *testing.T) {
	t.Parallel()
	ga := hmGateway(t, testenv.Options{})
	gb := hmGateway(t, testenv.Options{DatabaseURL: ga.DatabaseURL, KeyPrefix: ga.KeyPrefix})
	_, stopA := ga.Serve(t)
	_, stopB := gb.Serve(t)
	gateways := []*testenv.Gateway{ga, gb}
	stops := []func() error{stopA, stopB}
	// leader is the one gateway that reports it leads, -1 for none, -2 for both.
	leader := func() int {
		who := -1
		for i, g := range gateways {
			if m := hmMonitor(t, g); m["leader"] == true {
				who = map[bool]int{true: -2, false: i}[who >= 0]
			}
		}
		return who
	}
	hmWaitFor(t, hmLeaseTTL, "one gateway leads", func() bool { return leader() != -1 })
	first := leader()
	if first < 0 {
		t.Fatal("both gateways report that they lead")
	}
	for range 20 { // over several renewals and rounds, still exactly one
		if who := leader(); who != first {
			t.Fatalf("leader changed to %d from %d without a failure", who, first)
		}
		time.Sleep(hmInterval / 2)
	}
	for _, g := range gateways {
		if m := hmMonitor(t, g); m["running"] != true {
			t.Fatalf("healthMonitor = %v, want running on every replica", m)
		}
	}
	hmWaitFor(t, time.Second, "the leader runs rounds", func() bool { return hmMonitor(t, gateways[first])["lastRunAt"] != nil })
	if m := hmMonitor(t, gateways[1-first]); m["lastRunAt"] != nil {
		t.Fatalf("the follower ran a round: %v", m)
	}

	// The lease vanishes from Redis (a Redis failover that lost the key): within TTL plus
	// one interval exactly one gateway leads again, under a new fencing token.
	token := hmFencingToken(t, gateways[first])
	leaseKey := redisdb.NewKeys(ga.KeyPrefix).Tagged("health_monitor", "lease")
	if err := ga.Redis.Del(context.Background(), leaseKey).Err(); err != nil {
		t.Fatal(err)
	}
	hmWaitFor(t, hmLeaseTTL+hmInterval, "a leader holds a new lease", func() bool {
		who := leader()
		return who >= 0 && hmFencingToken(t, gateways[who]) > token
	})

	// The leader stops; the other takes over within TTL plus one interval.
	current := leader()
	if current < 0 {
		t.Fatal("no single leader after the lease was retaken")
	}
	if err := stops[current](); err != nil {
		t.Fatalf("stop the leader: %v", err)
	}
	other := gateways[1-current]
	took := hmWaitFor(t, hmLeaseTTL+hmInterval, "the other gateway takes over", func() bool {
		return hmMonitor(t, other)["leader"] == true
	})
	t.Logf("takeover %s after the leader stopped", took)
	if m := hmMonitor(t, gateways[current]); m["leader"] == true || m["running"] == true {
		t.Fatalf("the stopped gateway still reports %v", m)
	}
}

func hmFencingToken(t *testing.T, g *testenv.Gateway) int64 {
	t.Helper()
	return g.HealthMonitor.Status().FencingToken
}

func TestHealthMonitor_PreservedSessions_WaitOutTheirGracePeriod(t *testing.T) {
	t.Parallel()
	g := hmGateway(t, testenv.Options{})
	a, b := newHMWorker(t), newHMWorker(t)
	hmRegister(t, g, "worker-a", a.URL, 5)
	hmRegister(t, g, "worker-b", b.URL, 5)
	userID, _ := hmSignUp(t, g, "preserved@example.com", false)
	hmPlace(t, g, userID, "worker-a", "CONNECTED", "kept", "moved")
	g.Serve(t)
	hmLeading(t, g)

	var graceEnd time.Time
	if err := g.DB.QueryRow(context.Background(), `UPDATE sessions SET preserved_until = now() + interval '1500 milliseconds'
		WHERE id = 'kept' RETURNING preserved_until`).Scan(&graceEnd); err != nil {
		t.Fatal(err)
	}
	a.Close()
	hmWaitFor(t, 3*time.Second, "the session without grace moves", func() bool {
		return hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE id = 'moved' AND worker_id = 'worker-b'`) == 1
	})
	if hmWorkerStatus(t, g, "worker-a") != "OFFLINE" {
		t.Fatal("worker-a is not OFFLINE although its sessions are failing over")
	}
	// While its grace runs the preserved session stays on worker-a; then it moves too.
	hmWaitFor(t, 5*time.Second, "the preserved session moves once its grace has passed", func() bool {
		var worker *string
		var inGrace bool
		if err := g.DB.QueryRow(context.Background(),
			`SELECT worker_id, coalesce(preserved_until > now(), false) FROM sessions WHERE id = 'kept'`).Scan(&worker, &inGrace); err != nil {
			t.Fatal(err)
		}
		if inGrace && (worker == nil || *worker != "worker-a") {
			t.Fatalf("the preserved session left worker-a during its grace period (now on %v)", worker)
		}
		return worker != nil && *worker == "worker-b"
	})
	if n := hmCount(t, g.DB, `SELECT count(*) FROM system_logs WHERE session_id = 'kept' AND service = 'failover'
		AND created_at < $1`, graceEnd); n != 0 {
		t.Fatal("the preserved session was moved before its grace period ended")
	}
}

func TestDrain_MovesEverySessionAndLeavesTheWorkerInMaintenance(t *testing.T) {
	t.Parallel()
	g := hmGateway(t, testenv.Options{})
	a, b := newHMWorker(t), newHMWorker(t)
	hmRegister(t, g, "worker-a", a.URL, 5)
	hmRegister(t, g, "worker-b", b.URL, 5)
	userID, _ := hmSignUp(t, g, "drained@example.com", false)
	_, admin := hmSignUp(t, g, "admin@example.com", true)
	hmPlace(t, g, userID, "worker-a", "CONNECTED", "d-1", "d-2", "d-3")
	g.Serve(t)

	res := g.Do(t, http.MethodPost, "/api/v1/workers/worker-a/drain", nil, "Authorization", "Bearer "+admin)
	if res.Code != http.StatusAccepted {
		t.Fatalf("drain: %d %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	if data["sessionsToMove"] != float64(3) || data["status"] != "MAINTENANCE" {
		t.Fatalf("drain answer = %v, want 3 sessions to move and MAINTENANCE", data)
	}
	hmWaitFor(t, 5*time.Second, "the drain finishes", func() bool {
		return hmCount(t, g.DB, `SELECT count(*) FROM system_logs WHERE message LIKE 'Drain of worker worker-a:%'`) == 1
	})
	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE worker_id = 'worker-b' AND status = 'INIT'`); n != 3 {
		t.Fatalf("%d sessions moved to worker-b, want 3", n)
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE worker_id = 'worker-a'`); n != 0 {
		t.Fatalf("%d sessions still on worker-a", n)
	}
	if status := hmWorkerStatus(t, g, "worker-a"); status != "MAINTENANCE" {
		t.Fatalf("worker-a is %s after the drain, want MAINTENANCE", status)
	}
	if _, stopped := a.counts(); stopped != 3 {
		t.Fatalf("worker-a was told to stop %d sessions, want 3", stopped)
	}
	if started, _ := b.counts(); started != 3 {
		t.Fatalf("worker-b was asked to start %d sessions, want 3", started)
	}
}

func TestWorkerHealthRoutes_RequireAnAdministrator(t *testing.T) {
	t.Parallel()
	g := hmGateway(t, testenv.Options{})
	w := newHMWorker(t)
	hmRegister(t, g, "worker-a", w.URL, 5)
	_, user := hmSignUp(t, g, "user@example.com", false)
	_, admin := hmSignUp(t, g, "admin@example.com", true)
	routes := []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/api/v1/workers/health-check", http.StatusOK},
		{http.MethodPost, "/api/v1/workers/health/stop", http.StatusOK},
		{http.MethodPost, "/api/v1/workers/health/start", http.StatusOK},
		{http.MethodGet, "/api/v1/workers/health/status", http.StatusOK},
		{http.MethodPost, "/api/v1/workers/worker-a/drain", http.StatusAccepted},
	}
	for _, r := range routes {
		name := r.method + " " + r.path
		if res := g.Do(t, r.method, r.path, nil); res.Code != http.StatusUnauthorized {
			t.Errorf("%s without a token = %d, want 401", name, res.Code)
		}
		if res := g.Do(t, r.method, r.path, nil, "Authorization", "Bearer "+user); res.Code != http.StatusForbidden {
			t.Errorf("%s as USER = %d, want 403", name, res.Code)
		}
		if res := g.Do(t, r.method, r.path, nil, "Authorization", "Bearer "+admin); res.Code != r.want {
			t.Errorf("%s as ADMINISTRATOR = %d, want %d; body %s", name, res.Code, r.want, res.Body)
		}
	}

	res := g.Do(t, http.MethodPost, "/api/v1/workers/health-check", nil, "Authorization", "Bearer "+admin)
	data := res.JSON(t)["data"].(map[string]any)
	summary := data["summary"].(map[string]any)
	results, _ := data["results"].([]any)
	if summary["total"] != float64(1) || summary["healthy"] != float64(1) || summary["failed"] != float64(0) ||
		summary["checkedAt"] == nil || len(results) != 1 {
		t.Fatalf("health-check = %v, want one healthy worker", data)
	}
	if r := results[0].(map[string]any); r["workerId"] != "worker-a" || r["healthy"] != true || r["status"] != "MAINTENANCE" {
		t.Fatalf("result = %v, want worker-a healthy (and in MAINTENANCE after the drain)", r)
	}
}

func TestHealthMonitor_StopAndStart_PauseTheRoundsOnEveryReplica(t *testing.T) {
	t.Parallel()
	g := hmGateway(t, testenv.Options{})
	_, admin := hmSignUp(t, g, "admin@example.com", true)
	g.Serve(t)
	hmLeading(t, g)

	res := g.Do(t, http.MethodPost, "/api/v1/workers/health/stop", nil, "Authorization", "Bearer "+admin)
	if st := res.JSON(t)["data"].(map[string]any); res.Code != http.StatusOK || st["running"] != false || st["stopped"] != true {
		t.Fatalf("stop: %d %s", res.Code, res.Body)
	}
	// Absence takes a window to observe: a round in flight when the switch flipped may still
	// finish within one interval; after that none may run.
	time.Sleep(2 * hmInterval)
	before := g.HealthMonitor.Status().LastRunAt
	time.Sleep(3 * hmInterval)
	if after := g.HealthMonitor.Status().LastRunAt; !after.Equal(*before) {
		t.Fatalf("a round ran while the monitor was stopped (%s → %s)", before, after)
	}
	if m := hmMonitor(t, g); m["running"] != false || m["leader"] != true {
		t.Fatalf("healthMonitor while stopped = %v, want not running, still leader", m)
	}

	res = g.Do(t, http.MethodPost, "/api/v1/workers/health/start", nil, "Authorization", "Bearer "+admin)
	if res.Code != http.StatusOK {
		t.Fatalf("start: %d %s", res.Code, res.Body)
	}
	hmWaitFor(t, time.Second, "rounds resume", func() bool {
		after := g.HealthMonitor.Status().LastRunAt
		return after != nil && after.After(*before)
	})
}

func TestUnregister_WithFailover_MovesSessionsWithinCapacityAndCountsThem(t *testing.T) {
	t.Parallel()
	g := hmGateway(t, testenv.Options{})
	a, b := newHMWorker(t), newHMWorker(t)
	hmRegister(t, g, "worker-a", a.URL, 5)
	hmRegister(t, g, "worker-b", b.URL, 2)
	userID, _ := hmSignUp(t, g, "owner@example.com", false)
	hmPlace(t, g, userID, "worker-a", "CONNECTED", "u-1", "u-2", "u-3")

	res := g.Do(t, http.MethodDelete, "/api/v1/workers/unregister", map[string]any{"workerId": "worker-a", "endpoint": a.URL},
		"Authorization", "Bearer "+g.Config.WorkerAuthToken)

	if res.Code != http.StatusOK {
		t.Fatalf("unregister: %d %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	if data["migratedSessions"] != float64(2) || data["releasedSessions"] != float64(1) {
		t.Fatalf("unregister = %v, want 2 migrated and 1 released", data)
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM workers WHERE id = 'worker-a'`); n != 0 {
		t.Fatal("worker-a is still registered")
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE worker_id = 'worker-b'`); n != 2 {
		t.Fatalf("%d sessions on worker-b, want its capacity 2", n)
	}
}

func TestUnregister_WithPreservedSessions_KeepsThemAndTheWorkerThroughTheGrace(t *testing.T) {
	t.Parallel()
	g := hmGateway(t, testenv.Options{})
	a, b := newHMWorker(t), newHMWorker(t)
	hmRegister(t, g, "worker-a", a.URL, 5)
	hmRegister(t, g, "worker-b", b.URL, 5)
	userID, _ := hmSignUp(t, g, "owner@example.com", false)
	hmPlace(t, g, userID, "worker-a", "CONNECTED", "p-1", "p-2")
	auth := []string{"Authorization", "Bearer " + g.Config.WorkerAuthToken}

	res := g.Do(t, http.MethodPost, "/api/v1/workers/worker-a/sessions-preserved",
		map[string]any{"workerId": "worker-a", "preservedSessions": []string{"p-1"}}, auth...)
	if res.Code != http.StatusOK {
		t.Fatalf("sessions-preserved: %d %s", res.Code, res.Body)
	}
	res = g.Do(t, http.MethodDelete, "/api/v1/workers/unregister", map[string]any{"workerId": "worker-a"}, auth...)
	if res.Code != http.StatusOK {
		t.Fatalf("unregister: %d %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	if data["migratedSessions"] != float64(1) || data["preservedSessions"] != float64(1) {
		t.Fatalf("unregister = %v, want 1 migrated and 1 preserved", data)
	}
	if status := hmWorkerStatus(t, g, "worker-a"); status != "OFFLINE" {
		t.Fatalf("worker-a is %s, want kept OFFLINE for its preserved session", status)
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE id = 'p-1' AND worker_id = 'worker-a' AND status = 'CONNECTED'`); n != 1 {
		t.Fatal("the preserved session did not stay on worker-a")
	}
	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE id = 'p-2' AND worker_id = 'worker-b'`); n != 1 {
		t.Fatal("the session without grace did not move to worker-b")
	}
	// The worker restarts within the grace and registers again: it recovers the session.
	hmRegister(t, g, "worker-a", a.URL, 5)
	if n := hmCount(t, g.DB, `SELECT count(*) FROM sessions WHERE id = 'p-1' AND worker_id = 'worker-a'`); n != 1 {
		t.Fatal("the preserved session is gone from the worker that came back")
	}
}
