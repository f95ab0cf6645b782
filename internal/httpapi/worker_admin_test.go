package httpapi_test

// Tests of worker administration (ADMINISTRATOR): /workers, /workers/{id}, statistics,
// available, endpoint tests and metrics. Helpers (wrk...) live in workers_test.go.

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

// wrkSignUp registers a dashboard user and returns its ID and JWT.
func wrkSignUp(t *testing.T, g *testenv.Gateway) (id, token string) {
	t.Helper()
	email := fmt.Sprintf("admin-%d@example.com", wrkUserSeq.Add(1))
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/auth/register",
		map[string]any{"name": "Fleet Admin", "email": email, "password": wrkPassword}), http.StatusCreated)
	user, _ := data["user"].(map[string]any)
	id, _ = user["id"].(string)
	token, _ = data["token"].(string)
	if id == "" || token == "" {
		t.Fatalf("register answer lacks user.id or token: %v", data)
	}
	return id, token
}

// wrkAdmin returns the Authorization header of a new ADMINISTRATOR.
func wrkAdmin(t *testing.T, g *testenv.Gateway) []string {
	t.Helper()
	id, token := wrkSignUp(t, g)
	wrkExec(t, g, `UPDATE users SET role = 'ADMINISTRATOR' WHERE id = $1`, id)
	return wrkBearer(token)
}

func wrkAdminWorkers(t *testing.T, data map[string]any) []map[string]any {
	t.Helper()
	list, ok := data["workers"].([]any)
	if !ok {
		t.Fatalf("data.workers is not a list: %v", data)
	}
	out := make([]map[string]any, 0, len(list))
	for _, item := range list {
		out = append(out, item.(map[string]any))
	}
	return out
}

func wrkIDs(workers []map[string]any, key string) []string {
	ids := make([]string, 0, len(workers))
	for _, w := range workers {
		ids = append(ids, fmt.Sprint(w[key]))
	}
	return ids
}

func wrkNear(got any, want float64) bool {
	f, ok := got.(float64)
	return ok && math.Abs(f-want) < 1e-6
}

func wrkAdminRequired(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-guarded", "ONLINE", 10)
	_, userToken := wrkSignUp(t, g)
	routes := []wrkRoute{
		{http.MethodGet, "/api/v1/workers", nil},
		{http.MethodPost, "/api/v1/workers", map[string]any{"endpoint": "http://127.0.0.1:1"}},
		{http.MethodGet, "/api/v1/workers/statistics", nil},
		{http.MethodGet, "/api/v1/workers/available", nil},
		{http.MethodPost, "/api/v1/workers/test", map[string]any{"endpoint": "http://127.0.0.1:1"}},
		{http.MethodGet, "/api/v1/workers/worker-guarded", nil},
		{http.MethodPut, "/api/v1/workers/worker-guarded", map[string]any{"status": "MAINTENANCE"}},
		{http.MethodDelete, "/api/v1/workers/worker-guarded", nil},
		{http.MethodPost, "/api/v1/workers/worker-guarded/test", nil},
		{http.MethodGet, "/api/v1/workers/worker-guarded/metrics", nil},
	}
	for _, route := range routes {
		wrkWantError(t, g.Do(t, route.method, route.path, route.body), http.StatusUnauthorized, "unauthorized")
		wrkWantError(t, g.Do(t, route.method, route.path, route.body, wrkBearer(userToken)...), http.StatusForbidden, "forbidden")
		// The worker token is not an administrator either.
		wrkWantError(t, g.Do(t, route.method, route.path, route.body, wrkShared(g)...), http.StatusUnauthorized, "unauthorized")
	}
	if wrkWorkerStatus(t, g, "worker-guarded") != "ONLINE" {
		t.Fatal("a refused request changed the worker")
	}
}

