package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/testenv"
)

// routerDoFrom sends a request from remoteAddr straight to the gateway's handler.
func routerDoFrom(t *testing.T, g *testenv.Gateway, remoteAddr, method, path string, headers ...string) testenv.Response {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), method, path, nil)
	req.RemoteAddr = remoteAddr
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, req)
	return testenv.Response{ResponseRecorder: rec}
}

// routerWantError checks the error envelope of api.md and returns it.
func routerWantError(t *testing.T, res testenv.Response, status int, kind string) map[string]any {
	t.Helper()
	if res.Code != status {
		t.Fatalf("status = %d, want %d; body %s", res.Code, status, res.Body)
	}
	body := res.JSON(t)
	if body["success"] != false {
		t.Errorf("success = %v, want false", body["success"])
	}
	if body["type"] != kind {
		t.Errorf("type = %v, want %s", body["type"], kind)
	}
	msg, _ := body["message"].(string)
	if msg == "" || body["error"] != msg {
		t.Errorf("error %v and message %v must be the same non-empty text", body["error"], body["message"])
	}
	ts, _ := body["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("timestamp %q: %v", ts, err)
	}
	return body
}

func TestSecurityHeaders_OnEveryResponse(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	requests := []struct{ method, path string }{
		{http.MethodGet, "/health"},
		{http.MethodGet, "/health/detailed"},
		{http.MethodGet, "/api/v1/health"},
		{http.MethodGet, "/metrics"},
		{http.MethodGet, "/no/such/route"},
		{http.MethodGet, "/api/v1/no-such-route"},
		{http.MethodPost, "/health"},
	}
	for _, rq := range requests {
		res := g.Do(t, rq.method, rq.path, nil)
		h := res.Header()
		checks := []struct{ header, want string }{
			{"Content-Security-Policy", "default-src 'self'"},
			{"Strict-Transport-Security", "max-age=31536000"},
			{"Strict-Transport-Security", "includeSubDomains"},
			{"Strict-Transport-Security", "preload"},
			{"X-Content-Type-Options", "nosniff"},
			{"X-Frame-Options", "SAMEORIGIN"},
			{"Referrer-Policy", "no-referrer"},
		}
		for _, c := range checks {
			if !strings.Contains(h.Get(c.header), c.want) {
				t.Errorf("%s %s (%d): %s = %q, want it to contain %q", rq.method, rq.path, res.Code, c.header, h.Get(c.header), c.want)
			}
		}
	}
}

func TestCORS_PreflightFromAllowedOrigin_AllowsCredentialsMethodsAndHeaders(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{
		"CORS_ORIGIN": "https://app.example.com,https://admin.example.com",
	}})

	res := g.Do(t, http.MethodOptions, "/api/v1/health", nil,
		"Origin", "https://admin.example.com",
		"Access-Control-Request-Method", "DELETE",
		"Access-Control-Request-Headers", "Content-Type, Authorization, X-API-Key, Idempotency-Key")

	if res.Code != http.StatusOK && res.Code != http.StatusNoContent {
		t.Fatalf("preflight status = %d", res.Code)
	}
	h := res.Header()
	if got := h.Get("Access-Control-Allow-Origin"); got != "https://admin.example.com" {
		t.Errorf("Access-Control-Allow-Origin = %q, want the request's origin", got)
	}
	if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials = %q, want true", got)
	}
	if got := h.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "DELETE") {
		t.Errorf("Access-Control-Allow-Methods = %q, want DELETE", got)
	}
	allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, header := range []string{"content-type", "authorization", "x-api-key", "idempotency-key"} {
		if !strings.Contains(allowed, header) {
			t.Errorf("Access-Control-Allow-Headers = %q, want %s", allowed, header)
		}
	}

	for _, method := range []string{"GET", "POST", "PUT", "PATCH"} {
		res := g.Do(t, http.MethodOptions, "/api/v1/health", nil,
			"Origin", "https://app.example.com", "Access-Control-Request-Method", method)
		if got := res.Header().Get("Access-Control-Allow-Methods"); !strings.Contains(got, method) {
			t.Errorf("preflight for %s: Access-Control-Allow-Methods = %q", method, got)
		}
	}
}

