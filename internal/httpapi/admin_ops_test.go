package httpapi_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/testenv"
)

// opsAdmin registers a user, promotes it to ADMINISTRATOR and returns its auth header.
func opsAdmin(t *testing.T, g *testenv.Gateway, email string) []string {
	t.Helper()
	token := capacityOwnerToken(t, g, email)
	if _, err := g.DB.Exec(context.Background(), `UPDATE users SET role = 'ADMINISTRATOR' WHERE email = $1`, email); err != nil {
		t.Fatal(err)
	}
	return []string{"Authorization", "Bearer " + token}
}

// TestMaintenance_SharedByReplicas_BlocksCustomerTrafficOnly switches maintenance on through
// one replica: the other refuses customer changes with 503 maintenance and the message, while
// health, admin and reads keep working; switching it off reopens both.
func TestMaintenance_SharedByReplicas_BlocksCustomerTrafficOnly(t *testing.T) {
	t.Parallel()
	a := testenv.NewGateway(t, testenv.Options{})
	b := testenv.NewGateway(t, testenv.Options{DatabaseURL: a.DatabaseURL, KeyPrefix: a.KeyPrefix})
	admin := opsAdmin(t, a, "ops-admin@example.com")
	user := []string{"Authorization", "Bearer " + capacityOwnerToken(t, a, "ops-user@example.com")}

	if res := a.Do(t, http.MethodPost, "/api/v1/admin/system/maintenance", map[string]any{"enabled": true, "message": "Upgrading"}, admin...); res.Code != http.StatusOK {
		t.Fatalf("enable: %d %s", res.Code, res.Body)
	}
	deadline := 0
	var res testenv.Response
	for ; deadline < 100; deadline++ { // the flag reaches the other replica within its 1 s cache
		res = b.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Blocked"}, user...)
		if res.Code == http.StatusServiceUnavailable {
			break
		}
		waitBriefly()
	}
	body := res.JSON(t)
	if res.Code != http.StatusServiceUnavailable || body["type"] != "maintenance" || body["message"] != "Upgrading" {
		t.Fatalf("customer change during maintenance: %d %v", res.Code, body)
	}
	for _, probe := range []struct{ path string }{{"/health"}, {"/api/v1/sessions"}, {"/api/v1/admin/dashboard"}} {
		headers := user
		if strings.Contains(probe.path, "admin") {
			headers = admin
		}
		if r := b.Do(t, http.MethodGet, probe.path, nil, headers...); r.Code != http.StatusOK {
			t.Errorf("%s during maintenance: %d", probe.path, r.Code)
		}
	}
	if r := a.Do(t, http.MethodPost, "/api/v1/admin/system/maintenance", map[string]any{"enabled": false}, admin...); r.Code != http.StatusOK {
		t.Fatalf("disable: %d", r.Code)
	}
	for i := 0; ; i++ {
		if r := b.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Open again"}, user...); r.Code == http.StatusCreated {
			break
		} else if i > 100 {
			t.Fatalf("still refused after maintenance ended: %d", r.Code)
		}
		waitBriefly()
	}
	var logged int
	if err := a.DB.QueryRow(context.Background(), `SELECT count(*) FROM system_logs WHERE message LIKE 'Maintenance mode%'`).Scan(&logged); err != nil || logged != 2 {
		t.Fatalf("maintenance changes logged %d times (%v), want 2", logged, err)
	}
}

