package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/testenv"
)

// asyncSetup serves a gateway with a connected session on a sending worker and returns the
// gateway, its API key header and the worker.
func asyncSetup(t *testing.T, env map[string]string) (*testenv.Gateway, []string, *sendingWorker) {
	t.Helper()
	g, _, apiKey, worker := asyncServe(t, env)
	return g, apiKey, worker
}

// asyncServe is asyncSetup that also returns the gateway's base URL.
func asyncServe(t *testing.T, env map[string]string) (*testenv.Gateway, string, []string, *sendingWorker) {
	t.Helper()
	base := map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true", "SEND_MIN_INTERVAL_MS": "1", "SEND_RETRY_BASE_MS": "20",
		"SEND_RETRY_MAX_MS": "100"}
	for k, v := range env {
		base[k] = v
	}
	g := testenv.NewGateway(t, testenv.Options{Env: base})
	baseURL, _ := g.Serve(t) // runs the dispatcher
	worker := newSendingWorker(t)
	workerAuth := []string{"Authorization", "Bearer " + g.Config.WorkerAuthToken}
	if res := g.Do(t, http.MethodPost, "/api/v1/workers/register", map[string]any{
		"workerId": "async-worker", "endpoint": worker.URL}, workerAuth...); res.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", res.Code, res.Body)
	}
	jwt := []string{"Authorization", "Bearer " + capacityOwnerToken(t, g, "async@example.com")}
	created := g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Queue", "sessionId": "queue-1"}, jwt...)
	key := created.JSON(t)["data"].(map[string]any)["apiKey"].(string)
	if res := g.Do(t, http.MethodPost, "/api/v1/sessions/queue-1/connect", nil, jwt...); res.Code != http.StatusOK {
		t.Fatalf("connect: %d %s", res.Code, res.Body)
	}
	if res := g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", map[string]any{
		"sessionId": "queue-1", "status": "CONNECTED"}, workerAuth...); res.Code != http.StatusOK {
		t.Fatalf("connected: %d %s", res.Code, res.Body)
	}
	return g, baseURL, []string{"X-API-Key", key}, worker
}

// TestAsyncSend_QueuedThenDeliveredInOrder queues several async sends: each answers 202
// QUEUED at once, and the dispatcher hands them to the worker in order.
func TestAsyncSend_QueuedThenDeliveredInOrder(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	const n = 5
	for i := range n {
		res := g.Do(t, http.MethodPost, "/api/v1/sendText?async=true", map[string]any{
			"to": "6281234567890", "message": string(rune('a' + i))}, apiKey...)
		if res.Code != http.StatusAccepted || res.JSON(t)["data"].(map[string]any)["status"] != "QUEUED" {
			t.Fatalf("async send %d: %d %s", i, res.Code, res.Body)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		worker.mu.Lock()
		got := len(worker.sends)
		worker.mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker received %d of %d queued sends", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	worker.mu.Lock()
	defer worker.mu.Unlock()
	for i, s := range worker.sends {
		if s["message"] != string(rune('a'+i)) {
			t.Fatalf("send %d carried %v: order broken", i, s["message"])
		}
	}
}

// TestIdempotencyKey_RacingDuplicates_ReachWorkerOnce sends the same key and body ten times at
// once: the worker gets one send and every answer carries the same message.
func TestIdempotencyKey_RacingDuplicates_ReachWorkerOnce(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	headers := append(append([]string{}, apiKey...), "Idempotency-Key", "order-42")
	var wg sync.WaitGroup
	ids := make([]any, 10)
	codes := make([]int, 10)
	for i := range ids {
		wg.Go(func() {
			res := g.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "6281234567890", "message": "once"}, headers...)
			codes[i] = res.Code
			if res.Code == http.StatusOK {
				ids[i] = res.JSON(t)["data"].(map[string]any)["id"]
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if codes[i] != http.StatusOK || ids[i] != ids[0] {
			t.Fatalf("answer %d: %d id %v, want 200 with the first id %v", i, codes[i], ids[i], ids[0])
		}
	}
	worker.mu.Lock()
	sends := len(worker.sends)
	worker.mu.Unlock()
	if sends != 1 {
		t.Fatalf("worker received %d sends, want exactly 1", sends)
	}
	other := g.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "6281234567890", "message": "different"}, headers...)
	if other.Code != http.StatusConflict {
		t.Fatalf("same key, other body: %d, want 409", other.Code)
	}
}

// TestScheduledSend_WaitsAndCancelledNeverGoes schedules two sends: the cancelled one never
// reaches the worker, the other is delivered once its time comes.
func TestScheduledSend_WaitsAndCancelledNeverGoes(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	scheduledAt := time.Now().Add(1500 * time.Millisecond).UTC()
	at := scheduledAt.Format(time.RFC3339Nano)
	first := g.Do(t, http.MethodPost, "/api/v1/sendText?async=true", map[string]any{"to": "6281234567890", "message": "later", "scheduledAt": at}, apiKey...)
	second := g.Do(t, http.MethodPost, "/api/v1/sendText?async=true", map[string]any{"to": "6281234567890", "message": "never", "scheduledAt": at}, apiKey...)
	if first.Code != http.StatusAccepted || second.Code != http.StatusAccepted {
		t.Fatalf("schedule: %d %d", first.Code, second.Code)
	}
	cancelID := second.JSON(t)["data"].(map[string]any)["id"].(string)
	if res := g.Do(t, http.MethodDelete, "/api/v1/messages/"+cancelID, nil, apiKey...); res.Code != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.Code, res.Body)
	}
	worker.mu.Lock()
	early := len(worker.sends)
	worker.mu.Unlock()
	if early != 0 {
		t.Fatalf("a scheduled send went %d early", early)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var status string
		if err := g.DB.QueryRow(context.Background(), `SELECT status FROM messages WHERE id = $1`,
			first.JSON(t)["data"].(map[string]any)["id"]).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status == "SENT" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduled send still %s", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var sentAt time.Time
	if err := g.DB.QueryRow(context.Background(), `SELECT sent_at FROM messages WHERE id = $1`,
		first.JSON(t)["data"].(map[string]any)["id"]).Scan(&sentAt); err != nil {
		t.Fatal(err)
	}
	if sentAt.Before(scheduledAt) {
		t.Fatalf("sent at %s, before its scheduledAt %s", sentAt, scheduledAt)
	}
	worker.mu.Lock()
	defer worker.mu.Unlock()
	if len(worker.sends) != 1 || worker.sends[0]["message"] != "later" {
		t.Fatalf("worker received %v, want only the uncancelled send", worker.sends)
	}
	if res := g.Do(t, http.MethodDelete, "/api/v1/messages/"+cancelID, nil, apiKey...); res.Code != http.StatusConflict {
		t.Fatalf("cancel twice: %d, want 409", res.Code)
	}
}

