package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// Helpers shared by the sessions and messaging tests of this package (prefix ses).

const sesPassword = "Sup3r-Secret!"

var (
	sesSeq       atomic.Int64
	sesKeyShape  = regexp.MustCompile(`^wg_[A-Za-z0-9]{32}$`)
	sesMaskShape = regexp.MustCompile(`^wg_[A-Za-z0-9]{4}…[A-Za-z0-9]{4}$`)
)

// sesGateway is a gateway whose per-IP limits do not get in the way of tests that register
// several users or send many requests; env adds to or overrides that.
func sesGateway(t testing.TB, env map[string]string) *testenv.Gateway {
	t.Helper()
	merged := map[string]string{"AUTH_RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_MAX_REQUESTS": "100000000"}
	maps.Copy(merged, env)
	return testenv.NewGateway(t, testenv.Options{Env: merged})
}

type sesUser struct {
	ID    string
	Token string
}

func (u sesUser) auth() []string { return []string{"Authorization", "Bearer " + u.Token} }

// sesNewUser registers a user through the API and returns its ID and JWT.
func sesNewUser(t testing.TB, g *testenv.Gateway) sesUser {
	t.Helper()
	email := fmt.Sprintf("ses-%d-%d@example.com", time.Now().UnixNano(), sesSeq.Add(1))
	res := g.Do(t, http.MethodPost, "/api/v1/auth/register", map[string]any{
		"name": "Session Tester", "email": email, "password": sesPassword,
	})
	if res.Code != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, res.Code, res.Body)
	}
	data := sesData(t, res)
	return sesUser{ID: data["user"].(map[string]any)["id"].(string), Token: data["token"].(string)}
}

func sesExec(t testing.TB, g *testenv.Gateway, sql string, args ...any) {
	t.Helper()
	if _, err := g.DB.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func sesCount(t testing.TB, g *testenv.Gateway, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := g.DB.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func sesData(t testing.TB, res testenv.Response) map[string]any {
	t.Helper()
	body := res.JSON(t)
	data, ok := body["data"].(map[string]any)
	if !ok || body["success"] != true {
		t.Fatalf("not a success envelope with data: %s", res.Body)
	}
	return data
}

// sesWantError checks the error envelope of api.md: status, type, error = message.
func sesWantError(t testing.TB, res testenv.Response, status int, kind string) map[string]any {
	t.Helper()
	if res.Code != status {
		t.Fatalf("status = %d, want %d; body %s", res.Code, status, res.Body)
	}
	body := res.JSON(t)
	if body["success"] != false || body["type"] != kind || body["error"] == "" || body["error"] != body["message"] {
		t.Fatalf("error envelope = %v, want success false, type %s, error = message", body, kind)
	}
	return body
}

// sesFields lists the fields named in a validation error's details, sorted.
func sesFields(body map[string]any) []string {
	var out []string
	details, _ := body["details"].([]any)
	for _, d := range details {
		out = append(out, d.(map[string]any)["field"].(string))
	}
	slices.Sort(out)
	return out
}

// sesEventually polls cond every 10 ms until it holds, failing the test after within.
func sesEventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sesCreate creates a session through the API and returns the answer's data.
func sesCreate(t testing.TB, g *testenv.Gateway, u sesUser, body map[string]any) map[string]any {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/sessions", body, u.auth()...)
	if res.Code != http.StatusCreated {
		t.Fatalf("create session %v: %d %s", body, res.Code, res.Body)
	}
	return sesData(t, res)
}

// sesRow is what the database holds about a session.
type sesRow struct {
	Status     string
	WorkerID   *string
	Phone      *string
	LastSeenAt *time.Time
	QRCode     *string
	Reason     *string
}

func sesSession(t testing.TB, g *testenv.Gateway, id string) sesRow {
	t.Helper()
	var r sesRow
	err := g.DB.QueryRow(context.Background(), `SELECT status::text, worker_id, phone_number, last_seen_at, qr_code,
		status_reason FROM sessions WHERE id = $1`, id).Scan(&r.Status, &r.WorkerID, &r.Phone, &r.LastSeenAt, &r.QRCode, &r.Reason)
	if err != nil {
		t.Fatalf("load session %s: %v", id, err)
	}
	return r
}

func sesSessionExists(t testing.TB, g *testenv.Gateway, id string) bool {
	t.Helper()
	return sesCount(t, g, `SELECT count(*) FROM sessions WHERE id = $1`, id) == 1
}

func sesWaitStatus(t testing.TB, g *testenv.Gateway, id, status string) {
	t.Helper()
	sesEventually(t, 5*time.Second, "session "+id+" becomes "+status, func() bool {
		return sesSession(t, g, id).Status == status
	})
}

// sesRoute returns the worker Redis routes the session to ("" when there is no entry).
func sesRoute(t testing.TB, g *testenv.Gateway, id string) string {
	t.Helper()
	v, err := g.Redis.HGet(context.Background(), g.Keys.Key("session_routing"), id).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		t.Fatalf("HGET session_routing %s: %v", id, err)
	}
	return v
}

func sesWorkerAuth(g *testenv.Gateway) []string {
	return []string{"Authorization", "Bearer " + g.Config.WorkerAuthToken}
}

// sesRegisterWorker registers a worker by hand with the shared token.
func sesRegisterWorker(t testing.TB, g *testenv.Gateway, id, endpoint string, maxSessions int) {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/workers/register", map[string]any{
		"workerId": id, "endpoint": endpoint, "maxSessions": maxSessions,
	}, sesWorkerAuth(g)...)
	if res.Code != http.StatusCreated {
		t.Fatalf("register worker %s: %d %s", id, res.Code, res.Body)
	}
}

// sesFakeWorker is a scripted worker: it answers /health, starts sessions (or fails to, with
// startStatus), and records every call the backend makes.
type sesFakeWorker struct {
	*httptest.Server
	startStatus atomic.Int32
	mu          sync.Mutex
	calls       []string
}

func newSesFakeWorker(t testing.TB) *sesFakeWorker {
	t.Helper()
	w := &sesFakeWorker{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/health" {
			_, _ = rw.Write([]byte(`{"status":"healthy"}`))
			return
		}
		w.mu.Lock()
		w.calls = append(w.calls, r.Method+" "+r.URL.Path)
		w.mu.Unlock()
		switch {
		case r.URL.Path == "/api/sessions/start":
			if status := int(w.startStatus.Load()); status != 0 {
				rw.WriteHeader(status)
				_, _ = rw.Write([]byte(`{"success":false,"error":"the engine could not start"}`))
				return
			}
			rw.WriteHeader(http.StatusCreated)
			_, _ = rw.Write([]byte(`{"success":true,"data":{"status":"initializing"}}`))
		case strings.HasSuffix(r.URL.Path, "/qr"):
			rw.WriteHeader(http.StatusNotFound)
			_, _ = rw.Write([]byte(`{"success":false,"error":"no QR here"}`))
		case strings.HasSuffix(r.URL.Path, "/status"):
			_, _ = rw.Write([]byte(`{"success":true,"data":{"status":"connected"}}`))
		default:
			_, _ = rw.Write([]byte(`{"success":true,"data":{"status":"disconnected"}}`))
		}
	}))
	t.Cleanup(w.Close)
	return w
}

