package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/workerkittest"
)

const waitLong = 5 * time.Second

// syncBuffer is the program's stdout, read while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// started is a simworker run in-process.
type started struct {
	endpoint string
	workerID string
	stdout   *syncBuffer
	cancel   context.CancelFunc
	done     chan error
}

func startSimworker(t *testing.T, backend *workerkittest.Backend, token string, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &started{stdout: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	vars := map[string]string{"BACKEND_URL": backend.URL, "LOG_LEVEL": "debug"}
	if token != "" {
		vars["WORKER_AUTH_TOKEN"] = token
	}
	args = append([]string{"-port", "0", "-heartbeat-interval", "20ms", "-connect-delay", "10ms", "-receipt-delay", "5ms"}, args...)
	go func() { s.done <- run(ctx, args, env(vars), s.stdout) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil && !errors.Is(err, workerkit.ErrCrashed) {
				t.Errorf("run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("simworker did not stop")
		}
	})
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Accepted("/api/v1/workers/register")) > 0
	}, "registration")
	var reg protocol.RegisterRequest
	if err := json.Unmarshal(backend.Accepted("/api/v1/workers/register")[0].Body, &reg); err != nil {
		t.Fatal(err)
	}
	s.endpoint, s.workerID = reg.Endpoint, reg.WorkerID
	// The first heartbeat proves the worker got the registration's answer.
	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.Heartbeats(s.workerID)) > 0 }, "a heartbeat")
	return s
}

func (s *started) call(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.endpoint+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestRun_RegistersServesAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, config.DefaultWorkerAuthToken)
	s := startSimworker(t, backend, "")

	if !strings.HasPrefix(s.workerID, "sim-") || !strings.HasPrefix(s.endpoint, "http://127.0.0.1:") ||
		!strings.HasSuffix(s.workerID, s.endpoint[strings.LastIndex(s.endpoint, ":")+1:]) {
		t.Errorf("worker %q at %q: want sim-<host>-<port> at http://127.0.0.1:<port>", s.workerID, s.endpoint)
	}
	code, body := s.call(t, http.MethodPost, "/api/sessions/start", config.DefaultWorkerAuthToken, map[string]string{"sessionId": "s1"})
	if code != http.StatusCreated {
		t.Fatalf("start = %d %v", code, body)
	}
	workerkittest.Eventually(t, waitLong, func() bool {
		for _, ev := range backend.SessionEvents() {
			if ev.Status == "CONNECTED" {
				return true
			}
		}
		return false
	}, "CONNECTED")
	code, _ = s.call(t, http.MethodPost, "/api/sessions/s1/send", config.DefaultWorkerAuthToken,
		map[string]string{"to": "6281234567890", "type": "text", "message": "hi", "clientMessageId": "c1"})
	if code != http.StatusOK {
		t.Fatalf("send = %d", code)
	}

	code, body = s.call(t, http.MethodGet, "/admin/stats", config.DefaultWorkerAuthToken, nil)
	data, _ := body["data"].(map[string]any)
	if code != http.StatusOK || data["sentTotal"] != 1.0 || data["connected"] != 1.0 {
		t.Errorf("stats = %d %v", code, body)
	}
	if code, _ := s.call(t, http.MethodGet, "/admin/stats", "wrong", nil); code != http.StatusUnauthorized {
		t.Errorf("stats without the token = %d", code)
	}

	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
		s.done <- nil
	case <-time.After(waitLong):
		t.Fatal("run did not return after cancel")
	}
	if len(backend.Accepted("/api/v1/workers/"+s.workerID+"/sessions-preserved")) != 1 ||
		len(backend.Accepted("/api/v1/workers/unregister")) != 1 {
		t.Error("no sessions-preserved and unregister at shutdown")
	}
	logs := s.stdout.String()
	if !strings.Contains(logs, `"service":"simworker"`) || !strings.Contains(logs, `"msg":"worker listening"`) {
		t.Errorf("logs are not the simworker's JSON logs:\n%s", logs)
	}
	if strings.Contains(logs, config.DefaultWorkerAuthToken) {
		t.Error("the token was logged")
	}
}

func TestRun_AdminFaults(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, "custom-token")
	s := startSimworker(t, backend, "custom-token", "-latency", "1ms")
	code, body := s.call(t, http.MethodGet, "/admin/faults", "custom-token", nil)
	if data, _ := body["data"].(map[string]any); code != http.StatusOK || data["latency"] != "1ms" {
		t.Errorf("faults = %d %v", code, body)
	}
	for _, c := range []struct {
		body any
		code int
		want map[string]any
	}{
		{map[string]any{"latency": "200ms", "failSends": true}, 200, map[string]any{"latency": "200ms", "failSends": true, "hang": false}},
		{map[string]any{"latency": 50, "hang": true}, 200, map[string]any{"latency": "50ms", "failSends": true, "hang": true}},
		{map[string]any{"latency": "0s", "failSends": false, "hang": false}, 200, map[string]any{"latency": "0s", "failSends": false, "hang": false}},
		{map[string]any{"latency": "soon"}, 400, nil},
		{map[string]any{"latency": true}, 400, nil},
		{map[string]any{"latency": "-1s"}, 400, nil},
	} {
		code, body := s.call(t, http.MethodPost, "/admin/faults", "custom-token", c.body)
		if code != c.code {
			t.Errorf("faults %v = %d %v", c.body, code, body)
			continue
		}
		if c.want != nil {
			data, _ := body["data"].(map[string]any)
			for k, v := range c.want {
				if data[k] != v {
					t.Errorf("faults %v: %s = %v, want %v", c.body, k, data[k], v)
				}
			}
		}
	}
}

