package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

// TestAdminSessions_ListMigrateDelete lists every user's sessions with filters, migrates one
// to a named worker (placement locks, routing updated, logged) and deletes it.
func TestAdminSessions_ListMigrateDelete(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":5}}`}})
	admin := opsAdmin(t, g, "sess-admin@example.com")
	user := []string{"Authorization", "Bearer " + capacityOwnerToken(t, g, "sess-owner@example.com")}
	workerAuth := []string{"Authorization", "Bearer " + g.Config.WorkerAuthToken}
	for _, id := range []string{"mig-a", "mig-b"} {
		if res := g.Do(t, http.MethodPost, "/api/v1/workers/register", map[string]any{"workerId": id, "endpoint": startingWorker(t).URL},
			workerAuth...); res.Code != http.StatusCreated {
			t.Fatalf("register %s: %d", id, res.Code)
		}
	}
	for _, name := range []string{"One", "Two"} {
		if res := g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": name, "sessionId": "adm-" + name}, user...); res.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", res.Code, res.Body)
		}
	}
	if res := g.Do(t, http.MethodPost, "/api/v1/sessions/adm-one/connect", nil, user...); res.Code != http.StatusOK {
		t.Fatalf("connect: %d %s", res.Code, res.Body)
	}

	list := g.Do(t, http.MethodGet, "/api/v1/admin/sessions?status=INIT", nil, admin...).JSON(t)["data"].(map[string]any)
	if s := list["sessions"].([]any); len(s) != 1 || s[0].(map[string]any)["id"] != "adm-one" {
		t.Fatalf("INIT sessions = %v", list)
	}
	all := g.Do(t, http.MethodGet, "/api/v1/admin/sessions", nil, admin...).JSON(t)["data"].(map[string]any)
	if all["pagination"].(map[string]any)["total"] != float64(2) {
		t.Fatalf("all sessions = %v", all)
	}
	if res := g.Do(t, http.MethodGet, "/api/v1/admin/sessions", nil, user...); res.Code != http.StatusForbidden {
		t.Fatalf("a USER on admin sessions: %d", res.Code)
	}

	var from string
	if err := g.DB.QueryRow(context.Background(), `SELECT worker_id FROM sessions WHERE id = 'adm-one'`).Scan(&from); err != nil {
		t.Fatal(err)
	}
	to := map[string]string{"mig-a": "mig-b", "mig-b": "mig-a"}[from]
	res := g.Do(t, http.MethodPost, "/api/v1/admin/sessions/adm-one/migrate", map[string]any{"targetWorkerId": to}, admin...)
	if res.Code != http.StatusOK || res.JSON(t)["data"].(map[string]any)["toWorkerId"] != to {
		t.Fatalf("migrate: %d %s", res.Code, res.Body)
	}
	var now string
	if err := g.DB.QueryRow(context.Background(), `SELECT worker_id FROM sessions WHERE id = 'adm-one'`).Scan(&now); err != nil || now != to {
		t.Fatalf("after migrate the session is on %q (%v), want %s", now, err, to)
	}
	route, err := g.Router.Lookup(context.Background(), "adm-one")
	if err != nil || route.WorkerID != to {
		t.Fatalf("route after migrate = %+v (%v)", route, err)
	}
	if res := g.Do(t, http.MethodPost, "/api/v1/admin/sessions/adm-one/migrate", map[string]any{"targetWorkerId": to}, admin...); res.Code != http.StatusConflict {
		t.Fatalf("migrate to the same worker: %d", res.Code)
	}
	if res := g.Do(t, http.MethodDelete, "/api/v1/admin/sessions/adm-two", nil, admin...); res.Code != http.StatusOK {
		t.Fatalf("admin delete: %d", res.Code)
	}
	if res := g.Do(t, http.MethodGet, "/api/v1/sessions/adm-two", nil, user...); res.Code != http.StatusNotFound {
		t.Fatalf("deleted session still there: %d", res.Code)
	}
}

// TestAdminAnalyticsAndSystemHealth checks analytics figures, the metric filter, bad periods,
// and the system health's process and pool figures.
func TestAdminAnalyticsAndSystemHealth(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	admin := opsAdmin(t, g, "ana-admin@example.com")
	capacityOwnerToken(t, g, "ana-user@example.com")
	if _, err := g.DB.Exec(context.Background(), `UPDATE users SET tier = 'PRO' WHERE email = 'ana-user@example.com'`); err != nil {
		t.Fatal(err)
	}
	data := g.Do(t, http.MethodGet, "/api/v1/admin/analytics?period=7d", nil, admin...).JSON(t)["data"].(map[string]any)
	users := data["users"].(map[string]any)
	if users["total"] != float64(2) || users["newRegistrations"] != float64(2) ||
		users["byTier"].(map[string]any)["PRO"] != float64(1) || data["period"] != "7d" {
		t.Fatalf("analytics = %v", data)
	}
	only := g.Do(t, http.MethodGet, "/api/v1/admin/analytics?metric=workers", nil, admin...).JSON(t)["data"].(map[string]any)
	if _, ok := only["users"]; ok || only["workers"] == nil {
		t.Fatalf("metric=workers = %v", only)
	}
	if res := g.Do(t, http.MethodGet, "/api/v1/admin/analytics?period=2y&metric=nope", nil, admin...); res.Code != http.StatusBadRequest {
		t.Fatalf("bad period: %d", res.Code)
	}
	health := g.Do(t, http.MethodGet, "/api/v1/admin/system/health", nil, admin...)
	h := health.JSON(t)["data"].(map[string]any)
	if health.Code != http.StatusOK || h["process"].(map[string]any)["goroutines"].(float64) < 1 ||
		h["pools"].(map[string]any)["database"].(map[string]any)["max"] != float64(8) {
		t.Fatalf("system health: %d %v", health.Code, h)
	}
}