func TestWorkerAdmin_ListPaginatesFiltersAndShowsTheFields(t *testing.T) {
	t.Parallel()
	g := wrkGateway(t, nil)
	admin := wrkAdmin(t, g)
	wrkInsertWorker(t, g, "worker-a", "ONLINE", 10)
	wrkInsertWorker(t, g, "worker-b", "ONLINE", 20)
	wrkInsertWorker(t, g, "worker-c", "ONLINE", 30)
	wrkInsertWorker(t, g, "worker-d", "OFFLINE", 40)
	wrkInsertWorker(t, g, "worker-e", "MAINTENANCE", 50)
	wrkExec(t, g, `UPDATE workers SET cpu_usage = 12.5, memory_usage = 40, version = '1.2.3', environment = 'STAGING',
		description = 'rack 1' WHERE id = 'worker-a'`)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "list-connected", "worker-a", "CONNECTED")
	wrkSession(t, g, user, "list-qr", "worker-a", "QR_REQUIRED")

	data := wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers?limit=2&page=2", nil, admin...), http.StatusOK)
	if got := wrkIDs(wrkAdminWorkers(t, data), "id"); !slices.Equal(got, []string{"worker-c", "worker-d"}) {
		t.Fatalf("page 2 = %v, want worker-c, worker-d", got)
	}
	p, _ := data["pagination"].(map[string]any)
	want := map[string]any{"total": float64(5), "page": float64(2), "limit": float64(2), "totalPages": float64(3),
		"hasNext": true, "hasPrev": true}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("pagination.%s = %v, want %v", k, p[k], v)
		}
	}

	data = wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers?status=ONLINE", nil, admin...), http.StatusOK)
	workers := wrkAdminWorkers(t, data)
	if got := wrkIDs(workers, "id"); !slices.Equal(got, []string{"worker-a", "worker-b", "worker-c"}) {
		t.Fatalf("ONLINE workers = %v", got)
	}
	a := workers[0]
	fields := map[string]any{"id": "worker-a", "endpoint": "http://worker-a.invalid:8001", "status": "ONLINE",
		"sessionCount": float64(2), "maxSessions": float64(10), "cpuUsage": 12.5, "memoryUsage": float64(40),
		"version": "1.2.3", "environment": "STAGING", "description": "rack 1", "activeSessionCount": float64(1),
		"utilizationRate": float64(20)}
	for k, v := range fields {
		if a[k] != v {
			t.Errorf("worker-a.%s = %v, want %v", k, a[k], v)
		}
	}
	if _, ok := a["lastHeartbeat"]; !ok {
		t.Error("worker-a lacks lastHeartbeat")
	}
	for k := range a {
		if strings.Contains(strings.ToLower(k), "token") {
			t.Errorf("worker-a shows %s", k)
		}
	}

	for _, query := range []string{"status=BANANA", "limit=0", "limit=101", "page=0"} {
		wrkWantError(t, g.Do(t, http.MethodGet, "/api/v1/workers?"+query, nil, admin...), http.StatusBadRequest, "validation_error")
	}
}