func TestCORS_ForeignOrigin_GetsNoAllowOrigin(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"CORS_ORIGIN": "https://app.example.com"}})

	preflight := g.Do(t, http.MethodOptions, "/api/v1/health", nil,
		"Origin", "https://evil.example.net", "Access-Control-Request-Method", "DELETE")
	if got := preflight.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from a foreign origin: Access-Control-Allow-Origin = %q", got)
	}
	if got := preflight.Header().Get("Access-Control-Allow-Credentials"); got != "" {
		t.Errorf("preflight from a foreign origin: Access-Control-Allow-Credentials = %q", got)
	}

	simple := g.Do(t, http.MethodGet, "/api/v1/health", nil, "Origin", "https://evil.example.net")
	if got := simple.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("GET from a foreign origin: Access-Control-Allow-Origin = %q", got)
	}

	allowed := g.Do(t, http.MethodGet, "/api/v1/health", nil, "Origin", "https://app.example.com")
	if got := allowed.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("GET from the allowed origin: Access-Control-Allow-Origin = %q", got)
	}
	if got := allowed.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(got, "X-Request-Id") && !strings.Contains(got, "X-Request-ID") {
		t.Errorf("Access-Control-Expose-Headers = %q, want X-Request-ID", got)
	}
}

func TestUnknownRoute_Returns404Envelope(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	for _, path := range []string{"/api/v1/no-such-route", "/api/no-such-route", "/no-such-route", "/api/v1/health/extra"} {
		t.Run(path, func(t *testing.T) {
			res := g.Do(t, http.MethodGet, path, nil)
			body := routerWantError(t, res, http.StatusNotFound, "not_found")
			if msg, _ := body["message"].(string); !strings.Contains(msg, path) {
				t.Errorf("message %q does not name the path", msg)
			}
		})
	}
}

func TestWrongMethod_Returns405Envelope(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	for _, rq := range []struct{ method, path string }{
		{http.MethodPost, "/health"},
		{http.MethodDelete, "/health/detailed"},
		{http.MethodPost, "/api/v1/health"},
		{http.MethodPut, "/api/health"},
	} {
		res := g.Do(t, rq.method, rq.path, nil)
		routerWantError(t, res, http.StatusMethodNotAllowed, "method_not_allowed")
	}
}

func TestRequestID_EchoedWhenSaneReplacedOtherwise(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	tests := []struct {
		name   string
		sent   string
		echoed bool
	}{
		{"sane", "client-req_42.a", true},
		{"64 characters", strings.Repeat("r", 64), true},
		{"too long", strings.Repeat("r", 65), false},
		{"space", "two words", false},
		{"newline", "id\nInjected: yes", false},
		{"carriage return", "id\r", false},
		{"absent", "", false},
	}
	for _, tt := range tests {
		for _, path := range []string{"/health", "/api/v1/health", "/no-such-route"} {
			var headers []string
			if tt.sent != "" {
				headers = []string{"X-Request-ID", tt.sent}
			}
			res := g.Do(t, http.MethodGet, path, nil, headers...)
			got := res.Header().Get("X-Request-ID")
			switch {
			case tt.echoed && got != tt.sent:
				t.Errorf("%s on %s: X-Request-ID = %q, want it echoed", tt.name, path, got)
			case !tt.echoed && (got == tt.sent || len(got) != 24 || strings.ContainsAny(got, " \r\n")):
				t.Errorf("%s on %s: X-Request-ID = %q, want a fresh 24-character ID", tt.name, path, got)
			}
		}
	}
}

func TestAPIHealth_SameUnderAPIv1AndAPI(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	for _, path := range []string{"/api/v1/health", "/api/health"} {
		t.Run(path, func(t *testing.T) {
			res := g.Do(t, http.MethodGet, path, nil)
			if res.Code != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.Code, res.Body)
			}
			body := res.JSON(t)
			if body["success"] != true {
				t.Errorf("success = %v", body["success"])
			}
			if _, err := time.Parse(time.RFC3339Nano, body["timestamp"].(string)); err != nil {
				t.Errorf("timestamp: %v", err)
			}
			data, ok := body["data"].(map[string]any)
			if !ok {
				t.Fatalf("no data object: %s", res.Body)
			}
			if msg, _ := data["message"].(string); msg == "" {
				t.Error("data.message is empty")
			}
			if data["version"] != "v1" || data["status"] != "operational" || data["environment"] != "test" {
				t.Errorf("data = %v, want version v1, status operational, environment test", data)
			}
			if uptime, ok := data["uptime"].(float64); !ok || uptime < 0 {
				t.Errorf("data.uptime = %v, want a non-negative number of seconds", data["uptime"])
			}
		})
	}
}