// called reports whether the worker received method path.
func (w *sesFakeWorker) called(method, path string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Contains(w.calls, method+" "+path)
}

// sesWireRequest is one request the backend sent a simworker, as it went over the wire.
type sesWireRequest struct {
	Method string
	Path   string
	Body   map[string]any
	// At is when the proxy received it.
	At time.Time
}

// sesSim is a simworker (workerkit + simengine) running in-process, registered with the
// gateway, behind a proxy that records what the backend sends it.
type sesSim struct {
	Engine   *simengine.Engine
	ID       string
	Endpoint string

	proxy  *httptest.Server
	crash  chan struct{}
	mu     sync.Mutex
	wire   []sesWireRequest
	killed sync.Once
	// down makes the proxy drop every connection, as a worker that is unreachable.
	down atomic.Bool
}

// sesStartSim starts a simworker against the gateway served at baseURL and waits until it is
// registered and ONLINE. Sessions connect only when the test says so (Engine.Connect), QRs
// are not renewed and no receipts are sent unless cfg asks for them.
func sesStartSim(t testing.TB, g *testenv.Gateway, baseURL, workerID string, cfg simengine.Config) *sesSim {
	t.Helper()
	if cfg.ConnectDelay == 0 {
		cfg.ConnectDelay = -1
	}
	if cfg.QRInterval == 0 {
		cfg.QRInterval = time.Hour
	}
	if cfg.ReceiptDelay == 0 {
		cfg.ReceiptDelay = -1
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &sesSim{Engine: simengine.New(cfg), ID: workerID, crash: make(chan struct{})}
	target, _ := url.Parse("http://" + ln.Addr().String())
	proxy := httputil.NewSingleHostReverseProxy(target)
	s.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			panic(http.ErrAbortHandler) // the connection drops without an answer
		}
		raw, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		s.mu.Lock()
		s.wire = append(s.wire, sesWireRequest{Method: r.Method, Path: r.URL.Path, Body: body, At: time.Now()})
		s.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(raw)))
		proxy.ServeHTTP(w, r)
	}))
	s.Endpoint = s.proxy.URL

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- workerkit.Run(ctx, workerkit.Config{
			WorkerID: workerID, Endpoint: s.Endpoint, Listener: ln, BackendURL: baseURL,
			SharedToken: g.Config.WorkerAuthToken, HeartbeatInterval: time.Hour, ShutdownTimeout: 5 * time.Second,
			RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
			Engine: s.Engine, Crash: s.crash,
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, workerkit.ErrCrashed) {
				t.Errorf("simworker %s: %v", workerID, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("simworker %s did not stop", workerID)
		}
		s.Engine.Close()
		s.proxy.Close()
	})
	sesEventually(t, 5*time.Second, "simworker "+workerID+" registered and ONLINE", func() bool {
		return sesCount(t, g, `SELECT count(*) FROM workers WHERE id = $1 AND status = 'ONLINE'`, workerID) == 1
	})
	return s
}

// Kill stops the worker like a crash: no goodbye, and its endpoint refuses connections.
func (s *sesSim) Kill() {
	s.killed.Do(func() {
		close(s.crash)
		s.proxy.Close()
	})
}

// SetDown makes the worker unreachable (true) or reachable again (false); requests dropped
// while it is down are not recorded.
func (s *sesSim) SetDown(down bool) { s.down.Store(down) }

// Wire returns the requests the backend sent whose path ends with suffix.
func (s *sesSim) Wire(suffix string) []sesWireRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sesWireRequest
	for _, r := range s.wire {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// Holds reports whether the simulated engine still has the session.
func (s *sesSim) Holds(sessionID string) bool {
	for _, snap := range s.Engine.Sessions() {
		if snap.SessionID == sessionID {
			return true
		}
	}
	return false
}

// sesLive is a served gateway with one simworker.
type sesLive struct {
	*testenv.Gateway
	URL string
	Sim *sesSim
}

func sesStartLive(t testing.TB, env map[string]string, cfg simengine.Config) *sesLive {
	t.Helper()
	g := sesGateway(t, env)
	baseURL, _ := g.Serve(t)
	return &sesLive{Gateway: g, URL: baseURL, Sim: sesStartSim(t, g, baseURL, "sim-1", cfg)}
}

// connectedSession creates a session for u, connects it on the simworker, scans its QR and
// waits until it is CONNECTED; it returns the session ID and its API key.
func (l *sesLive) connectedSession(t testing.TB, u sesUser, sessionID string) (string, string) {
	t.Helper()
	key := l.waitingSession(t, u, sessionID)
	if err := l.Sim.Engine.Connect(sessionID); err != nil {
		t.Fatalf("scan the QR of %s: %v", sessionID, err)
	}
	sesWaitStatus(t, l.Gateway, sessionID, "CONNECTED")
	return sessionID, key
}

// waitingSession creates and connects a session and waits until its QR is pending.
func (l *sesLive) waitingSession(t testing.TB, u sesUser, sessionID string) string {
	t.Helper()
	created := sesCreate(t, l.Gateway, u, map[string]any{"name": "Shop " + sessionID, "sessionId": sessionID})
	if res := l.Do(t, http.MethodPost, "/api/v1/sessions/"+sessionID+"/connect", nil, u.auth()...); res.Code != http.StatusOK {
		t.Fatalf("connect %s: %d %s", sessionID, res.Code, res.Body)
	}
	sesWaitStatus(t, l.Gateway, sessionID, "QR_REQUIRED")
	return created["apiKey"].(string)
}

// ----------------------------------------------------------------------------------------
// Create

func TestCreateSession_Returns201WithExactlyTheSpecFields(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	u := sesNewUser(t, g)

	before := time.Now().Add(-time.Second)
	res := g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Shop Front", "displayName": "Front desk"}, u.auth()...)
	if res.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Code, res.Body)
	}
	data := sesData(t, res)
	keys := slices.Sorted(maps.Keys(data))
	want := []string{"apiKey", "createdAt", "displayName", "name", "qrCode", "sessionId", "status", "workerId"}
	if !slices.Equal(keys, want) {
		t.Fatalf("data fields = %v, want exactly %v", keys, want)
	}
	if data["status"] != "DISCONNECTED" || data["workerId"] != nil || data["qrCode"] != nil ||
		data["name"] != "Shop Front" || data["displayName"] != "Front desk" {
		t.Errorf("data = %v", data)
	}
	key, _ := data["apiKey"].(string)
	if !sesKeyShape.MatchString(key) {
		t.Errorf("apiKey = %q, want wg_ and 32 letters or digits", key)
	}
	id, _ := data["sessionId"].(string)
	if !regexp.MustCompile(`^shop-front-[a-z0-9]{6}$`).MatchString(id) {
		t.Errorf("default sessionId = %q, want the name's slug and a 6-character suffix", id)
	}
	createdAt, err := time.Parse(time.RFC3339Nano, fmt.Sprint(data["createdAt"]))
	if err != nil || createdAt.Before(before) || createdAt.After(time.Now().Add(time.Second)) {
		t.Errorf("createdAt = %v (%v), want now", data["createdAt"], err)
	}
	// The key works at once and acts on that session.
	status := g.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", key)
	if status.Code != http.StatusOK || sesData(t, status)["sessionId"] != id {
		t.Fatalf("the new key: %d %s", status.Code, status.Body)
	}
	if row := sesSession(t, g, id); row.Status != "DISCONNECTED" || row.WorkerID != nil {
		t.Errorf("stored = %+v", row)
	}
}