func TestWorkerAdmin_StatisticsAreComputedFromTheRows(t *testing.T) {
	t.Parallel()
	g := wrkGateway(t, nil)
	admin := wrkAdmin(t, g)

	// An empty fleet is all zeros (no division by zero).
	data := wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/statistics", nil, admin...), http.StatusOK)
	for _, k := range []string{"total", "capacity", "used", "utilization", "avgCpu", "avgMemory"} {
		if !wrkNear(data[k], 0) {
			t.Errorf("empty fleet: %s = %v, want 0", k, data[k])
		}
	}

	wrkInsertWorker(t, g, "stat-a", "ONLINE", 10)
	wrkInsertWorker(t, g, "stat-b", "ONLINE", 20)
	wrkInsertWorker(t, g, "stat-c", "OFFLINE", 30)
	wrkInsertWorker(t, g, "stat-d", "MAINTENANCE", 5)
	wrkExec(t, g, `UPDATE workers SET cpu_usage = 20, memory_usage = 40 WHERE id = 'stat-a'`)
	wrkExec(t, g, `UPDATE workers SET cpu_usage = 40, memory_usage = 60 WHERE id = 'stat-b'`)
	wrkExec(t, g, `UPDATE workers SET cpu_usage = 99, memory_usage = 99 WHERE id = 'stat-c'`) // not ONLINE: not averaged
	user := wrkUser(t, g)
	wrkSession(t, g, user, "stat-1", "stat-a", "CONNECTED")
	wrkSession(t, g, user, "stat-2", "stat-a", "CONNECTED")
	wrkSession(t, g, user, "stat-3", "stat-a", "QR_REQUIRED")
	wrkSession(t, g, user, "stat-4", "stat-b", "ERROR")
	wrkSession(t, g, user, "stat-5", "stat-b", "RECONNECTING")

	data = wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/statistics", nil, admin...), http.StatusOK)
	want := map[string]float64{"total": 4, "online": 2, "offline": 1, "maintenance": 1, "capacity": 30, "used": 5,
		"utilization": 5.0 / 30 * 100, "avgCpu": 30, "avgMemory": 50}
	for k, v := range want {
		if !wrkNear(data[k], v) {
			t.Errorf("%s = %v, want %v", k, data[k], v)
		}
	}
	byStatus, _ := data["sessionsByStatus"].(map[string]any)
	wantByStatus := map[string]float64{"INIT": 0, "QR_REQUIRED": 1, "CONNECTED": 2, "DISCONNECTED": 0, "RECONNECTING": 1, "ERROR": 1}
	for k, v := range wantByStatus {
		if !wrkNear(byStatus[k], v) {
			t.Errorf("sessionsByStatus.%s = %v, want %v", k, byStatus[k], v)
		}
	}
}

func TestWorkerAdmin_AvailableListsOnlineWorkersWithRoomBestFirst(t *testing.T) {
	t.Parallel()
	g := wrkGateway(t, nil)
	admin := wrkAdmin(t, g)
	for _, w := range []struct {
		id, status string
		max        int
	}{
		{"avail-idle", "ONLINE", 10}, {"avail-light", "ONLINE", 10}, {"avail-hot", "ONLINE", 10},
		{"avail-stale", "ONLINE", 10}, {"avail-full", "ONLINE", 1}, {"avail-offline", "OFFLINE", 10},
		{"avail-maintenance", "MAINTENANCE", 10},
	} {
		wrkInsertWorker(t, g, w.id, w.status, w.max)
	}
	wrkExec(t, g, `UPDATE workers SET cpu_usage = 80, memory_usage = 80 WHERE id = 'avail-hot'`)
	wrkExec(t, g, `UPDATE workers SET last_heartbeat = now() - interval '2 hours' WHERE id = 'avail-stale'`)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "avail-s1", "avail-light", "CONNECTED")
	wrkSession(t, g, user, "avail-s2", "avail-full", "CONNECTED")

	data := wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/available", nil, admin...), http.StatusOK)
	workers := wrkAdminWorkers(t, data)
	// Scores: idle 0, light 10 (capacity), stale 25 (capped staleness), hot 40 (resources).
	if got := wrkIDs(workers, "workerId"); !slices.Equal(got, []string{"avail-idle", "avail-light", "avail-stale", "avail-hot"}) {
		t.Fatalf("available = %v", got)
	}
	if data["total"] != float64(4) {
		t.Fatalf("total = %v, want 4", data["total"])
	}
	light := workers[1]
	if light["sessionCount"] != float64(1) || light["freeSlots"] != float64(9) || light["maxSessions"] != float64(10) {
		t.Fatalf("avail-light = %v", light)
	}
	// 10 for capacity, plus a little staleness: its heartbeat is some milliseconds old.
	if score, _ := light["score"].(float64); score < 10 || score > 10.5 {
		t.Fatalf("avail-light = %v", light)
	}
}

