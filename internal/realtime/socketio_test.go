package realtime_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/testenv"
)

// The Socket.IO tests drive the real socket.io-client (npm) with node: testdata/client holds
// its package.json and a small script, installed once per test binary into a cache directory
// under os.TempDir (node_modules is never committed).

var (
	sioInstallOnce sync.Once
	sioDir         string
	sioInstallErr  error
)

// sioClientDir returns the directory of the installed client, skipping when node is missing.
func sioClientDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: this test drives the real socket.io-client (npm) with node")
	}
	sioInstallOnce.Do(func() { sioDir, sioInstallErr = installSIOClient() })
	if sioInstallErr != nil {
		t.Fatalf("install socket.io-client: %v", sioInstallErr)
	}
	return sioDir
}

func installSIOClient() (string, error) {
	files := []string{"package.json", "package-lock.json", "client.mjs"}
	contents := map[string][]byte{}
	h := sha256.New()
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("testdata", "client", name))
		if err != nil {
			return "", err
		}
		contents[name] = b
		h.Write(b)
	}
	dir := filepath.Join(os.TempDir(), "wagateway-socketio-client-"+hex.EncodeToString(h.Sum(nil))[:16])
	installed := func() bool {
		_, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json"))
		return err == nil
	}
	if installed() {
		return dir, nil
	}
	// Install into a directory of our own, then move it into place: test binaries that run
	// at once never see a half-installed client.
	staging, err := os.MkdirTemp(os.TempDir(), "wagateway-socketio-client-staging-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staging)
	for name, b := range contents {
		if err := os.WriteFile(filepath.Join(staging, name), b, 0o644); err != nil { //nolint:gosec // test files
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = staging
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci: %w\n%s", err, out)
	}
	if err := os.Rename(staging, dir); err != nil && !installed() {
		return "", err
	}
	return dir, nil
}

// sioMessage is one line of the client: an event it received and its arguments.
type sioMessage struct {
	Event string            `json:"event"`
	Args  []json.RawMessage `json:"args"`
}

// sioClient is a running socket.io-client.
type sioClient struct {
	t     *testing.T
	name  string
	stdin io.WriteCloser
	lines chan sioMessage
	// seen are the messages Expect skipped, for later checks.
	seen []sioMessage
}

// startSIOClient connects a client to baseURL with token over the transports of mode
// (polling, websocket or both).
func startSIOClient(t *testing.T, name, baseURL, token, mode string) *sioClient {
	t.Helper()
	dir := sioClientDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.mjs"), baseURL, token, mode)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &sioClient{t: t, name: name, stdin: stdin, lines: make(chan sioMessage, 256)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var m sioMessage
			if err := json.Unmarshal(sc.Bytes(), &m); err == nil {
				c.lines <- m
			}
		}
	}()
	t.Cleanup(func() {
		_ = json.NewEncoder(stdin).Encode(map[string]any{"quit": true})
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s's stderr:\n%s", name, stderr.String())
		}
	})
	return c
}

// Send emits an event from the client, with an acknowledgement callback when ack.
func (c *sioClient) Send(event string, ack bool, args ...any) {
	c.t.Helper()
	if err := json.NewEncoder(c.stdin).Encode(map[string]any{"emit": event, "args": args, "ack": ack}); err != nil {
		c.t.Fatalf("%s: send %s: %v", c.name, event, err)
	}
}

// Expect returns the next message of the event, keeping the others it skips in seen.
func (c *sioClient) Expect(event string) sioMessage {
	c.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("%s: the client exited while waiting for %s (seen %v)", c.name, event, c.events())
			}
			if m.Event == event {
				return m
			}
			c.seen = append(c.seen, m)
		case <-timeout:
			c.t.Fatalf("%s: no %s within 15 s (seen %v)", c.name, event, c.events())
		}
	}
}

func (c *sioClient) events() []string {
	names := make([]string, len(c.seen))
	for i, m := range c.seen {
		names[i] = m.Event
	}
	return names
}

// Saw reports whether a skipped message was of the event.
func (c *sioClient) Saw(event string) bool {
	for _, m := range c.seen {
		if m.Event == event {
			return true
		}
	}
	return false
}

func (m sioMessage) arg(t *testing.T) map[string]any {
	t.Helper()
	if len(m.Args) == 0 {
		t.Fatalf("%s without arguments", m.Event)
	}
	var v map[string]any
	if err := json.Unmarshal(m.Args[0], &v); err != nil {
		t.Fatalf("%s argument %s: %v", m.Event, m.Args[0], err)
	}
	return v
}