func TestCreateSession_IDIsNormalisedOrDerivedFromTheName(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":100}}`})
	u := sesNewUser(t, g)
	for _, tc := range []struct {
		name, sessionID string
		want            *regexp.Regexp
	}{
		{"Shop", "My_Shop-1", regexp.MustCompile(`^my-shop-1$`)},
		{"Shop", "ABC", regexp.MustCompile(`^abc$`)},
		{"Shop", "__Shop__Two--", regexp.MustCompile(`^shop-two$`)},
		{"My Shop 1", "", regexp.MustCompile(`^my-shop-1-[a-z0-9]{6}$`)},
		{"My_Shop 1", "", regexp.MustCompile(`^my-shop-1-[a-z0-9]{6}$`)},
		{"  Ünïcödé ☃ Store  ", "", regexp.MustCompile(`^ncd-store-[a-z0-9]{6}$`)},
		{"☃☃☃", "", regexp.MustCompile(`^session-[a-z0-9]{6}$`)},
		{strings.Repeat("a", 100), "", regexp.MustCompile(`^a{80}-[a-z0-9]{6}$`)},
	} {
		body := map[string]any{"name": tc.name}
		if tc.sessionID != "" {
			body["sessionId"] = tc.sessionID
		}
		id := sesCreate(t, g, u, body)["sessionId"].(string)
		if !tc.want.MatchString(id) {
			t.Errorf("name %q, sessionId %q → %q, want %s", tc.name, tc.sessionID, id, tc.want)
		}
		if !sesSessionExists(t, g, id) {
			t.Errorf("session %q was not stored under its normalised ID", id)
		}
	}
	// Two default IDs from one name differ.
	a := sesCreate(t, g, u, map[string]any{"name": "Twin"})["sessionId"]
	b := sesCreate(t, g, u, map[string]any{"name": "Twin"})["sessionId"]
	if a == b {
		t.Errorf("two sessions named Twin both got %v", a)
	}
}

func TestCreateSession_TakenID_Returns409NamingSessionID(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	owner, other := sesNewUser(t, g), sesNewUser(t, g)
	sesCreate(t, g, owner, map[string]any{"name": "Shop", "sessionId": "shop-1"})

	for _, requested := range []string{"shop-1", "SHOP_1", "Shop-1"} {
		res := g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Mine", "sessionId": requested}, other.auth()...)
		body := sesWantError(t, res, http.StatusConflict, "conflict")
		if got := sesFields(body); !slices.Equal(got, []string{"sessionId"}) {
			t.Errorf("%q: details = %v, want [sessionId]", requested, got)
		}
	}
	if n := sesCount(t, g, `SELECT count(*) FROM sessions WHERE user_id = $1`, other.ID); n != 0 {
		t.Errorf("the refused creates left %d sessions", n)
	}
	// The refusals did not use up the other user's quota: a free ID still works.
	sesCreate(t, g, other, map[string]any{"name": "Mine", "sessionId": "shop-2"})
}

func TestCreateSession_TierLimit_EverySessionCountsEvenDisconnected(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		g := sesGateway(t, nil)
		for _, tc := range []struct {
			tier  string
			limit int
		}{{"BASIC", 1}, {"PRO", 5}} {
			u := sesNewUser(t, g)
			sesExec(t, g, `UPDATE users SET tier = $2 WHERE id = $1`, u.ID, tc.tier)
			for i := range tc.limit {
				sesCreate(t, g, u, map[string]any{"name": fmt.Sprintf("S%d", i)})
			}
			res := g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "One too many"}, u.auth()...)
			sesWantError(t, res, http.StatusConflict, "conflict")
			if n := sesCount(t, g, `SELECT count(*) FROM sessions WHERE user_id = $1 AND status = 'DISCONNECTED'`, u.ID); n != tc.limit {
				t.Errorf("%s: %d DISCONNECTED sessions, want exactly %d", tc.tier, n, tc.limit)
			}
		}
	})
	t.Run("TIER_LIMITS override", func(t *testing.T) {
		t.Parallel()
		g := sesGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":2},"PRO":{"sessions":3},"MAX":{"sessions":4}}`})
		for tier, limit := range map[string]int{"BASIC": 2, "PRO": 3, "MAX": 4} {
			u := sesNewUser(t, g)
			sesExec(t, g, `UPDATE users SET tier = $2 WHERE id = $1`, u.ID, tier)
			for i := range limit {
				sesCreate(t, g, u, map[string]any{"name": fmt.Sprintf("S%d", i)})
			}
			res := g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "One too many"}, u.auth()...)
			body := sesWantError(t, res, http.StatusConflict, "conflict")
			if msg, _ := body["message"].(string); !strings.Contains(msg, tier) || !strings.Contains(msg, fmt.Sprint(limit)) {
				t.Errorf("%s: message %q should name the tier and its limit", tier, msg)
			}
		}
	})
}

func TestCreateSession_TwentyRacingCreatesOnALimitOfOne_CreateExactlyOne(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	u := sesNewUser(t, g)

	const racers = 20
	codes := make([]int, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			codes[i] = g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": fmt.Sprintf("Racer %d", i)}, u.auth()...).Code
		})
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, c := range codes {
		counts[c]++
	}
	if counts[http.StatusCreated] != 1 || counts[http.StatusConflict] != racers-1 {
		t.Fatalf("answers = %v, want one 201 and %d × 409", counts, racers-1)
	}
	if n := sesCount(t, g, `SELECT count(*) FROM sessions WHERE user_id = $1`, u.ID); n != 1 {
		t.Fatalf("%d sessions stored, want 1", n)
	}
	if n := sesCount(t, g, `SELECT count(*) FROM api_keys`); n != 1 {
		t.Fatalf("%d API keys stored, want 1", n)
	}
}

