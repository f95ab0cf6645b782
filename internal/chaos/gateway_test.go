//go:build chaos

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Secrets of the gateways under test (APP_ENV=test accepts them).
const (
	workerToken = "chaos-worker-token-0123456789abcdef0123456789"
	jwtSecret   = "chaos-jwt-secret-0123456789abcdef0123456789ab"
)

// Timings every gateway of the suite runs with: a health round each second, a 3 s lease (the
// shortest the configuration allows), fast retries and no failed sends (attempts never run out
// during a fault).
var baseGatewayEnv = map[string]string{
	"APP_ENV":                      "test",
	"LOG_LEVEL":                    "info",
	"BCRYPT_ROUNDS":                "4",
	"DB_MAX_CONNS":                 "12",
	"RATE_LIMIT_MAX_REQUESTS":      "100000000",
	"AUTH_RATE_LIMIT_PER_MINUTE":   "100000",
	"TIER_LIMITS":                  `{"BASIC":{"sessions":1000,"messagesPerHour":100000000,"apiCallsPerHour":100000000}}`,
	"WORKER_AUTH_TOKEN":            workerToken,
	"JWT_SECRET":                   jwtSecret,
	"WORKER_HEALTH_CHECK_INTERVAL": "1000",
	"WORKER_HEARTBEAT_TIMEOUT_MS":  "10000",
	"LEADER_LEASE_TTL_MS":          "3000",
	"SEND_MIN_INTERVAL_MS":         "20",
	"SEND_RETRY_BASE_MS":           "200",
	"SEND_RETRY_MAX_MS":            "1000",
	"SEND_MAX_ATTEMPTS":            "1000",
	"WEBHOOK_ALLOW_PRIVATE":        "true",
	"WEBHOOK_RETRY_BASE_MS":        "200",
	"SHUTDOWN_TIMEOUT":             "20s",
	"QR_TTL_SECONDS":               "3600",
}

// healthInterval and leaseTTL are the values above, for the takeover bound.
const (
	healthInterval = time.Second
	leaseTTL       = 3 * time.Second
)

// gateway is one gateway process (`gateway serve`) of a scenario.
type gateway struct {
	name    string
	port    int
	URL     string
	env     []string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // the process's exit, once exited is closed
}

// startGateway starts a gateway process of the scenario with extra environment on top of the
// suite's and waits until /health answers. port 0 picks a spare one.
func (sc *scenario) startGateway(t testing.TB, name string, port int, extra map[string]string) *gateway {
	t.Helper()
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			t.Fatalf("free port: %v", err)
		}
	}
	vars := maps.Clone(baseGatewayEnv)
	vars["PORT"] = strconv.Itoa(port)
	vars["DATABASE_URL"] = sc.databaseURL
	vars["REDIS_URL"] = sc.suite.redis.URL()
	vars["REDIS_KEY_PREFIX"] = sc.keyPrefix
	maps.Copy(vars, extra)
	g := &gateway{name: name, port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port),
		logPath: filepath.Join(sc.dir, name+".log")}
	g.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		g.env = append(g.env, k+"="+v)
	}
	g.start(t)
	sc.gateways = append(sc.gateways, g)
	return g
}

func (g *gateway) start(t testing.TB) {
	t.Helper()
	logFile, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("gateway log: %v", err)
	}
	g.cmd = exec.Command(suiteBins.gateway, "serve") //nolint:gosec // the binary the suite built
	g.cmd.Env = g.env
	g.cmd.Dir = filepath.Dir(g.logPath) // no stray .env is read
	g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
	if err := g.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start gateway %s: %v", g.name, err)
	}
	g.exited = make(chan struct{})
	go func() {
		g.err = g.cmd.Wait()
		logFile.Close()
		close(g.exited)
	}()
	ctx := context.Background()
	healthy := waitFor(ctx, 60*time.Second, func() bool {
		select {
		case <-g.exited:
			return true
		default:
		}
		status, _, err := httpGet(ctx, g.URL+"/health")
		return err == nil && status == http.StatusOK
	})
	select {
	case <-g.exited:
		t.Fatalf("gateway %s exited at start (%v); log:\n%s", g.name, g.err, tail(g.logPath, 30))
	default:
	}
	if !healthy {
		t.Fatalf("gateway %s did not answer /health within 60 s; log:\n%s", g.name, tail(g.logPath, 30))
	}
}

// Restart starts the stopped gateway again with the same port and configuration.
func (g *gateway) Restart(t testing.TB) {
	t.Helper()
	if g.Alive() {
		t.Fatalf("gateway %s is still running", g.name)
	}
	g.start(t)
}

// PID is the process ID.
func (g *gateway) PID() int { return g.cmd.Process.Pid }

// Alive reports whether the process is still running.
func (g *gateway) Alive() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// Terminate sends SIGTERM and waits for the exit, at most within; it returns how long the
// shutdown took and the exit error (nil after a clean shutdown).
func (g *gateway) Terminate(within time.Duration) (time.Duration, error) {
	return g.Signal(syscall.SIGTERM)(within)
}