// TestAdminDashboard_CountsRealRows checks the dashboard's figures against rows made for it.
func TestAdminDashboard_CountsRealRows(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	admin := opsAdmin(t, g, "dash-admin@example.com")
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO workers (id, endpoint, status, max_sessions, cpu_usage, memory_usage) VALUES
			('dash-w1', 'http://10.0.0.1:1', 'ONLINE', 10, 90, 20), ('dash-w2', 'http://10.0.0.2:1', 'OFFLINE', 5, 0, 0)`,
		`INSERT INTO sessions (id, user_id, name, status, worker_id)
			SELECT 'dash-s' || i, (SELECT id FROM users LIMIT 1), 'S', CASE WHEN i <= 2 THEN 'CONNECTED'::session_status ELSE 'DISCONNECTED' END,
			       CASE WHEN i <= 2 THEN 'dash-w1' END FROM generate_series(1, 3) i`,
		`INSERT INTO messages (session_id, direction, message_type, status)
			SELECT 'dash-s1', 'OUTBOUND', 'TEXT', CASE WHEN i <= 3 THEN 'SENT'::message_status ELSE 'FAILED' END FROM generate_series(1, 4) i`,
	} {
		if _, err := g.DB.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	res := g.Do(t, http.MethodGet, "/api/v1/admin/dashboard", nil, admin...)
	if res.Code != http.StatusOK {
		t.Fatalf("dashboard: %d %s", res.Code, res.Body)
	}
	var d struct {
		Data struct {
			Overview struct{ TotalUsers, TotalSessions, TotalWorkers int }
			Workers  struct{ Online, Offline, TotalCapacity, UsedCapacity int }
			Sessions struct{ Connected, Disconnected int }
			Messages struct {
				Last24h     int     `json:"last24h"`
				SuccessRate float64 `json:"successRate"`
			}
			Alerts []struct{ Type string }
		}
	}
	if err := json.Unmarshal(res.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	got := d.Data
	if got.Overview.TotalUsers != 1 || got.Overview.TotalSessions != 3 || got.Overview.TotalWorkers != 2 ||
		got.Workers.Online != 1 || got.Workers.Offline != 1 || got.Workers.TotalCapacity != 10 || got.Workers.UsedCapacity != 2 ||
		got.Sessions.Connected != 2 || got.Sessions.Disconnected != 1 || got.Messages.Last24h != 4 || got.Messages.SuccessRate != 75 {
		t.Fatalf("dashboard = %+v", got)
	}
	types := map[string]bool{}
	for _, a := range got.Alerts {
		types[a.Type] = true
	}
	if !types["worker_resources"] || !types["worker_offline"] {
		t.Fatalf("alerts = %+v, want the 90%% CPU worker and the OFFLINE one", got.Alerts)
	}
}

// TestAdminDashboardQueries_UseIndexesOn100kMessages proves with EXPLAIN that the dashboard's
// message query reads the last day through the created_at (BRIN) index, not the whole table.
func TestAdminDashboardQueries_UseIndexesOn100kMessages(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO users (id, name, email, password_hash) VALUES ('00000000-0000-4000-8000-000000000001', 'X', 'x@example.com', 'x')`,
		`INSERT INTO sessions (id, user_id, name) VALUES ('big-1', '00000000-0000-4000-8000-000000000001', 'Big')`,
		`INSERT INTO messages (session_id, direction, message_type, status, created_at)
			SELECT 'big-1', 'OUTBOUND', 'TEXT', 'SENT', now() - (i || ' minutes')::interval FROM generate_series(1, 100000) i`,
		`ANALYZE messages`,
	} {
		if _, err := g.DB.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var plan strings.Builder
	rows, err := g.DB.Query(ctx, `EXPLAIN SELECT count(*) FROM messages
		WHERE created_at >= now() - interval '24 hours' AND direction = 'OUTBOUND'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		_ = rows.Scan(&line)
		plan.WriteString(line + "\n")
	}
	rows.Close()
	if strings.Contains(plan.String(), "Seq Scan on messages") || !strings.Contains(plan.String(), "messages_created_at_brin_idx") {
		t.Fatalf("the 24 h message query scans the table:\n%s", plan.String())
	}
	admin := opsAdmin(t, g, "explain-admin@example.com")
	if res := g.Do(t, http.MethodGet, "/api/v1/admin/dashboard", nil, admin...); res.Code != http.StatusOK {
		t.Fatalf("dashboard over 100k messages: %d", res.Code)
	}
}

// TestExport_StreamsCSVAndJSON exports users in both formats with a proper filename.
func TestExport_StreamsCSVAndJSON(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	admin := opsAdmin(t, g, "export-admin@example.com")
	res := g.Do(t, http.MethodGet, "/api/v1/admin/reports/export?type=users&format=csv", nil, admin...)
	if res.Code != http.StatusOK || !strings.HasPrefix(res.Header().Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header().Get("Content-Disposition"), `filename="users-`) {
		t.Fatalf("csv export: %d %v", res.Code, res.Header())
	}
	records, err := csv.NewReader(strings.NewReader(res.Body.String())).ReadAll()
	if err != nil || len(records) != 2 || records[0][2] != "email" || records[1][2] != "export-admin@example.com" {
		t.Fatalf("csv = %v (%v)", records, err)
	}
	res = g.Do(t, http.MethodGet, "/api/v1/admin/reports/export?type=users&format=json", nil, admin...)
	var rows []map[string]any
	if err := json.Unmarshal(res.Body.Bytes(), &rows); err != nil || len(rows) != 1 || rows[0]["email"] != "export-admin@example.com" {
		t.Fatalf("json export = %s (%v)", res.Body, err)
	}
	if res := g.Do(t, http.MethodGet, "/api/v1/admin/reports/export?type=secrets&format=xml&from=yesterday", nil, admin...); res.Code != http.StatusBadRequest ||
		len(res.JSON(t)["details"].([]any)) != 3 {
		t.Fatalf("bad export query: %d %s", res.Code, res.Body)
	}
}

// TestSystemLogs_FilterAndPage pages the system log newest first with filters.
func TestSystemLogs_FilterAndPage(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	admin := opsAdmin(t, g, "logs-admin@example.com")
	if _, err := g.DB.Exec(context.Background(), `INSERT INTO system_logs (level, service, message, worker_id)
		SELECT CASE WHEN i % 2 = 0 THEN 'WARN'::log_level ELSE 'INFO' END, 'workers', 'entry ' || i, 'log-w'
		FROM generate_series(1, 5) i`); err != nil {
		t.Fatal(err)
	}
	first := g.Do(t, http.MethodGet, "/api/v1/admin/system/logs?workerId=log-w&limit=2", nil, admin...).JSON(t)["data"].(map[string]any)
	logs := first["logs"].([]any)
	if len(logs) != 2 || logs[0].(map[string]any)["message"] != "entry 5" || first["nextCursor"] == nil {
		t.Fatalf("first page = %v", first)
	}
	second := g.Do(t, http.MethodGet, "/api/v1/admin/system/logs?workerId=log-w&limit=2&cursor="+first["nextCursor"].(string), nil, admin...).JSON(t)["data"].(map[string]any)
	if l := second["logs"].([]any); len(l) != 2 || l[0].(map[string]any)["message"] != "entry 3" {
		t.Fatalf("second page = %v", second)
	}
	warn := g.Do(t, http.MethodGet, "/api/v1/admin/system/logs?workerId=log-w&level=WARN", nil, admin...).JSON(t)["data"].(map[string]any)
	if len(warn["logs"].([]any)) != 2 {
		t.Fatalf("WARN filter = %v", warn)
	}
	if res := g.Do(t, http.MethodGet, "/api/v1/admin/system/logs?level=LOUD&cursor=x", nil, admin...); res.Code != http.StatusBadRequest {
		t.Fatalf("bad filters: %d", res.Code)
	}
}

// waitBriefly paces a poll loop.
func waitBriefly() { <-time.After(20 * time.Millisecond) }