func TestCreateSession_InvalidBodies_Return400ListingEveryFailingField(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":100}}`})
	u := sesNewUser(t, g)
	for _, tc := range []struct {
		name string
		body map[string]any
		want []string
	}{
		{"empty name", map[string]any{"name": ""}, []string{"name"}},
		{"missing name", map[string]any{"sessionId": "abc"}, []string{"name"}},
		{"name of spaces only", map[string]any{"name": "   "}, []string{"name"}},
		{"101-character name", map[string]any{"name": strings.Repeat("n", 101)}, []string{"name"}},
		{"2-character sessionId", map[string]any{"name": "Shop", "sessionId": "ab"}, []string{"sessionId"}},
		{"sessionId with a space and !", map[string]any{"name": "Shop", "sessionId": "a b!"}, []string{"sessionId"}},
		{"101-character sessionId", map[string]any{"name": "Shop", "sessionId": strings.Repeat("s", 101)}, []string{"sessionId"}},
		{"sessionId of dashes only", map[string]any{"name": "Shop", "sessionId": "---"}, []string{"sessionId"}},
		{"101-character displayName", map[string]any{"name": "Shop", "displayName": strings.Repeat("d", 101)}, []string{"displayName"}},
		{"every field bad at once", map[string]any{"name": "", "sessionId": "a b!", "displayName": strings.Repeat("d", 101)},
			[]string{"displayName", "name", "sessionId"}},
	} {
		res := g.Do(t, http.MethodPost, "/api/v1/sessions", tc.body, u.auth()...)
		if res.Code != http.StatusBadRequest {
			t.Errorf("%s: status = %d, want 400; body %s", tc.name, res.Code, res.Body)
			continue
		}
		body := sesWantError(t, res, http.StatusBadRequest, "validation_error")
		if got := sesFields(body); !slices.Equal(got, tc.want) {
			t.Errorf("%s: details name %v, want %v", tc.name, got, tc.want)
		}
	}
	if n := sesCount(t, g, `SELECT count(*) FROM sessions`); n != 0 {
		t.Errorf("invalid creates stored %d sessions", n)
	}
}

// ----------------------------------------------------------------------------------------
// Get

func TestGetSession_StoredStatusIsAuthoritativeAndLiveStatusIsAdded(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	l.waitingSession(t, u, "live-1")

	// The database says CONNECTED; the worker still shows a QR.
	sesExec(t, l.Gateway, `UPDATE sessions SET status = 'CONNECTED' WHERE id = 'live-1'`)
	res := l.Do(t, http.MethodGet, "/api/v1/sessions/live-1", nil, u.auth()...)
	if res.Code != http.StatusOK {
		t.Fatalf("get: %d %s", res.Code, res.Body)
	}
	sess := sesData(t, res)["session"].(map[string]any)
	if sess["status"] != "CONNECTED" || sess["liveStatus"] != "QR_REQUIRED" || sess["workerId"] != "sim-1" {
		t.Fatalf("session = %v, want stored status CONNECTED and liveStatus QR_REQUIRED", sess)
	}
	worker, _ := sess["worker"].(map[string]any)
	if worker["id"] != "sim-1" || worker["endpoint"] != l.Sim.Endpoint || worker["status"] != "ONLINE" {
		t.Errorf("worker = %v", worker)
	}
}

func TestGetSession_HangingWorker_AnswersWithinAboutTwoSecondsWithoutLiveStatus(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	l.waitingSession(t, u, "hang-1")
	l.Sim.Engine.SetFaults(simengine.Faults{Hang: true})

	start := time.Now()
	res := l.Do(t, http.MethodGet, "/api/v1/sessions/hang-1", nil, u.auth()...)
	elapsed := time.Since(start)
	if res.Code != http.StatusOK {
		t.Fatalf("get: %d %s", res.Code, res.Body)
	}
	sess := sesData(t, res)["session"].(map[string]any)
	if _, present := sess["liveStatus"]; present {
		t.Errorf("liveStatus = %v from a hanging worker, want it absent", sess["liveStatus"])
	}
	if sess["status"] != "QR_REQUIRED" {
		t.Errorf("status = %v, want the stored QR_REQUIRED", sess["status"])
	}
	if elapsed < 1500*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("answered after %s, want about 2 s (the live-status bound)", elapsed)
	}
}

func TestGetSession_APIKeyIsFullForTheOwnerOnlyAndMaskedOtherwise(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	owner, admin, stranger := sesNewUser(t, g), sesNewUser(t, g), sesNewUser(t, g)
	sesExec(t, g, `UPDATE users SET role = 'ADMINISTRATOR' WHERE id = $1`, admin.ID)
	key := sesCreate(t, g, owner, map[string]any{"name": "Shop", "sessionId": "keyed"})["apiKey"].(string)
	sesCreate(t, g, admin, map[string]any{"name": "Admin's", "sessionId": "admins-own"})

	apiKeyOf := func(u sesUser, id string) map[string]any {
		t.Helper()
		res := g.Do(t, http.MethodGet, "/api/v1/sessions/"+id, nil, u.auth()...)
		if res.Code != http.StatusOK {
			t.Fatalf("get %s: %d %s", id, res.Code, res.Body)
		}
		return sesData(t, res)["session"].(map[string]any)["apiKey"].(map[string]any)
	}
	own := apiKeyOf(owner, "keyed")
	if own["key"] != key || !sesMaskShape.MatchString(fmt.Sprint(own["masked"])) || own["isActive"] != true {
		t.Errorf("owner sees %v, want the full key %s and its mask", own, key)
	}
	viaAdmin := apiKeyOf(admin, "keyed")
	if viaAdmin["key"] != nil || viaAdmin["masked"] != own["masked"] {
		t.Errorf("an administrator viewing another user's session sees %v, want key null and the mask", viaAdmin)
	}
	if adminOwn := apiKeyOf(admin, "admins-own"); !sesKeyShape.MatchString(fmt.Sprint(adminOwn["key"])) {
		t.Errorf("an administrator's own session shows key %v, want it in full", adminOwn["key"])
	}
	sesWantError(t, g.Do(t, http.MethodGet, "/api/v1/sessions/keyed", nil, stranger.auth()...), http.StatusNotFound, "not_found")

	// Lists show the mask only.
	list := sesData(t, g.Do(t, http.MethodGet, "/api/v1/sessions", nil, owner.auth()...))["sessions"].([]any)
	if len(list) != 1 {
		t.Fatalf("owner's list = %v", list)
	}
	listed := list[0].(map[string]any)["apiKey"].(map[string]any)
	if _, has := listed["key"]; has || listed["masked"] != own["masked"] {
		t.Errorf("listed apiKey = %v, want only the mask", listed)
	}
	if strings.Contains(g.Do(t, http.MethodGet, "/api/v1/sessions", nil, admin.auth()...).Body.String(), key) {
		t.Error("the administrator's list reveals the owner's key")
	}
}

