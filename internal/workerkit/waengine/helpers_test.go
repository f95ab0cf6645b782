package waengine

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workerkit/waengine/fakewa"
)

const waitLong = 15 * time.Second

// recorder is the Events sink of the tests: every event, in order.
type recorder struct {
	mu      sync.Mutex
	events  []any
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) add(ev any) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) SessionStatus(ev protocol.SessionEvent)       { r.add(ev) }
func (r *recorder) MessageStatus(ev protocol.MessageStatusEvent) { r.add(ev) }
func (r *recorder) IncomingMessage(msg protocol.IncomingMessage) { r.add(msg) }

// eventsOf returns the recorded events of type T that keep says to keep.
func eventsOf[T any](r *recorder, keep func(T) bool) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []T
	for _, ev := range r.events {
		if t, ok := ev.(T); ok && keep(t) {
			out = append(out, t)
		}
	}
	return out
}

func (r *recorder) sessionEvents(sessionID string) []protocol.SessionEvent {
	return eventsOf(r, func(ev protocol.SessionEvent) bool { return ev.SessionID == sessionID })
}

func (r *recorder) messageStatuses() []protocol.MessageStatusEvent {
	return eventsOf(r, func(protocol.MessageStatusEvent) bool { return true })
}

// waitFor waits until cond holds on the recorder, failing the test after timeout.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond) // for conditions that are not events
	defer poll.Stop()
	for !cond() {
		select {
		case <-r.changed:
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; events: %+v", what, r.describe())
		}
	}
}

// waitStatus waits for the n-th (from 1) event of a session with the given status.
func (r *recorder) waitStatus(t *testing.T, sessionID string, status model.SessionStatus, n int) protocol.SessionEvent {
	t.Helper()
	var found protocol.SessionEvent
	r.waitFor(t, string(status)+" of "+sessionID, func() bool {
		seen := 0
		for _, ev := range r.sessionEvents(sessionID) {
			if ev.Status == string(status) {
				seen++
				if seen == n {
					found = ev
					return true
				}
			}
		}
		return false
	})
	return found
}

func (r *recorder) describe() string {
	var b strings.Builder
	for _, ev := range eventsOf(r, func(protocol.SessionEvent) bool { return true }) {
		b.WriteString(ev.SessionID + ":" + ev.Status)
		if ev.Reason != nil {
			b.WriteString("(" + *ev.Reason + ")")
		}
		b.WriteString(" ")
	}
	return b.String()
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newTestEngine is an engine on a fresh database whose clients reach srv (nil: the real
// WhatsApp), with quick reconnects and no pacing.
func newTestEngine(t *testing.T, databaseURL string, srv *fakewa.Server) (*Engine, *recorder) {
	t.Helper()
	if databaseURL == "" {
		databaseURL = testenv.NewDatabaseURL(t)
	}
	cfg := Config{
		DatabaseURL: databaseURL,
		Reconnect:   ReconnectPolicy{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		Pacing:      Pacing{Interval: -1},
		Logger:      slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if srv != nil {
		cfg.PrepareClient = srv.Prepare
	}
	e, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := newRecorder()
	e.SetEvents(rec)
	t.Cleanup(e.Close)
	return e, rec
}

// link starts a session and scans its QR on the fake; it returns the device's JID once the
// session is connected.
func link(t *testing.T, e *Engine, rec *recorder, srv *fakewa.Server, sessionID string) types.JID {
	t.Helper()
	if _, _, err := e.Start(t.Context(), sessionID, "user-1", "Shop"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	qr := rec.waitStatus(t, sessionID, model.SessionQRRequired, 1)
	jid, err := srv.Scan(*qr.QRCode)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	rec.waitStatus(t, sessionID, model.SessionConnected, 1)
	return jid
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func textTo(to, text string) protocol.SendRequest {
	return protocol.SendRequest{To: to, Type: protocol.SendText, Message: &text}
}

// linkedSession is a session s1 linked on a fake server.
func linkedSession(t *testing.T) (*fakewa.Server, *Engine, *recorder, types.JID) {
	t.Helper()
	srv := fakewa.Start(t)
	e, rec := newTestEngine(t, "", srv)
	return srv, e, rec, link(t, e, rec, srv, "s1")
}