func TestSocketIO_WithTheRealClient(t *testing.T) {
	t.Parallel()
	sioClientDir(t) // skip early without node
	// Clients connect to replica b; events are raised on replica a: every check also covers
	// the fan-out through Redis.
	a := rtGateway(t)
	b := rtReplica(t, a)
	a.Serve(t)
	baseB, _ := b.Serve(t)
	rtWaitSubscribed(t, a, b)
	owner := rtNewUser(t, a, false)
	stranger := rtNewUser(t, a, false)
	admin := rtNewUser(t, a, true)
	// A second session of the owner, to show that events of a room left stop coming.
	second := owner.SessionID + "-b"
	if _, err := a.DB.Exec(context.Background(), `INSERT INTO sessions (id, user_id, name) VALUES ($1, $2, 'Second')`,
		second, owner.ID); err != nil {
		t.Fatal(err)
	}

	t.Run("ABadTokenGetsConnectError", func(t *testing.T) {
		c := startSIOClient(t, "intruder", baseB, "not-a-jwt", "both")
		if msg := c.Expect("connect_error").arg(t)["message"]; msg == "" {
			t.Fatal("connect_error without a message")
		}
		if c.Saw("connect") || c.Saw("connected") {
			t.Fatal("connected with a bad token")
		}
	})

	t.Run("JoinTheOwnSession_ReceivesItsEvents_NotOthers", func(t *testing.T) {
		c := startSIOClient(t, "owner", baseB, owner.Token, "both")
		connected := c.Expect("connected").arg(t)
		if connected["userId"] != owner.ID {
			t.Fatalf("connected %v", connected)
		}
		c.Send("join_session", true, owner.SessionID)
		if got := c.Expect("session_joined").arg(t); got["sessionId"] != owner.SessionID {
			t.Fatalf("session_joined %v", got)
		}
		if ack := c.Expect("ack:join_session").arg(t); ack["sessionId"] != owner.SessionID {
			t.Fatalf("ack %v", ack)
		}
		c.Send("join_session", false, map[string]any{"sessionId": second})
		c.Expect("session_joined")

		// Someone else's session, and one that does not exist, answer the same error.
		for _, id := range []string{stranger.SessionID, "no-such-session", "../bad id"} {
			c.Send("join_session", false, map[string]any{"sessionId": id})
			if got := c.Expect("error").arg(t); got["message"] != "Session not found" {
				t.Fatalf("joining %s: %v", id, got)
			}
		}

		// The stranger's events and worker events are raised first: they must not arrive
		// before the owner's own, which come in order.
		rtRaise(a, events.SessionStatusChanged, stranger.SessionID, stranger.ID,
			map[string]any{"sessionId": stranger.SessionID, "status": "CONNECTED"})
		a.Bus.Publish(events.Event{Type: events.WorkerStatusUpdated, WorkerID: "worker-1",
			Payload: map[string]any{"workerId": "worker-1", "status": "ONLINE", "sessionCount": 3, "timestamp": "2026-01-01T00:00:00Z"}})
		sid := owner.SessionID
		want := []struct {
			event   string
			payload map[string]any
		}{
			{events.QRCodeUpdated, map[string]any{"sessionId": sid, "qrCode": "2@qr", "status": "QR_REQUIRED", "timestamp": "2026-01-01T00:00:01Z"}},
			{events.SessionStatusChanged, map[string]any{"sessionId": sid, "status": "CONNECTED", "phoneNumber": "15550001111",
				"displayName": "Owner", "timestamp": "2026-01-01T00:00:02Z"}},
			{events.MessageStatusUpdated, map[string]any{"sessionId": sid, "messageId": "wa-1", "status": "READ", "timestamp": "2026-01-01T00:00:03Z"}},
			{events.MessageReceived, map[string]any{"sessionId": sid, "message": map[string]any{"id": "m-1", "from": "15550002222@s.whatsapp.net",
				"type": "TEXT", "content": "hello", "timestamp": "2026-01-01T00:00:04Z"}}},
		}
		for _, w := range want {
			rtRaise(a, w.event, sid, owner.ID, w.payload)
		}
		for _, w := range want {
			got := c.Expect(w.event)
			if len(got.Args) != 1 || !rtSameJSON(t, got.Args[0], w.payload) {
				t.Fatalf("%s: %s, want %v", w.event, got.Args, w.payload)
			}
		}
		if c.Saw(events.WorkerStatusUpdated) || c.Saw(events.SessionStatusChanged) {
			t.Fatalf("the owner received events that are not theirs: %v", c.events())
		}

		// Left: the first session's events stop; the second's still come.
		c.Send("leave_session", false, owner.SessionID)
		if got := c.Expect("session_left").arg(t); got["sessionId"] != owner.SessionID {
			t.Fatalf("session_left %v", got)
		}
		rtRaise(a, events.MessageStatusUpdated, sid, owner.ID, map[string]any{"sessionId": sid, "status": "left"})
		rtRaise(a, events.MessageStatusUpdated, second, owner.ID, map[string]any{"sessionId": second, "status": "kept"})
		if got := c.Expect(events.MessageStatusUpdated).arg(t); got["status"] != "kept" {
			t.Fatalf("after leaving: %v", got)
		}
	})

	t.Run("AdminsReceiveWorkerEvents_AndMayJoinAnySession", func(t *testing.T) {
		c := startSIOClient(t, "admin", baseB, admin.Token, "websocket")
		c.Expect("connected")
		c.Send("join_session", false, stranger.SessionID)
		c.Expect("session_joined")
		worker := map[string]any{"workerId": "worker-2", "status": "OFFLINE", "sessionCount": 0, "timestamp": "2026-01-01T00:00:05Z"}
		a.Bus.Publish(events.Event{Type: events.WorkerStatusUpdated, WorkerID: "worker-2", Payload: worker})
		if got := c.Expect(events.WorkerStatusUpdated); !rtSameJSON(t, got.Args[0], worker) {
			t.Fatalf("worker event %s", got.Args)
		}
	})

	t.Run("LongPollingOnly", func(t *testing.T) {
		c := startSIOClient(t, "polling", baseB, owner.Token, "polling")
		if tr := c.Expect("open").arg(t)["transport"]; tr != "polling" {
			t.Fatalf("transport %v", tr)
		}
		c.Send("join_session", false, owner.SessionID)
		c.Expect("session_joined")
		payload := map[string]any{"sessionId": owner.SessionID, "status": "DISCONNECTED"}
		rtRaise(a, events.SessionStatusChanged, owner.SessionID, owner.ID, payload)
		if got := c.Expect(events.SessionStatusChanged); !rtSameJSON(t, got.Args[0], payload) {
			t.Fatalf("over long-polling: %s", got.Args)
		}
	})

	t.Run("PollingUpgradesToWebSocket", func(t *testing.T) {
		c := startSIOClient(t, "upgrade", baseB, owner.Token, "both")
		if tr := c.Expect("open").arg(t)["transport"]; tr != "polling" {
			t.Fatalf("first transport %v", tr)
		}
		if tr := c.Expect("upgrade").arg(t)["transport"]; tr != "websocket" {
			t.Fatalf("upgraded to %v", tr)
		}
	})
}