func TestLiveness_IsNotWrappedInData(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	res := g.Do(t, http.MethodGet, "/health", nil)
	if res.Code != http.StatusOK {
		t.Fatalf("status = %d", res.Code)
	}
	body := res.JSON(t)
	if body["success"] != true || body["message"] != "WhatsApp Gateway Backend is running" || body["environment"] != "test" {
		t.Errorf("body = %v", body)
	}
	if v, _ := body["version"].(string); v == "" {
		t.Error("version is empty")
	}
	if _, err := time.Parse(time.RFC3339Nano, body["timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	if _, wrapped := body["data"]; wrapped {
		t.Errorf("/health is wrapped in data: %s", res.Body)
	}
	for key := range body {
		switch key {
		case "success", "message", "timestamp", "version", "environment":
		default:
			t.Errorf("unexpected key %q in /health", key)
		}
	}
}

func TestMetrics_ExposesRoutePatternRuntimeProcessAndPoolSeries(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	g.Do(t, http.MethodGet, "/api/v1/health", nil)
	g.Do(t, http.MethodGet, "/api/v1/health", nil)
	g.Do(t, http.MethodGet, "/api/v1/sessions-7f3e9c/raw", nil)

	res := g.Do(t, http.MethodGet, "/metrics", nil)
	if res.Code != http.StatusOK {
		t.Fatalf("status = %d", res.Code)
	}
	out := res.Body.String()
	for _, want := range []string{
		`gateway_http_requests_total{method="GET",route="/api/v1/health",status="200"} 2`,
		`gateway_http_request_duration_seconds_bucket{method="GET",route="/api/v1/health"`,
		"\ngo_goroutines ",
		"\nprocess_",
		"\ngateway_db_pool_connections{pool=\"main\"} ",
		"\ngateway_db_pool_max_connections{pool=\"main\"} ",
		"\ngateway_db_pool_max_connections{pool=\"batch\"} 4\n",
		"\ngateway_redis_pool_connections ",
		"\ngateway_redis_pool_hits_total ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics do not contain %q", want)
		}
	}
	if strings.Contains(out, "sessions-7f3e9c") {
		t.Error("metrics contain a raw request path")
	}
}

func TestMetrics_WithToken_RequiresTheBearer(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"METRICS_TOKEN": "scrape-token"}})

	routerWantError(t, g.Do(t, http.MethodGet, "/metrics", nil), http.StatusUnauthorized, "unauthorized")
	routerWantError(t, g.Do(t, http.MethodGet, "/metrics", nil, "Authorization", "Bearer wrong"), http.StatusUnauthorized, "unauthorized")
	routerWantError(t, g.Do(t, http.MethodGet, "/metrics", nil, "Authorization", "scrape-token"), http.StatusUnauthorized, "unauthorized")

	res := g.Do(t, http.MethodGet, "/metrics", nil, "Authorization", "Bearer scrape-token")
	if res.Code != http.StatusOK || !strings.Contains(res.Body.String(), "go_goroutines") {
		t.Errorf("with the token: status %d", res.Code)
	}
	if strings.Contains(g.Logs.String(), "scrape-token") {
		t.Error("the metrics token was logged")
	}
}

// routerWantRateLimit checks X-RateLimit-* of a counted request.
func routerWantRateLimit(t *testing.T, res testenv.Response, limit, remaining int) {
	t.Helper()
	h := res.Header()
	if got := h.Get("X-RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Errorf("X-RateLimit-Limit = %q, want %d", got, limit)
	}
	if got := h.Get("X-RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		t.Errorf("X-RateLimit-Remaining = %q, want %d", got, remaining)
	}
	reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	now := time.Now().Unix()
	if err != nil || reset < now-1 || reset > now+16*60 {
		t.Errorf("X-RateLimit-Reset = %q, want a unix time within the window", h.Get("X-RateLimit-Reset"))
	}
}

func TestGlobalRateLimit_FourthRequestFromOneIP_Returns429(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"RATE_LIMIT_MAX_REQUESTS": "3"}})
	const ip = "198.51.100.10:5000"

	for i := 1; i <= 3; i++ {
		res := routerDoFrom(t, g, ip, http.MethodGet, "/api/v1/health")
		if res.Code != http.StatusOK {
			t.Fatalf("request %d: status %d", i, res.Code)
		}
		routerWantRateLimit(t, res, 3, 3-i)
	}
	res := routerDoFrom(t, g, ip, http.MethodGet, "/api/v1/health")
	routerWantError(t, res, http.StatusTooManyRequests, "rate_limited")
	routerWantRateLimit(t, res, 3, 0)
	retry, err := strconv.Atoi(res.Header().Get("Retry-After"))
	if err != nil || retry < 1 || retry > 900 {
		t.Errorf("Retry-After = %q, want whole seconds within the 15-minute window", res.Header().Get("Retry-After"))
	}

	// Another IP has a count of its own; the probes are not limited at all.
	if other := routerDoFrom(t, g, "198.51.100.11:5000", http.MethodGet, "/api/health"); other.Code != http.StatusOK {
		t.Errorf("another IP: status %d, want 200", other.Code)
	} else {
		routerWantRateLimit(t, other, 3, 2)
	}
	for _, path := range []string{"/health", "/health/detailed", "/metrics"} {
		if probe := routerDoFrom(t, g, ip, http.MethodGet, path); probe.Code != http.StatusOK {
			t.Errorf("%s from a limited IP: status %d, want 200", path, probe.Code)
		}
	}
	if metrics := g.Do(t, http.MethodGet, "/metrics", nil).Body.String(); !strings.Contains(metrics, `gateway_rate_limit_rejections_total{limit="global"} 1`) {
		t.Error("the rejection was not counted in gateway_rate_limit_rejections_total")
	}
}

