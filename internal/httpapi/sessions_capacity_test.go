package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

// startingWorker is a worker that answers /health and accepts every session start.
func startingWorker(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/health":
			_, _ = w.Write([]byte(`{"status":"healthy"}`))
		case strings.HasSuffix(r.URL.Path, "/sessions/start"):
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"success":true,"data":{"status":"initializing"}}`))
		default:
			_, _ = w.Write([]byte(`{"success":true,"data":{}}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestConnect_RacingOnTwoReplicas_NeverExceedsWorkerCapacity fires 60 connects at once, split
// over two gateways on one database, at two workers with room for 10 and 15 sessions: exactly
// 25 succeed, the rest are 503 and rolled back to DISCONNECTED, and no worker holds more than
// its maxSessions (invariant 1).
func TestConnect_RacingOnTwoReplicas_NeverExceedsWorkerCapacity(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":100}}`, "RATE_LIMIT_MAX_REQUESTS": "100000"}
	a := testenv.NewGateway(t, testenv.Options{Env: env})
	b := testenv.NewGateway(t, testenv.Options{Env: env, DatabaseURL: a.DatabaseURL, KeyPrefix: a.KeyPrefix})
	ctx := context.Background()

	for i, capacity := range []int{10, 15} {
		res := a.Do(t, http.MethodPost, "/api/v1/workers/register", map[string]any{
			"workerId": fmt.Sprintf("cap-worker-%d", i), "endpoint": startingWorker(t).URL, "maxSessions": capacity,
		}, "Authorization", "Bearer "+a.Config.WorkerAuthToken)
		if res.Code != http.StatusCreated {
			t.Fatalf("register worker: %d %s", res.Code, res.Body)
		}
	}
	token := capacityOwnerToken(t, a, "racer@example.com")
	const sessions = 60
	ids := make([]string, sessions)
	for i := range ids {
		res := a.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": fmt.Sprintf("Race %d", i)},
			"Authorization", "Bearer "+token)
		if res.Code != http.StatusCreated {
			t.Fatalf("create session: %d %s", res.Code, res.Body)
		}
		ids[i] = res.JSON(t)["data"].(map[string]any)["sessionId"].(string)
	}

	var wg sync.WaitGroup
	codes := make([]int, sessions)
	start := make(chan struct{})
	for i, id := range ids {
		g := a
		if i%2 == 1 {
			g = b
		}
		wg.Go(func() {
			<-start
			codes[i] = g.Do(t, http.MethodPost, "/api/v1/sessions/"+id+"/connect", nil, "Authorization", "Bearer "+token).Code
		})
	}
	close(start)
	wg.Wait()

	counts := map[int]int{}
	for _, c := range codes {
		counts[c]++
	}
	if counts[http.StatusOK] != 25 || counts[http.StatusServiceUnavailable] != sessions-25 {
		t.Fatalf("answers = %v, want 25 × 200 and %d × 503", counts, sessions-25)
	}
	rows, err := a.DB.Query(ctx, `SELECT w.id, w.max_sessions, count(s.id) FROM workers w
		LEFT JOIN sessions s ON s.worker_id = w.id GROUP BY w.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var maxSessions, used int
		if err := rows.Scan(&id, &maxSessions, &used); err != nil {
			t.Fatal(err)
		}
		if used != maxSessions {
			t.Errorf("worker %s holds %d sessions, want exactly its capacity %d", id, used, maxSessions)
		}
	}
	var stranded int
	if err := a.DB.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE worker_id IS NULL AND status <> 'DISCONNECTED'`).
		Scan(&stranded); err != nil || stranded != 0 {
		t.Fatalf("%d unplaced sessions are not DISCONNECTED (%v)", stranded, err)
	}
}

// capacityOwnerToken registers a user and returns its JWT.
func capacityOwnerToken(t *testing.T, g *testenv.Gateway, email string) string {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/auth/register", map[string]any{
		"name": "Test User", "email": email, "password": "Sup3r-Secret!",
	})
	if res.Code != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, res.Code, res.Body)
	}
	return res.JSON(t)["data"].(map[string]any)["token"].(string)
}
