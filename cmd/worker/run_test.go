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
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workerkit/waengine/fakewa"
	"github.com/wagateway/gateway/internal/workerkit/workerkittest"
)

const waitLong = 15 * time.Second

// worker is a worker run in-process.
type worker struct {
	endpoint string
	stop     func() error
}

func startWorker(t *testing.T, backend *workerkittest.Backend, vars map[string]string, args ...string) *worker {
	t.Helper()
	registered := len(backend.Accepted("/api/v1/workers/register"))
	ctx, cancel := context.WithCancel(t.Context())
	out := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	env := map[string]string{"BACKEND_URL": backend.URL, "LOG_LEVEL": "debug"}
	for k, v := range vars {
		env[k] = v
	}
	args = append([]string{"-port", "0", "-heartbeat-interval", "50ms"}, args...)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, out) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitLong):
				runErr = errors.New("worker did not stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run = %v", err)
		}
		if t.Failed() {
			t.Logf("worker output:\n%s", out.String())
		}
	})
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Accepted("/api/v1/workers/register")) > registered
	}, "registration")
	var reg protocol.RegisterRequest
	accepted := backend.Accepted("/api/v1/workers/register")
	if err := json.Unmarshal(accepted[len(accepted)-1].Body, &reg); err != nil {
		t.Fatal(err)
	}
	return &worker{endpoint: reg.Endpoint, stop: stop}
}

func (w *worker) post(t *testing.T, path string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, w.endpoint+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+config.DefaultWorkerAuthToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func sessionEvent(backend *workerkittest.Backend, status string) *protocol.SessionEvent {
	for _, ev := range backend.SessionEvents() {
		if ev.Status == status {
			return &ev
		}
	}
	return nil
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	o, err := parseOptions(nil, func(k string) string {
		return map[string]string{"DATABASE_URL": "postgres://db", "WA_SEND_INTERVAL": "250", "WA_IDENTICAL_LIMIT": "-1"}[k]
	}, io.Discard)
	if err != nil || o.engine != engineWhatsmeow || o.databaseURL != "postgres://db" || o.sendInterval != 250*time.Millisecond ||
		o.identicalLimit != -1 || o.deviceName != "WA Gateway" || o.historySync {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	o, err = parseOptions([]string{"-engine", "sim", "-port", "0"}, func(string) string { return "" }, io.Discard)
	if err != nil || o.engine != engineSim {
		t.Errorf("-engine sim = %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-engine", "baileys"}, {"-port", "70000", "-engine", "sim"}, {"extra", "-engine", "sim"}, {}} {
		if _, err := parseOptions(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("parseOptions(%q) accepted", bad)
		}
	}
	if _, err := parseOptions(nil, func(k string) string { return map[string]string{"WA_HISTORY_SYNC": "maybe"}[k] }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "WA_HISTORY_SYNC") {
		t.Errorf("bad WA_HISTORY_SYNC = %v, want it named", err)
	}
	if err := run(t.Context(), []string{"-h"}, func(string) string { return "" }, io.Discard); err != nil {
		t.Errorf("-h = %v", err)
	}
}

func TestRun_SimEngine_RegistersAndSaysGoodbye(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, config.DefaultWorkerAuthToken)
	w := startWorker(t, backend, nil, "-engine", "sim", "-connect-delay", "10ms")
	if code, body := w.post(t, "/api/sessions/start", map[string]string{"sessionId": "s1"}); code != http.StatusCreated {
		t.Fatalf("start = %d %v", code, body)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return sessionEvent(backend, "CONNECTED") != nil }, "CONNECTED")
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	if len(backend.Accepted("/api/v1/workers/unregister")) != 1 {
		t.Error("the worker did not unregister")
	}
}

// TestRun_Whatsmeow_LinksThenPreservesAndRecoversTheSession is the worker's whole life on
// the real engine against the fake WhatsApp server: a session is linked by QR, SIGTERM
// reports it preserved, and the next start resumes it from the shared database.
func TestRun_Whatsmeow_LinksThenPreservesAndRecoversTheSession(t *testing.T) {
	srv := fakewa.Start(t)
	prepareClient = srv.Prepare // not parallel: a package variable
	t.Cleanup(func() { prepareClient = nil })
	backend := workerkittest.NewBackend(t, config.DefaultWorkerAuthToken)
	vars := map[string]string{"WA_DATABASE_URL": testenv.NewDatabaseURL(t)}

	w := startWorker(t, backend, vars)
	if code, body := w.post(t, "/api/sessions/start", map[string]string{"sessionId": "s1", "userId": "u1"}); code != http.StatusCreated {
		t.Fatalf("start = %d %v", code, body)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return sessionEvent(backend, "QR_REQUIRED") != nil }, "a QR event")
	jid, err := srv.Scan(*sessionEvent(backend, "QR_REQUIRED").QRCode)
	if err != nil {
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return sessionEvent(backend, "CONNECTED") != nil }, "CONNECTED")
	if phone := sessionEvent(backend, "CONNECTED").PhoneNumber; phone == nil || *phone != "+"+jid.User {
		t.Errorf("connected as %v, want +%s", phone, jid.User)
	}

	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	var goodbye protocol.SessionsPreservedRequest
	found := false
	for _, r := range backend.Requests(http.MethodPost, "") {
		if strings.HasSuffix(r.Path, "/sessions-preserved") {
			found = json.Unmarshal(r.Body, &goodbye) == nil
		}
	}
	if !found || len(goodbye.PreservedSessions) != 1 || string(goodbye.PreservedSessions[0]) != "s1" {
		t.Fatalf("sessions-preserved = %+v (found %v), want s1", goodbye, found)
	}

	backend.RequireRecovery(protocol.AssignedSession{SessionID: "s1", UserID: "u1", Status: "CONNECTED"})
	before := len(backend.SessionEvents())
	startWorker(t, backend, vars)
	var report protocol.RecoveryStatusRequest
	workerkittest.Eventually(t, waitLong, func() bool {
		for _, r := range backend.Requests(http.MethodPost, "") {
			if strings.HasSuffix(r.Path, "/sessions/recovery-status") && json.Unmarshal(r.Body, &report) == nil {
				return true
			}
		}
		return false
	}, "a recovery report")
	if len(report.RecoveryResults) != 1 || report.RecoveryResults[0].Status != "SUCCESS" {
		t.Errorf("recovery = %+v, want s1 SUCCESS", report)
	}
	workerkittest.Eventually(t, waitLong, func() bool {
		evs := backend.SessionEvents()[before:]
		for _, ev := range evs {
			if ev.Status == "QR_REQUIRED" {
				return false
			}
		}
		for _, ev := range evs {
			if ev.Status == "CONNECTED" {
				return true
			}
		}
		return false
	}, "CONNECTED again without a QR")
}
