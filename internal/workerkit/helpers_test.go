package workerkit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/workerkittest"
)

const (
	sharedToken = "test-shared-worker-token-0123456789abcdef"
	waitLong    = 5 * time.Second
)

// testWorker is a worker running in-process on 127.0.0.1, with a simulated engine, against
// a fake backend.
type testWorker struct {
	URL     string
	ID      string
	Engine  *simengine.Engine
	Backend *workerkittest.Backend

	cancel   context.CancelFunc
	crash    chan struct{}
	done     chan error
	stopOnce sync.Once
	runErr   error
}

type workerOptions struct {
	engine simengine.Config
	kit    func(*workerkit.Config)
	// noServingWait: do not wait for /health (the worker may stop at once).
	noServingWait bool
}

func fastEngine() simengine.Config {
	return simengine.Config{
		ConnectDelay: 30 * time.Millisecond,
		QRInterval:   time.Hour,
		ReceiptDelay: 5 * time.Millisecond,
	}
}

// startWorker runs a worker until the test ends.
func startWorker(t *testing.T, backend *workerkittest.Backend, opts workerOptions) *testWorker {
	t.Helper()
	if opts.engine == (simengine.Config{}) {
		opts.engine = fastEngine()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWorker{
		URL:     "http://" + ln.Addr().String(),
		ID:      "test-worker-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-"),
		Engine:  simengine.New(opts.engine),
		Backend: backend,
		crash:   make(chan struct{}),
		done:    make(chan error, 1),
	}
	if len(tw.ID) > 50 {
		tw.ID = tw.ID[:50]
	}
	cfg := workerkit.Config{
		WorkerID:          tw.ID,
		Endpoint:          tw.URL,
		Listener:          ln,
		BackendURL:        backend.URL,
		SharedToken:       sharedToken,
		MaxSessions:       10,
		Version:           "1.2.3",
		HeartbeatInterval: 25 * time.Millisecond,
		ShutdownTimeout:   3 * time.Second,
		RetryBackoff:      5 * time.Millisecond,
		MaxRetryBackoff:   40 * time.Millisecond,
		Engine:            tw.Engine,
		Crash:             tw.crash,
	}
	if opts.kit != nil {
		opts.kit(&cfg)
	}
	ctx, cancel := context.WithCancel(t.Context())
	tw.cancel = cancel
	go func() { tw.done <- workerkit.Run(ctx, cfg) }()
	t.Cleanup(func() {
		// Tests that care check what Run returned themselves.
		_ = tw.Stop(t)
		tw.Engine.Close()
	})
	if opts.noServingWait {
		return tw
	}
	// Serving means the engine has its event sink: events from here on are reported.
	workerkittest.Eventually(t, waitLong, func() bool {
		a, err := tw.do(t.Context(), http.MethodGet, "/health", nil, "")
		return err == nil && a.Status == http.StatusOK
	}, "the worker serving")
	return tw
}

// Stop shuts the worker down gracefully and returns what Run returned.
func (tw *testWorker) Stop(t *testing.T) error {
	t.Helper()
	tw.stopOnce.Do(func() {
		tw.cancel()
		tw.runErr = tw.wait(t)
	})
	return tw.runErr
}

// Crash closes the crash channel and returns what Run returned.
func (tw *testWorker) Crash(t *testing.T) error {
	t.Helper()
	tw.stopOnce.Do(func() {
		close(tw.crash)
		tw.runErr = tw.wait(t)
		tw.cancel()
	})
	return tw.runErr
}

func (tw *testWorker) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-tw.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop within 10s")
		return nil
	}
}

// waitRegistered waits until the worker knows it is registered: its first heartbeat (the
// backend accepting the registration is not enough, the answer may still be on its way).
func (tw *testWorker) waitRegistered(t *testing.T) {
	t.Helper()
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(tw.Backend.Requests(http.MethodPut, "/api/v1/workers/"+tw.ID+"/heartbeat")) > 0
	}, "registration and a first heartbeat")
}

// answer is a decoded worker answer.
type answer struct {
	Status  int             `json:"-"`
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Raw []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", a.Data, err)
	}
}

// call calls the worker's API with the shared token.
func (tw *testWorker) call(t *testing.T, method, path string, body any) answer {
	t.Helper()
	return tw.callWith(t, t.Context(), method, path, body, sharedToken)
}

func (tw *testWorker) callWith(t *testing.T, ctx context.Context, method, path string, body any, token string) answer {
	t.Helper()
	a, err := tw.do(ctx, method, path, body, token)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func (tw *testWorker) do(ctx context.Context, method, path string, body any, token string) (answer, error) {
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, tw.URL+path, reader)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{Status: resp.StatusCode, Raw: raw}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, errors.New("answer is not JSON: " + string(raw))
	}
	return a, nil
}

// startSession starts a session through the API and waits until it is connected.
func (tw *testWorker) startConnected(t *testing.T, sessionID string) {
	t.Helper()
	a := tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: sessionID, UserID: "u1", SessionName: "Shop"})
	if a.Status != http.StatusCreated {
		t.Fatalf("start %s: %d %s", sessionID, a.Status, a.Raw)
	}
	workerkittest.Eventually(t, waitLong, func() bool {
		st, err := tw.Engine.Status(t.Context(), sessionID)
		return err == nil && st.Status == "connected"
	}, "session %s connected", sessionID)
}

// statuses lists the statuses of the session's accepted events, in order.
func statuses(events []protocol.SessionEvent, sessionID string) []string {
	var out []string
	for _, ev := range events {
		if ev.SessionID == sessionID {
			out = append(out, ev.Status)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
