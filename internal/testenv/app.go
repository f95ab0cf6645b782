package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wagateway/gateway/internal/app"
	"github.com/wagateway/gateway/internal/config"
)

// Options shape a test gateway.
type Options struct {
	// Env are extra configuration variables, e.g. {"RATE_LIMIT_MAX_REQUESTS": "3"}.
	Env map[string]string
	// DatabaseURL shares a database between gateways (several replicas); empty: a fresh one.
	DatabaseURL string
	// KeyPrefix shares a Redis prefix between gateways; empty: a fresh one.
	KeyPrefix string
}

// Gateway is a whole gateway under test.
type Gateway struct {
	*app.App
	DatabaseURL string
	KeyPrefix   string
	Logs        *SyncBuffer
}

// Config builds the configuration of a test gateway.
func Config(t testing.TB, env map[string]string) *config.Config {
	t.Helper()
	vars := map[string]string{
		"APP_ENV":   "test",
		"LOG_LEVEL": "debug",
		// Tests read the log as it is written.
		"LOG_FLUSH_INTERVAL_MS": "0",
		"BCRYPT_ROUNDS":         "4",
		// Many gateways run at once in a test binary; small pools stay under max_connections.
		"DB_MAX_CONNS": "8",
		"REDIS_URL":    RedisURL(),
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(name string) string { return vars[name] })
	if err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	return cfg
}

// NewGateway builds a gateway on its own database and Redis prefix (or the shared ones of
// opts), with its logs captured in Logs.
func NewGateway(t testing.TB, opts Options) *Gateway {
	t.Helper()
	if opts.DatabaseURL == "" {
		opts.DatabaseURL = NewDatabaseURL(t)
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = NewKeyPrefix(t)
	}
	env := map[string]string{"DATABASE_URL": opts.DatabaseURL, "REDIS_KEY_PREFIX": opts.KeyPrefix}
	for k, v := range opts.Env {
		env[k] = v
	}
	cfg := Config(t, env)
	logs := &SyncBuffer{}
	logger, _ := app.NewLogger(cfg, logs)
	a, err := app.New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(a.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway logs:\n%s", lastLines(logs.String(), 60))
		}
	})
	return &Gateway{App: a, DatabaseURL: opts.DatabaseURL, KeyPrefix: opts.KeyPrefix, Logs: logs}
}

// Serve runs the gateway on a random loopback port until the test ends and returns its
// base URL. The returned stop function shuts it down and returns Run's error.
func (g *Gateway) Serve(t testing.TB) (baseURL string, stop func() error) {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

// Response is a recorded answer of the gateway.
type Response struct {
	*httptest.ResponseRecorder
}

// JSON decodes the body into a generic map.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not JSON (%v): %s", err, r.Body.String())
	}
	return m
}

// Do sends a request straight to the gateway's handler. body may be nil, a string (sent as
// is) or any value (sent as JSON). headers are pairs: "Authorization", "Bearer x".
func (g *Gateway) Do(t testing.TB, method, path string, body any, headers ...string) Response {
	t.Helper()
	return g.DoContext(context.Background(), t, method, path, body, headers...)
}

// DoContext is Do with the request's context: cancelling it is the client hanging up.
func (g *Gateway) DoContext(ctx context.Context, t testing.TB, method, path string, body any, headers ...string) Response {
	t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal request: %v", err)
		}
		reader = bytes.NewReader(raw)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, reader)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, req)
	return Response{rec}
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
