package httpapi_test

// The world the fuzz targets and the hostile-request table run against: a gateway with its
// limits out of the way, a worker that answers every command, a user with a CONNECTED session
// on it and that session's API key, another user's session, and an administrator.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

// fuzzWorld is a gateway with one connected session and the credentials to reach every route.
type fuzzWorld struct {
	g        *testenv.Gateway
	worker   *sendingWorker
	workerID string
	owner    acctUser // owns session, a CONNECTED session on worker
	admin    acctUser
	session  string
	key      string // session's API key
	// other is a session of another user: never visible to owner.
	other string
}

// fuzzWorldEnv lifts every limit a fuzzer would hit, and keeps the URL checks on.
var fuzzWorldEnv = map[string]string{
	"RATE_LIMIT_MAX_REQUESTS":    "100000000",
	"AUTH_RATE_LIMIT_PER_MINUTE": "100000",
	"TIER_LIMITS": `{"BASIC":{"sessions":100000,"messagesPerHour":1000000000,"apiCallsPerHour":1000000000},` +
		`"PRO":{"sessions":100000},"MAX":{"sessions":100000}}`,
	"WEBHOOK_ALLOW_PRIVATE": "false",
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	tb.Helper()
	w := &fuzzWorld{g: testenv.NewGateway(tb, testenv.Options{Env: fuzzWorldEnv}), workerID: "fuzz-worker", session: "fuzz-shop"}
	w.worker = w.startWorker(tb, w.workerID)
	w.owner = acctSignUp(tb, w.g, "owner@example.com")
	w.admin = acctSignUp(tb, w.g, "admin@example.com")
	acctPromote(tb, w.g, w.admin.ID)

	created := w.g.Do(tb, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Fuzz Shop", "sessionId": w.session}, w.ownerAuth()...)
	if created.Code != http.StatusCreated {
		tb.Fatalf("create the session: %d %s", created.Code, created.Body)
	}
	w.key, _ = created.JSON(tb)["data"].(map[string]any)["apiKey"].(string)
	if res := w.g.Do(tb, http.MethodPost, "/api/v1/sessions/"+w.session+"/connect", nil, w.ownerAuth()...); res.Code != http.StatusOK {
		tb.Fatalf("connect the session: %d %s", res.Code, res.Body)
	}
	w.markConnected(tb)

	stranger := acctSignUp(tb, w.g, "stranger@example.com")
	w.other = "stranger-shop"
	acctCreateSession(tb, w.g, stranger.ID, w.other)
	return w
}

// startWorker starts a worker that answers every command and registers it as id.
func (w *fuzzWorld) startWorker(tb testing.TB, id string) *sendingWorker {
	tb.Helper()
	worker := newSendingWorker(tb)
	if res := w.g.Do(tb, http.MethodPost, "/api/v1/workers/register",
		map[string]any{"workerId": id, "endpoint": worker.URL}, w.workerAuth()...); res.Code != http.StatusCreated {
		tb.Fatalf("register worker %s: %d %s", id, res.Code, res.Body)
	}
	return worker
}

// markConnected reports the session CONNECTED, as its worker would once the QR is scanned.
func (w *fuzzWorld) markConnected(tb testing.TB) {
	tb.Helper()
	if res := w.g.Do(tb, http.MethodPost, "/api/v1/webhooks/session-status", map[string]any{
		"sessionId": w.session, "status": "CONNECTED", "phoneNumber": "+628111", "workerId": w.workerID,
	}, w.workerAuth()...); res.Code != http.StatusOK {
		tb.Fatalf("report the session connected: %d %s", res.Code, res.Body)
	}
}

func (w *fuzzWorld) ownerAuth() []string  { return acctAuth(w.owner.Token) }
func (w *fuzzWorld) adminAuth() []string  { return acctAuth(w.admin.Token) }
func (w *fuzzWorld) keyAuth() []string    { return []string{"X-API-Key", w.key} }
func (w *fuzzWorld) workerAuth() []string { return acctAuth(w.g.Config.WorkerAuthToken) }

// fuzzRoute is one route a fuzz target aims at, with the credentials it needs.
type fuzzRoute struct {
	method, path string
	auth         func() []string
	// upstream: the route calls a worker, so a 502 worker_error or 503 connectivity_error
	// may describe that worker rather than the input.
	upstream bool
}

// pick chooses a route by the fuzzer's selector byte.
func pick(routes []fuzzRoute, selector uint8) fuzzRoute {
	return routes[int(selector)%len(routes)]
}

// addRouteSeeds adds every seed body for every route selector.
func addRouteSeeds(f *testing.F, routes []fuzzRoute, bodies ...string) {
	for _, b := range append(bodies, acctFuzzSeeds...) {
		for i := range routes {
			f.Add(uint8(i), []byte(b))
		}
	}
}

// typesOf are the error types api.md allows for each status.
var typesOf = map[int][]string{
	http.StatusBadRequest:            {"validation_error", "bad_request"},
	http.StatusUnauthorized:          {"unauthorized"},
	http.StatusForbidden:             {"forbidden"},
	http.StatusNotFound:              {"not_found"},
	http.StatusMethodNotAllowed:      {"method_not_allowed"},
	http.StatusConflict:              {"conflict"},
	http.StatusRequestEntityTooLarge: {"payload_too_large"},
	http.StatusUnsupportedMediaType:  {"unsupported_media_type"},
	http.StatusTooManyRequests:       {"rate_limited"},
	http.StatusBadGateway:            {"worker_error"},
	http.StatusServiceUnavailable:    {"connectivity_error", "maintenance"},
}

// checkAnswer checks an answer to untrusted input: never a 500, a 5xx only when upstreamOK
// (the route calls a worker, and 502/503 describe that worker, not the input), every error in
// the envelope of api.md with the type its status allows, and every JSON answer's success
// flag matching its status.
func checkAnswer(t *testing.T, what string, status int, header http.Header, body []byte, upstreamOK bool) {
	t.Helper()
	if status >= 500 && (!upstreamOK || status == http.StatusInternalServerError) {
		t.Fatalf("%s: status %d, answer %s", what, status, body)
	}
	if status < 400 && (!strings.HasPrefix(header.Get("Content-Type"), "application/json") || !bytes.HasPrefix(body, []byte("{"))) {
		return // a CSV or JSON export, a QR image
	}
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("%s: status %d, the answer is not JSON: %s", what, status, body)
	}
	if success, _ := env["success"].(bool); success != (status < 400) {
		t.Fatalf("%s: status %d with success %v", what, status, env["success"])
	}
	if status < 400 {
		return
	}
	if err := acctCheckErrorEnvelope(env); err != nil {
		t.Fatalf("%s: status %d, %v: %s", what, status, err, body)
	}
	if typ, _ := env["type"].(string); !slices.Contains(typesOf[status], typ) {
		t.Fatalf("%s: status %d of type %q, want one of %v", what, status, typ, typesOf[status])
	}
}

// fuzzDo sends body to a route through the router and checks the answer with checkAnswer.
func fuzzDo(t *testing.T, w *fuzzWorld, route fuzzRoute, body []byte) testenv.Response {
	t.Helper()
	res := w.g.Do(t, route.method, route.path, string(body), route.auth()...)
	checkAnswer(t, fmt.Sprintf("%s %s %q", route.method, route.path, body), res.Code, res.Header(), res.Body.Bytes(), route.upstream)
	return res
}