func TestGetSession_StatisticsCountTheSessionsMessages(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	u := sesNewUser(t, g)
	sesCreate(t, g, u, map[string]any{"name": "Stats", "sessionId": "stats-1"})
	empty := sesData(t, g.Do(t, http.MethodGet, "/api/v1/sessions/stats-1", nil, u.auth()...))["session"].(map[string]any)
	if st := empty["statistics"].(map[string]any); st["messagesSent"] != 0.0 || st["messagesReceived"] != 0.0 || st["lastMessageAt"] != nil {
		t.Errorf("statistics of a new session = %v", st)
	}

	last := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	sesExec(t, g, `INSERT INTO messages (session_id, direction, message_type, status, created_at) VALUES
		('stats-1', 'OUTBOUND', 'TEXT', 'SENT', $1::timestamptz - interval '3 minutes'),
		('stats-1', 'OUTBOUND', 'TEXT', 'DELIVERED', $1::timestamptz - interval '2 minutes'),
		('stats-1', 'OUTBOUND', 'IMAGE', 'READ', $1::timestamptz - interval '1 minute'),
		('stats-1', 'OUTBOUND', 'TEXT', 'FAILED', $1::timestamptz - interval '4 minutes'),
		('stats-1', 'OUTBOUND', 'TEXT', 'PENDING', $1::timestamptz - interval '5 minutes'),
		('stats-1', 'INBOUND', 'TEXT', 'DELIVERED', $1::timestamptz),
		('stats-1', 'INBOUND', 'TEXT', 'DELIVERED', $1::timestamptz - interval '6 minutes')`, last)
	sess := sesData(t, g.Do(t, http.MethodGet, "/api/v1/sessions/stats-1", nil, u.auth()...))["session"].(map[string]any)
	st := sess["statistics"].(map[string]any)
	if st["messagesSent"] != 3.0 || st["messagesReceived"] != 2.0 {
		t.Errorf("statistics = %v, want 3 sent (SENT, DELIVERED, READ) and 2 received", st)
	}
	if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(st["lastMessageAt"])); err != nil || !at.Equal(last) {
		t.Errorf("lastMessageAt = %v, want %s", st["lastMessageAt"], last)
	}
}

// ----------------------------------------------------------------------------------------
// Connect

func TestConnect_Success_IsINITPlacedAndRoutedInRedis(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	worker := newSesFakeWorker(t)
	sesRegisterWorker(t, g, "fake-1", worker.URL, 10)
	u := sesNewUser(t, g)
	sesCreate(t, g, u, map[string]any{"name": "Shop", "sessionId": "conn-1"})

	res := g.Do(t, http.MethodPost, "/api/v1/sessions/conn-1/connect", nil, u.auth()...)
	if res.Code != http.StatusOK {
		t.Fatalf("connect: %d %s", res.Code, res.Body)
	}
	data := sesData(t, res)
	if data["sessionId"] != "conn-1" || data["status"] != "INIT" || data["workerId"] != "fake-1" {
		t.Errorf("answer = %v", data)
	}
	if row := sesSession(t, g, "conn-1"); row.Status != "INIT" || row.WorkerID == nil || *row.WorkerID != "fake-1" {
		t.Errorf("stored = %+v, want INIT on fake-1", row)
	}
	if route := sesRoute(t, g, "conn-1"); route != "fake-1" {
		t.Errorf("HGET session_routing conn-1 = %q, want fake-1", route)
	}
	if !worker.called(http.MethodPost, "/api/sessions/start") {
		t.Error("the worker was not asked to start the session")
	}
}

func TestConnect_NoWorkerCanStartIt_Returns503AndRollsBackToDisconnected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, g *testenv.Gateway, u sesUser)
	}{
		{"no worker registered", func(*testing.T, *testenv.Gateway, sesUser) {}},
		{"the only worker is OFFLINE", func(t *testing.T, g *testenv.Gateway, _ sesUser) {
			sesRegisterWorker(t, g, "down-1", newSesFakeWorker(t).URL, 10)
			sesExec(t, g, `UPDATE workers SET status = 'OFFLINE'`)
		}},
		{"the only worker is in MAINTENANCE", func(t *testing.T, g *testenv.Gateway, _ sesUser) {
			sesRegisterWorker(t, g, "maint-1", newSesFakeWorker(t).URL, 10)
			sesExec(t, g, `UPDATE workers SET status = 'MAINTENANCE'`)
		}},
		{"every worker is full", func(t *testing.T, g *testenv.Gateway, u sesUser) {
			sesRegisterWorker(t, g, "full-1", newSesFakeWorker(t).URL, 1)
			sesRegisterWorker(t, g, "full-2", newSesFakeWorker(t).URL, 1)
			for _, id := range []string{"occupant-1", "occupant-2"} {
				sesCreate(t, g, u, map[string]any{"name": "Occupant", "sessionId": id})
				if res := g.Do(t, http.MethodPost, "/api/v1/sessions/"+id+"/connect", nil, u.auth()...); res.Code != http.StatusOK {
					t.Fatalf("connect %s: %d %s", id, res.Code, res.Body)
				}
			}
		}},
		{"the worker fails to start it", func(t *testing.T, g *testenv.Gateway, _ sesUser) {
			w := newSesFakeWorker(t)
			w.startStatus.Store(http.StatusInternalServerError)
			sesRegisterWorker(t, g, "broken-1", w.URL, 10)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := sesGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":10}}`})
			u := sesNewUser(t, g)
			tc.setup(t, g, u)
			sesCreate(t, g, u, map[string]any{"name": "Shop", "sessionId": "no-room"})

			res := g.Do(t, http.MethodPost, "/api/v1/sessions/no-room/connect", nil, u.auth()...)
			sesWantError(t, res, http.StatusServiceUnavailable, "connectivity_error")
			row := sesSession(t, g, "no-room")
			if row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Reason == nil || *row.Reason == "" {
				t.Errorf("after the failed connect: %+v, want DISCONNECTED, unplaced, with a reason", row)
			}
			if route := sesRoute(t, g, "no-room"); route != "" {
				t.Errorf("a route to %q is left in Redis", route)
			}
			if n := sesCount(t, g, `SELECT count(*) FROM workers w WHERE (SELECT count(*) FROM sessions s WHERE s.worker_id = w.id) > w.max_sessions`); n != 0 {
				t.Errorf("%d workers hold more than their capacity", n)
			}
		})
	}
}

