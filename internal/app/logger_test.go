package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/app"
	"github.com/wagateway/gateway/internal/httpapi"
	"github.com/wagateway/gateway/internal/testenv"
)

// jsonLines parses every line of a log as a JSON object.
func jsonLines(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON (%v): %s", err, sc.Text())
		}
		lines = append(lines, line)
	}
	return lines
}

func TestLogFilePath_Directory_WritesJSONLinesToGatewayLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := testenv.NewGateway(t, testenv.Options{Env: map[string]string{"LOG_FILE_PATH": dir}})

	if res := g.Do(t, http.MethodGet, "/api/v1/health", nil, "X-Request-ID", "file-log-check"); res.Code != http.StatusOK {
		t.Fatalf("status = %d", res.Code)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatalf("gateway.log: %v", err)
	}
	lines := jsonLines(t, raw)
	if len(lines) == 0 {
		t.Fatal("gateway.log is empty")
	}
	found := false
	for _, line := range lines {
		if line["service"] != "gateway" {
			t.Errorf("line without service=gateway: %v", line)
		}
		if line["msg"] == "request" && line["request_id"] == "file-log-check" && line["path"] == "/api/v1/health" {
			found = true
		}
	}
	if !found {
		t.Errorf("the access log line of the request is not in gateway.log:\n%s", raw)
	}
	// stdout gets the same lines.
	if !strings.Contains(g.Logs.String(), `"request_id":"file-log-check"`) {
		t.Error("the access log line is missing from stdout")
	}
}

func TestNewLogger_FilePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "gateway.out")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, wantFile string
	}{
		{"a .log file", filepath.Join(dir, "custom.log"), filepath.Join(dir, "custom.log")},
		{"an existing file", existing, existing},
		{"a directory that does not exist yet", filepath.Join(dir, "logs"), filepath.Join(dir, "logs", "gateway.log")},
	}
	for _, tt := range tests {
		cfg := testenv.Config(t, map[string]string{"LOG_FILE_PATH": tt.path})
		logger, closer := app.NewLogger(cfg, &bytes.Buffer{})
		logger.Info("hello", slog.String("case", tt.name))
		if err := closer.Close(); err != nil {
			t.Errorf("%s: close: %v", tt.name, err)
		}
		raw, err := os.ReadFile(tt.wantFile)
		if err != nil || !strings.Contains(string(raw), tt.name) {
			t.Errorf("%s: %s = %q (%v), want the log line", tt.name, tt.wantFile, raw, err)
		}
	}
}

func TestNewLogger_SecretAttributes_AreRedacted(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gateway.log")
	cfg := testenv.Config(t, map[string]string{"LOG_FILE_PATH": path})
	var stdout bytes.Buffer
	logger, closer := app.NewLogger(cfg, &stdout)

	logger.With(slog.String("refresh_token", "rt-secret-1")).Info("login",
		slog.String("password", "hunter2-secret"),
		slog.String("token", "tok-secret-2"),
		slog.String("Authorization", "Bearer auth-secret-3"),
		slog.Group("request", slog.String("X-API-Key", "wg_live_secret4"), slog.String("cookie", "sid=secret5")),
		slog.String("jwt_secret", "jwt-secret-6"),
		slog.String("user", "ada@example.com"),
	)
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"stdout": stdout.String(), "file": string(file)} {
		if n := strings.Count(out, "[REDACTED]"); n != 7 {
			t.Errorf("%s: %d redacted attributes, want 7:\n%s", name, n, out)
		}
		for _, leak := range []string{"rt-secret-1", "hunter2-secret", "tok-secret-2", "auth-secret-3", "wg_live_secret4", "sid=secret5", "jwt-secret-6"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s leaks %q:\n%s", name, leak, out)
			}
		}
		if !strings.Contains(out, "ada@example.com") {
			t.Errorf("%s: an ordinary attribute was dropped:\n%s", name, out)
		}
	}
}

