package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// quotaWant429 checks a quota refusal: 429 rate_limited with Retry-After within the hour and
// the X-RateLimit-* headers.
func quotaWant429(t *testing.T, res testenv.Response) {
	t.Helper()
	sesWantError(t, res, http.StatusTooManyRequests, "rate_limited")
	retry, err := strconv.Atoi(res.Header().Get("Retry-After"))
	if err != nil || retry < 1 || retry > 3600 {
		t.Errorf("Retry-After = %q, want 1..3600 seconds", res.Header().Get("Retry-After"))
	}
	quotaHeaders(t, res)
}

// quotaHeaders checks that X-RateLimit-* are present and sane, and returns limit and remaining.
func quotaHeaders(t *testing.T, res testenv.Response) (int, int) {
	t.Helper()
	limit, errL := strconv.Atoi(res.Header().Get("X-RateLimit-Limit"))
	remaining, errR := strconv.Atoi(res.Header().Get("X-RateLimit-Remaining"))
	reset, errS := strconv.ParseInt(res.Header().Get("X-RateLimit-Reset"), 10, 64)
	now := time.Now().Unix()
	if errL != nil || errR != nil || errS != nil || remaining < 0 || remaining > limit || reset < now || reset > now+3601 {
		t.Errorf("X-RateLimit-Limit %q, -Remaining %q, -Reset %q: want numbers, remaining within the limit, reset within the hour",
			res.Header().Get("X-RateLimit-Limit"), res.Header().Get("X-RateLimit-Remaining"), res.Header().Get("X-RateLimit-Reset"))
	}
	return limit, remaining
}

func TestMessageQuota_EachTier_429AtExactlyLimitPlusOne(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, map[string]string{
		"TIER_LIMITS": `{"BASIC":{"messagesPerHour":3},"PRO":{"messagesPerHour":4},"MAX":{"messagesPerHour":5}}`,
	}, simengine.Config{})
	for tier, limit := range map[string]int{"BASIC": 3, "PRO": 4, "MAX": 5} {
		u := sesNewUser(t, l.Gateway)
		sesExec(t, l.Gateway, `UPDATE users SET tier = $2 WHERE id = $1`, u.ID, tier)
		id, key := l.connectedSession(t, u, "quota-"+map[string]string{"BASIC": "basic", "PRO": "pro", "MAX": "max"}[tier])
		for i := range limit {
			if res := msgSend(t, l.Gateway, key, "sendText", map[string]any{"to": "6281234567890", "message": "m"}); res.Code != http.StatusOK {
				t.Fatalf("%s: send %d of %d: %d %s", tier, i+1, limit, res.Code, res.Body)
			}
		}
		res := msgSend(t, l.Gateway, key, "sendText", map[string]any{"to": "6281234567890", "message": "one too many"})
		quotaWant429(t, res)
		// The headers describe the message quota that refused the send, not the API-call window.
		if gotLimit, remaining := quotaHeaders(t, res); gotLimit != limit || remaining != 0 {
			t.Errorf("%s: refused send's X-RateLimit limit %d remaining %d, want the message quota's %d and 0", tier, gotLimit, remaining, limit)
		}
		if got := l.Sim.Engine.Sent(id)["text"]; got != limit {
			t.Errorf("%s: the worker sent %d, want exactly the limit %d", tier, got, limit)
		}
		if n := sesCount(t, l.Gateway, `SELECT count(*) FROM messages WHERE session_id = $1`, id); n != limit {
			t.Errorf("%s: %d messages recorded, want %d (the refused one is not)", tier, n, limit)
		}
		// Every kind of send counts against the same quota; commands that are not messages do not.
		quotaWant429(t, msgSend(t, l.Gateway, key, "sendLocation", map[string]any{"to": "6281234567890", "latitude": 1, "longitude": 2}))
		if res := msgSend(t, l.Gateway, key, "startTyping", map[string]any{"to": "6281234567890"}); res.Code != http.StatusOK {
			t.Errorf("%s: typing after the message quota: %d, want 200", tier, res.Code)
		}
	}
}

func TestAPICallQuota_429AtLimitPlusOneWithCountingHeaders(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"apiCallsPerHour":4},"PRO":{"apiCallsPerHour":6}}`})
	for tier, limit := range map[string]int{"BASIC": 4, "PRO": 6} {
		u := sesNewUser(t, g)
		sesExec(t, g, `UPDATE users SET tier = $2 WHERE id = $1`, u.ID, tier)
		key := sesCreate(t, g, u, map[string]any{"name": "Calls " + tier})["apiKey"].(string)
		for i := range limit {
			res := g.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", key)
			if res.Code != http.StatusOK {
				t.Fatalf("%s call %d: %d %s", tier, i+1, res.Code, res.Body)
			}
			if gotLimit, remaining := quotaHeaders(t, res); gotLimit != limit || remaining != limit-i-1 {
				t.Errorf("%s call %d: limit %d remaining %d, want %d and %d", tier, i+1, gotLimit, remaining, limit, limit-i-1)
			}
		}
		res := g.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", key)
		quotaWant429(t, res)
		if gotLimit, remaining := quotaHeaders(t, res); gotLimit != limit || remaining != 0 {
			t.Errorf("%s refused call: limit %d remaining %d, want %d and 0", tier, gotLimit, remaining, limit)
		}
		// Sends are API calls too.
		quotaWant429(t, msgSend(t, g, key, "sendText", map[string]any{"to": "6281234567890", "message": "m"}))
	}
	if n := sesCount(t, g, `SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("refused calls recorded %d messages", n)
	}
}