func TestConnect_AlreadyConnectedOrInit_Returns409AndChangesNothing(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":10}}`})
	worker := newSesFakeWorker(t)
	sesRegisterWorker(t, g, "fake-1", worker.URL, 10)
	u := sesNewUser(t, g)
	for _, status := range []string{"CONNECTED", "INIT"} {
		id := "busy-" + strings.ToLower(status)
		sesCreate(t, g, u, map[string]any{"name": "Busy", "sessionId": id})
		sesExec(t, g, `UPDATE sessions SET status = $2, worker_id = 'fake-1', phone_number = '+628111' WHERE id = $1`, id, status)
		sesWantError(t, g.Do(t, http.MethodPost, "/api/v1/sessions/"+id+"/connect", nil, u.auth()...), http.StatusConflict, "conflict")
		if row := sesSession(t, g, id); row.Status != status || row.WorkerID == nil || *row.WorkerID != "fake-1" {
			t.Errorf("%s after the refused connect: %+v", status, row)
		}
	}
	if worker.called(http.MethodPost, "/api/sessions/start") {
		t.Error("a refused connect reached the worker")
	}
}

// A session that already occupies the last slot of its worker (waiting for a QR scan, or
// reconnecting) connects again in that slot: placing it there adds no session to the worker.
func TestConnect_SessionHoldingTheLastSlotOfItsWorker_ConnectsAgainThere(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":10}}`})
	worker := newSesFakeWorker(t)
	sesRegisterWorker(t, g, "tiny-1", worker.URL, 1)
	u := sesNewUser(t, g)
	for _, status := range []string{"QR_REQUIRED", "RECONNECTING", "ERROR"} {
		id := "slot-" + strings.ToLower(strings.ReplaceAll(status, "_", "-"))
		sesCreate(t, g, u, map[string]any{"name": "Slot", "sessionId": id})
		sesExec(t, g, `UPDATE sessions SET status = $2, worker_id = 'tiny-1' WHERE id = $1`, id, status)

		res := g.Do(t, http.MethodPost, "/api/v1/sessions/"+id+"/connect", nil, u.auth()...)
		if res.Code != http.StatusOK {
			t.Errorf("connect from %s on its full worker = %d, want 200; %s", status, res.Code, res.Body)
		} else if row := sesSession(t, g, id); row.Status != "INIT" || row.WorkerID == nil || *row.WorkerID != "tiny-1" {
			t.Errorf("connect from %s: %+v, want INIT on tiny-1", status, row)
		}
		sesExec(t, g, `DELETE FROM sessions WHERE id = $1`, id)
	}
}

// ----------------------------------------------------------------------------------------
// The status-change table of data-model.md, row by row.

func TestSessionStatusChanges_FollowTheDataModelTable(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":1000}}`, "SESSION_FAILOVER": "false"})
	worker := newSesFakeWorker(t)
	sesRegisterWorker(t, g, "table-w", worker.URL, 1000)
	u := sesNewUser(t, g)
	seen := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	var seq atomic.Int64
	// session inserts a session of u in status, placed on workerID ("" for none), with a
	// phone number and lastSeenAt.
	session := func(t *testing.T, status, workerID string) string {
		t.Helper()
		id := fmt.Sprintf("row-%d", seq.Add(1))
		var w *string
		if workerID != "" {
			w = &workerID
		}
		sesExec(t, g, `INSERT INTO sessions (id, user_id, name, status, worker_id, phone_number, last_seen_at)
			VALUES ($1, $2, 'Row', $3, $4, '+628111', $5)`, id, u.ID, status, w, seen)
		return id
	}
	do := func(t *testing.T, action, id string) testenv.Response {
		t.Helper()
		return g.Do(t, http.MethodPost, "/api/v1/sessions/"+id+"/"+action, nil, u.auth()...)
	}

	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			from   string
			placed bool
			code   int
		}{
			{"DISCONNECTED", false, http.StatusOK},
			{"ERROR", false, http.StatusOK},
			{"ERROR", true, http.StatusOK},
			{"QR_REQUIRED", true, http.StatusOK},
			{"RECONNECTING", true, http.StatusOK},
			{"CONNECTED", true, http.StatusConflict},
			{"INIT", true, http.StatusConflict},
		} {
			worker := ""
			if tc.placed {
				worker = "table-w"
			}
			id := session(t, tc.from, worker)
			res := do(t, "connect", id)
			if res.Code != tc.code {
				t.Errorf("connect from %s (placed %v) = %d, want %d; %s", tc.from, tc.placed, res.Code, tc.code, res.Body)
				continue
			}
			row := sesSession(t, g, id)
			wantStatus := "INIT"
			if tc.code != http.StatusOK {
				wantStatus = tc.from
			}
			if row.Status != wantStatus || row.WorkerID == nil || *row.WorkerID != "table-w" {
				t.Errorf("connect from %s: %+v (worker %v), want %s on table-w", tc.from, row, deref(row.WorkerID), wantStatus)
			}
		}
	})

	t.Run("restart", func(t *testing.T) {
		t.Parallel()
		for _, from := range []string{"CONNECTED", "QR_REQUIRED", "ERROR", "RECONNECTING", "INIT"} {
			id := session(t, from, "table-w")
			if res := do(t, "restart", id); res.Code != http.StatusOK {
				t.Errorf("restart placed %s: %d %s", from, res.Code, res.Body)
				continue
			}
			if row := sesSession(t, g, id); row.Status != "INIT" || row.WorkerID == nil || *row.WorkerID != "table-w" {
				t.Errorf("restart placed %s: %+v, want INIT on the same worker", from, row)
			}
			if !worker.called(http.MethodPost, "/api/sessions/"+id+"/restart") {
				t.Errorf("restart placed %s: the worker was not asked to restart", from)
			}
		}
		// Unplaced: restart connects.
		id := session(t, "DISCONNECTED", "")
		if res := do(t, "restart", id); res.Code != http.StatusOK {
			t.Fatalf("restart unplaced: %d %s", res.Code, res.Body)
		}
		if row := sesSession(t, g, id); row.Status != "INIT" || row.WorkerID == nil || *row.WorkerID != "table-w" {
			t.Errorf("restart unplaced: %+v, want connected (INIT, placed)", row)
		}
	})

	t.Run("disconnect", func(t *testing.T) {
		t.Parallel()
		for _, from := range []string{"CONNECTED", "QR_REQUIRED", "INIT", "RECONNECTING", "ERROR", "DISCONNECTED"} {
			placed := "table-w"
			if from == "DISCONNECTED" {
				placed = ""
			}
			id := session(t, from, placed)
			res := do(t, "disconnect", id)
			if res.Code != http.StatusOK || sesData(t, res)["status"] != "DISCONNECTED" {
				t.Errorf("disconnect from %s: %d %s", from, res.Code, res.Body)
				continue
			}
			row := sesSession(t, g, id)
			if row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Phone == nil || *row.Phone != "+628111" ||
				row.LastSeenAt == nil || !row.LastSeenAt.Equal(seen) {
				t.Errorf("disconnect from %s: %+v, want DISCONNECTED, released, phone and lastSeenAt kept", from, row)
			}
			if placed != "" && !worker.called(http.MethodPost, "/api/sessions/"+id+"/disconnect") {
				t.Errorf("disconnect from %s: the worker was not told", from)
			}
			if sesRoute(t, g, id) != "" {
				t.Errorf("disconnect from %s: the Redis route is left", from)
			}
		}
	})

	t.Run("logout", func(t *testing.T) {
		t.Parallel()
		for _, from := range []string{"CONNECTED", "QR_REQUIRED", "ERROR", "DISCONNECTED"} {
			placed := "table-w"
			if from == "DISCONNECTED" {
				placed = ""
			}
			id := session(t, from, placed)
			if res := do(t, "logout", id); res.Code != http.StatusOK {
				t.Errorf("logout from %s: %d %s", from, res.Code, res.Body)
				continue
			}
			row := sesSession(t, g, id)
			if row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Phone != nil || row.LastSeenAt != nil {
				t.Errorf("logout from %s: %+v, want DISCONNECTED, released, phone and lastSeenAt cleared", from, row)
			}
			if placed != "" && !worker.called(http.MethodPost, "/api/sessions/"+id+"/logout") {
				t.Errorf("logout from %s: the worker was not told", from)
			}
		}
	})

	t.Run("worker event", func(t *testing.T) {
		t.Parallel()
		statuses := []string{"INIT", "QR_REQUIRED", "CONNECTED", "DISCONNECTED", "RECONNECTING", "ERROR"}
		for _, from := range statuses {
			for _, to := range append(slices.Clone(statuses), "LOGGED_OUT") {
				id := session(t, from, "table-w")
				res := g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", map[string]any{
					"sessionId": id, "status": to, "workerId": "table-w", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
				}, sesWorkerAuth(g)...)
				if res.Code != http.StatusOK || sesData(t, res)["applied"] != true {
					t.Errorf("event %s → %s: %d %s", from, to, res.Code, res.Body)
					continue
				}
				row := sesSession(t, g, id)
				want := to
				if to == "LOGGED_OUT" {
					want = "DISCONNECTED"
				}
				if row.Status != want {
					t.Errorf("event %s → %s: status %s, want %s", from, to, row.Status, want)
				}
				if to == "LOGGED_OUT" && (row.Phone != nil || row.LastSeenAt != nil) {
					t.Errorf("event %s → LOGGED_OUT kept phone %v, lastSeenAt %v", from, row.Phone, row.LastSeenAt)
				}
				if to != "LOGGED_OUT" && (row.Phone == nil || row.LastSeenAt == nil || !row.LastSeenAt.After(seen)) {
					t.Errorf("event %s → %s: phone %v, lastSeenAt %v; want the phone kept and lastSeenAt now", from, to, row.Phone, row.LastSeenAt)
				}
			}
		}
	})

	// Not parallel: it runs, and its worker is gone, before the parallel cases resume, so that
	// none of their sessions is placed on it.
	t.Run("worker unregistered", func(t *testing.T) {
		leaving := newSesFakeWorker(t)
		sesRegisterWorker(t, g, "leaving-w", leaving.URL, 10)
		ids := []string{session(t, "CONNECTED", "leaving-w"), session(t, "QR_REQUIRED", "leaving-w"), session(t, "ERROR", "leaving-w")}
		res := g.Do(t, http.MethodDelete, "/api/v1/workers/unregister", map[string]any{
			"workerId": "leaving-w", "endpoint": leaving.URL}, sesWorkerAuth(g)...)
		if res.Code != http.StatusOK {
			t.Fatalf("unregister: %d %s", res.Code, res.Body)
		}
		for _, id := range ids {
			row := sesSession(t, g, id)
			if row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Reason == nil || !strings.Contains(*row.Reason, "unregistered") {
				t.Errorf("session %s of the unregistered worker: %+v, want DISCONNECTED with the reason", id, row)
			}
		}
	})
}