func TestSocketIO_ClientsAreDisconnectedAtShutdown(t *testing.T) {
	t.Parallel()
	sioClientDir(t)
	g := rtGateway(t)
	base, stop := g.Serve(t)
	u := rtNewUser(t, g, false)
	c := startSIOClient(t, "until-shutdown", base, u.Token, "websocket")
	c.Expect("connected")
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with a Socket.IO client", took)
	}
	if reason := c.Expect("disconnect"); len(reason.Args) == 0 {
		t.Fatal("disconnect without a reason")
	}
}

func TestSocketIO_ARevokedTokenEndsTheConnection(t *testing.T) {
	t.Parallel()
	sioClientDir(t)
	g := testenv.NewGateway(t, testenv.Options{Env: rtEnv(map[string]string{"REALTIME_AUTH_RECHECK_MS": "100"})})
	base, _ := g.Serve(t)
	u := rtNewUser(t, g, false)
	other := rtNewUser(t, g, false)
	revoked := startSIOClient(t, "revoked", base, u.Token, "websocket")
	revoked.Expect("connected")
	kept := startSIOClient(t, "kept", base, other.Token, "websocket")
	kept.Expect("connected")

	if res := g.Do(t, http.MethodPost, "/api/v1/auth/logout", nil, "Authorization", "Bearer "+u.Token); res.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", res.Code, res.Body)
	}
	if got := revoked.Expect("error").arg(t); got["type"] != "unauthorized" {
		t.Fatalf("error after logout = %v, want type unauthorized", got)
	}
	revoked.Expect("disconnect")

	// Another user's connection stays: it still joins its session and gets its events.
	kept.Send("join_session", false, other.SessionID)
	kept.Expect("session_joined")
	if kept.Saw("disconnect") {
		t.Fatal("a valid token's connection was dropped")
	}
}
