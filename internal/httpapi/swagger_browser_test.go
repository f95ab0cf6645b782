package httpapi_test

// Tests of the Swagger UI at /api/v1/docs/: served from the embedded assets under the
// security headers, and rendered by a real browser (headless Chromium). Helpers start with
// docs so that they cannot collide with other test files.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wagateway/gateway/api"
	"github.com/wagateway/gateway/internal/testenv"
)

func TestSwaggerUI_ServedFromEmbeddedAssetsUnderBothMounts(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	for _, prefix := range []string{"/api/v1/docs", "/api/docs"} {
		res := g.Do(t, http.MethodGet, prefix, nil)
		if res.Code != http.StatusMovedPermanently || res.Header().Get("Location") != prefix+"/" {
			t.Errorf("GET %s = %d to %q, want 301 to %s/ (the page's relative URLs need the slash)",
				prefix, res.Code, res.Header().Get("Location"), prefix)
		}

		page := g.Do(t, http.MethodGet, prefix+"/", nil)
		if page.Code != http.StatusOK || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s/ = %d %s", prefix, page.Code, page.Header().Get("Content-Type"))
		}
		html := page.Body.String()
		if regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`).MatchString(html) || strings.Contains(html, "onload=") {
			t.Errorf("the page has an inline script, which the CSP (script-src 'self') blocks:\n%s", html)
		}
		if strings.Contains(html, "//") && regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(html) {
			t.Errorf("the page loads something from another origin:\n%s", html)
		}
		for _, src := range regexp.MustCompile(`(?:src|href)="\./([^"]+)"`).FindAllStringSubmatch(html, -1) {
			asset := g.Do(t, http.MethodGet, prefix+"/"+src[1], nil)
			if asset.Code != http.StatusOK || asset.Body.Len() == 0 {
				t.Errorf("GET %s/%s = %d (%d bytes)", prefix, src[1], asset.Code, asset.Body.Len())
			}
		}
		if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("Content-Security-Policy = %q, want script-src 'self'", csp)
		}

		for name, want := range map[string][]byte{"doc.json": api.SwaggerJSON, "worker-protocol.yaml": api.WorkerProtocolYAML} {
			doc := g.Do(t, http.MethodGet, prefix+"/"+name, nil)
			if doc.Code != http.StatusOK || !bytes.Equal(doc.Body.Bytes(), want) {
				t.Errorf("GET %s/%s = %d, %d bytes; want the embedded document (%d bytes)", prefix, name, doc.Code, doc.Body.Len(), len(want))
			}
		}
	}

	js := g.Do(t, http.MethodGet, "/api/v1/docs/swagger-ui-bundle.js", nil, "Accept-Encoding", "gzip")
	if ct := js.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("bundle Content-Type = %q, want text/javascript (nosniff refuses anything else)", ct)
	}
	if js.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("the 1.7 MB bundle is not compressed (Content-Encoding %q)", js.Header().Get("Content-Encoding"))
	}
	for _, path := range []string{"/api/v1/docs/nope.js", "/api/v1/docs/index.html", "/api/v1/docs/..%2Fdocs.go"} {
		if res := g.Do(t, http.MethodGet, path, nil); res.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, res.Code)
		}
	}
}

// docsChromium finds Debian's chromium; the browser test is skipped only without it.
func docsChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("Chromium is not installed (apt-get install -y chromium; .ci/run installs it): the Swagger UI is not rendered")
	return ""
}

// docsBrowser is headless Chromium driven over the DevTools protocol: one page, commands sent
// one at a time, and the errors the page logs collected on the way.
type docsBrowser struct {
	t       *testing.T
	conn    *websocket.Conn
	session string
	lastID  int
	// problems are the page's errors: CSP violations, failed loads, uncaught exceptions.
	problems []string
}

