package httpapi_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/testenv"
)

// Tests of the customer webhook routes and the SSE route's access checks (prefix hook).
// Delivery itself is tested in internal/webhooks, streaming in internal/realtime.

var hookSeq atomic.Int64

func hookGateway(t testing.TB, env map[string]string) *testenv.Gateway {
	t.Helper()
	merged := map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true", "AUTH_RATE_LIMIT_PER_MINUTE": "100000",
		"RATE_LIMIT_MAX_REQUESTS": "100000000"}
	maps.Copy(merged, env)
	return testenv.NewGateway(t, testenv.Options{Env: merged})
}

type hookUser struct {
	ID, Token, SessionID string
}

func (u hookUser) auth() []string { return []string{"Authorization", "Bearer " + u.Token} }

func hookNewUser(t testing.TB, g *testenv.Gateway) hookUser {
	t.Helper()
	n := hookSeq.Add(1)
	res := g.Do(t, http.MethodPost, "/api/v1/auth/register", map[string]any{
		"name": "Hook Tester", "email": fmt.Sprintf("hooks-%d-%d@example.com", time.Now().UnixNano(), n), "password": "Sup3r-Secret!",
	})
	if res.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	u := hookUser{ID: data["user"].(map[string]any)["id"].(string), Token: data["token"].(string)}
	res = g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Hooked", "sessionId": fmt.Sprintf("hooked-%d", n)}, u.auth()...)
	if res.Code != http.StatusCreated {
		t.Fatalf("create session: %d %s", res.Code, res.Body)
	}
	u.SessionID = res.JSON(t)["data"].(map[string]any)["sessionId"].(string)
	return u
}

func hookData(t testing.TB, res testenv.Response, status int) map[string]any {
	t.Helper()
	if res.Code != status {
		t.Fatalf("status %d, want %d: %s", res.Code, status, res.Body)
	}
	data, _ := res.JSON(t)["data"].(map[string]any)
	return data
}

func hookPut(t testing.TB, g *testenv.Gateway, u hookUser, body map[string]any) testenv.Response {
	t.Helper()
	return g.Do(t, http.MethodPut, "/api/v1/sessions/"+u.SessionID+"/webhook", body, u.auth()...)
}

func hookExec(t testing.TB, g *testenv.Gateway, sql string, args ...any) {
	t.Helper()
	if _, err := g.DB.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// hookInsertDeliveries stores n delivered deliveries, one second apart, oldest first.
func hookInsertDeliveries(t testing.TB, g *testenv.Gateway, sessionID string, n int) {
	t.Helper()
	hookExec(t, g, `INSERT INTO webhook_deliveries (webhook_id, event, payload, status, attempts, response_code, created_at, delivered_at)
		SELECT w.id, 'message.received', jsonb_build_object('id', 'evt_' || i, 'event', 'message.received'), 'DELIVERED', 1, 200,
			now() - make_interval(secs => $2 - i), now() - make_interval(secs => $2 - i)
		FROM webhooks w, generate_series(1, $2) AS i WHERE w.session_id = $1`, sessionID, n)
}

func TestWebhookRoutes_EveryRouteIsTenantChecked(t *testing.T) {
	t.Parallel()
	g := hookGateway(t, nil)
	owner, stranger, admin := hookNewUser(t, g), hookNewUser(t, g), hookNewUser(t, g)
	hookExec(t, g, `UPDATE users SET role = 'ADMINISTRATOR' WHERE id = $1`, admin.ID)
	hookData(t, hookPut(t, g, owner, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}}), http.StatusCreated)
	hookInsertDeliveries(t, g, owner.SessionID, 1)
	var deliveryID string
	if err := g.DB.QueryRow(context.Background(), `SELECT id::text FROM webhook_deliveries LIMIT 1`).Scan(&deliveryID); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/sessions/" + owner.SessionID
	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, base + "/webhook", nil},
		{http.MethodPut, base + "/webhook", map[string]any{"url": "http://127.0.0.1:9/mine", "events": []string{"*"}}},
		{http.MethodDelete, base + "/webhook", nil},
		{http.MethodGet, base + "/webhook/deliveries", nil},
		{http.MethodPost, base + "/webhook/deliveries/" + deliveryID + "/redeliver", nil},
		{http.MethodGet, base + "/events", nil},
	}
	for _, r := range routes {
		for _, prefix := range []string{"", "/api"} {
			path := r.path
			if prefix != "" {
				path = strings.Replace(path, "/api/v1", prefix, 1)
			}
			if res := g.Do(t, r.method, path, r.body, stranger.auth()...); res.Code != http.StatusNotFound ||
				!strings.Contains(res.Body.String(), `"not_found"`) {
				t.Errorf("%s %s by another user: %d %s, want 404", r.method, path, res.Code, res.Body)
			}
			if res := g.Do(t, r.method, path, r.body); res.Code != http.StatusUnauthorized {
				t.Errorf("%s %s without a token: %d, want 401", r.method, path, res.Code)
			}
		}
	}
	// Nothing changed, and the owner and an administrator see it.
	for _, u := range []hookUser{owner, admin} {
		hook := hookData(t, g.Do(t, http.MethodGet, base+"/webhook", nil, u.auth()...), http.StatusOK)
		if hook["url"] != "http://127.0.0.1:9/hook" {
			t.Fatalf("webhook after the stranger's attempts: %v", hook)
		}
	}
	if n := len(hookData(t, g.Do(t, http.MethodGet, base+"/webhook/deliveries", nil, admin.auth()...), http.StatusOK)["deliveries"].([]any)); n != 1 {
		t.Fatalf("%d deliveries, want the 1 stored (no redelivery by the stranger)", n)
	}
}