// Signal sends sig and returns a function that waits for the exit, at most within (then
// kills), and returns how long it took since the signal and the exit error.
func (g *gateway) Signal(sig syscall.Signal) func(within time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = g.cmd.Process.Signal(sig)
	return func(within time.Duration) (time.Duration, error) {
		select {
		case <-g.exited:
			return time.Since(start), g.err
		case <-time.After(within):
			g.Kill()
			return time.Since(start), fmt.Errorf("gateway %s did not exit within %s of %s", g.name, within, sig)
		}
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (g *gateway) Kill() {
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.exited
}

// stop ends a gateway still running at the end of its scenario.
func (g *gateway) stop() {
	if g.cmd == nil || !g.Alive() {
		return
	}
	if _, err := g.Terminate(30 * time.Second); err != nil {
		g.Kill()
	}
}

// problems lists what the gateway's log shows that must never happen: data races found by the
// race detector, panics, fatal errors.
func (g *gateway) problems() []string {
	f, err := os.Open(g.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:", `"msg":"panic`} {
			if strings.Contains(line, bad) {
				out = append(out, g.name+": "+line)
			}
		}
	}
	return out
}

// metrics reads selected series of /metrics: name → value, for series without labels.
func (g *gateway) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	status, body, err := httpGet(ctx, g.URL+"/metrics")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("/metrics answered %d", status)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, want := range names {
			if name == want {
				if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
					out[name] = v
				}
			}
		}
	}
	return out, nil
}

// goroutines is the gateway's go_goroutines.
func (g *gateway) goroutines(ctx context.Context) (int, error) {
	m, err := g.metrics(ctx, "go_goroutines")
	if err != nil {
		return 0, err
	}
	return int(m["go_goroutines"]), nil
}

// settledGoroutines waits (at most within) until the gateway's goroutine count stops falling
// and returns it.
func (g *gateway) settledGoroutines(ctx context.Context, within time.Duration) int {
	last, steady := -1, 0
	deadline := time.Now().Add(within)
	for steady < 5 && time.Now().Before(deadline) {
		n, err := g.goroutines(ctx)
		if err != nil {
			return -1
		}
		if last >= 0 && n >= last {
			steady++
		} else {
			steady = 0
		}
		last = n
		select {
		case <-ctx.Done():
			return last
		case <-time.After(200 * time.Millisecond):
		}
	}
	return last
}

// detailedHealth is what /health/detailed says.
type detailedHealth struct {
	Status   int
	Redis    string
	Database string
	Leader   bool
	Running  bool
}

func (g *gateway) detailed(ctx context.Context) (detailedHealth, error) {
	status, body, err := httpGet(ctx, g.URL+"/health/detailed")
	if err != nil {
		return detailedHealth{}, err
	}
	var env struct {
		Data struct {
			Checks struct {
				Database      struct{ Status string } `json:"database"`
				Redis         struct{ Status string } `json:"redis"`
				HealthMonitor struct {
					Running bool `json:"running"`
					Leader  bool `json:"leader"`
				} `json:"healthMonitor"`
			} `json:"checks"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return detailedHealth{Status: status}, fmt.Errorf("/health/detailed is not JSON: %w", err)
	}
	c := env.Data.Checks
	return detailedHealth{Status: status, Redis: c.Redis.Status, Database: c.Database.Status,
		Leader: c.HealthMonitor.Leader, Running: c.HealthMonitor.Running}, nil
}

var probeClient = &http.Client{Timeout: 15 * time.Second}

// httpGet fetches a URL with the probe client.
func httpGet(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// balancer spreads requests over the live gateways of a scenario, as a load balancer in front
// of replicas would: round robin, and a refused connection is tried on the next gateway (it
// never reached the first). Workers and load generators that must survive the loss of one
// replica talk to it.
type balancer struct {
	srv      *http.Server
	URL      string
	client   *http.Client
	next     atomic.Uint64
	mu       sync.Mutex
	backends []string
}

func newBalancer(t testing.TB, backends ...string) *balancer {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	b := &balancer{URL: fmt.Sprintf("http://127.0.0.1:%d", port), backends: backends,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	b.srv = &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: b, ReadHeaderTimeout: 10 * time.Second}
	ln, err := listen(b.srv.Addr)
	if err != nil {
		t.Fatalf("balancer listen: %v", err)
	}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

// Set replaces the backends.
func (b *balancer) Set(backends ...string) {
	b.mu.Lock()
	b.backends = backends
	b.mu.Unlock()
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	backends := append([]string(nil), b.backends...)
	b.mu.Unlock()
	if len(backends) == 0 {
		http.Error(w, "no backend", http.StatusBadGateway)
		return
	}
	first := int(b.next.Add(1))
	var lastErr error
	for i := range backends {
		target := backends[(first+i)%len(backends)]
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := b.client.Do(req)
		if err != nil {
			lastErr = err
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // never reached that gateway: the next one may take it
			}
			break
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	// Like a proxy that lost its upstream mid-request: the client sees the connection cut.
	if hj, ok := w.(http.Hijacker); ok && !errors.Is(lastErr, syscall.ECONNREFUSED) {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	http.Error(w, fmt.Sprintf("no backend answered: %v", lastErr), http.StatusBadGateway)
}
