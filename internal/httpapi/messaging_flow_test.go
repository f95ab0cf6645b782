package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

// sendingWorker is a worker that starts sessions and answers sends with a WhatsApp-like ID,
// remembering what it received.
type sendingWorker struct {
	*httptest.Server
	mu    sync.Mutex
	sends []map[string]any
	// paced is how many of the next sends the worker refuses with 429 Retry-After: 1, as a
	// worker pacing sends to one number does; refused sends are not in sends.
	paced int
	// refused counts the sends answered 429.
	refused int
	// beforeAnswer, when set, runs before each send is answered (sends paced or not).
	beforeAnswer func()
}

func newSendingWorker(t testing.TB) *sendingWorker {
	t.Helper()
	w := &sendingWorker{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/health":
			_, _ = rw.Write([]byte(`{"status":"healthy"}`))
		case strings.HasSuffix(r.URL.Path, "/send"):
			var body map[string]any
			raw, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(raw, &body)
			w.mu.Lock()
			if hook := w.beforeAnswer; hook != nil {
				w.mu.Unlock()
				hook()
				w.mu.Lock()
			}
			if w.paced > 0 {
				w.paced--
				w.refused++
				w.mu.Unlock()
				rw.Header().Set("Retry-After", "1")
				rw.WriteHeader(http.StatusTooManyRequests)
				_, _ = rw.Write([]byte(`{"success":false,"error":{"code":"RATE_LIMITED","message":"Too many messages to this number"}}`))
				return
			}
			w.sends = append(w.sends, body)
			n := len(w.sends)
			w.mu.Unlock()
			_, _ = fmt.Fprintf(rw, `{"success":true,"data":{"messageId":"3EB0FLOW%d","status":"sent"}}`, n)
		default:
			_, _ = rw.Write([]byte(`{"success":true,"data":{"status":"initializing"}}`))
		}
	}))
	t.Cleanup(w.Close)
	return w
}

// TestSendText_ConnectedSession_ReachesWorkerAndIsRecorded walks a send through the whole
// path: API key, record, forward, answer, receipts, an inbound message and the history.
func TestSendText_ConnectedSession_ReachesWorkerAndIsRecorded(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}})
	worker := newSendingWorker(t)
	workerAuth := []string{"Authorization", "Bearer " + g.Config.WorkerAuthToken}
	if res := g.Do(t, http.MethodPost, "/api/v1/workers/register", map[string]any{
		"workerId": "flow-worker", "endpoint": worker.URL}, workerAuth...); res.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", res.Code, res.Body)
	}
	jwt := []string{"Authorization", "Bearer " + capacityOwnerToken(t, g, "flow@example.com")}
	created := g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Shop", "sessionId": "shop-1"}, jwt...)
	if created.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", created.Code, created.Body)
	}
	key := created.JSON(t)["data"].(map[string]any)["apiKey"].(string)
	apiKey := []string{"X-API-Key", key}

	// Not connected yet: 409, and the attempt stays recorded as FAILED.
	if res := g.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "+62 812-3456-7890", "message": "hi"}, apiKey...); res.Code != http.StatusConflict {
		t.Fatalf("send before connect: %d %s", res.Code, res.Body)
	}
	if res := g.Do(t, http.MethodPost, "/api/v1/sessions/shop-1/connect", nil, jwt...); res.Code != http.StatusOK {
		t.Fatalf("connect: %d %s", res.Code, res.Body)
	}
	if res := g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", map[string]any{
		"sessionId": "shop-1", "status": "CONNECTED", "phoneNumber": "+628111", "workerId": "flow-worker"}, workerAuth...); res.Code != http.StatusOK {
		t.Fatalf("connected event: %d %s", res.Code, res.Body)
	}

	res := g.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "+62 812-3456-7890", "message": "hello"}, apiKey...)
	if res.Code != http.StatusOK {
		t.Fatalf("sendText: %d %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	if data["status"] != "SENT" || data["to"] != "6281234567890@s.whatsapp.net" || data["messageId"] == "" {
		t.Fatalf("send answer = %v", data)
	}
	worker.mu.Lock()
	got := worker.sends[0]
	worker.mu.Unlock()
	if got["type"] != "text" || got["message"] != "hello" || got["clientMessageId"] != data["id"] {
		t.Fatalf("worker received %v", got)
	}

	// Receipts move it forward; a late SENT does not move it back.
	for _, status := range []string{"READ", "DELIVERED"} {
		if r := g.Do(t, http.MethodPost, "/api/v1/webhooks/message-status", map[string]any{
			"sessionId": "shop-1", "messageId": data["messageId"], "status": status}, workerAuth...); r.Code != http.StatusOK {
			t.Fatalf("receipt %s: %d %s", status, r.Code, r.Body)
		}
	}
	if r := g.Do(t, http.MethodPost, "/api/v1/webhooks/message-status", map[string]any{
		"sessionId": "shop-1", "messageId": "3EB0UNKNOWN", "status": "READ"}, workerAuth...); r.Code != http.StatusAccepted {
		t.Fatalf("unknown receipt: %d %s", r.Code, r.Body)
	}
	msg := g.Do(t, http.MethodGet, "/api/v1/messages/"+data["id"].(string), nil, apiKey...)
	m := msg.JSON(t)["data"].(map[string]any)["message"].(map[string]any)
	if m["status"] != "READ" || len(m["statusHistory"].([]any)) != 3 {
		t.Fatalf("message = %v", m)
	}

	// An inbound message is stored once.
	for range 2 {
		if r := g.Do(t, http.MethodPost, "/api/v1/webhooks/message", map[string]any{
			"sessionId": "shop-1", "messageId": "3EB0IN1", "from": "6281234567890@s.whatsapp.net", "type": "TEXT",
			"content": "hey"}, workerAuth...); r.Code != http.StatusOK {
			t.Fatalf("inbound: %d %s", r.Code, r.Body)
		}
	}
	history := g.Do(t, http.MethodGet, "/api/v1/sessions/shop-1/messages?limit=2", nil, jwt...)
	h := history.JSON(t)["data"].(map[string]any)
	if n := len(h["messages"].([]any)); n != 2 || h["nextCursor"] == nil {
		t.Fatalf("history page = %v", h)
	}
	next := g.Do(t, http.MethodGet, "/api/v1/sessions/shop-1/messages?limit=2&cursor="+h["nextCursor"].(string), nil, jwt...)
	n := next.JSON(t)["data"].(map[string]any)
	if len(n["messages"].([]any)) != 1 || n["nextCursor"] != nil {
		t.Fatalf("second page = %v (want the 409 attempt, recorded FAILED)", n)
	}
	if first := n["messages"].([]any)[0].(map[string]any); first["status"] != "FAILED" {
		t.Fatalf("the refused send is %v, want FAILED", first["status"])
	}
}