func TestWorkerAdmin(t *testing.T) {
	t.Parallel()
	g := wrkGateway(t, map[string]string{"SESSION_FAILOVER": "false"})
	admin := wrkAdmin(t, g)
	as := func(run func(t *testing.T, g *testenv.Gateway, admin []string)) func(t *testing.T, g *testenv.Gateway) {
		return func(t *testing.T, g *testenv.Gateway) { run(t, g, admin) }
	}
	wrkRunSuite(t, g, []wrkCase{
		{"RequiresAnAdministrator", wrkAdminRequired},
		{"AddWorker_DefaultsTheIDToHostAndPortAfterTestingReachability", as(wrkAdminAdd)},
		{"AddWorker_WithAnIDAndFields", as(wrkAdminAddNamed)},
		{"GetWorker_ShowsOneWorkerOr404", as(wrkAdminGet)},
		{"UpdateWorker_ChangesTheAllowedFieldsOnly", as(wrkAdminUpdate)},
		{"DeleteWorker_ReleasesItsSessionsFirst", as(wrkAdminDelete)},
		{"TestEndpoint_ReportsReachabilityNever5xx", as(wrkAdminTestEndpoint)},
		{"TestWorker_TestsTheRegisteredEndpoint", as(wrkAdminTestWorker)},
		{"Metrics_AreTheHeartbeatSamplesOfThePeriod", as(wrkAdminMetrics)},
	})
}

func wrkAdminAdd(t *testing.T, g *testenv.Gateway, admin []string) {
	worker := newWrkFakeWorker(t)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(worker.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://localhost:" + port
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers", map[string]any{"endpoint": endpoint}, admin...), http.StatusCreated)
	w, _ := data["worker"].(map[string]any)
	if w["id"] != "worker-localhost-"+port || w["endpoint"] != endpoint || w["status"] != "ONLINE" || w["maxSessions"] != float64(50) {
		t.Fatalf("worker = %v, want worker-localhost-%s", w, port)
	}
	if worker.hits.Load() == 0 {
		t.Fatal("reachability was not tested")
	}
	if _, ok := data["workerToken"]; ok {
		t.Fatal("a worker added by hand got a token in the answer")
	}
	// The same endpoint again is a conflict under another ID.
	wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/workers", map[string]any{"workerId": "worker-dup", "endpoint": endpoint}, admin...),
		http.StatusConflict, "conflict")

	closed := wrkClosedEndpoint(t)
	body := wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/workers", map[string]any{"endpoint": closed}, admin...),
		http.StatusServiceUnavailable, "connectivity_error")
	if !strings.Contains(body["message"].(string), "connection refused") {
		t.Fatalf("message = %v", body["message"])
	}
	wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/workers", map[string]any{}, admin...), http.StatusBadRequest, "validation_error")
}

func wrkAdminAddNamed(t *testing.T, g *testenv.Gateway, admin []string) {
	worker := newWrkFakeWorker(t)
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers", map[string]any{"workerId": "Manual_Worker", "endpoint": worker.URL,
		"maxSessions": 25, "description": "added by hand", "version": "3.0.0", "environment": "TESTING"}, admin...), http.StatusCreated)
	w, _ := data["worker"].(map[string]any)
	want := map[string]any{"id": "manual-worker", "maxSessions": float64(25), "description": "added by hand",
		"version": "3.0.0", "environment": "TESTING", "utilizationRate": float64(0)}
	for k, v := range want {
		if w[k] != v {
			t.Errorf("worker.%s = %v, want %v", k, w[k], v)
		}
	}
	body := wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/workers", map[string]any{"workerId": "manual-bad", "endpoint": worker.URL,
		"maxSessions": 5000, "version": "three"}, admin...), http.StatusBadRequest, "validation_error")
	if got := wrkFields(body); !slices.Equal(got, []string{"maxSessions", "version"}) {
		t.Fatalf("fields = %v", got)
	}
}

func wrkAdminGet(t *testing.T, g *testenv.Gateway, admin []string) {
	wrkInsertWorker(t, g, "worker-get", "ONLINE", 4)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "get-1", "worker-get", "CONNECTED")
	data := wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/Worker_Get", nil, admin...), http.StatusOK)
	w, _ := data["worker"].(map[string]any)
	if w["id"] != "worker-get" || w["sessionCount"] != float64(1) || w["activeSessionCount"] != float64(1) || w["utilizationRate"] != float64(25) {
		t.Fatalf("worker = %v", w)
	}
	wrkWantError(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-get-nope", nil, admin...), http.StatusNotFound, "not_found")
}