// ----------------------------------------------------------------------------------------
// Redis lost, tenants, delete, key regeneration

func TestRouting_RedisEntriesDeletedMidTest_CommandsStillWorkAndTheRouteIsRepaired(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, key := l.connectedSession(t, u, "flush-1")
	if sesRoute(t, l.Gateway, id) != "sim-1" {
		t.Fatalf("route before = %q", sesRoute(t, l.Gateway, id))
	}

	// Lose what Redis knew about routing (only this gateway's keys: Redis is shared).
	if err := l.Redis.Del(context.Background(), l.Keys.Key("session_routing"), l.Keys.Key("workers")).Err(); err != nil {
		t.Fatal(err)
	}
	if sesRoute(t, l.Gateway, id) != "" {
		t.Fatal("the route is still there")
	}
	res := l.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "6281234567890", "message": "after the flush"}, "X-API-Key", key)
	if res.Code != http.StatusOK {
		t.Fatalf("send after the flush: %d %s", res.Code, res.Body)
	}
	if got := l.Sim.Engine.Sent(id)["text"]; got != 1 {
		t.Errorf("the worker sent %d texts, want 1", got)
	}
	// A send reads its route from Postgres with its record; commands that record nothing look
	// it up, and repair Redis.
	if sesRoute(t, l.Gateway, id) != "" {
		t.Errorf("a send wrote the route back: it should not have looked it up")
	}
	res = l.Do(t, http.MethodPost, "/api/v1/startTyping", map[string]any{"to": "6281234567890"}, "X-API-Key", key)
	if res.Code != http.StatusOK {
		t.Fatalf("startTyping after the flush: %d %s", res.Code, res.Body)
	}
	if route := sesRoute(t, l.Gateway, id); route != "sim-1" {
		t.Errorf("route after startTyping = %q, want it repaired to sim-1", route)
	}
	snapshot, err := l.Redis.HGet(context.Background(), l.Keys.Key("workers"), "sim-1").Result()
	if err != nil || !strings.Contains(snapshot, l.Sim.Endpoint) {
		t.Errorf("worker snapshot = %q (%v), want it repaired with the endpoint", snapshot, err)
	}
}