func TestNewLogger_LevelFiltersLowerRecords(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t, map[string]string{"LOG_LEVEL": "warn"})
	var out bytes.Buffer
	logger, closer := app.NewLogger(cfg, &out)
	defer closer.Close()
	logger.Info("quiet")
	logger.Warn("loud")
	if strings.Contains(out.String(), "quiet") || !strings.Contains(out.String(), "loud") {
		t.Errorf("LOG_LEVEL=warn wrote:\n%s", out.String())
	}
}

// slowWriter records what reaches it and when.
type slowWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func (w *slowWriter) snapshot() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

func TestLogFlushInterval_WritesLinesInBatchesAndAllAtClose(t *testing.T) {
	t.Parallel()
	out := &slowWriter{}
	cfg := testenv.Config(t, map[string]string{"LOG_FLUSH_INTERVAL_MS": "50"})
	logger, closer := app.NewLogger(cfg, out)
	for i := range 100 {
		logger.Info("line", slog.Int("n", i))
	}
	// Written together: after a batch or two, not a write per line.
	deadline := time.Now().Add(5 * time.Second)
	for len(bytes.Join(out.snapshot(), nil)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing was written within 5 s of the interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(out.snapshot()); n > 2 {
		t.Errorf("100 lines took %d writes, want them batched", n)
	}
	logger.Info("last")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	lines := jsonLines(t, bytes.Join(out.snapshot(), nil))
	if len(lines) != 101 || lines[100]["msg"] != "last" {
		t.Errorf("after Close: %d lines (last %v), want all 101 in order", len(lines), lines[len(lines)-1])
	}
}

func TestLogFlushInterval_Zero_WritesEachLineAtOnce(t *testing.T) {
	t.Parallel()
	out := &slowWriter{}
	logger, _ := app.NewLogger(testenv.Config(t, map[string]string{"LOG_FLUSH_INTERVAL_MS": "0"}), out)
	logger.Info("one")
	logger.Info("two")
	if n := len(out.snapshot()); n != 2 {
		t.Errorf("%d writes after two lines, want 2", n)
	}
}

func TestNewLogger_AccessLinesMatchTheJSONHandlersLines(t *testing.T) {
	t.Parallel()
	for _, flush := range []string{"0", "100"} {
		t.Run("LOG_FLUSH_INTERVAL_MS="+flush, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			logger, closer := app.NewLogger(testenv.Config(t, map[string]string{"LOG_FLUSH_INTERVAL_MS": flush}), &out)
			fast, ok := logger.Handler().(httpapi.AccessLogger)
			if !ok {
				t.Fatalf("the gateway's log handler %T writes no access lines", logger.Handler())
			}
			line := httpapi.AccessLine{RequestID: "req-1", Method: "POST", Path: "/api/v1/sendText?", Route: "/api/v1/sendText",
				Status: 429, Duration: 12 * time.Millisecond, Bytes: 180, IP: "198.51.100.7", UserAgent: "agent \"x\" <y>\n",
				Principal: "apikey:k1"}
			fast.LogAccess(t.Context(), slog.LevelWarn, "request", &line)
			logger.LogAttrs(t.Context(), slog.LevelWarn, "request", slog.String("request_id", "req-1"), slog.String("method", "POST"),
				slog.String("path", "/api/v1/sendText?"), slog.String("route", "/api/v1/sendText"), slog.Int("status", 429),
				slog.Int64("duration_ms", 12), slog.Int("bytes", 180), slog.String("ip", "198.51.100.7"),
				slog.String("user_agent", "agent \"x\" <y>\n"), slog.String("principal", "apikey:k1"))
			if err := closer.Close(); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("want 2 lines, got %d:\n%s", len(lines), out.String())
			}
			// The two lines differ only in their time, which each took when it was written.
			withoutTime := func(line string) string {
				before, after, ok := strings.Cut(line, `","level":`)
				if !ok || !strings.HasPrefix(before, `{"time":"`) {
					t.Fatalf("line does not start with its time: %s", line)
				}
				return after
			}
			if got, want := withoutTime(lines[0]), withoutTime(lines[1]); got != want {
				t.Errorf("access line:\n got %s\nwant %s", got, want)
			}
			jsonLines(t, out.Bytes())
		})
	}
}
