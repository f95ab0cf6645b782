package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/netguard"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/webhooks"
)

// Helpers of the delivery tests (prefix wh).

var whSeq atomic.Int64

// whGateway is a gateway that may call local receivers, with fast retries.
func whGateway(t testing.TB, env map[string]string) *testenv.Gateway {
	t.Helper()
	merged := map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE_MS": "50",
		"AUTH_RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_MAX_REQUESTS": "100000000"}
	maps.Copy(merged, env)
	return testenv.NewGateway(t, testenv.Options{Env: merged})
}

type whOwner struct {
	UserID, Token, SessionID string
}

func (o whOwner) auth() []string { return []string{"Authorization", "Bearer " + o.Token} }

// whNewOwner registers a user and creates a session through the API.
func whNewOwner(t testing.TB, g *testenv.Gateway) whOwner {
	t.Helper()
	n := whSeq.Add(1)
	res := g.Do(t, http.MethodPost, "/api/v1/auth/register", map[string]any{
		"name": "Hook Owner", "email": fmt.Sprintf("hook-%d-%d@example.com", time.Now().UnixNano(), n), "password": "Sup3r-Secret!",
	})
	if res.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	o := whOwner{UserID: data["user"].(map[string]any)["id"].(string), Token: data["token"].(string)}
	res = g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Hooks", "sessionId": fmt.Sprintf("hooks-%d", n)}, o.auth()...)
	if res.Code != http.StatusCreated {
		t.Fatalf("create session: %d %s", res.Code, res.Body)
	}
	o.SessionID = res.JSON(t)["data"].(map[string]any)["sessionId"].(string)
	return o
}

// whPutWebhook saves the session's webhook and returns its secret.
func whPutWebhook(t testing.TB, g *testenv.Gateway, o whOwner, url string, events ...string) string {
	t.Helper()
	if len(events) == 0 {
		events = []string{"*"}
	}
	res := g.Do(t, http.MethodPut, "/api/v1/sessions/"+o.SessionID+"/webhook", map[string]any{"url": url, "events": events}, o.auth()...)
	if res.Code != http.StatusCreated && res.Code != http.StatusOK {
		t.Fatalf("put webhook: %d %s", res.Code, res.Body)
	}
	secret, _ := res.JSON(t)["data"].(map[string]any)["secret"].(string)
	return secret
}

// whRaise publishes an event of the session on the gateway's bus, as producers do.
func whRaise(g *testenv.Gateway, o whOwner, typ string, payload map[string]any) {
	g.Bus.Publish(events.Event{Type: typ, SessionID: o.SessionID, UserID: o.UserID, Payload: payload})
}

func whMessageReceived(g *testenv.Gateway, o whOwner, text string) {
	whRaise(g, o, events.MessageReceived, map[string]any{"sessionId": o.SessionID,
		"message": map[string]any{"id": "m-" + text, "from": "15550001111@s.whatsapp.net", "content": text, "type": "TEXT"}})
}

// whHit is one request a receiver got.
type whHit struct {
	Header http.Header
	Body   []byte
}

func (h whHit) id() string { return h.Header.Get("webhook-id") }

// whReceiver records requests and answers each with answer(n), n counting from 1.
type whReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	hits     []whHit
	answer   func(n int, r *http.Request) int
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

func newWHReceiver(t testing.TB, answer func(n int, r *http.Request) int) *whReceiver {
	t.Helper()
	rc := &whReceiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := rc.inFlight.Add(1)
		defer rc.inFlight.Add(-1)
		for {
			peak := rc.maxIn.Load()
			if in <= peak || rc.maxIn.CompareAndSwap(peak, in) {
				break
			}
		}
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, whHit{Header: r.Header.Clone(), Body: body})
		n := len(rc.hits)
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(n, r)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *whReceiver) Hits() []whHit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]whHit(nil), rc.hits...)
}

func whEventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (rc *whReceiver) waitHits(t testing.TB, n int) []whHit {
	t.Helper()
	whEventually(t, 10*time.Second, fmt.Sprintf("%d requests at the receiver", n), func() bool { return len(rc.Hits()) >= n })
	return rc.Hits()
}