func TestTenantIsolation_AnotherUsersSessionIs404OnEveryRoute(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	owner, intruder := sesNewUser(t, l.Gateway), sesNewUser(t, l.Gateway)
	id, ownerKey := l.connectedSession(t, owner, "owned-1")
	intruderKey := sesCreate(t, l.Gateway, intruder, map[string]any{"name": "Mine", "sessionId": "intruders"})["apiKey"].(string)
	before := sesSession(t, l.Gateway, id)

	for _, r := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/api/v1/sessions/" + id, nil},
		{http.MethodDelete, "/api/v1/sessions/" + id, nil},
		{http.MethodPost, "/api/v1/sessions/" + id + "/connect", nil},
		{http.MethodGet, "/api/v1/sessions/" + id + "/status", nil},
		{http.MethodGet, "/api/v1/sessions/" + id + "/qr", nil},
		{http.MethodPost, "/api/v1/sessions/" + id + "/pair", map[string]any{"phoneNumber": "+6281234567890"}},
		{http.MethodPost, "/api/v1/sessions/" + id + "/restart", nil},
		{http.MethodPost, "/api/v1/sessions/" + id + "/disconnect", nil},
		{http.MethodPost, "/api/v1/sessions/" + id + "/logout", nil},
		{http.MethodPost, "/api/v1/sessions/" + id + "/api-key/regenerate", nil},
		{http.MethodPost, "/api/v1/sessions/" + id + "/send", map[string]any{"to": "6281234567890", "type": "TEXT", "message": "hi"}},
		{http.MethodGet, "/api/v1/sessions/" + id + "/messages", nil},
		{http.MethodGet, "/api/sessions/" + strings.ToUpper(id), nil},
	} {
		res := l.Do(t, r.method, r.path, r.body, intruder.auth()...)
		if res.Code != http.StatusNotFound {
			t.Errorf("%s %s by another user = %d, want 404; %s", r.method, r.path, res.Code, res.Body)
			continue
		}
		sesWantError(t, res, http.StatusNotFound, "not_found")
	}
	if after := sesSession(t, l.Gateway, id); after.Status != before.Status || after.WorkerID == nil {
		t.Errorf("the intruder changed the session: %+v", after)
	}
	if n := sesCount(t, l.Gateway, `SELECT count(*) FROM messages WHERE session_id = $1`, id); n != 0 {
		t.Errorf("the intruder's send recorded %d messages on the session", n)
	}
	if got := l.Sim.Engine.Sent(id); len(got) != 0 {
		t.Errorf("the intruder's send reached the worker: %v", got)
	}
	// The owner's key still works, so nothing was regenerated.
	if code := l.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", ownerKey).Code; code != http.StatusOK {
		t.Errorf("the owner's key = %d after the intruder's attempts, want 200", code)
	}

	// An API key acts on its own session only: the intruder's key sends on the intruder's
	// session (not connected: 409) and cannot read the owner's messages.
	send := l.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "6281234567890", "message": "mine"}, "X-API-Key", ownerKey)
	if send.Code != http.StatusOK {
		t.Fatalf("owner's send: %d %s", send.Code, send.Body)
	}
	ownersMessage := sesData(t, send)["id"].(string)
	sesWantError(t, l.Do(t, http.MethodGet, "/api/v1/messages/"+ownersMessage, nil, "X-API-Key", intruderKey), http.StatusNotFound, "not_found")
	status := sesData(t, l.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", intruderKey))
	if status["sessionId"] != "intruders" {
		t.Errorf("the intruder's key reports session %v", status["sessionId"])
	}
	sesWantError(t, l.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "6281234567890", "message": "x"},
		"X-API-Key", intruderKey), http.StatusConflict, "conflict")
	if got := l.Sim.Engine.Sent(id)["text"]; got != 1 {
		t.Errorf("the owner's session sent %d texts, want only the owner's 1", got)
	}
	if n := sesCount(t, l.Gateway, `SELECT count(*) FROM messages WHERE session_id = 'intruders'`); n != 1 {
		t.Errorf("the intruder's send recorded %d messages on its own session, want 1", n)
	}
}

func TestDeleteSession_RemovesItItsKeyAndRouteAndTellsTheWorker(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, key := l.connectedSession(t, u, "doomed-1")
	if !l.Sim.Holds(id) || sesRoute(t, l.Gateway, id) == "" {
		t.Fatal("the session is not running on the simworker")
	}

	res := l.Do(t, http.MethodDelete, "/api/v1/sessions/"+id, nil, u.auth()...)
	if res.Code != http.StatusOK || sesData(t, res)["sessionId"] != id {
		t.Fatalf("delete: %d %s", res.Code, res.Body)
	}
	if sesSessionExists(t, l.Gateway, id) {
		t.Error("the session is still stored")
	}
	if n := sesCount(t, l.Gateway, `SELECT count(*) FROM api_keys WHERE session_id = $1`, id); n != 0 {
		t.Errorf("%d API keys left", n)
	}
	if route := sesRoute(t, l.Gateway, id); route != "" {
		t.Errorf("route to %q left in Redis", route)
	}
	if l.Sim.Holds(id) {
		t.Error("the simworker still holds the session")
	}
	sesEventually(t, 2*time.Second, "the deleted session's key is refused", func() bool {
		return l.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", key).Code == http.StatusUnauthorized
	})
	sesWantError(t, l.Do(t, http.MethodGet, "/api/v1/sessions/"+id, nil, u.auth()...), http.StatusNotFound, "not_found")
	sesWantError(t, l.Do(t, http.MethodDelete, "/api/v1/sessions/"+id, nil, u.auth()...), http.StatusNotFound, "not_found")
	// The slot is free again: a BASIC user may create a new session.
	sesCreate(t, l.Gateway, u, map[string]any{"name": "Next"})
}

func TestRegenerateAPIKey_NewKeyWorksAndTheOldIsRefusedWithinASecond(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	u := sesNewUser(t, g)
	old := sesCreate(t, g, u, map[string]any{"name": "Shop", "sessionId": "regen-1"})["apiKey"].(string)
	// Warm the key cache so that the refusal has to beat it.
	if code := g.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", old).Code; code != http.StatusOK {
		t.Fatalf("old key before = %d", code)
	}

	res := g.Do(t, http.MethodPost, "/api/v1/sessions/regen-1/api-key/regenerate", nil, u.auth()...)
	if res.Code != http.StatusOK {
		t.Fatalf("regenerate: %d %s", res.Code, res.Body)
	}
	data := sesData(t, res)
	fresh, _ := data["apiKey"].(string)
	if !sesKeyShape.MatchString(fresh) || fresh == old || !sesMaskShape.MatchString(fmt.Sprint(data["masked"])) || data["createdAt"] == nil {
		t.Fatalf("answer = %v, want a new full key (a string), its mask and createdAt", data)
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", fresh).Code; code != http.StatusOK {
		t.Errorf("new key = %d, want 200", code)
	}
	// Replicas trust their key cache for 1 s; the rest is slack for a loaded machine.
	sesEventually(t, 2*time.Second, "the old key is refused", func() bool {
		return g.Do(t, http.MethodGet, "/api/v1/session/status", nil, "X-API-Key", old).Code == http.StatusUnauthorized
	})
	// The owner now sees the new key in full.
	sess := sesData(t, g.Do(t, http.MethodGet, "/api/v1/sessions/regen-1", nil, u.auth()...))["session"].(map[string]any)
	if sess["apiKey"].(map[string]any)["key"] != fresh {
		t.Errorf("GET shows key %v, want the regenerated one", sess["apiKey"])
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