// TestWorkerPacing_SyncAnswers429_AsyncWaitsWithoutSpendingAttempts: a worker that paces a
// number (429 Retry-After) makes a sync send 429 with the worker's Retry-After (recorded
// FAILED with the reason), and an async send wait that long and go through, its attempts
// unspent by the refusals.
func TestWorkerPacing_SyncAnswers429_AsyncWaitsWithoutSpendingAttempts(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, map[string]string{"SEND_MAX_ATTEMPTS": "2"})

	worker.mu.Lock()
	worker.paced = 1
	worker.mu.Unlock()
	res := g.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "6281234567890", "message": "now"}, apiKey...)
	if res.Code != http.StatusTooManyRequests || res.Header().Get("Retry-After") != "1" {
		t.Fatalf("sync send paced by the worker: %d Retry-After %q %s, want 429 and 1", res.Code, res.Header().Get("Retry-After"), res.Body)
	}
	var status, reason string
	if err := g.DB.QueryRow(context.Background(), `SELECT status, coalesce(error_message, '') FROM messages ORDER BY created_at DESC LIMIT 1`).
		Scan(&status, &reason); err != nil || status != "FAILED" || !strings.Contains(reason, "Too many messages to this number") {
		t.Fatalf("the refused sync send is %s (%q), %v; want FAILED with the worker's reason", status, reason, err)
	}

	// Three refusals in a row would exhaust SEND_MAX_ATTEMPTS=2 if they counted.
	worker.mu.Lock()
	worker.paced = 3
	worker.mu.Unlock()
	queued := g.Do(t, http.MethodPost, "/api/v1/sendText?async=true", map[string]any{"to": "6281234567890", "message": "later"}, apiKey...)
	if queued.Code != http.StatusAccepted {
		t.Fatalf("async send: %d %s", queued.Code, queued.Body)
	}
	id := queued.JSON(t)["data"].(map[string]any)["id"].(string)
	deadline := time.Now().Add(20 * time.Second)
	var attempts int
	for {
		if err := g.DB.QueryRow(context.Background(), `SELECT status, attempts FROM messages WHERE id = $1`, id).Scan(&status, &attempts); err != nil {
			t.Fatal(err)
		}
		if status != "QUEUED" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	worker.mu.Lock()
	refused, sent := worker.refused, len(worker.sends)
	worker.mu.Unlock()
	if status != "SENT" || attempts != 1 || refused != 4 || sent != 1 {
		t.Fatalf("async send paced 3 times: %s after %d attempts (worker refused %d, sent %d); want SENT after 1 attempt, 4 refusals, 1 sent",
			status, attempts, refused, sent)
	}
}
