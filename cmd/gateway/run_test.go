package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/buildinfo"
	"github.com/wagateway/gateway/internal/testenv"
)

// testGetenv is the environment of a test run: the test Redis, a key prefix and a database of
// the test's own, plus vars.
func testGetenv(t *testing.T, databaseURL string, vars map[string]string) func(string) string {
	t.Helper()
	env := map[string]string{
		"APP_ENV":          "test",
		"LOG_LEVEL":        "debug",
		"BCRYPT_ROUNDS":    "4", // the server hashes a dummy password at start
		"REDIS_URL":        testenv.RedisURL(),
		"REDIS_KEY_PREFIX": testenv.NewKeyPrefix(t),
		"DATABASE_URL":     databaseURL,
	}
	for k, v := range vars {
		env[k] = v
	}
	return func(name string) string { return env[name] }
}

// freePort returns a TCP port that nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestRun_Version_PrintsTheVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version", "-v"} {
		var out bytes.Buffer
		// No environment at all: version must not need a configuration.
		if err := run(context.Background(), []string{arg}, func(string) string { return "" }, &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), "gateway "+buildinfo.Version) || !strings.Contains(out.String(), "commit") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
}

func TestRun_Help_PrintsUsage(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "usage: gateway") {
		t.Errorf("help printed %q", out.String())
	}
}

func TestRun_UnknownCommand_ErrorsWithUsage(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"launch"}, func(string) string { return "" }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `unknown command "launch"`) || !strings.Contains(err.Error(), "usage:") {
		t.Errorf("run(launch) = %v, want an unknown-command error with the usage", err)
	}
}

func TestRun_BadEnvironment_ErrorNamesTheVariable(t *testing.T) {
	t.Parallel()
	for _, command := range []string{"serve", "migrate"} {
		getenv := func(name string) string {
			if name == "PORT" {
				return "abc"
			}
			return ""
		}
		err := run(context.Background(), []string{command}, getenv, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "PORT") {
			t.Errorf("%s with PORT=abc = %v, want an error naming PORT", command, err)
		}
	}
}

func TestRun_MigrateStatus_PrintsTheMigrations(t *testing.T) {
	t.Parallel()
	getenv := testGetenv(t, testenv.NewDatabaseURL(t), nil)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "status"}, getenv, &out); err != nil {
		t.Fatalf("migrate status: %v", err)
	}
	if !strings.Contains(out.String(), "00001") || !strings.Contains(out.String(), "00001_initial_schema.sql") ||
		!strings.Contains(out.String(), "applied") {
		t.Errorf("migrate status printed:\n%s", out.String())
	}
}

func TestRun_MigrateDownThenUp_RoundTrips(t *testing.T) {
	t.Parallel()
	getenv := testGetenv(t, testenv.NewDatabaseURL(t), nil)
	ctx := context.Background()
	for _, step := range []string{"redo", "down", "up"} {
		if err := run(ctx, []string{"migrate", step}, getenv, &bytes.Buffer{}); err != nil {
			t.Fatalf("migrate %s: %v", step, err)
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate", "status"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "pending") {
		t.Errorf("pending migrations after down and up:\n%s", out.String())
	}
}

func TestRun_MigrateBadArguments_Error(t *testing.T) {
	t.Parallel()
	getenv := testGetenv(t, testenv.NewDatabaseURL(t), nil)
	for _, args := range [][]string{{"migrate"}, {"migrate", "up", "extra"}, {"migrate", "sideways"}} {
		err := run(context.Background(), args, getenv, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "up") {
			t.Errorf("run(%q) = %v, want an error listing the migrate commands", args, err)
		}
	}
}

func TestRun_Serve_AnswersHealthAndExitsCleanlyOnCancel(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	getenv := testGetenv(t, testenv.NewDatabaseURL(t), map[string]string{"PORT": strconv.Itoa(port)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &testenv.SyncBuffer{}

	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv, stdout) }()

	// Poll /health until the server answers.
	healthURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/health"
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited before answering: %v\n%s", err, stdout)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /health within 20s (last error %v)\n%s", err, stdout)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}

	if err := run(ctx, []string{"healthcheck"}, getenv, &bytes.Buffer{}); err != nil {
		t.Errorf("healthcheck against the running server: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel = %v, want nil (exit code 0)", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return within 15s of cancellation")
	}
	if !strings.Contains(stdout.String(), "gateway listening") || !strings.Contains(stdout.String(), "shutting down") {
		t.Errorf("serve's logs lack the start and shutdown lines:\n%s", stdout)
	}
}

func TestRun_Serve_PortInUse_Errors(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	getenv := testGetenv(t, testenv.NewDatabaseURL(t), map[string]string{"PORT": strconv.Itoa(port)})

	err = run(context.Background(), []string{"serve"}, getenv, &testenv.SyncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "listen on port "+strconv.Itoa(port)) {
		t.Errorf("serve on a busy port = %v, want a listen error naming the port", err)
	}
}

func TestRun_Healthcheck_ClosedPort_Fails(t *testing.T) {
	t.Parallel()
	getenv := func(name string) string {
		if name == "PORT" {
			return strconv.Itoa(freePort(t))
		}
		return ""
	}
	if err := run(context.Background(), []string{"healthcheck"}, getenv, &bytes.Buffer{}); err == nil {
		t.Error("healthcheck against a closed port succeeded")
	}
}

func TestRun_Healthcheck_Non200_Fails(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }),
		ReadHeaderTimeout: time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	err = run(context.Background(), []string{"healthcheck"}, func(name string) string {
		if name == "PORT" {
			return port
		}
		return ""
	}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("healthcheck against a 503 = %v, want an error naming the status", err)
	}
}