// whDelivery is a delivery row.
type whDelivery struct {
	Status       string
	Attempts     int
	ResponseCode *int
	ResponseBody *string
	LastError    *string
	PayloadID    string
}

func whDeliveries(t testing.TB, g *testenv.Gateway, sessionID string) []whDelivery {
	t.Helper()
	rows, err := g.DB.Query(context.Background(), `SELECT d.status::text, d.attempts, d.response_code, d.response_body, d.last_error,
		d.payload->>'id' FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.session_id = $1
		ORDER BY d.created_at, d.id`, sessionID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []whDelivery
	for rows.Next() {
		var d whDelivery
		if err := rows.Scan(&d.Status, &d.Attempts, &d.ResponseCode, &d.ResponseBody, &d.LastError, &d.PayloadID); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// whWaitDelivery waits until the session's only delivery has the status, and returns it.
func whWaitDelivery(t testing.TB, g *testenv.Gateway, sessionID, status string) whDelivery {
	t.Helper()
	var last []whDelivery
	deadline := time.Now().Add(10 * time.Second)
	for {
		last = whDeliveries(t, g, sessionID)
		if len(last) == 1 && last[0].Status == status {
			return last[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery of %s: %+v, want one %s", sessionID, last, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func whExec(t testing.TB, g *testenv.Gateway, sql string, args ...any) {
	t.Helper()
	if _, err := g.DB.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// The tests.

func TestDelivery_IsSignedPerStandardWebhooks_AndCarriesThePayload(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	o := whNewOwner(t, g)
	rc := newWHReceiver(t, nil)
	secret := whPutWebhook(t, g, o, rc.URL+"/hook?token=abc")

	whMessageReceived(g, o, "hello")
	hit := rc.waitHits(t, 1)[0]

	if err := verifyStandardWebhook(secret, hit.Header, hit.Body, time.Now()); err != nil {
		t.Fatalf("independent verification: %v (headers %v)", err, hit.Header)
	}
	if ct := hit.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var p struct {
		ID        string          `json:"id"`
		Event     string          `json:"event"`
		Timestamp time.Time       `json:"timestamp"`
		SessionID string          `json:"sessionId"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(hit.Body, &p); err != nil {
		t.Fatalf("payload %s: %v", hit.Body, err)
	}
	if p.ID == "" || p.ID != hit.id() || p.Event != "message.received" || p.SessionID != o.SessionID ||
		time.Since(p.Timestamp) > time.Minute || !strings.Contains(string(p.Data), `"content": "hello"`) {
		t.Fatalf("payload %s with webhook-id %s", hit.Body, hit.id())
	}
	d := whWaitDelivery(t, g, o.SessionID, "DELIVERED")
	if d.Attempts != 1 || d.ResponseCode == nil || *d.ResponseCode != 200 || d.PayloadID != p.ID {
		t.Fatalf("delivery row %+v", d)
	}
	res := g.Do(t, http.MethodGet, "/api/v1/sessions/"+o.SessionID+"/webhook", nil, o.auth()...)
	hook := res.JSON(t)["data"].(map[string]any)
	if hook["lastDelivery"] == nil || hook["failureCount"] != float64(0) || hook["isActive"] != true {
		t.Fatalf("webhook after a delivery: %v", hook)
	}
}

func TestDelivery_EachEventOnceWithAUniqueID_OnlyTheSubscribedEvents(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	o := whNewOwner(t, g)
	rc := newWHReceiver(t, nil)
	whPutWebhook(t, g, o, rc.URL, "session.status", "message.status")

	whMessageReceived(g, o, "not subscribed")
	whRaise(g, o, events.QRCodeUpdated, map[string]any{"sessionId": o.SessionID, "qrCode": "2@x", "status": "QR_REQUIRED"})
	whRaise(g, o, events.SessionStatusChanged, map[string]any{"sessionId": o.SessionID, "status": "CONNECTED"})
	whRaise(g, o, events.MessageStatusUpdated, map[string]any{"sessionId": o.SessionID, "messageId": "wa-1", "status": "READ"})
	whRaise(g, o, events.WorkerStatusUpdated, map[string]any{"workerId": "w1", "status": "ONLINE"})
	hits := rc.waitHits(t, 2)
	got := map[string]string{}
	for _, h := range hits {
		var p struct{ ID, Event string }
		_ = json.Unmarshal(h.Body, &p)
		got[p.Event] = p.ID
	}
	if len(got) != 2 || got["session.status"] == "" || got["message.status"] == "" || got["session.status"] == got["message.status"] {
		t.Fatalf("delivered %v, want session.status and message.status with distinct ids", got)
	}
	if n := len(whDeliveries(t, g, o.SessionID)); n != 2 {
		t.Fatalf("%d deliveries stored, want only the 2 subscribed events", n)
	}
}

func TestDelivery_RetriesByStatusClass_WithTheSameWebhookID(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	tests := []struct {
		name      string
		first     int
		retried   bool
		wantFinal string
	}{
		{"500_IsRetried", http.StatusInternalServerError, true, "DELIVERED"},
		{"503_IsRetried", http.StatusServiceUnavailable, true, "DELIVERED"},
		{"429_IsRetried", http.StatusTooManyRequests, true, "DELIVERED"},
		{"408_IsRetried", http.StatusRequestTimeout, true, "DELIVERED"},
		{"400_IsNotRetried", http.StatusBadRequest, false, "FAILED"},
		{"404_IsNotRetried", http.StatusNotFound, false, "FAILED"},
		{"302_IsNotFollowedNorRetried", http.StatusFound, false, "FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := whNewOwner(t, g)
			elsewhere := newWHReceiver(t, nil)
			rc := newWHReceiver(t, func(n int, r *http.Request) int {
				if n == 1 {
					return tt.first
				}
				return http.StatusNoContent
			})
			if tt.first == http.StatusFound {
				rc.answer = func(int, *http.Request) int { return http.StatusFound }
				rc.Config.Handler = redirectingTo(rc.Config.Handler, elsewhere.URL)
			}
			secret := whPutWebhook(t, g, o, rc.URL)
			whMessageReceived(g, o, tt.name)

			d := whWaitDelivery(t, g, o.SessionID, tt.wantFinal)
			hits := rc.Hits()
			if tt.retried {
				if d.Attempts != 2 || len(hits) != 2 || *d.ResponseCode != http.StatusNoContent {
					t.Fatalf("delivery %+v after %d requests, want delivered on the 2nd attempt", d, len(hits))
				}
				if hits[0].id() == "" || hits[0].id() != hits[1].id() || string(hits[0].Body) != string(hits[1].Body) {
					t.Fatalf("retry changed the message: ids %q, %q", hits[0].id(), hits[1].id())
				}
				for _, h := range hits {
					if err := verifyStandardWebhook(secret, h.Header, h.Body, time.Now()); err != nil {
						t.Fatalf("attempt not verifiable: %v", err)
					}
				}
				return
			}
			if d.Attempts != 1 || len(hits) != 1 || *d.ResponseCode != tt.first || d.LastError == nil {
				t.Fatalf("delivery %+v after %d requests, want one failed attempt", d, len(hits))
			}
			if len(elsewhere.Hits()) != 0 {
				t.Fatal("a redirect was followed")
			}
		})
	}
}

// redirectingTo answers with a redirect to target (after recording the request).
func redirectingTo(record http.Handler, target string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target)
		record.ServeHTTP(w, r)
	})
}

func TestDelivery_NetworkErrorsAreRetried_AReceiverDownForAWhileLosesNothing(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	o := whNewOwner(t, g)

	const n = 20
	addr := whDownReceiver(t, g, o, "down", n)
	whEventually(t, 10*time.Second, "every delivery to fail at least twice", func() bool {
		list := whDeliveries(t, g, o.SessionID)
		for _, d := range list {
			if d.Attempts < 2 || d.Status != "RETRYING" {
				return false
			}
		}
		return len(list) == n
	})

	back := whReceiverBack(t, addr)
	whEventually(t, 15*time.Second, "every delivery once the receiver is back", func() bool {
		return len(back.received()) == n
	})
	whEventually(t, 5*time.Second, "every delivery recorded as delivered after retries", func() bool {
		for _, d := range whDeliveries(t, g, o.SessionID) {
			if d.Status != "DELIVERED" || d.Attempts < 3 {
				return false
			}
		}
		return true
	})
	back.wantEachOnce(t, n)
}

func TestDelivery_AfterFiftyConsecutiveFailures_TheWebhookIsDisabledWithAReason(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	o := whNewOwner(t, g)
	rc := newWHReceiver(t, func(int, *http.Request) int { return http.StatusGone })
	whPutWebhook(t, g, o, rc.URL)
	whExec(t, g, `UPDATE webhooks SET failure_count = 49 WHERE session_id = $1`, o.SessionID)

	whMessageReceived(g, o, "the fiftieth failure")
	whWaitDelivery(t, g, o.SessionID, "FAILED")

	res := g.Do(t, http.MethodGet, "/api/v1/sessions/"+o.SessionID+"/webhook", nil, o.auth()...)
	hook := res.JSON(t)["data"].(map[string]any)
	reason, _ := hook["disabledReason"].(string)
	if hook["isActive"] != false || hook["failureCount"] != float64(50) || !strings.Contains(reason, "50 consecutive failed") ||
		!strings.Contains(reason, "410") {
		t.Fatalf("webhook after the 50th failure: %v", hook)
	}
	whEventually(t, 5*time.Second, "the disabling in the system log", func() bool {
		var logged int
		_ = g.DB.QueryRow(context.Background(), `SELECT count(*) FROM system_logs WHERE service = 'webhooks' AND session_id = $1`,
			o.SessionID).Scan(&logged)
		return logged == 1
	})

	// Redelivery waits for the owner to save the webhook again, which re-enables it.
	deliveryID := whLatestDeliveryID(t, g, o.SessionID)
	res = g.Do(t, http.MethodPost, "/api/v1/sessions/"+o.SessionID+"/webhook/deliveries/"+deliveryID+"/redeliver", nil, o.auth()...)
	if res.Code != http.StatusConflict {
		t.Fatalf("redeliver to a disabled webhook: %d %s", res.Code, res.Body)
	}
	rc.answer = nil
	whPutWebhook(t, g, o, rc.URL)
	res = g.Do(t, http.MethodGet, "/api/v1/sessions/"+o.SessionID+"/webhook", nil, o.auth()...)
	hook = res.JSON(t)["data"].(map[string]any)
	if hook["isActive"] != true || hook["failureCount"] != float64(0) || hook["disabledReason"] != nil {
		t.Fatalf("webhook saved again: %v", hook)
	}
}

func whLatestDeliveryID(t testing.TB, g *testenv.Gateway, sessionID string) string {
	t.Helper()
	var id string
	if err := g.DB.QueryRow(context.Background(), `SELECT d.id::text FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE w.session_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT 1`, sessionID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestDelivery_ASuccessResetsTheConsecutiveFailures(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	o := whNewOwner(t, g)
	rc := newWHReceiver(t, nil)
	whPutWebhook(t, g, o, rc.URL)
	whExec(t, g, `UPDATE webhooks SET failure_count = 49 WHERE session_id = $1`, o.SessionID)
	whMessageReceived(g, o, "fine")
	whWaitDelivery(t, g, o.SessionID, "DELIVERED")
	var failures int
	if err := g.DB.QueryRow(context.Background(), `SELECT failure_count FROM webhooks WHERE session_id = $1`, o.SessionID).
		Scan(&failures); err != nil || failures != 0 {
		t.Fatalf("failure_count = %d (%v), want 0", failures, err)
	}
}

func TestDelivery_ManualRedelivery_SendsTheSamePayloadAgain(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	o := whNewOwner(t, g)
	rc := newWHReceiver(t, nil)
	secret := whPutWebhook(t, g, o, rc.URL)
	whMessageReceived(g, o, "again")
	whWaitDelivery(t, g, o.SessionID, "DELIVERED")

	res := g.Do(t, http.MethodPost, "/api/v1/sessions/"+o.SessionID+"/webhook/deliveries/"+whLatestDeliveryID(t, g, o.SessionID)+"/redeliver",
		nil, o.auth()...)
	if res.Code != http.StatusAccepted {
		t.Fatalf("redeliver: %d %s", res.Code, res.Body)
	}
	hits := rc.waitHits(t, 2)
	if hits[0].id() != hits[1].id() || string(hits[0].Body) != string(hits[1].Body) {
		t.Fatalf("redelivery sent %s (%s), first %s (%s)", hits[1].Body, hits[1].id(), hits[0].Body, hits[0].id())
	}
	if err := verifyStandardWebhook(secret, hits[1].Header, hits[1].Body, time.Now()); err != nil {
		t.Fatal(err)
	}
	whEventually(t, 5*time.Second, "both deliveries in the log as delivered", func() bool {
		list := whDeliveries(t, g, o.SessionID)
		return len(list) == 2 && list[0].Status == "DELIVERED" && list[1].Status == "DELIVERED"
	})
}

func TestDelivery_KeepsOnly4KiBOfTheAnswer(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	o := whNewOwner(t, g)
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 100<<10))
	}))
	t.Cleanup(big.Close)
	whPutWebhook(t, g, o, big.URL)
	whMessageReceived(g, o, "big answer")
	d := whWaitDelivery(t, g, o.SessionID, "DELIVERED")
	if d.ResponseBody == nil || len(*d.ResponseBody) != 4096 {
		t.Fatalf("stored %d bytes of the answer, want 4096", len(*d.ResponseBody))
	}
}

// TestDelivery_PrivateAddressesAreRefusedAtConnectTime covers a URL that passed the save-time
// check and then resolves (DNS rebinding), or was stored before: the dialer refuses it.
func TestDelivery_PrivateAddressesAreRefusedAtConnectTime(t *testing.T) {
	t.Parallel()
	g := whGateway(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "false"})
	g.Serve(t)
	o := whNewOwner(t, g)
	rc := newWHReceiver(t, nil)
	// Stored directly: the API refuses the URL (tested with the routes).
	whExec(t, g, `INSERT INTO webhooks (session_id, url, events, secret) VALUES ($1, $2, '{*}', $3)`,
		o.SessionID, rc.URL, webhooks.NewSecret())
	whMessageReceived(g, o, "to a private address")
	d := whWaitDelivery(t, g, o.SessionID, "FAILED")
	if len(rc.Hits()) != 0 || d.LastError == nil || !strings.Contains(*d.LastError, "private") || d.ResponseCode != nil {
		t.Fatalf("delivery %+v, %d requests reached the receiver", d, len(rc.Hits()))
	}
}

func TestHTTPClient_RefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	t.Parallel()
	rc := newWHReceiver(t, nil)
	for _, allow := range []bool{false, true} {
		client := webhooks.NewHTTPClient(netguard.Guard{AllowPrivate: allow}, 4)
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, rc.URL, nil)
		resp, err := client.Do(req)
		if resp != nil {
			_ = resp.Body.Close()
		}
		if allow && err != nil {
			t.Fatalf("allowed: %v", err)
		}
		if !allow && (err == nil || !strings.Contains(err.Error(), netguard.ErrNotPublic.Error())) {
			t.Fatalf("not allowed: err = %v", err)
		}
	}
	if n := len(rc.Hits()); n != 1 {
		t.Fatalf("%d requests reached the receiver, want only the allowed one", n)
	}
}

// whInsertDeliveries stores n deliveries of the session's webhook, due now, in one statement.
func whInsertDeliveries(t testing.TB, g *testenv.Gateway, sessionID string, n int) {
	t.Helper()
	whExec(t, g, `INSERT INTO webhook_deliveries (webhook_id, event, payload, next_retry)
		SELECT w.id, 'message.received', jsonb_build_object('id', 'evt_bulk_' || i, 'event', 'message.received',
			'timestamp', now(), 'sessionId', w.session_id, 'data', jsonb_build_object('n', i)), now()
		FROM webhooks w, generate_series(1, $2) AS i WHERE w.session_id = $1`, sessionID, n)
}

func TestDelivery_TwoReplicas_NeverDeliverOneAttemptTwice(t *testing.T) {
	t.Parallel()
	a := whGateway(t, nil)
	b := testenv.NewGateway(t, testenv.Options{DatabaseURL: a.DatabaseURL, KeyPrefix: a.KeyPrefix,
		Env: map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE_MS": "50"}})
	o := whNewOwner(t, a)

	var (
		mu     sync.Mutex
		counts = map[string]int{}
	)
	rc := newWHReceiver(t, func(_ int, r *http.Request) int {
		mu.Lock()
		counts[r.Header.Get("webhook-id")]++
		mu.Unlock()
		return http.StatusOK
	})
	whPutWebhook(t, a, o, rc.URL)
	const n = 600
	whInsertDeliveries(t, a, o.SessionID, n)
	a.Serve(t)
	b.Serve(t)
	a.WebhookDeliverer.Kick()
	b.WebhookDeliverer.Kick()

	whEventually(t, 20*time.Second, fmt.Sprintf("%d deliveries", n), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(counts) == n
	})
	mu.Lock()
	for id, c := range counts {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
	mu.Unlock()
	whEventually(t, 5*time.Second, "every delivery recorded once", func() bool {
		var delivered, attempts int
		_ = a.DB.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'DELIVERED'), coalesce(sum(attempts), 0)
			FROM webhook_deliveries`).Scan(&delivered, &attempts)
		return delivered == n && attempts == n
	})
	served := func(g *testenv.Gateway) float64 {
		return testCounter(t, g.Metrics, "gateway_webhook_deliveries_total", "delivered")
	}
	if sa, sb := served(a), served(b); sa+sb != n || sa == 0 || sb == 0 {
		t.Logf("replica a delivered %v, replica b %v (both should share the work; not guaranteed)", sa, sb)
	}
}

func testCounter(t testing.TB, m *metrics.Metrics, name, outcome string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return metric.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestDeliverer_ThousandDeliveries_ThroughABoundedPool drains a backlog to a fast local
// receiver with at most Concurrency requests in flight.
func TestDeliverer_ThousandDeliveries_ThroughABoundedPool(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil) // not served: the test runs its own deliverer
	o := whNewOwner(t, g)
	rc := newWHReceiver(t, nil)
	whPutWebhook(t, g, o, rc.URL)
	const n = 1000
	whInsertDeliveries(t, g, o.SessionID, n)
	box, err := webhooks.NewSecretBox(g.Config.APIKeyEncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	d := webhooks.NewDeliverer(webhooks.DelivererConfig{DB: g.DB, Client: webhooks.NewHTTPClient(netguard.Guard{AllowPrivate: true}, 64),
		Box: box, Retry: webhooks.RetryPolicy{Base: 50 * time.Millisecond}, Concurrency: 16,
		Metrics: g.Metrics.Events, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	whEventually(t, 25*time.Second, "1000 deliveries", func() bool { return len(rc.Hits()) >= n })
	elapsed := time.Since(start)
	t.Logf("%d deliveries in %s (%.0f/s), at most %d in flight", n, elapsed, float64(n)/elapsed.Seconds(), rc.maxIn.Load())
	if peak := rc.maxIn.Load(); peak > 16 {
		t.Fatalf("%d requests in flight, want at most the pool's 16", peak)
	}
	var pending int
	whEventually(t, 5*time.Second, "no pending delivery", func() bool {
		_ = g.DB.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE status <> 'DELIVERED'`).Scan(&pending)
		return pending == 0
	})
}

func TestDeliverer_ATimeoutIsRetried(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	o := whNewOwner(t, g)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	whPutWebhook(t, g, o, slow.URL)
	whInsertDeliveries(t, g, o.SessionID, 1)
	box, err := webhooks.NewSecretBox(g.Config.APIKeyEncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	d := webhooks.NewDeliverer(webhooks.DelivererConfig{DB: g.DB, Client: webhooks.NewHTTPClient(netguard.Guard{AllowPrivate: true}, 4),
		Box: box, Retry: webhooks.RetryPolicy{Base: time.Hour}, AttemptTimeout: 100 * time.Millisecond,
		Metrics: g.Metrics.Events, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	got := whWaitDelivery(t, g, o.SessionID, "RETRYING")
	if got.Attempts != 1 || got.LastError == nil || !strings.Contains(*got.LastError, "no answer within") {
		t.Fatalf("delivery %+v, want a retry after a timeout", got)
	}
}

func TestDeliverer_AtShutdown_GivesBackWhatItHasNotDelivered(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	o := whNewOwner(t, g)
	arrived := make(chan struct{}, 8)
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // a handler sees the client go only once the body is read
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(stuck.Close)
	whPutWebhook(t, g, o, stuck.URL)
	whInsertDeliveries(t, g, o.SessionID, 3)
	box, err := webhooks.NewSecretBox(g.Config.APIKeyEncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	// One worker: one delivery in flight, the others claimed and queued.
	d := webhooks.NewDeliverer(webhooks.DelivererConfig{DB: g.DB, Client: webhooks.NewHTTPClient(netguard.Guard{AllowPrivate: true}, 4),
		Box: box, Retry: webhooks.RetryPolicy{Base: time.Hour}, Concurrency: 1, Lease: time.Hour,
		Metrics: g.Metrics.Events, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt started")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the deliverer did not stop")
	}
	// Every delivery is due again at once, unattempted and unleased, for any replica.
	var due int
	if err := g.DB.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries
		WHERE status = 'PENDING' AND attempts = 0 AND lease_token IS NULL AND next_retry <= now()`).Scan(&due); err != nil || due != 3 {
		t.Fatalf("%d deliveries given back (%v), want 3", due, err)
	}
}

// TestDelivery_AWorkersReport_BecomesSessionWebhooks follows a real producer: a worker
// reports a QR code, the gateway raises session_status_changed and qr_code_updated, and the
// webhook gets session.status and session.qr; the metrics count them.
func TestDelivery_AWorkersReport_BecomesSessionWebhooks(t *testing.T) {
	t.Parallel()
	g := whGateway(t, nil)
	g.Serve(t)
	o := whNewOwner(t, g)
	rc := newWHReceiver(t, nil)
	whPutWebhook(t, g, o, rc.URL, "session.status", "session.qr")
	whExec(t, g, `INSERT INTO workers (id, endpoint, status, max_sessions, last_heartbeat)
		VALUES ('worker-hooks', 'http://worker-hooks.invalid:8001', 'ONLINE', 10, now())`)
	whExec(t, g, `UPDATE sessions SET worker_id = 'worker-hooks', status = 'INIT' WHERE id = $1`, o.SessionID)

	res := g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", map[string]any{
		"sessionId": o.SessionID, "status": "QR_REQUIRED", "qrCode": "2@hook,qr==", "workerId": "worker-hooks",
	}, "Authorization", "Bearer "+g.Config.WorkerAuthToken)
	if res.Code != http.StatusOK {
		t.Fatalf("worker report: %d %s", res.Code, res.Body)
	}
	got := map[string]string{}
	for _, h := range rc.waitHits(t, 2) {
		var p struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal(h.Body, &p)
		got[p.Event] = string(p.Data)
	}
	if !strings.Contains(got["session.status"], `"status": "QR_REQUIRED"`) || !strings.Contains(got["session.qr"], `"qrCode": "2@hook,qr=="`) {
		t.Fatalf("webhooks of a worker's report: %v", got)
	}

	whEventually(t, 5*time.Second, "the deliveries counted", func() bool {
		return testCounter(t, g.Metrics, "gateway_webhook_deliveries_total", "delivered") == 2
	})
	scrape := g.Do(t, http.MethodGet, "/metrics", nil).Body.String()
	for _, name := range []string{"gateway_webhook_deliveries_pending", "gateway_webhook_delivery_latency_seconds_count",
		"gateway_webhook_attempt_duration_seconds_count", `gateway_events_published_total{type="qr_code_updated"}`,
		"gateway_socketio_clients", "gateway_sse_clients", "gateway_bus_events_dropped_total 0"} {
		if !strings.Contains(scrape, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}