func wrkAdminUpdate(t *testing.T, g *testenv.Gateway, admin []string) {
	wrkInsertWorker(t, g, "worker-put", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "put-1", "worker-put", "CONNECTED")
	wrkSession(t, g, user, "put-2", "worker-put", "CONNECTED")
	wrkSession(t, g, user, "put-3", "worker-put", "INIT")

	data := wrkData(t, g.Do(t, http.MethodPut, "/api/v1/workers/worker-put", map[string]any{"maxSessions": 3,
		"description": "moved to rack 2", "version": "1.4.0", "environment": "PRODUCTION", "status": "MAINTENANCE"}, admin...), http.StatusOK)
	w, _ := data["worker"].(map[string]any)
	want := map[string]any{"maxSessions": float64(3), "description": "moved to rack 2", "version": "1.4.0",
		"environment": "PRODUCTION", "status": "MAINTENANCE", "utilizationRate": float64(100)}
	for k, v := range want {
		if w[k] != v {
			t.Errorf("worker.%s = %v, want %v", k, w[k], v)
		}
	}
	data = wrkData(t, g.Do(t, http.MethodPut, "/api/v1/workers/worker-put", map[string]any{"status": "ONLINE"}, admin...), http.StatusOK)
	if w, _ := data["worker"].(map[string]any); w["status"] != "ONLINE" || w["description"] != "moved to rack 2" {
		t.Fatalf("after setting ONLINE: %v, want the other fields kept", w)
	}

	tests := []struct {
		name string
		body map[string]any
		want []string
	}{
		{"status OFFLINE", map[string]any{"status": "OFFLINE"}, []string{"status"}},
		{"maxSessions below the placed sessions", map[string]any{"maxSessions": 2}, []string{"maxSessions"}},
		{"maxSessions 0", map[string]any{"maxSessions": 0}, []string{"maxSessions"}},
		{"version", map[string]any{"version": "v2"}, []string{"version"}},
		{"environment", map[string]any{"environment": "PROD"}, []string{"environment"}},
	}
	for _, tt := range tests {
		body := wrkWantError(t, g.Do(t, http.MethodPut, "/api/v1/workers/worker-put", tt.body, admin...), http.StatusBadRequest, "validation_error")
		if got := wrkFields(body); !slices.Equal(got, tt.want) {
			t.Errorf("%s: fields %v, want %v", tt.name, got, tt.want)
		}
	}
	if wrkWorkerStatus(t, g, "worker-put") != "ONLINE" {
		t.Fatal("a refused update changed the worker")
	}
	wrkWantError(t, g.Do(t, http.MethodPut, "/api/v1/workers/worker-put-nope", map[string]any{"maxSessions": 5}, admin...),
		http.StatusNotFound, "not_found")
}

