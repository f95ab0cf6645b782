//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// apiClient calls a gateway's REST API the way a customer's system would.
type apiClient struct {
	http *http.Client
}

func newAPIClient() *apiClient {
	return &apiClient{http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}}}
}

// reply is a gateway's answer.
type reply struct {
	Status  int
	Data    map[string]any
	Body    []byte
	Header  http.Header
	Latency time.Duration
}

func (c *apiClient) do(ctx context.Context, method, url string, body any, headers ...string) (reply, error) {
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, reader)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{Latency: time.Since(start)}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Body: raw, Header: resp.Header, Latency: time.Since(start)}
	if err != nil {
		return r, err
	}
	var env struct {
		Data map[string]any `json:"data"`
	}
	if json.Unmarshal(raw, &env) == nil {
		r.Data = env.Data
	}
	return r, nil
}

// must calls and fails the test unless the answer has status want.
func (c *apiClient) must(t testing.TB, want int, method, url string, body any, headers ...string) map[string]any {
	t.Helper()
	r, err := c.do(context.Background(), method, url, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.Status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, r.Status, want, r.Body)
	}
	return r.Data
}

// mustOK calls and fails the test unless the answer is a success (2xx).
func (c *apiClient) mustOK(t testing.TB, method, url string, body any, headers ...string) map[string]any {
	t.Helper()
	r, err := c.do(context.Background(), method, url, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.Status < 200 || r.Status > 299 {
		t.Fatalf("%s %s: %d: %s", method, url, r.Status, r.Body)
	}
	return r.Data
}

// tenant is a connected session with its API key.
type tenant struct {
	SessionID string
	APIKey    string
}

// owner is a registered user.
type owner struct {
	ID    string
	Token string
}

func (o owner) auth() []string { return []string{"Authorization", "Bearer " + o.Token} }

var emailSeq atomic.Int64

// register registers a user through base.
func (c *apiClient) register(t testing.TB, base string) owner {
	t.Helper()
	email := fmt.Sprintf("chaos-%d-%d@example.com", time.Now().UnixNano(), emailSeq.Add(1))
	data := c.must(t, http.StatusCreated, http.MethodPost, base+"/api/v1/auth/register",
		map[string]any{"name": "Chaos Tester", "email": email, "password": "Chaos-Pass-123!"})
	return owner{ID: data["user"].(map[string]any)["id"].(string), Token: data["token"].(string)}
}

// createSessions creates n sessions of u, not connected.
func (c *apiClient) createSessions(t testing.TB, base string, u owner, prefix string, n int) []tenant {
	t.Helper()
	out := make([]tenant, n)
	for i := range out {
		data := c.must(t, http.StatusCreated, http.MethodPost, base+"/api/v1/sessions",
			map[string]any{"name": fmt.Sprintf("%s %d", prefix, i), "sessionId": fmt.Sprintf("%s-%02d", prefix, i)}, u.auth()...)
		out[i] = tenant{SessionID: data["sessionId"].(string), APIKey: data["apiKey"].(string)}
	}
	return out
}

// connectAll connects the sessions (one at a time) and waits until each is CONNECTED.
func (sc *scenario) connectAll(t testing.TB, base string, u owner, tenants []tenant) {
	t.Helper()
	for _, tn := range tenants {
		sc.api.must(t, http.StatusOK, http.MethodPost, base+"/api/v1/sessions/"+tn.SessionID+"/connect", nil, u.auth()...)
	}
	sc.waitConnected(t, tenants, 30*time.Second)
}

// fleet starts a gateway (with extra environment) and one worker, registers a user and
// connects n sessions of it on that worker.
func (sc *scenario) fleet(t testing.TB, env map[string]string, worker string, opts workerOptions, n int) (*gateway, *simWorker, owner, []tenant) {
	t.Helper()
	gw := sc.startGateway(t, "gateway", 0, env)
	w := sc.startWorker(t, gw.URL, worker, opts)
	u := sc.api.register(t, gw.URL)
	tenants := sc.api.createSessions(t, gw.URL, u, worker, n)
	sc.connectAll(t, gw.URL, u, tenants)
	return gw, w, u, tenants
}

// waitConnected waits until every session is CONNECTED in the database.
func (sc *scenario) waitConnected(t testing.TB, tenants []tenant, within time.Duration) {
	t.Helper()
	ids := sessionIDs(tenants)
	ok := waitFor(context.Background(), within, func() bool {
		var n int
		err := sc.db.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE id = ANY($1) AND status = 'CONNECTED'`,
			ids).Scan(&n)
		return err == nil && n == len(ids)
	})
	if !ok {
		t.Fatalf("sessions %v not all CONNECTED within %s", ids, within)
	}
}

func sessionIDs(tenants []tenant) []string {
	ids := make([]string, len(tenants))
	for i, tn := range tenants {
		ids[i] = tn.SessionID
	}
	return ids
}

// tally counts the answers of a load by status, with the slowest one.
type tally struct {
	mu        sync.Mutex
	requests  int
	byStatus  map[int]int
	transport int
	slowest   time.Duration
	examples  []string
	// mark splits requests in flight at a moment (SIGTERM): those that started before it and
	// ended after it are counted by answer in straddling (0 for a transport error).
	mark       time.Time
	straddling map[int]int
}

func newTally() *tally { return &tally{byStatus: map[int]int{}, straddling: map[int]int{}} }

// setMark starts counting the requests in flight at now.
func (t *tally) setMark(now time.Time) {
	t.mu.Lock()
	t.mark = now
	t.mu.Unlock()
}

// inFlightAtMark returns, by answer (0: none), the requests in flight at the mark.
func (t *tally) inFlightAtMark() map[int]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.straddling)
}

func (t *tally) add(r reply, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if end := time.Now(); !t.mark.IsZero() && end.Add(-r.Latency).Before(t.mark) && end.After(t.mark) {
		if err != nil {
			t.straddling[0]++
		} else {
			t.straddling[r.Status]++
		}
	}
	t.requests++
	t.slowest = max(t.slowest, r.Latency)
	if err != nil {
		t.transport++
		if t.transport == 1 {
			msg := err.Error()
			if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "Post ") {
				msg = "Post …: " + msg[i+2:] // the URL is the gateway's, every time
			}
			t.examples = append(t.examples, msg)
		}
		return
	}
	t.byStatus[r.Status]++
	if (r.Status >= 500 || r.Status == http.StatusConflict) && t.byStatus[r.Status] == 1 {
		var env struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(r.Body, &env) == nil && env.Error != "" {
			t.examples = append(t.examples, fmt.Sprintf("%d %q", r.Status, env.Error))
		}
	}
}

// count returns the answers with a status in [lo, hi].
func (t *tally) count(lo, hi int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for s, c := range t.byStatus {
		if s >= lo && s <= hi {
			n += c
		}
	}
	return n
}

// failed counts the answers from lo up and the requests without an answer.
func (t *tally) failed(lo int) int { return t.count(lo, 599) + t.transportErrors() }

func (t *tally) transportErrors() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.transport
}

func (t *tally) status(s int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byStatus[s]
}

// String is "1234 requests: 200×1000, 503×34, transport errors 0, slowest 1.2 s".
func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	codes := make([]int, 0, len(t.byStatus))
	for s := range t.byStatus {
		codes = append(codes, s)
	}
	sort.Ints(codes)
	s := fmt.Sprintf("%d requests:", t.requests)
	for _, c := range codes {
		s += fmt.Sprintf(" %d×%d", c, t.byStatus[c])
	}
	s += fmt.Sprintf(", transport errors %d, slowest %s", t.transport, t.slowest.Round(time.Millisecond))
	if len(t.examples) > 0 {
		s += "; e.g. " + strings.Join(t.examples, ", ")
	}
	return s
}

// accepted is a message the gateway answered 200 or 202 for.
type accepted struct {
	ID      string
	Session string
	Seq     int // order of acceptance within its session
	Async   bool
}

// acceptLedger is every message a scenario's clients saw accepted, and those whose answer
// never came (the request may or may not have been stored: the server died under it).
type acceptLedger struct {
	mu         sync.Mutex
	msgs       []accepted
	unanswered []string  // contents of sends without an answer
	refused    []attempt // sends answered 503
	seq        map[string]int
}

func newAcceptLedger() *acceptLedger { return &acceptLedger{seq: map[string]int{}} }

func (l *acceptLedger) add(id, session string, async bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq[session]++
	l.msgs = append(l.msgs, accepted{ID: id, Session: session, Seq: l.seq[session], Async: async})
}

func (l *acceptLedger) lostAnswer(content string) {
	l.mu.Lock()
	l.unanswered = append(l.unanswered, content)
	l.mu.Unlock()
}

func (l *acceptLedger) all() []accepted {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

var contentSeq atomic.Int64

// attempt is a send the scenario may repeat with the same body and Idempotency-Key.
type attempt struct {
	tenant tenant
	async  bool
	n      int64
}

// send sends a text message with the tenant's key through base, synchronously or queued, with
// an Idempotency-Key (so that the HTTP client may retry it on a connection the server closed
// while idle), and records an accepted message in the scenario's ledger.
func (sc *scenario) send(ctx context.Context, base string, tn tenant, async bool, tl *tally) (reply, error) {
	return sc.sendAttempt(ctx, base, attempt{tenant: tn, async: async, n: contentSeq.Add(1)}, tl)
}

// sendAttempt makes (or repeats) a send; a 503 is remembered in sc.refused for a retry.
func (sc *scenario) sendAttempt(ctx context.Context, base string, a attempt, tl *tally) (reply, error) {
	tn, async, n := a.tenant, a.async, a.n
	content := fmt.Sprintf("chaos %s #%d", tn.SessionID, n)
	url := base + "/api/v1/sendText"
	if async {
		url += "?async=true"
	}
	r, err := sc.api.do(ctx, http.MethodPost, url, map[string]any{"to": "6281234567890", "message": content},
		"X-API-Key", tn.APIKey, "Idempotency-Key", "chaos-"+strconv.FormatInt(n, 10))
	if tl != nil {
		tl.add(r, err)
	}
	if err != nil {
		sc.accepted.lostAnswer(content)
		return r, err
	}
	if (r.Status == http.StatusOK && !async) || (r.Status == http.StatusAccepted && async) {
		id, _ := r.Data["id"].(string)
		if r.Header.Get("Idempotent-Replayed") == "" {
			sc.accepted.add(id, tn.SessionID, async)
		}
	}
	if r.Status == http.StatusServiceUnavailable {
		sc.accepted.mu.Lock()
		sc.accepted.refused = append(sc.accepted.refused, a)
		sc.accepted.mu.Unlock()
	}
	return r, nil
}

// loadRun is a running load: one goroutine per lane, each sending to its tenant in a loop.
type loadRun struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	Tally *tally
}

// lane is one sequential client of a load: it sends to one tenant through one of the bases.
type lane struct {
	Tenant tenant
	Bases  []string // round robin over these
	Async  bool
	Every  time.Duration // pause between requests; 0 sends back to back
}

// startLoad runs the lanes until Stop.
func (sc *scenario) startLoad(lanes []lane) *loadRun {
	l := &loadRun{stop: make(chan struct{}), Tally: newTally()}
	for _, ln := range lanes {
		l.wg.Go(func() {
			var tick *time.Ticker
			if ln.Every > 0 {
				tick = time.NewTicker(ln.Every)
				defer tick.Stop()
			}
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				_, _ = sc.send(context.Background(), ln.Bases[i%len(ln.Bases)], ln.Tenant, ln.Async, l.Tally)
				if tick != nil {
					select {
					case <-l.stop:
						return
					case <-tick.C:
					}
				}
			}
		})
	}
	return l
}

// Stop ends the load and waits for the requests in flight.
func (l *loadRun) Stop() *tally {
	close(l.stop)
	l.wg.Wait()
	return l.Tally
}

// lanesFor makes one lane per tenant.
func lanesFor(tenants []tenant, bases []string, async bool, every time.Duration) []lane {
	out := make([]lane, len(tenants))
	for i, tn := range tenants {
		out[i] = lane{Tenant: tn, Bases: bases, Async: async, Every: every}
	}
	return out
}