func TestQuota_CountersArePerUser(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"messagesPerHour":2,"apiCallsPerHour":5}}`}, simengine.Config{})
	a, b := sesNewUser(t, l.Gateway), sesNewUser(t, l.Gateway)
	_, keyA := l.connectedSession(t, a, "user-a")
	_, keyB := l.connectedSession(t, b, "user-b")
	send := func(key string) int {
		return msgSend(t, l.Gateway, key, "sendText", map[string]any{"to": "6281234567890", "message": "m"}).Code
	}
	for range 2 {
		if code := send(keyA); code != http.StatusOK {
			t.Fatalf("A: %d", code)
		}
	}
	if code := send(keyA); code != http.StatusTooManyRequests {
		t.Fatalf("A's third message: %d, want 429", code)
	}
	for i := range 2 {
		if code := send(keyB); code != http.StatusOK {
			t.Errorf("B's message %d after A used up A's quota: %d, want 200", i+1, code)
		}
	}
	// A has made 3 API calls, B 2: B still has 3 calls left, A 2.
	for i := range 3 {
		if code := l.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", keyB).Code; code != http.StatusOK {
			t.Errorf("B's status call %d: %d", i+1, code)
		}
	}
	quotaWant429(t, l.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", keyB))
	for i := range 2 {
		if code := l.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", keyA).Code; code != http.StatusOK {
			t.Errorf("A's status call %d: %d", i+1, code)
		}
	}
}

func TestQuota_SharedByTwoGatewaysOnOneKeyPrefix(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TIER_LIMITS": `{"BASIC":{"messagesPerHour":3,"apiCallsPerHour":100}}`,
		"AUTH_RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_MAX_REQUESTS": "100000000"}
	a := testenv.NewGateway(t, testenv.Options{Env: env})
	b := testenv.NewGateway(t, testenv.Options{Env: env, DatabaseURL: a.DatabaseURL, KeyPrefix: a.KeyPrefix})
	baseURL, _ := a.Serve(t)
	l := &sesLive{Gateway: a, URL: baseURL, Sim: sesStartSim(t, a, baseURL, "sim-1", simengine.Config{})}
	u := sesNewUser(t, a)
	id, key := l.connectedSession(t, u, "shared")

	for i, g := range []*testenv.Gateway{a, b, a} {
		if res := msgSend(t, g, key, "sendText", map[string]any{"to": "6281234567890", "message": "m"}); res.Code != http.StatusOK {
			t.Fatalf("send %d: %d %s", i+1, res.Code, res.Body)
		}
	}
	quotaWant429(t, msgSend(t, b, key, "sendText", map[string]any{"to": "6281234567890", "message": "fourth"}))
	quotaWant429(t, msgSend(t, a, key, "sendText", map[string]any{"to": "6281234567890", "message": "fifth"}))
	if got := l.Sim.Engine.Sent(id)["text"]; got != 3 {
		t.Errorf("the worker sent %d, want 3 over both gateways", got)
	}
	// API calls: a and b see one counter (5 calls so far, counted on both).
	_, remainingA := quotaHeaders(t, a.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", key))
	_, remainingB := quotaHeaders(t, b.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", key))
	if remainingA != 94 || remainingB != 93 {
		t.Errorf("remaining API calls %d then %d, want 94 then 93 (one counter for both gateways)", remainingA, remainingB)
	}
}

func TestUsage_RecordsAreWrittenAfterTheFlush(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, key := l.connectedSession(t, u, "usage")
	for range 2 {
		if res := msgSend(t, l.Gateway, key, "sendText", map[string]any{"to": "6281234567890", "message": "m"}); res.Code != http.StatusOK {
			t.Fatalf("send: %d %s", res.Code, res.Body)
		}
	}
	if code := l.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", key).Code; code != http.StatusOK {
		t.Fatalf("status: %d", code)
	}
	usage := func(kind string) int {
		return sesCount(t, l.Gateway, `SELECT coalesce(sum(count), 0)::int FROM usage_records
			WHERE user_id = $1 AND session_id = $2 AND kind = $3`, u.ID, id, kind)
	}
	sesEventually(t, 8*time.Second, "usage_records hold 2 messages and 3 API calls", func() bool {
		return usage("message") == 2 && usage("api_call") == 3
	})
	if n := sesCount(t, l.Gateway, `SELECT count(*) FROM usage_records WHERE user_id = $1 AND api_key_id IS NOT NULL
		AND bucket = date_trunc('hour', bucket)`, u.ID); n < 2 {
		t.Errorf("%d usage rows with the key on an hour bucket, want one per kind (and hour)", n)
	}
}

func TestMessageQuota_ASendRefusedAsNotConnectedIsNotCharged(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":2,"messagesPerHour":1}}`}, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	idle := sesCreate(t, l.Gateway, u, map[string]any{"name": "Idle"})["apiKey"].(string)
	_, live := l.connectedSession(t, u, "quota-refund")
	for i := range 2 {
		if res := msgSend(t, l.Gateway, idle, "sendText", map[string]any{"to": "6281234567890", "message": "m"}); res.Code != http.StatusConflict {
			t.Fatalf("send %d to a session that is not connected: %d %s, want 409", i+1, res.Code, res.Body)
		}
	}
	if res := msgSend(t, l.Gateway, live, "sendText", map[string]any{"to": "6281234567890", "message": "m"}); res.Code != http.StatusOK {
		t.Fatalf("the quota's one message, after two refused as not connected: %d %s, want 200", res.Code, res.Body)
	}
	quotaWant429(t, msgSend(t, l.Gateway, live, "sendText", map[string]any{"to": "6281234567890", "message": "m"}))
}
