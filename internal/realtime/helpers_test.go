package realtime_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/testenv"
)

// Helpers of the real-time tests (prefix rt).

var rtSeq atomic.Int64

func rtEnv(env map[string]string) map[string]string {
	merged := map[string]string{"AUTH_RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_MAX_REQUESTS": "100000000"}
	maps.Copy(merged, env)
	return merged
}

func rtGateway(t testing.TB) *testenv.Gateway {
	t.Helper()
	return testenv.NewGateway(t, testenv.Options{Env: rtEnv(nil)})
}

// rtReplica is another replica of g: same database, same Redis prefix.
func rtReplica(t testing.TB, g *testenv.Gateway) *testenv.Gateway {
	t.Helper()
	return testenv.NewGateway(t, testenv.Options{DatabaseURL: g.DatabaseURL, KeyPrefix: g.KeyPrefix, Env: rtEnv(nil)})
}

type rtUser struct {
	ID, Token, SessionID string
}

// rtNewUser registers a user with a session through the API; admin promotes it.
func rtNewUser(t testing.TB, g *testenv.Gateway, admin bool) rtUser {
	t.Helper()
	n := rtSeq.Add(1)
	res := g.Do(t, http.MethodPost, "/api/v1/auth/register", map[string]any{
		"name": "Live Tester", "email": fmt.Sprintf("live-%d-%d@example.com", time.Now().UnixNano(), n), "password": "Sup3r-Secret!",
	})
	if res.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	u := rtUser{ID: data["user"].(map[string]any)["id"].(string), Token: data["token"].(string)}
	res = g.Do(t, http.MethodPost, "/api/v1/sessions", map[string]any{"name": "Live", "sessionId": fmt.Sprintf("live-%d", n)},
		"Authorization", "Bearer "+u.Token)
	if res.Code != http.StatusCreated {
		t.Fatalf("create session: %d %s", res.Code, res.Body)
	}
	u.SessionID = res.JSON(t)["data"].(map[string]any)["sessionId"].(string)
	if admin {
		if _, err := g.DB.Exec(context.Background(), `UPDATE users SET role = 'ADMINISTRATOR' WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// rtRaise publishes an event on g's bus, as the gateway's producers do.
func rtRaise(g *testenv.Gateway, typ, sessionID, userID string, payload map[string]any) {
	g.Bus.Publish(events.Event{Type: typ, SessionID: sessionID, UserID: userID, WorkerID: "", Payload: payload})
}

// rtSameJSON reports whether got (JSON) says the same as want once encoded.
func rtSameJSON(t testing.TB, got json.RawMessage, want any) bool {
	t.Helper()
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal(raw, &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// sseEvent is one message of an SSE stream.
type sseEvent struct {
	ID, Event string
	Data      json.RawMessage
}

// sseStream reads an SSE response.
type sseStream struct {
	Response *http.Response
	events   chan sseEvent
	comments chan string
	ended    chan struct{}
	cancel   context.CancelFunc
}

// openSSE opens the event stream of a session on a served gateway.
func openSSE(t testing.TB, baseURL, token, sessionID, lastEventID string, headers ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/v1/sessions/"+sessionID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open event stream: %v", err)
	}
	s := &sseStream{Response: resp, events: make(chan sseEvent, 1024), comments: make(chan string, 1024),
		ended: make(chan struct{}), cancel: cancel}
	t.Cleanup(s.Close)
	if resp.StatusCode != http.StatusOK {
		close(s.ended)
		return s
	}
	go func() {
		defer close(s.ended)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" || ev.Data != nil {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.comments <- strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[len("id: "):]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data = json.RawMessage(line[len("data: "):])
			}
		}
	}()
	return s
}

// Close ends the stream from the client's side.
func (s *sseStream) Close() {
	s.cancel()
	_ = s.Response.Body.Close()
}

// Next returns the next event, failing after within.
func (s *sseStream) Next(t testing.TB, within time.Duration) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.ended:
		select {
		case ev := <-s.events:
			return ev
		default:
		}
		t.Fatal("the event stream ended")
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return sseEvent{}
}

// Comment returns the next comment line, failing after within.
func (s *sseStream) Comment(t testing.TB, within time.Duration) string {
	t.Helper()
	select {
	case c := <-s.comments:
		return c
	case <-time.After(within):
		t.Fatalf("no comment within %s", within)
	}
	return ""
}

// Ended waits for the server to end the stream.
func (s *sseStream) Ended(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-s.ended:
	case <-time.After(within):
		t.Fatalf("the stream is still open after %s", within)
	}
}