func TestGlobalRateLimit_IsSharedByReplicas(t *testing.T) {
	t.Parallel()
	opts := testenv.Options{
		Env:         map[string]string{"RATE_LIMIT_MAX_REQUESTS": "3"},
		DatabaseURL: testenv.NewDatabaseURL(t),
		KeyPrefix:   testenv.NewKeyPrefix(t),
	}
	a, b := testenv.NewGateway(t, opts), testenv.NewGateway(t, opts)
	const ip = "198.51.100.20:5000"

	for i, g := range []*testenv.Gateway{a, b, a} {
		if res := routerDoFrom(t, g, ip, http.MethodGet, "/api/v1/health"); res.Code != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, res.Code)
		}
	}
	routerWantError(t, routerDoFrom(t, b, ip, http.MethodGet, "/api/v1/health"), http.StatusTooManyRequests, "rate_limited")
	routerWantError(t, routerDoFrom(t, a, ip, http.MethodGet, "/api/v1/health"), http.StatusTooManyRequests, "rate_limited")
}

func TestGlobalRateLimit_XForwardedForHonouredOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{
		"RATE_LIMIT_MAX_REQUESTS": "1",
		"TRUSTED_PROXIES":         "10.0.0.0/8",
	}})
	const proxy, stranger = "10.1.2.3:40000", "192.0.2.50:40000"

	steps := []struct {
		name, remoteAddr, xff string
		want                  int
	}{
		{"client A via the proxy", proxy, "203.0.113.1", http.StatusOK},
		{"client B via the proxy has its own count", proxy, "203.0.113.2", http.StatusOK},
		{"client A again is limited", proxy, "203.0.113.1", http.StatusTooManyRequests},
		{"spoofed left-most hop does not help A", proxy, "203.0.113.99, 203.0.113.1", http.StatusTooManyRequests},
		{"untrusted peer", stranger, "203.0.113.3", http.StatusOK},
		{"untrusted peer cannot pick another identity", stranger, "203.0.113.4", http.StatusTooManyRequests},
	}
	for _, s := range steps {
		res := routerDoFrom(t, g, s.remoteAddr, http.MethodGet, "/api/v1/health", "X-Forwarded-For", s.xff)
		if res.Code != s.want {
			t.Errorf("%s: status %d, want %d", s.name, res.Code, s.want)
		}
	}
	logs := g.Logs.String()
	if !strings.Contains(logs, `"ip":"203.0.113.1"`) || !strings.Contains(logs, `"ip":"192.0.2.50"`) {
		t.Errorf("access log does not record the resolved client IPs:\n%s", logs)
	}
	if strings.Contains(logs, `"ip":"203.0.113.3"`) {
		t.Error("the X-Forwarded-For of an untrusted peer was used as its IP")
	}
}

func TestServe_RealListener_GzipsLargeAnswersOnly(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	baseURL, stop := g.Serve(t)

	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, baseURL+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status = %d", path, res.StatusCode)
		}
		return res, body
	}

	// A small answer is not worth a compressor.
	res, body := get("/api/v1/health")
	if got := res.Header.Get("Content-Encoding"); got != "" {
		t.Errorf("health: Content-Encoding = %q, want none for a %d-byte answer", got, len(body))
	}
	if !json.Valid(body) {
		t.Errorf("health: body is not JSON: %q", body)
	}

	// A large one is gzipped for a client that accepts it, and decodes to the document.
	res, body = get("/api/v1/docs/doc.json")
	if got := res.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("doc.json: Content-Encoding = %q, want gzip", got)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) <= len(body) || !json.Valid(plain) {
		t.Errorf("doc.json: %d compressed bytes decode to %d bytes of valid JSON = %v", len(body), len(plain), json.Valid(plain))
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}