func wrkAdminDelete(t *testing.T, g *testenv.Gateway, admin []string) {
	wrkInsertWorker(t, g, "worker-del", "ONLINE", 10)
	user := wrkUser(t, g)
	wrkSession(t, g, user, "del-1", "worker-del", "CONNECTED")
	wrkSession(t, g, user, "del-2", "worker-del", "QR_REQUIRED")
	data := wrkData(t, g.Do(t, http.MethodDelete, "/api/v1/workers/worker-del", nil, admin...), http.StatusOK)
	if data["workerId"] != "worker-del" || data["releasedSessions"] != float64(2) {
		t.Fatalf("data = %v", data)
	}
	for _, id := range []string{"del-1", "del-2"} {
		if row := wrkSessionOf(t, g, id); row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Reason == nil {
			t.Fatalf("%s = %+v, want released", id, row)
		}
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM workers WHERE id = 'worker-del'`); n != 0 {
		t.Fatal("the worker is still there")
	}
	wrkWantError(t, g.Do(t, http.MethodDelete, "/api/v1/workers/worker-del", nil, admin...), http.StatusNotFound, "not_found")
}

func wrkAdminTestEndpoint(t *testing.T, g *testenv.Gateway, admin []string) {
	worker := newWrkFakeWorker(t)
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/test", map[string]any{"endpoint": worker.URL}, admin...), http.StatusOK)
	if data["reachable"] != true || data["endpoint"] != worker.URL {
		t.Fatalf("data = %v", data)
	}
	if h, _ := data["health"].(map[string]any); h["status"] != "healthy" {
		t.Fatalf("health = %v, want the worker's answer", data["health"])
	}
	data = wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/test", map[string]any{"endpoint": wrkClosedEndpoint(t)}, admin...), http.StatusOK)
	if data["reachable"] != false || !strings.Contains(fmt.Sprint(data["error"]), "connection refused") {
		t.Fatalf("data = %v, want reachable false naming the cause", data)
	}
	for _, body := range []map[string]any{{}, {"endpoint": "not a url"}, {"endpoint": "ftp://10.0.0.1"}} {
		wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/workers/test", body, admin...), http.StatusBadRequest, "validation_error")
	}
}

func wrkAdminTestWorker(t *testing.T, g *testenv.Gateway, admin []string) {
	worker := newWrkFakeWorker(t)
	wrkRegister(t, g, "worker-tested", worker.URL)
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/worker-tested/test", nil, admin...), http.StatusOK)
	test, _ := data["test"].(map[string]any)
	if data["workerId"] != "worker-tested" || test["reachable"] != true {
		t.Fatalf("data = %v", data)
	}
	worker.Close()
	data = wrkData(t, g.Do(t, http.MethodPost, "/api/v1/workers/worker-tested/test", nil, admin...), http.StatusOK)
	if test, _ := data["test"].(map[string]any); test["reachable"] != false {
		t.Fatalf("a stopped worker tested reachable: %v", data)
	}
	wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/workers/worker-untested/test", nil, admin...), http.StatusNotFound, "not_found")
}

func wrkAdminMetrics(t *testing.T, g *testenv.Gateway, admin []string) {
	wrkInsertWorker(t, g, "worker-metrics", "ONLINE", 10)
	for _, cpu := range []float64{10, 20} {
		wrkHeartbeat(t, g, "worker-metrics", map[string]any{"metrics": map[string]any{"cpuUsage": cpu, "memoryUsage": 50, "uptime": 60}})
	}
	wrkExec(t, g, `INSERT INTO worker_metrics (worker_id, cpu_usage, recorded_at) VALUES ('worker-metrics', 99, now() - interval '2 hours')`)

	data := wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-metrics/metrics?period=1h", nil, admin...), http.StatusOK)
	samples, _ := data["metrics"].([]any)
	if len(samples) != 2 || data["total"] != float64(2) || data["period"] != "1h" {
		t.Fatalf("1h = %v, want the 2 heartbeat samples", data)
	}
	first, _ := samples[0].(map[string]any)
	if first["cpuUsage"] != float64(10) || first["memoryUsage"] != float64(50) || first["uptime"] != float64(60) || first["recordedAt"] == nil {
		t.Fatalf("oldest sample = %v, want cpu 10 first", first)
	}
	data = wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-metrics/metrics", nil, admin...), http.StatusOK)
	if data["total"] != float64(3) || data["period"] != "24h" {
		t.Fatalf("default period = %v, want 24h with 3 samples", data)
	}
	data = wrkData(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-metrics/metrics?period=24h&limit=1", nil, admin...), http.StatusOK)
	if samples, _ := data["metrics"].([]any); len(samples) != 1 || samples[0].(map[string]any)["cpuUsage"] != float64(20) {
		t.Fatalf("limit 1 = %v, want the latest sample", data)
	}
	for _, query := range []string{"period=1y", "period=bogus", "limit=0", "limit=x"} {
		body := wrkWantError(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-metrics/metrics?"+query, nil, admin...),
			http.StatusBadRequest, "validation_error")
		if len(wrkFields(body)) != 1 {
			t.Errorf("%s: details %v", query, body["details"])
		}
	}
	wrkWantError(t, g.Do(t, http.MethodGet, "/api/v1/workers/worker-metrics-nope/metrics?period=1h", nil, admin...),
		http.StatusNotFound, "not_found")
}