// docsLaunch starts Chromium with remote debugging on a random port and opens a blank page.
func docsLaunch(t *testing.T, chromium string) *docsBrowser {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
		"--hide-scrollbars", "--window-size=1280,1800", "--user-data-dir="+t.TempDir(),
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Chromium runs helper processes; its own process group lets the test end them all, so
	// that none still writes into the profile directory when the test removes it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Chromium names its DevTools endpoint on stderr; the rest of stderr is drained until exit.
	endpoint := make(chan string, 1)
	drained := make(chan struct{})
	var log bytes.Buffer
	go func() {
		defer close(drained)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			if m := docsDevTools.FindStringSubmatch(lines.Text()); m != nil {
				endpoint <- m[1]
			} else if log.Len() < 64<<10 {
				log.WriteString(lines.Text() + "\n")
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		<-drained
	})
	var wsURL string
	select {
	case wsURL = <-endpoint:
	case <-time.After(30 * time.Second):
		cancel()
		<-drained
		t.Fatalf("chromium did not open its DevTools endpoint:\n%s", log.String())
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("connect to chromium: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	b := &docsBrowser{t: t, conn: conn}
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call("Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	b.session = attached.SessionID
	for _, domain := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		b.call(domain, nil, nil)
	}
	return b
}

var docsDevTools = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// call sends one command and decodes its result into out (when not nil), within 30 s.
func (b *docsBrowser) call(method string, params, out any) {
	b.t.Helper()
	b.callWithin(30*time.Second, method, params, out)
}

// callWithin is call with its own time limit.
func (b *docsBrowser) callWithin(limit time.Duration, method string, params, out any) {
	b.t.Helper()
	b.lastID++
	msg := map[string]any{"id": b.lastID, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if b.session != "" {
		msg["sessionId"] = b.session
	}
	_ = b.conn.SetWriteDeadline(time.Now().Add(limit))
	_ = b.conn.SetReadDeadline(time.Now().Add(limit))
	if err := b.conn.WriteJSON(msg); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	for {
		var in struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := b.conn.ReadJSON(&in); err != nil {
			b.t.Fatalf("%s: %v", method, err)
		}
		if in.Method != "" {
			b.noteEvent(in.Method, in.Params)
			continue
		}
		if in.ID != b.lastID {
			continue
		}
		if in.Error != nil {
			b.t.Fatalf("%s: %s", method, in.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(in.Result, out); err != nil {
				b.t.Fatalf("%s: %v", method, err)
			}
		}
		return
	}
}

// noteEvent keeps the page's errors: a CSP violation is a Log entry of level error.
func (b *docsBrowser) noteEvent(method string, params json.RawMessage) {
	switch method {
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Source, Level, Text, URL string
			} `json:"entry"`
		}
		if json.Unmarshal(params, &p) == nil && p.Entry.Level == "error" {
			b.problems = append(b.problems, fmt.Sprintf("%s: %s %s", p.Entry.Source, p.Entry.Text, p.Entry.URL))
		}
	case "Runtime.exceptionThrown":
		b.problems = append(b.problems, "uncaught exception: "+string(params))
	}
}

// eval evaluates a JavaScript expression in the page (awaiting a promise) into out.
func (b *docsBrowser) eval(expression string, out any) {
	b.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	b.call("Runtime.evaluate", map[string]any{"expression": expression, "returnByValue": true, "awaitPromise": true}, &res)
	if res.ExceptionDetails != nil {
		b.t.Fatalf("evaluate %s: %s", expression, res.ExceptionDetails.Text)
	}
	if out != nil && len(res.Result.Value) > 0 {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			b.t.Fatalf("evaluate %s: %v", expression, err)
		}
	}
}

// TestSwaggerUI_RendersTheSendTextOperationInChromium opens the Swagger UI of a running
// gateway with the sendText operation deep-linked (so expanded) in headless Chromium, and
// checks that the browser rendered it — its path, parameters and answers — with no CSP
// violation or script error on the way. A screenshot of the operation is kept in artifacts/.
func TestSwaggerUI_RendersTheSendTextOperationInChromium(t *testing.T) {
	t.Parallel()
	chromium := docsChromium(t)
	g := testenv.NewGateway(t, testenv.Options{})
	baseURL, _ := g.Serve(t)
	b := docsLaunch(t, chromium)
	b.call("Page.navigate", map[string]any{"url": baseURL + "/api/v1/docs/#/Messaging/sendText"}, nil)

	// The UI fetches doc.json and renders; the deep link then expands the operation.
	const expanded = `(() => {
		const op = document.querySelector('#operations-Messaging-sendText.is-open');
		return op && op.querySelector('.responses-wrapper .response') ? op.outerHTML : '';
	})()`
	var operation string
	deadline := time.Now().Add(45 * time.Second)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for operation == "" {
		b.eval(expanded, &operation)
		if operation != "" {
			break
		}
		if time.Now().After(deadline) {
			var body string
			b.eval(`document.body.innerText.slice(0, 2000)`, &body)
			t.Fatalf("the sendText operation was not rendered expanded within 45 s; page problems: %v\npage text:\n%s", b.problems, body)
		}
		<-poll.C
	}
	var title string
	b.eval(`document.querySelector('.info .title') ? document.querySelector('.info .title').textContent : ''`, &title)
	if !strings.Contains(title, "WhatsApp Gateway API") {
		t.Errorf("title = %q, want the document's title", title)
	}
	for _, want := range []struct{ what, text string }{
		{"its path", `data-path="/api/v1/sendText"`},
		{"its summary", "Send a text message"},
		{"its Idempotency-Key header parameter", `data-param-name="Idempotency-Key"`},
		{"its async query parameter", `data-param-name="async"`},
		{"its body parameter", `data-param-name="body"`},
		{"the body's message field", `message`},
		{"its 200 answer", `data-code="200"`},
		{"its 202 answer", `data-code="202"`},
		{"its 409 answer", `data-code="409"`},
		{"the Try it out button", "Try it out"},
	} {
		if !strings.Contains(operation, want.text) {
			t.Errorf("the rendered operation lacks %s (%q)", want.what, want.text)
		}
	}
	for _, p := range b.problems {
		t.Errorf("the page reported a problem: %s", p)
	}

	// Keep a screenshot for people (artifacts/ is gitignored): the operation at the top.
	b.eval(`new Promise(done => {
		document.querySelector('#operations-Messaging-sendText').scrollIntoView({block: 'start'});
		requestAnimationFrame(() => requestAnimationFrame(done));
	})`, nil)
	var shot struct {
		Data []byte `json:"data"` // base64 in JSON, decoded by encoding/json
	}
	// Software rendering of the whole page on a machine busy with the rest of the suite took
	// over 30 s once: the screenshot gets longer.
	b.callWithin(2*time.Minute, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	if len(shot.Data) < 10_000 {
		t.Fatalf("the screenshot is nearly empty (%d bytes)", len(shot.Data))
	}
	dir := filepath.Join(docsRepoRoot(t), "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "swagger-ui-sendText.png")
	if err := os.WriteFile(path, shot.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
