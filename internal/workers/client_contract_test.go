package workers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workers"
)

type recorded struct {
	Seq     int `json:"seq"`
	Request struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Body   json.RawMessage `json:"body"`
	} `json:"request"`
	Response struct {
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	} `json:"response"`
}

func loadBackendToWorker(t *testing.T) []recorded {
	t.Helper()
	f, err := os.Open("../contract/testdata/02-backend-to-worker.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r recorded
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestClient_MatchesRecordedWorkerTraffic plays the existing worker: for each call the
// original backend made, the fake worker checks that our client sends the same method, path
// and body fields, answers with the recorded answer, and the test checks our client reads it.
func TestClient_MatchesRecordedWorkerTraffic(t *testing.T) {
	t.Parallel()
	exchanges := loadBackendToWorker(t)
	var current recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != current.Request.Method || r.URL.Path != current.Request.Path {
			t.Errorf("seq %d: client sent %s %s, recorded %s %s", current.Seq, r.Method, r.URL.Path,
				current.Request.Method, current.Request.Path)
		}
		if r.URL.Path != "/health" && r.Header.Get("Authorization") != "Bearer shared-token" {
			t.Errorf("seq %d: no worker token sent", current.Seq)
		}
		if want := fieldsOf(current.Request.Body); want != nil {
			if got := fieldsOf(body); !reflect.DeepEqual(got, want) {
				t.Errorf("seq %d: body fields %v, recorded %v", current.Seq, got, want)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(current.Response.Status)
		_, _ = w.Write(current.Response.Body)
	}))
	t.Cleanup(srv.Close)

	c := workers.NewClient("shared-token", metrics.New(), slog.New(slog.DiscardHandler))
	target := workers.Target{ID: "worker-orig-1", Endpoint: srv.URL}
	ctx := context.Background()
	const session = "4c4c4ee9-9cfc-4dfe-9e16-f6098f51e9b8-capture-session-1795709889507"

	for _, e := range exchanges {
		current = e
		switch {
		case e.Request.Path == "/health":
			h, err := c.Health(ctx, target.ID, srv.URL)
			if err != nil || h.Status != "healthy" || h.WorkerID != "worker-orig-1" {
				t.Fatalf("seq %d health: %+v %v", e.Seq, h, err)
			}
		case strings.HasSuffix(e.Request.Path, "/sessions/start"):
			state, err := c.StartSession(ctx, target, protocol.StartSessionRequest{SessionID: session,
				UserID: "4c4c4ee9-9cfc-4dfe-9e16-f6098f51e9b8", SessionName: "Capture Session"})
			if err != nil || state.Status != "initializing" || state.SessionID != session {
				t.Fatalf("seq %d start: %+v %v", e.Seq, state, err)
			}
		case strings.HasSuffix(e.Request.Path, "/status"):
			state, err := c.SessionStatus(ctx, target, session)
			status, _, ok := protocol.ParseSessionStatus(state.Status)
			if err != nil || !ok || status != model.SessionReconnecting {
				t.Fatalf("seq %d status: %+v %v", e.Seq, state, err)
			}
		case strings.HasSuffix(e.Request.Path, "/send"):
			text := "hello from capture"
			_, err := c.Send(ctx, target, session, protocol.SendRequest{To: "6281234567890@s.whatsapp.net",
				Type: protocol.SendText, Message: &text, ClientMessageID: "c3d9c0de-0000-4000-8000-000000000001"})
			var me *model.Error
			if model.KindOf(err) != model.KindWorker || !errors.As(err, &me) ||
				!strings.Contains(me.Message, "Session not connected. Status: reconnecting") {
				t.Fatalf("seq %d send: want worker_error passing the worker's message, got %v", e.Seq, err)
			}
		case strings.HasSuffix(e.Request.Path, "/disconnect"):
			state, err := c.Disconnect(ctx, target, session)
			if err != nil || state.Status != "disconnected" {
				t.Fatalf("seq %d disconnect: %+v %v", e.Seq, state, err)
			}
		case strings.HasSuffix(e.Request.Path, "/logout"):
			state, err := c.Logout(ctx, target, session)
			if err != nil || state.Status != "disconnected" {
				t.Fatalf("seq %d logout: %+v %v", e.Seq, state, err)
			}
		default:
			t.Fatalf("seq %d: no client call for %s %s", e.Seq, e.Request.Method, e.Request.Path)
		}
	}
}

// fieldsOf lists the top-level fields of a JSON object body, the client's own additions
// (clientMessageId, which the existing worker ignores) aside.
func fieldsOf(raw []byte) map[string]bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil
	}
	out := map[string]bool{}
	for k := range m {
		if k != "clientMessageId" {
			out[k] = true
		}
	}
	return out
}
