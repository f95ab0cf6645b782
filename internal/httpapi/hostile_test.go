package httpapi_test

// Hostile requests against a real gateway served over TCP: every one is written byte for byte
// (so that it can carry what an HTTP client library would refuse to send), and every answer
// must be the 4xx its case names — in the envelope of api.md when the gateway answers, or
// net/http's own 4xx when the request is not even HTTP — and never a 5xx. (Two heartbeats
// carrying figures out of range are the exception: recorded, 200, without those figures.)
// Nothing a refused request carried may be stored.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// hostileRequest is one request written as raw bytes.
type hostileRequest struct {
	method, target string
	headers        []string // "Name: value" lines, written as they are (CR, LF and all)
	body           string
	chunked        bool // send the body chunked instead of with a Content-Length
}

// hostileAnswer is what the gateway answered.
type hostileAnswer struct {
	status int
	header http.Header
	body   []byte
}

// send writes req to the server at addr and reads the answer. The body is written while the
// answer is read: a server that refuses a large body answers before it has read it all.
func (req hostileRequest) send(t *testing.T, addr string) hostileAnswer {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))

	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n", req.method, req.target)
	hasLength := false
	for _, h := range req.headers {
		head.WriteString(h + "\r\n")
		hasLength = hasLength || strings.HasPrefix(strings.ToLower(h), "content-length:")
	}
	body := req.body
	switch {
	case req.chunked:
		head.WriteString("Transfer-Encoding: chunked\r\n")
		var chunks strings.Builder
		for rest := body; rest != ""; {
			n := min(len(rest), 64<<10)
			fmt.Fprintf(&chunks, "%x\r\n%s\r\n", n, rest[:n])
			rest = rest[n:]
		}
		chunks.WriteString("0\r\n\r\n")
		body = chunks.String()
	case !hasLength && (body != "" || req.method == http.MethodPost || req.method == http.MethodPut):
		fmt.Fprintf(&head, "Content-Length: %d\r\n", len(body))
	}
	head.WriteString("\r\n")

	go func() { _, _ = io.WriteString(conn, head.String()+body) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %.80s: reading the answer: %v", req.method, req.target, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return hostileAnswer{status: res.StatusCode, header: res.Header, body: raw}
}

// hostileCase is a request and the 4xx it must get.
type hostileCase struct {
	name string
	req  hostileRequest
	// status is the exact status wanted; 0 accepts any 4xx.
	status int
	// kind is the envelope's type; "" when net/http refuses the request before the gateway
	// sees it (then the answer is net/http's plain-text 4xx, not the envelope).
	kind string
}

// jsonPost is a POST of body as JSON with the given credential headers.
func jsonPost(target, body string, headers ...string) hostileRequest {
	return hostileRequest{method: http.MethodPost, target: target, body: body,
		headers: append([]string{"Content-Type: application/json"}, headers...)}
}

// bearer is an Authorization header line.
func bearer(token string) string { return "Authorization: Bearer " + token }

// nested is depth levels of open (then close) around inner.
func nested(open, inner, closing string, depth int) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(closing, depth)
}