func TestWebhookRoutes_SecretIsShownOnCreateAndRotationOnly_AndStoredSealed(t *testing.T) {
	t.Parallel()
	g := hookGateway(t, nil)
	u := hookNewUser(t, g)
	path := "/api/v1/sessions/" + u.SessionID + "/webhook"
	if res := g.Do(t, http.MethodGet, path, nil, u.auth()...); res.Code != http.StatusNotFound {
		t.Fatalf("before any: %d %s", res.Code, res.Body)
	}

	created := hookData(t, hookPut(t, g, u, map[string]any{"url": "https://example.com/hook",
		"events": []string{"session.qr", "message.received", "message.received"}}), http.StatusCreated)
	secret, _ := created["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+44 {
		t.Fatalf("created %v: want a whsec_ secret", created)
	}
	if fmt.Sprint(created["events"]) != "[message.received session.qr]" || created["isActive"] != true ||
		created["failureCount"] != float64(0) || created["lastDelivery"] != nil || created["disabledReason"] != nil {
		t.Fatalf("created %v", created)
	}
	var stored string
	if err := g.DB.QueryRow(context.Background(), `SELECT secret FROM webhooks WHERE session_id = $1`, u.SessionID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, strings.TrimPrefix(secret, "whsec_")) {
		t.Fatal("the secret is stored in clear")
	}

	updated := hookData(t, hookPut(t, g, u, map[string]any{"url": "https://example.com/v2", "events": []string{"message.status", "*"}}),
		http.StatusOK)
	if _, shown := updated["secret"]; shown || updated["url"] != "https://example.com/v2" || fmt.Sprint(updated["events"]) != "[*]" {
		t.Fatalf("updated %v: want the new URL, [*] and no secret", updated)
	}
	got := hookData(t, g.Do(t, http.MethodGet, path, nil, u.auth()...), http.StatusOK)
	if _, shown := got["secret"]; shown {
		t.Fatalf("GET shows the secret: %v", got)
	}

	rotated := hookData(t, hookPut(t, g, u, map[string]any{"url": "https://example.com/v2", "events": []string{"*"}, "rotateSecret": true}),
		http.StatusOK)
	if s, _ := rotated["secret"].(string); !strings.HasPrefix(s, "whsec_") || s == secret {
		t.Fatalf("rotated %v: want a new secret", rotated)
	}

	if res := g.Do(t, http.MethodDelete, path, nil, u.auth()...); res.Code != http.StatusOK {
		t.Fatalf("delete: %d %s", res.Code, res.Body)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		if res := g.Do(t, method, path, nil, u.auth()...); res.Code != http.StatusNotFound {
			t.Fatalf("%s after delete: %d", method, res.Code)
		}
	}
}

func TestWebhookRoutes_Put_ValidatesURLAndEvents(t *testing.T) {
	t.Parallel()
	g := hookGateway(t, nil)
	u := hookNewUser(t, g)
	tests := []struct {
		name   string
		body   map[string]any
		fields string
	}{
		{"Empty", map[string]any{}, "url events"},
		{"NotHTTP", map[string]any{"url": "ftp://example.com/x", "events": []string{"*"}}, "url"},
		{"NotAURL", map[string]any{"url": "example.com", "events": []string{"*"}}, "url"},
		{"WithCredentials", map[string]any{"url": "https://user:pw@example.com/", "events": []string{"*"}}, "url"},
		{"TooLong", map[string]any{"url": "https://example.com/" + strings.Repeat("a", 2100), "events": []string{"*"}}, "url"},
		{"UnknownEvent", map[string]any{"url": "https://example.com/", "events": []string{"message.sent"}}, "events"},
		{"NoEvents", map[string]any{"url": "https://example.com/", "events": []string{}}, "events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := hookPut(t, g, u, tt.body)
			if res.Code != http.StatusBadRequest || !strings.Contains(res.Body.String(), `"validation_error"`) {
				t.Fatalf("%d %s, want 400 validation_error", res.Code, res.Body)
			}
			var fields []string
			for _, d := range res.JSON(t)["details"].([]any) {
				fields = append(fields, d.(map[string]any)["field"].(string))
			}
			if strings.Join(fields, " ") != tt.fields {
				t.Fatalf("details name %v, want %s", fields, tt.fields)
			}
		})
	}
	if res := g.Do(t, http.MethodPut, "/api/v1/sessions/"+u.SessionID+"/webhook", "url=x", append(u.auth(), "Content-Type", "text/plain")...); res.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("a form body: %d", res.Code)
	}
}

