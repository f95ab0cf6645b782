//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// sendRecord is one message a worker's engine really sent (a deduplicated retry is not one).
type sendRecord struct {
	worker  string
	session string
	seq     int64 // global order of sends across every worker of the scenario
}

// sendLedger is what every simulated worker of a scenario sent, by our message ID (the
// clientMessageId the gateway gives the worker), in the order it happened.
type sendLedger struct {
	mu      sync.Mutex
	seq     int64
	sends   map[string][]sendRecord
	dedups  int
	perSess map[string]int
}

func newSendLedger() *sendLedger {
	return &sendLedger{sends: map[string][]sendRecord{}, perSess: map[string]int{}}
}

func (l *sendLedger) record(worker, session, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.sends[id] = append(l.sends[id], sendRecord{worker: worker, session: session, seq: l.seq})
	l.perSess[session]++
}

func (l *sendLedger) dedup() {
	l.mu.Lock()
	l.dedups++
	l.mu.Unlock()
}

// get returns the sends of a message.
func (l *sendLedger) get(id string) []sendRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sendRecord(nil), l.sends[id]...)
}

// total is the number of sends recorded.
func (l *sendLedger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.sends {
		n += len(s)
	}
	return n
}

// recordingEngine is the simulated engine with every real send recorded in the ledger. Once
// dead (its worker crashed) it sends nothing more, like a killed process.
type recordingEngine struct {
	*simengine.Engine
	worker string
	ledger *sendLedger
	dead   atomic.Bool

	mu   sync.Mutex
	seen map[string]bool
}

// Send implements workerkit.Engine.
func (e *recordingEngine) Send(ctx context.Context, sessionID string, req protocol.SendRequest) (protocol.SendResult, error) {
	if e.dead.Load() {
		return protocol.SendResult{}, errors.New("worker is dead")
	}
	res, err := e.Engine.Send(ctx, sessionID, req)
	if err != nil || req.ClientMessageID == "" {
		return res, err
	}
	e.mu.Lock()
	again := e.seen[req.ClientMessageID]
	e.seen[req.ClientMessageID] = true
	e.mu.Unlock()
	if again {
		e.ledger.dedup() // the engine answered its first result and sent nothing
	} else {
		e.ledger.record(e.worker, sessionID, req.ClientMessageID)
	}
	return res, nil
}

// Answer faults a worker's proxy can put on sends.
const (
	answerNormal           int32 = iota
	answerStatus500              // 500 with an error body, the send not performed
	answerGarbage                // 200 with a body that is not JSON, the send not performed
	answerGarbageAfterSend       // the send performed, then 200 with a body that is not JSON
)

// simWorker is a simulated worker (workerkit + simengine) running in this process, reached by
// the gateway through a proxy that can mangle its answers.
type simWorker struct {
	ID       string
	Engine   *recordingEngine
	Endpoint string

	answer atomic.Int32
	proxy  *httptest.Server
	// garbled are the clientMessageIds of sends performed and then answered with garbage.
	garbled sync.Map
	crash   chan struct{}
	cancel  context.CancelFunc
	done    chan error
	crashed sync.Once
	stopped sync.Once
}

// workerOptions shape a simulated worker.
type workerOptions struct {
	MaxSessions  int
	ReceiptDelay time.Duration // 0: no receipts
	Latency      time.Duration
}

// startWorker starts a worker against backendURL and waits until the gateway lists it ONLINE.
func (sc *scenario) startWorker(t testing.TB, backendURL, id string, opts workerOptions) *simWorker {
	t.Helper()
	if opts.MaxSessions == 0 {
		opts.MaxSessions = 50
	}
	receipts := opts.ReceiptDelay
	if receipts == 0 {
		receipts = -1
	}
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	engine := &recordingEngine{
		Engine: simengine.New(simengine.Config{ConnectDelay: 150 * time.Millisecond, QRInterval: time.Hour,
			ReceiptDelay: receipts, Faults: simengine.Faults{Latency: opts.Latency}}),
		worker: id, ledger: sc.ledger, seen: map[string]bool{},
	}
	w := &simWorker{ID: id, Engine: engine, crash: make(chan struct{}), done: make(chan error, 1)}
	target, _ := url.Parse("http://" + ln.Addr().String())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = nil
	w.proxy = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		isSend := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/send")
		mode := w.answer.Load()
		switch {
		case !isSend || mode == answerNormal:
			rp.ServeHTTP(rw, r)
		case mode == answerStatus500:
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusInternalServerError)
			_, _ = rw.Write([]byte(`{"success":false,"error":"chaos: the engine blew up"}`))
		case mode == answerGarbage:
			rw.Header().Set("Content-Type", "application/json")
			_, _ = rw.Write([]byte(`{"success":tru`))
		case mode == answerGarbageAfterSend:
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			var req protocol.SendRequest
			if rec.Code == http.StatusOK && json.Unmarshal(body, &req) == nil && req.ClientMessageID != "" {
				w.garbled.Store(req.ClientMessageID, true)
			}
			rw.Header().Set("Content-Type", "application/json")
			_, _ = rw.Write([]byte("\x00\xff not json " + string(bytes.ToUpper(rec.Body.Bytes()[:min(8, rec.Body.Len())]))))
		}
	}))
	w.Endpoint = w.proxy.URL

	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		w.done <- workerkit.Run(ctx, workerkit.Config{
			WorkerID: id, Endpoint: w.Endpoint, Listener: ln, BackendURL: backendURL, SharedToken: workerToken,
			MaxSessions: opts.MaxSessions, HeartbeatInterval: time.Second, ShutdownTimeout: 5 * time.Second,
			RetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Engine: engine, Crash: w.crash,
		})
	}()
	sc.workers = append(sc.workers, w)
	if !waitFor(context.Background(), 30*time.Second, func() bool {
		var status string
		err := sc.db.QueryRow(context.Background(), `SELECT status::text FROM workers WHERE endpoint = $1`, w.Endpoint).Scan(&status)
		return err == nil && status == "ONLINE"
	}) {
		t.Fatalf("worker %s did not register ONLINE within 30 s", id)
	}
	return w
}

// garbledAny reports whether one of ids was performed and answered with garbage.
func (w *simWorker) garbledAny(ids []string) bool {
	for _, id := range ids {
		if _, ok := w.garbled.Load(id); ok {
			return true
		}
	}
	return false
}

// Crash kills the worker like SIGKILL: its engine stops sending, every connection is cut,
// nothing is said to the gateway, and its endpoint refuses connections from then on.
func (w *simWorker) Crash() {
	w.crashed.Do(func() {
		w.Engine.dead.Store(true)
		close(w.crash)
		if err := <-w.done; !errors.Is(err, workerkit.ErrCrashed) {
			panic(fmt.Sprintf("worker %s: crash ended with %v", w.ID, err))
		}
		w.proxy.CloseClientConnections()
		w.proxy.Close()
		w.Engine.Close()
	})
}

// stop ends the worker at the end of its scenario.
func (w *simWorker) stop() {
	w.stopped.Do(func() {
		select {
		case <-w.crash:
			return
		default:
		}
		w.cancel()
		select {
		case err := <-w.done:
			_ = err // a worker's goodbye may fail when its gateway is gone already
		case <-time.After(10 * time.Second):
		}
		w.proxy.CloseClientConnections()
		w.proxy.Close()
		w.Engine.Close()
	})
}