func hostileCases(w *fuzzWorld) []hostileCase {
	owner, admin, key, worker := bearer(w.owner.Token), bearer(w.admin.Token), "X-API-Key: "+w.key, bearer(w.g.Config.WorkerAuthToken)
	send := "/api/v1/sendText"
	mib := 1 << 20
	big := `{"to":"6281234567890","message":"` + strings.Repeat("x", 2*mib) + `"}`
	return []hostileCase{
		// Huge bodies: 413 whether the length is declared or the body is chunked.
		{"huge body with Content-Length", jsonPost("/api/v1/auth/register", big), 413, "payload_too_large"},
		{"huge chunked body", hostileRequest{method: http.MethodPost, target: "/api/v1/auth/login", body: big, chunked: true,
			headers: []string{"Content-Type: application/json"}}, 413, "payload_too_large"},
		{"huge chunked send", hostileRequest{method: http.MethodPost, target: send, body: big, chunked: true,
			headers: []string{"Content-Type: application/json", key}}, 413, "payload_too_large"},
		{"huge send with an Idempotency-Key", hostileRequest{method: http.MethodPost, target: send, body: big, chunked: true,
			headers: []string{"Content-Type: application/json", key, "Idempotency-Key: huge-1"}}, 413, "payload_too_large"},
		{"huge worker event", hostileRequest{method: http.MethodPost, target: "/api/v1/webhooks/message", body: big, chunked: true,
			headers: []string{"Content-Type: application/json", worker}}, 413, "payload_too_large"},
		{"declared huge, sent small", jsonPost("/api/v1/sessions", `{}`, owner, fmt.Sprintf("Content-Length: %d", 5*mib)), 413, "payload_too_large"},
		{"a field far over its limit", jsonPost(send, `{"to":"6281234567890","message":"`+strings.Repeat("x", mib-100)+`"}`, key), 400, "validation_error"},

		// Deep JSON: refused as malformed, never parsed recursively into the database.
		{"deep arrays", jsonPost("/api/v1/auth/register", nested("[", "1", "]", 100_000)), 400, "bad_request"},
		{"deep objects in a field", jsonPost("/api/v1/sessions", `{"name":`+nested(`{"a":`, "1", "}", 50_000)+`}`, owner), 400, "bad_request"},
		{"deep raw event", jsonPost("/api/v1/webhooks/message", `{"sessionId":"fuzz-shop","messageId":"3EB0DEEP","from":"6281234567890@s.whatsapp.net",`+
			`"type":"TEXT","content":"x","raw":`+nested("[", "1", "]", 9_000)+`}`, worker), 400, "bad_request"},

		// Invalid UTF-8 and NUL, in the body, the query, the path and headers.
		{"invalid UTF-8 in a JSON string", jsonPost("/api/v1/sessions", "{\"name\":\"Shop \xff\xfe\"}", owner), 400, "bad_request"},
		{"UTF-16 body", jsonPost("/api/v1/sessions", "\xff\xfe{\x00}\x00", owner), 400, "bad_request"},
		{"escaped NUL in a JSON string", jsonPost(send, `{"to":"6281234567890","message":"a\u0000b"}`, key), 400, "bad_request"},
		{"invalid UTF-8 in a query", hostileRequest{method: http.MethodGet, target: "/api/v1/admin/users?search=%FF%FE", headers: []string{admin}}, 400, "bad_request"},
		{"NUL in a query", hostileRequest{method: http.MethodGet, target: "/api/v1/admin/sessions?workerId=%00", headers: []string{admin}}, 400, "bad_request"},
		{"invalid UTF-8 in a usage filter", hostileRequest{method: http.MethodGet, target: "/api/v1/users/usage?sessionId=%80", headers: []string{owner}}, 400, "bad_request"},
		{"invalid UTF-8 in a session ID", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/fuzz-shop%FF", headers: []string{owner}}, 404, "not_found"},
		{"invalid UTF-8 in an API key", hostileRequest{method: http.MethodGet, target: "/api/v1/session/status", headers: []string{"X-API-Key: wg_\xff\xfe"}}, 401, "unauthorized"},
		{"invalid UTF-8 in an Idempotency-Key", jsonPost(send, `{"to":"6281234567890","message":"hi"}`, key, "Idempotency-Key: k\xff\xfe"), 400, "validation_error"},
		{"control characters in an Idempotency-Key", jsonPost(send, `{"to":"6281234567890","message":"hi"}`, key, "Idempotency-Key: k\x01\x7f"), 400, ""},

		// Path traversal and odd characters in IDs: no such resource.
		{"dot-dot in a session ID", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/../admin/users", headers: []string{owner}}, 404, "not_found"},
		{"encoded slashes in a session ID", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/..%2F..%2Fadmin%2Fusers", headers: []string{owner}}, 404, "not_found"},
		{"encoded dots as a session ID", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/%2e%2e", headers: []string{owner}}, 404, "not_found"},
		{"NUL after a session ID", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/fuzz-shop%00", headers: []string{owner}}, 404, "not_found"},
		{"space in a session ID", hostileRequest{method: http.MethodPost, target: "/api/v1/sessions/fuzz%20shop/connect", headers: []string{owner}}, 404, "not_found"},
		{"another tenant's session", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/" + w.other, headers: []string{owner}}, 404, "not_found"},
		{"another tenant's session, upper case", hostileRequest{method: http.MethodDelete, target: "/api/v1/sessions/" + strings.ToUpper(w.other), headers: []string{owner}}, 404, "not_found"},
		{"traversal out of a session to admin", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/fuzz-shop/../../admin/users", headers: []string{owner}}, 404, "not_found"},
		{"dot-dot in a worker ID", hostileRequest{method: http.MethodGet, target: "/api/v1/workers/..%2F..%2Fadmin", headers: []string{admin}}, 404, "not_found"},
		{"braced UUID of a user", hostileRequest{method: http.MethodGet, target: "/api/v1/admin/users/%7B" + w.owner.ID + "%7D", headers: []string{admin}}, 404, "not_found"},
		{"urn UUID of a delivery", jsonPost("/api/v1/sessions/fuzz-shop/webhook/deliveries/urn:uuid:"+w.owner.ID+"/redeliver", ``, owner), 404, "not_found"},
		{"NUL as a message ID", hostileRequest{method: http.MethodGet, target: "/api/v1/messages/%00", headers: []string{key}}, 404, "not_found"},
		{"SQL as a message ID", hostileRequest{method: http.MethodGet, target: "/api/v1/messages/'%20OR%20'1'='1", headers: []string{key}}, 404, "not_found"},
		{"backslashes in a path", hostileRequest{method: http.MethodGet, target: `/api/v1\sessions`, headers: []string{owner}}, 404, "not_found"},
		{"a 100 KB path", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/" + strings.Repeat("a", 100_000), headers: []string{owner}}, 404, "not_found"},
		{"a message ID over 128 characters", jsonPost("/api/v1/message/"+strings.Repeat("m", 129)+"/star", `{"phone":"6281234567890"}`, key), 404, "not_found"},

		// Header injection and oversized headers.
		{"CR in a header value", hostileRequest{method: http.MethodGet, target: "/api/v1/auth/me",
			headers: []string{owner, "X-Request-ID: abc\rSet-Cookie: injected=1"}}, 400, ""},
		{"NUL in a header value", hostileRequest{method: http.MethodGet, target: "/api/v1/auth/me", headers: []string{"Authorization: Bearer a\x00b"}}, 400, ""},
		// net/http folds the line into the one before: a token with junk after it.
		{"a folded header line", hostileRequest{method: http.MethodGet, target: "/api/v1/auth/me", headers: []string{owner, " Set-Cookie: injected=1"}}, 401, "unauthorized"},
		{"a space before the colon", hostileRequest{method: http.MethodGet, target: "/api/v1/session/status", headers: []string{"X-API-Key : " + w.key}}, 400, ""},
		{"two different Content-Lengths", jsonPost("/api/v1/auth/login", `{}`, "Content-Length: 2", "Content-Length: 3"), 400, ""},
		{"a 2 MB header", hostileRequest{method: http.MethodGet, target: "/api/v1/auth/me", headers: []string{"X-Big: " + strings.Repeat("b", 2*mib)}}, 431, ""},
		{"a 500 KB bearer token", hostileRequest{method: http.MethodGet, target: "/api/v1/auth/me", headers: []string{bearer(strings.Repeat("t", 500_000))}}, 401, "unauthorized"},
		{"a 500 KB API key", hostileRequest{method: http.MethodGet, target: "/api/v1/session/status", headers: []string{"X-API-Key: wg_" + strings.Repeat("k", 500_000)}}, 401, "unauthorized"},
		{"an injected request ID", hostileRequest{method: http.MethodGet, target: "/api/v1/sessions/nope-nope", headers: []string{owner, "X-Request-ID: a%0d%0aSet-Cookie:%20x=1"}}, 404, "not_found"},
		{"an Idempotency-Key of 256 characters", jsonPost(send, `{"to":"6281234567890","message":"hi"}`, key, "Idempotency-Key: "+strings.Repeat("i", 256)), 400, "validation_error"},
		{"forged X-Forwarded-For", hostileRequest{method: http.MethodGet, target: "/api/v1/auth/me", headers: []string{"X-Forwarded-For: 127.0.0.1, ' OR 1=1"}}, 401, "unauthorized"},

		// Wrong content types.
		{"text/plain body", hostileRequest{method: http.MethodPost, target: "/api/v1/auth/login", body: `{}`, headers: []string{"Content-Type: text/plain"}}, 415, "unsupported_media_type"},
		{"form body", hostileRequest{method: http.MethodPost, target: "/api/v1/auth/login", body: `email=a&password=b`,
			headers: []string{"Content-Type: application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"multipart body", hostileRequest{method: http.MethodPost, target: send, body: "--x\r\n\r\n--x--",
			headers: []string{"Content-Type: multipart/form-data; boundary=x", key}}, 415, "unsupported_media_type"},
		{"no content type", hostileRequest{method: http.MethodPost, target: "/api/v1/sessions", body: `{"name":"x"}`, headers: []string{owner}}, 415, "unsupported_media_type"},
		{"a malformed content type", hostileRequest{method: http.MethodPost, target: "/api/v1/sessions", body: `{"name":"x"}`,
			headers: []string{owner, "Content-Type: application/json; charset"}}, 415, "unsupported_media_type"},
		{"application/jsonx", hostileRequest{method: http.MethodPost, target: "/api/v1/sessions", body: `{"name":"x"}`,
			headers: []string{owner, "Content-Type: application/jsonx"}}, 415, "unsupported_media_type"},
		{"worker event as XML", hostileRequest{method: http.MethodPost, target: "/api/v1/webhooks/session-status", body: `<x/>`,
			headers: []string{worker, "Content-Type: application/xml"}}, 415, "unsupported_media_type"},

		// Duplicate keys: the gateway must not read one value where a worker or a proxy reads the other.
		{"duplicate recipient", jsonPost(send, `{"to":"6281234567890","message":"hi","to":"6289999999999"}`, key), 400, "bad_request"},
		{"duplicate role", hostileRequest{method: http.MethodPut, target: "/api/v1/admin/users/" + w.owner.ID, body: `{"role":"USER","role":"ADMINISTRATOR"}`,
			headers: []string{admin, "Content-Type: application/json"}}, 400, "bad_request"},
		{"duplicate key in a nested object", jsonPost(send[:len(send)-4]+"Poll",
			`{"to":"6281234567890","poll":{"name":"Q","options":["a","b"],"name":"R"}}`, key), 400, "bad_request"},
		{"duplicate session ID", jsonPost("/api/v1/webhooks/session-status", `{"sessionId":"fuzz-shop","status":"CONNECTED","sessionId":"stranger-shop"}`, worker), 400, "bad_request"},

		// Numbers out of range.
		{"latitude past float64", jsonPost("/api/v1/sendLocation", `{"to":"6281234567890","latitude":1e400,"longitude":0}`, key), 400, "validation_error"},
		{"maxSessions past int64", jsonPost("/api/v1/workers", `{"endpoint":"http://127.0.0.1:1","maxSessions":99999999999999999999}`, admin), 400, "validation_error"},
		{"maxSessions a fraction", hostileRequest{method: http.MethodPut, target: "/api/v1/workers/" + w.workerID, body: `{"maxSessions":2.5}`,
			headers: []string{admin, "Content-Type: application/json"}}, 400, "validation_error"},
		{"selectableCount past int", jsonPost("/api/v1/sendPoll", `{"to":"6281234567890","poll":{"name":"Q","options":["a","b"],"selectableCount":1e19}}`, key), 400, "validation_error"},
		// A heartbeat is liveness first: a figure out of range is dropped (stored as null), the
		// heartbeat is recorded. The legacy one's 1e300 session count used to be a 500.
		{"heartbeat counts past every column", hostileRequest{method: http.MethodPut, target: "/api/v1/workers/" + w.workerID + "/heartbeat",
			body: `{"sessions":[],"metrics":{"messageCount":1e300,"cpuUsage":1e308}}`, headers: []string{worker, "Content-Type: application/json"}}, 200, ""},
		{"legacy heartbeat count past the column", jsonPost("/api/v1/webhooks/worker-heartbeat",
			`{"workerId":"fuzz-worker","status":"ONLINE","sessionCount":1e300,"activeConnections":-1e300}`, worker), 200, ""},
		{"a page past the end of int", hostileRequest{method: http.MethodGet, target: "/api/v1/admin/users?page=99999999999999999999&limit=-1", headers: []string{admin}}, 400, "validation_error"},
		{"a future far past 30 days", jsonPost(send+"?async=true", `{"to":"6281234567890","message":"hi","scheduledAt":"9999-12-31T23:59:59Z"}`, key), 400, "validation_error"},

		// Methods.
		{"a method the route does not take", hostileRequest{method: http.MethodPatch, target: "/api/v1/sessions/fuzz-shop", headers: []string{owner}}, 405, "method_not_allowed"},
		{"an unknown method", hostileRequest{method: "BREW", target: "/api/v1/sessions", headers: []string{owner}}, 405, "method_not_allowed"},
	}
}

// TestHostileRequests_AnswerA4xxInTheEnvelope sends every hostile request of hostileCases to a
// real gateway, and SQL metacharacters in every string field of every body (see
// sqlProbeRoutes): never a 5xx, each refusal in the envelope with its status's type, and no
// refused request leaves a row behind.
func TestHostileRequests_AnswerA4xxInTheEnvelope(t *testing.T) {
	t.Parallel()
	w := newFuzzWorld(t)
	base, _ := w.g.Serve(t)
	addr := strings.TrimPrefix(base, "http://")

	for _, tc := range hostileCases(w) {
		t.Run(tc.name, func(t *testing.T) {
			before := storedRows(t, w)
			got := tc.req.send(t, addr)
			checkHostileAnswer(t, got, tc.status, tc.kind)
			if got.status >= 400 {
				wantSameRows(t, w, before)
			}
		})
	}
	t.Run("SQL metacharacters in every string field", func(t *testing.T) {
		sent := 0
		for _, probe := range sqlProbeRoutes(t, w) {
			var body any
			if err := json.Unmarshal([]byte(probe.body), &body); err != nil {
				t.Fatalf("probe body of %s: %v", probe.path, err)
			}
			for _, field := range stringFields(body, "") {
				for i, payload := range sqlPayloads {
					raw, _ := json.Marshal(withField(body, field, payload))
					req := jsonPost(probe.path, string(raw), probe.auth())
					req.method = probe.method
					before := storedRows(t, w)
					got := req.send(t, addr)
					sent++
					checkAnswer(t, fmt.Sprintf("%s %s, %s = payload %d", probe.method, probe.path, field, i),
						got.status, got.header, got.body, probe.upstream)
					if got.status >= 400 {
						wantSameRows(t, w, before)
					}
				}
			}
		}
		t.Logf("%d requests with SQL metacharacters, none a 500", sent)
		// Stored text is the payload itself, not something the database made of it.
		for _, payload := range sqlPayloads {
			if n := sesCount(t, w.g, `SELECT count(*) FROM messages WHERE content = $1`, payload); n == 0 {
				t.Errorf("no message holds the text %q verbatim", payload)
			}
		}
		if n := sesCount(t, w.g, `SELECT count(*) FROM users`); n < 4 {
			t.Errorf("%d users left", n)
		}
	})
	t.Run("the 405 names the allowed methods", func(t *testing.T) {
		got := hostileRequest{method: http.MethodPatch, target: "/api/v1/sessions/fuzz-shop", headers: []string{bearer(w.owner.Token)}}.send(t, addr)
		if allow := got.header.Get("Allow"); allow != "GET, HEAD, DELETE" {
			t.Errorf("Allow = %q, want %q", allow, "GET, HEAD, DELETE")
		}
	})
}

// checkHostileAnswer wants status (any 4xx when 0), never a 5xx, the envelope of kind when
// kind is set, and no header an attacker could have injected.
func checkHostileAnswer(t *testing.T, got hostileAnswer, status int, kind string) {
	t.Helper()
	switch {
	case got.status >= 500:
		t.Fatalf("status %d, never a 5xx: %s", got.status, got.body)
	case status == 0 && (got.status < 400 || got.status >= 500) && kind != "":
		t.Fatalf("status %d, want a 4xx: %s", got.status, got.body)
	case status != 0 && got.status != status:
		t.Fatalf("status %d, want %d: %.300s", got.status, status, got.body)
	}
	for name := range got.header {
		if strings.EqualFold(name, "Set-Cookie") || strings.Contains(strings.ToLower(name), "injected") {
			t.Fatalf("the answer carries header %s: %v", name, got.header)
		}
	}
	if id := got.header.Get("X-Request-ID"); strings.ContainsAny(id, "\r\n%: ") {
		t.Fatalf("X-Request-ID %q echoes the client's", id)
	}
	if kind == "" {
		return
	}
	checkAnswer(t, "hostile request", got.status, got.header, got.body, false)
	var env map[string]any
	_ = json.Unmarshal(got.body, &env)
	if got.status >= 400 && env["type"] != kind {
		t.Fatalf("type %v, want %s: %s", env["type"], kind, got.body)
	}
}

// rowTables are the tables a refused request must leave alone. (Usage counters, worker
// metrics and the system log record refusals too, by design.)
var rowTables = []string{"users", "workers", "sessions", "api_keys", "messages", "message_events", "idempotency_keys",
	"webhooks", "webhook_deliveries", "refresh_tokens", "revoked_tokens", "password_resets"}

func storedRows(t *testing.T, w *fuzzWorld) map[string]int {
	t.Helper()
	out := make(map[string]int, len(rowTables))
	for _, table := range rowTables {
		out[table] = sesCount(t, w.g, `SELECT count(*) FROM `+table)
	}
	return out
}

func wantSameRows(t *testing.T, w *fuzzWorld, before map[string]int) {
	t.Helper()
	after := storedRows(t, w)
	for _, table := range rowTables {
		if after[table] != before[table] {
			t.Errorf("a refused request changed the rows of %s: %d → %d", table, before[table], after[table])
		}
	}
}

// sqlPayloads are SQL metacharacters as an attacker would send them.
var sqlPayloads = []string{
	`' OR '1'='1`,
	`'; DROP TABLE users; --`,
	`" OR ""="`,
	`\'; SELECT pg_sleep(10); --`,
	`%_\`,
	`$1::text) --`,
}

// sqlProbe is a route and a body it accepts (or refuses only for reasons other than the
// probed field); each string in the body is replaced by each payload in turn.
type sqlProbe struct {
	method, path string
	auth         func() string
	body         string
	// upstream: the route calls a worker (or tests an endpoint), so 502/503 may describe it.
	upstream bool
}

// stringFields lists the paths of the strings in a decoded JSON value: "name", "poll.options[1]".
func stringFields(v any, path string) []string {
	switch v := v.(type) {
	case string:
		return []string{path}
	case map[string]any:
		var out []string
		for _, k := range slices.Sorted(maps.Keys(v)) {
			out = append(out, stringFields(v[k], strings.TrimPrefix(path+"."+k, "."))...)
		}
		return out
	case []any:
		var out []string
		for i, e := range v {
			out = append(out, stringFields(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	return nil
}

// withField is a copy of v with the string at path replaced by s.
func withField(v any, path, s string) any {
	switch v := v.(type) {
	case string:
		if path == "" {
			return s
		}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			rest, ok := strings.CutPrefix(path, k)
			if ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
				e = withField(e, strings.TrimPrefix(rest, "."), s)
			}
			out[k] = e
		}
		return out
	case []any:
		out := slices.Clone(v)
		for i := range out {
			if rest, ok := strings.CutPrefix(path, fmt.Sprintf("[%d]", i)); ok {
				out[i] = withField(out[i], strings.TrimPrefix(rest, "."), s)
			}
		}
		return out
	}
	return v
}

func sqlProbeRoutes(t *testing.T, w *fuzzWorld) []sqlProbe {
	owner := func() string { return bearer(w.owner.Token) }
	admin := func() string { return bearer(w.admin.Token) }
	key := func() string { return "X-API-Key: " + w.key }
	worker := func() string { return bearer(w.g.Config.WorkerAuthToken) }
	// victim is a user whose password, profile and account the probes may change; it gets a
	// fresh token for every request.
	victim := acctSignUp(t, w.g, "victim@example.com")
	victimAuth := func() string { return bearer(acctMintToken(t, w.g, victim.ID)) }
	none := func() string { return "X-None: 1" }
	sess := "/api/v1/sessions/" + w.session
	wk := "/api/v1/workers/" + w.workerID
	to := `"to":"6281234567890"`
	return []sqlProbe{
		{http.MethodPost, "/api/v1/auth/register", none, `{"name":"Probe User","email":"probe@example.com","password":"Pr0be-Secret!"}`, false},
		{http.MethodPost, "/api/v1/auth/login", none, `{"email":"owner@example.com","password":"x"}`, false},
		{http.MethodPost, "/api/v1/auth/refresh", none, `{"refreshToken":"x"}`, false},
		{http.MethodPost, "/api/v1/auth/forgot-password", none, `{"email":"owner@example.com"}`, false},
		{http.MethodPost, "/api/v1/auth/reset-password", none, `{"token":"x","newPassword":"Pr0be-Secret!"}`, false},
		{http.MethodPost, "/api/v1/auth/change-password", victimAuth, `{"currentPassword":"x","newPassword":"Pr0be-Secret!"}`, false},
		{http.MethodPost, "/api/v1/auth/deactivate", victimAuth, `{"password":"x"}`, false},
		{http.MethodPut, "/api/v1/users/profile", victimAuth, `{"name":"Vic Tim","email":"victim2@example.com","currentPassword":"x","newPassword":"Pr0be-Secret!"}`, false},
		{http.MethodPost, "/api/v1/sessions", owner, `{"name":"Probe","sessionId":"probe","displayName":"Probe"}`, false},
		{http.MethodPost, sess + "/pair", owner, `{"phoneNumber":"6281234567890"}`, true},
		{http.MethodPost, sess + "/send", owner, `{` + to + `,"type":"TEXT","message":"m","mediaUrl":"https://93.184.216.34/a","caption":"c","filename":"f"}`, false},
		{http.MethodPut, sess + "/webhook", owner, `{"url":"https://93.184.216.34/hook","events":["message.received"]}`, false},
		{http.MethodPost, "/api/v1/sendText", key, `{` + to + `,"message":"m","quotedMessageId":"q","mentions":["6281234567890"]}`, false},
		{http.MethodPost, "/api/v1/sendImage", key, `{` + to + `,"imageUrl":"https://93.184.216.34/a.jpg","caption":"c"}`, false},
		{http.MethodPost, "/api/v1/sendFile", key, `{` + to + `,"fileUrl":"https://93.184.216.34/a.pdf","filename":"f","caption":"c"}`, false},
		{http.MethodPost, "/api/v1/sendVoice", key, `{` + to + `,"audioUrl":"https://93.184.216.34/a.ogg"}`, false},
		{http.MethodPost, "/api/v1/sendVideo", key, `{` + to + `,"videoUrl":"https://93.184.216.34/a.mp4","caption":"c"}`, false},
		{http.MethodPost, "/api/v1/sendLocation", key, `{` + to + `,"latitude":1,"longitude":2,"name":"n","address":"a"}`, false},
		{http.MethodPost, "/api/v1/sendContactVcard", key, `{` + to + `,"contactName":"n","contactPhone":"6281234567890","contactEmail":"a@b.co","contactOrganization":"o"}`, false},
		{http.MethodPost, "/api/v1/sendLink", key, `{` + to + `,"url":"https://93.184.216.34/","title":"t","description":"d","thumbnail":"https://93.184.216.34/t.png"}`, false},
		{http.MethodPost, "/api/v1/sendPoll", key, `{` + to + `,"poll":{"name":"Q","options":["a","b"]}}`, false},
		{http.MethodPost, "/api/v1/sendSeen", key, `{` + to + `,"messageId":"3EB0"}`, false},
		{http.MethodPost, "/api/v1/startTyping", key, `{` + to + `}`, false},
		{http.MethodPost, "/api/v1/checkNumber", key, `{"phone":"6281234567890"}`, false},
		{http.MethodPost, "/api/v1/message/3EB0/reaction", key, `{"phone":"6281234567890","emoji":"x","newText":"t"}`, false},
		{http.MethodPut, "/api/v1/admin/users/" + w.owner.ID, admin, `{"name":"Own Er","role":"USER","tier":"BASIC"}`, false},
		{http.MethodPost, "/api/v1/admin/system/maintenance", admin, `{"enabled":false,"message":"m"}`, false},
		{http.MethodPost, "/api/v1/admin/sessions/" + w.session + "/migrate", admin, `{"targetWorkerId":"nowhere"}`, true},
		{http.MethodPost, "/api/v1/workers", admin, `{"workerId":"probe","endpoint":"http://127.0.0.1:1","description":"d","version":"1.0.0","environment":"STAGING"}`, true},
		{http.MethodPut, wk, admin, `{"description":"d","version":"1.0.0","environment":"STAGING","status":"ONLINE"}`, false},
		{http.MethodPost, "/api/v1/workers/test", admin, `{"endpoint":"http://127.0.0.1:1"}`, true},
		{http.MethodPost, "/api/v1/workers/register", worker, `{"workerId":"probe-worker","endpoint":"http://127.0.0.1:1","description":"d","version":"1.0.0","environment":"STAGING"}`, true},
		{http.MethodPut, wk + "/heartbeat", worker, `{"sessions":[{"sessionId":"fuzz-shop","status":"CONNECTED","phoneNumber":"+628111","displayName":"d"}]}`, false},
		{http.MethodPost, wk + "/sessions/recovery-status", worker, `{"recoveryResults":[{"sessionId":"fuzz-shop","status":"SUCCESS","error":"e"}]}`, false},
		{http.MethodPost, wk + "/sessions-preserved", worker, `{"workerId":"fuzz-worker","preservedSessions":["fuzz-shop"]}`, false},
		{http.MethodDelete, "/api/v1/workers/unregister", worker, `{"workerId":"nobody","endpoint":"http://127.0.0.1:1"}`, false},
		{http.MethodPost, "/api/v1/webhooks/session-status", worker, `{"sessionId":"fuzz-shop","status":"CONNECTED","phoneNumber":"+628111","displayName":"d","workerId":"fuzz-worker","reason":"r"}`, false},
		{http.MethodPost, "/api/v1/webhooks/message-status", worker, `{"sessionId":"fuzz-shop","messageId":"3EB0","status":"READ","errorMessage":"e"}`, false},
		{http.MethodPost, "/api/v1/webhooks/message", worker, `{"sessionId":"fuzz-shop","messageId":"3EB0IN","from":"6281234567890@s.whatsapp.net","fromName":"f","type":"TEXT","content":"c","caption":"c"}`, false},
		{http.MethodPost, "/api/v1/webhooks/worker-heartbeat", worker, `{"workerId":"fuzz-worker","status":"ONLINE"}`, false},
	}
}