func TestWebhookRoutes_Put_RefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	t.Parallel()
	strict := hookGateway(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "false"})
	u := hookNewUser(t, strict)
	for _, url := range []string{
		"http://127.0.0.1:8080/hook", "http://localhost/hook", "http://api.localhost/hook", "http://[::1]/hook",
		"http://10.1.2.3/hook", "http://172.16.0.1/hook", "http://192.168.1.1/hook", // private
		"http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", // cloud metadata, link-local
		"http://100.64.0.1/hook", // carrier-grade NAT
		"http://224.0.0.1/hook",  // multicast
		"http://0.0.0.0/hook", "http://[::ffff:127.0.0.1]/hook",
	} {
		res := hookPut(t, strict, u, map[string]any{"url": url, "events": []string{"*"}})
		if res.Code != http.StatusBadRequest || !strings.Contains(res.Body.String(), "private") {
			t.Errorf("%s: %d %s, want 400 naming private addresses", url, res.Code, res.Body)
		}
	}
	// A public address literal needs no DNS.
	hookData(t, hookPut(t, strict, u, map[string]any{"url": "https://93.184.215.14/hook", "events": []string{"*"}}), http.StatusCreated)

	lax := hookGateway(t, nil) // WEBHOOK_ALLOW_PRIVATE=true
	v := hookNewUser(t, lax)
	hookData(t, hookPut(t, lax, v, map[string]any{"url": "http://127.0.0.1:8080/hook", "events": []string{"*"}}), http.StatusCreated)
}

func TestWebhookRoutes_DeliveryLog_NewestFirstWithCursor_AndRedelivery(t *testing.T) {
	t.Parallel()
	g := hookGateway(t, nil)
	u := hookNewUser(t, g)
	hookData(t, hookPut(t, g, u, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}}), http.StatusCreated)
	path := "/api/v1/sessions/" + u.SessionID + "/webhook/deliveries"
	if list := hookData(t, g.Do(t, http.MethodGet, path, nil, u.auth()...), http.StatusOK); len(list["deliveries"].([]any)) != 0 ||
		list["nextCursor"] != nil {
		t.Fatalf("empty log: %v", list)
	}
	hookInsertDeliveries(t, g, u.SessionID, 25)

	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		q := "?limit=10"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		data := hookData(t, g.Do(t, http.MethodGet, path+q, nil, u.auth()...), http.StatusOK)
		for _, d := range data["deliveries"].([]any) {
			d := d.(map[string]any)
			for _, field := range []string{"id", "event", "status", "attempts", "responseCode", "nextRetry", "createdAt", "deliveredAt"} {
				if _, ok := d[field]; !ok {
					t.Fatalf("delivery without %s: %v", field, d)
				}
			}
			seen = append(seen, d["createdAt"].(string))
		}
		next, _ := data["nextCursor"].(string)
		if next == "" {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if len(seen) != 25 {
		t.Fatalf("%d deliveries over the pages, want 25", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first at %d: %s then %s", i, seen[i-1], seen[i])
		}
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?cursor=garbage"} {
		if res := g.Do(t, http.MethodGet, path+q, nil, u.auth()...); res.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, res.Code)
		}
	}

	var id, payloadID string
	if err := g.DB.QueryRow(context.Background(), `SELECT id::text, payload->>'id' FROM webhook_deliveries ORDER BY created_at LIMIT 1`).
		Scan(&id, &payloadID); err != nil {
		t.Fatal(err)
	}
	data := hookData(t, g.Do(t, http.MethodPost, path+"/"+id+"/redeliver", nil, u.auth()...), http.StatusAccepted)
	again := data["delivery"].(map[string]any)
	if again["id"] == id || again["status"] != "PENDING" || again["attempts"] != float64(0) ||
		!strings.Contains(fmt.Sprint(again["payload"]), payloadID) {
		t.Fatalf("redelivery %v, want a new PENDING delivery of payload %s", again, payloadID)
	}
	for _, bad := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
		if res := g.Do(t, http.MethodPost, path+"/"+bad+"/redeliver", nil, u.auth()...); res.Code != http.StatusNotFound {
			t.Errorf("redeliver %s: %d, want 404", bad, res.Code)
		}
	}
}

func TestWebhookRoutes_DeletingTheSession_DeletesItsWebhook(t *testing.T) {
	t.Parallel()
	g := hookGateway(t, nil)
	u := hookNewUser(t, g)
	hookData(t, hookPut(t, g, u, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}}), http.StatusCreated)
	hookInsertDeliveries(t, g, u.SessionID, 3)
	if res := g.Do(t, http.MethodDelete, "/api/v1/sessions/"+u.SessionID, nil, u.auth()...); res.Code != http.StatusOK {
		t.Fatalf("delete session: %d %s", res.Code, res.Body)
	}
	var hooks, deliveries int
	if err := g.DB.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM webhooks), (SELECT count(*) FROM webhook_deliveries)`).
		Scan(&hooks, &deliveries); err != nil || hooks != 0 || deliveries != 0 {
		t.Fatalf("left %d webhooks and %d deliveries (%v)", hooks, deliveries, err)
	}
}