func TestRun_AdminFailSends_SendAnswers500(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, config.DefaultWorkerAuthToken)
	s := startSimworker(t, backend, "", "-fail-sends")
	s.call(t, http.MethodPost, "/api/sessions/start", config.DefaultWorkerAuthToken, map[string]string{"sessionId": "s1"})
	code, body := s.call(t, http.MethodPost, "/api/sessions/s1/send", config.DefaultWorkerAuthToken,
		map[string]string{"to": "6281234567890", "type": "text", "message": "hi"})
	if code != http.StatusInternalServerError {
		t.Errorf("send with -fail-sends = %d %v", code, body)
	}
}

func TestRun_AdminDie_StopsWithoutUnregistering(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, config.DefaultWorkerAuthToken)
	s := startSimworker(t, backend, "")
	code, _ := s.call(t, http.MethodPost, "/admin/die", config.DefaultWorkerAuthToken, nil)
	if code != http.StatusAccepted {
		t.Errorf("die = %d", code)
	}
	select {
	case err := <-s.done:
		if !errors.Is(err, workerkit.ErrCrashed) {
			t.Errorf("run = %v, want ErrCrashed", err)
		}
		s.done <- err
	case <-time.After(waitLong):
		t.Fatal("run did not return after die")
	}
	if n := len(backend.Requests(http.MethodDelete, "/api/v1/workers/unregister")); n != 0 {
		t.Error("a dead worker unregistered")
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.endpoint+"/health", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Error("a dead worker still serves")
	}
}

func TestRun_HelpAndBadInput(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, env(nil), &out); err != nil || !strings.Contains(out.String(), "-connect-delay") {
		t.Errorf("-h: %v\n%s", err, out.String())
	}
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-nope"}, nil, "flag provided but not defined"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"-port", "70000"}, nil, "out of range"},
		{nil, map[string]string{"PORT": "eighty"}, "PORT"},
		{nil, map[string]string{"CONNECT_DELAY": "soon"}, "CONNECT_DELAY"},
		{nil, map[string]string{"FAIL_SENDS": "maybe"}, "FAIL_SENDS"},
		{nil, map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{[]string{"-port", "0", "-backend", "not a url"}, nil, "backend URL"},
	}
	for _, c := range cases {
		err := run(t.Context(), c.args, env(c.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %v %v = %v, want an error naming %s", c.args, c.env, err, c.want)
		}
	}
}

func TestParseOptions_FlagsWinOverEnvironment(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"PORT": "9001", "WORKER_ID": "from-env", "WORKER_ENDPOINT": "http://env:9001", "BACKEND_URL": "http://env-backend",
		"WORKER_AUTH_TOKEN": "env-token", "MAX_SESSIONS": "7", "CONNECT_DELAY": "1500", "QR_INTERVAL": "5s",
		"RECEIPT_DELAY": "250ms", "INCOMING_EVERY": "1m", "LATENCY": "10ms", "FAIL_SENDS": "true", "HEARTBEAT_INTERVAL": "15000",
		"LOG_LEVEL": "warn",
	}
	o, err := parseOptions(nil, env(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != 9001 || o.WorkerID != "from-env" || o.Endpoint != "http://env:9001" || o.BackendURL != "http://env-backend" ||
		o.Token != "env-token" || o.MaxSessions != 7 || o.connectDelay != 1500*time.Millisecond || o.qrInterval != 5*time.Second ||
		o.receiptDelay != 250*time.Millisecond || o.incomingEvery != time.Minute || o.latency != 10*time.Millisecond ||
		!o.failSends || o.HeartbeatInterval != 15*time.Second {
		t.Errorf("from the environment: %+v", o)
	}
	o, err = parseOptions([]string{"-port", "9002", "-worker-id", "from-flag", "-endpoint", "http://flag:9002", "-backend", "http://flag-backend",
		"-max-sessions", "3", "-connect-delay", "2s", "-qr-interval", "1s", "-receipt-delay", "1ms", "-incoming-every", "0s",
		"-latency", "0s", "-fail-sends=false", "-heartbeat-interval", "1s"}, env(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != 9002 || o.WorkerID != "from-flag" || o.Endpoint != "http://flag:9002" || o.BackendURL != "http://flag-backend" ||
		o.MaxSessions != 3 || o.connectDelay != 2*time.Second || o.qrInterval != time.Second || o.receiptDelay != time.Millisecond ||
		o.incomingEvery != 0 || o.latency != 0 || o.failSends || o.HeartbeatInterval != time.Second || o.Token != "env-token" {
		t.Errorf("flags over the environment: %+v", o)
	}
	o, err = parseOptions(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != 8001 || o.BackendURL != "http://127.0.0.1:8000" || o.Token != config.DefaultWorkerAuthToken ||
		o.connectDelay != simengine.DefaultConnectDelay || o.qrInterval != 20*time.Second || o.HeartbeatInterval != 30*time.Second ||
		o.MaxSessions != 50 {
		t.Errorf("defaults: %+v", o)
	}
	if id := defaultWorkerID(8001); !strings.HasPrefix(id, "sim-") || !strings.HasSuffix(id, "-8001") || len(id) > 50 {
		t.Errorf("default worker ID %q", id)
	}
}
