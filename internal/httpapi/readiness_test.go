package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

func TestReadiness_ReportsDependenciesWorkersAndMonitor(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	if _, err := g.DB.Exec(context.Background(), `
		INSERT INTO workers (id, endpoint, status, max_sessions) VALUES
			('worker-one', 'http://worker-one:8001', 'ONLINE', 10),
			('worker-two', 'http://worker-two:8001', 'OFFLINE', 25),
			('worker-three', 'http://worker-three:8001', 'MAINTENANCE', 5);
		INSERT INTO users (id, name, email, password_hash)
			VALUES ('00000000-0000-0000-0000-0000000000aa', 'Owner', 'owner@example.com', 'x');
		INSERT INTO sessions (id, user_id, worker_id, name) VALUES
			('placed-session', '00000000-0000-0000-0000-0000000000aa', 'worker-one', 'Placed'),
			('idle-session', '00000000-0000-0000-0000-0000000000aa', NULL, 'Idle');
	`); err != nil {
		t.Fatal(err)
	}

	res := g.Do(t, http.MethodGet, "/health/detailed", nil)
	if res.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", res.Code, res.Body)
	}
	body := res.JSON(t)
	if body["success"] != true {
		t.Errorf("success = %v", body["success"])
	}
	data := body["data"].(map[string]any)
	if data["status"] != "healthy" {
		t.Errorf("status = %v, want healthy", data["status"])
	}
	if v, _ := data["version"].(string); v == "" {
		t.Error("version is empty")
	}
	if uptime, ok := data["uptime"].(float64); !ok || uptime < 0 {
		t.Errorf("uptime = %v", data["uptime"])
	}
	checks := data["checks"].(map[string]any)
	for _, dep := range []string{"database", "redis"} {
		check := checks[dep].(map[string]any)
		if check["status"] != "up" {
			t.Errorf("%s status = %v, want up", dep, check["status"])
		}
		if latency, ok := check["latencyMs"].(float64); !ok || latency < 0 {
			t.Errorf("%s latencyMs = %v, want a non-negative number", dep, check["latencyMs"])
		}
		if _, hasError := check["error"]; hasError {
			t.Errorf("%s has an error while up: %v", dep, check)
		}
	}
	workers := checks["workers"].(map[string]any)
	want := map[string]float64{"online": 1, "offline": 1, "maintenance": 1, "capacity": 10, "used": 1}
	for key, w := range want {
		if workers[key] != w {
			t.Errorf("workers.%s = %v, want %v", key, workers[key], w)
		}
	}
	monitor := checks["healthMonitor"].(map[string]any)
	if monitor["running"] != false || monitor["leader"] != false {
		t.Errorf("healthMonitor = %v, want not running and not leader", monitor)
	}
	if last, present := monitor["lastRunAt"]; !present || last != nil {
		t.Errorf("healthMonitor.lastRunAt = %v (present %v), want null", last, present)
	}
}

func TestReadiness_RedisUnreachable_Returns503ButLivenessStays200(t *testing.T) {
	t.Parallel()
	// app.New tolerates Redis being down at start.
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}})

	res := g.Do(t, http.MethodGet, "/health/detailed", nil)
	if res.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", res.Code, res.Body)
	}
	body := res.JSON(t)
	if body["success"] != false {
		t.Errorf("success = %v, want false", body["success"])
	}
	data := body["data"].(map[string]any)
	if data["status"] != "unhealthy" {
		t.Errorf("status = %v, want unhealthy", data["status"])
	}
	checks := data["checks"].(map[string]any)
	redisCheck := checks["redis"].(map[string]any)
	if redisCheck["status"] != "down" || redisCheck["error"] == nil {
		t.Errorf("redis check = %v, want down with an error", redisCheck)
	}
	if checks["database"].(map[string]any)["status"] != "up" {
		t.Errorf("database check = %v, want up", checks["database"])
	}
	if strings.Contains(res.Body.String(), "127.0.0.1:1") || strings.Contains(res.Body.String(), "refused") {
		t.Errorf("readiness reveals connection details: %s", res.Body)
	}

	if live := g.Do(t, http.MethodGet, "/health", nil); live.Code != http.StatusOK {
		t.Errorf("/health with Redis down: status %d, want 200", live.Code)
	}
	// The global rate limit fails open: losing Redis must not take the API down.
	if api := g.Do(t, http.MethodGet, "/api/v1/health", nil); api.Code != http.StatusOK {
		t.Errorf("/api/v1/health with Redis down: status %d, want 200", api.Code)
	}
	if !strings.Contains(g.Logs.String(), "rate limit unavailable") {
		t.Error("the skipped rate limit was not logged")
	}
}
