//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplicas_ShareOneDatabaseAndRedisSafely runs two, then three gateway replicas on one
// database and one Redis: racing connects never overfill a worker, exactly one replica leads
// the health monitor, another takes over within one interval plus the lease after the leader
// is SIGKILLed, and neither async dispatch nor webhook delivery sends anything twice.
func TestReplicas_ShareOneDatabaseAndRedisSafely(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d_replicas", n), func(t *testing.T) { runReplicas(t, n) })
	}
}

// webhookReceiver counts the deliveries it gets by webhook-id.
type webhookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	ids map[string]int
}

func newWebhookReceiver(t testing.TB) *webhookReceiver {
	r := &webhookReceiver{ids: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.ids[req.Header.Get("webhook-id")]++
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// counts returns the distinct deliveries received and how many came more than once.
func (r *webhookReceiver) counts() (distinct, repeated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.ids {
		distinct++
		repeated += n - 1
	}
	return distinct, repeated
}

func runReplicas(t *testing.T, n int) {
	sc := newScenario(t, "replicas", fmt.Sprintf("%d replicas on one database and Redis", n))
	ctx := context.Background()
	gws := []*gateway{sc.startGateway(t, "replica-0", 0, nil)} // the first applies the migrations
	for i := 1; i < n; i++ {
		gws = append(gws, sc.startGateway(t, fmt.Sprintf("replica-%d", i), 0, nil))
	}
	urls := func(list []*gateway) []string {
		out := make([]string, len(list))
		for i, g := range list {
			out[i] = g.URL
		}
		return out
	}
	lb := newBalancer(t, urls(gws)...)
	const workers, capacity, sessions = 3, 4, 20
	for i := range workers {
		sc.startWorker(t, lb.URL, fmt.Sprintf("replica-worker-%d", i), workerOptions{MaxSessions: capacity, ReceiptDelay: 30 * time.Millisecond})
	}
	u := sc.api.register(t, gws[0].URL)
	tenants := sc.api.createSessions(t, gws[0].URL, u, "race", sessions)

	// Racing connects: every session at once, spread over the replicas.
	start := make(chan struct{})
	connects := newTally()
	var wg sync.WaitGroup
	for i, tn := range tenants {
		wg.Go(func() {
			<-start
			r, err := sc.api.do(ctx, http.MethodPost, gws[i%n].URL+"/api/v1/sessions/"+tn.SessionID+"/connect", nil, u.auth()...)
			connects.add(r, err)
		})
	}
	close(start)
	wg.Wait()
	sc.countRequests(connects)
	sc.fact(t, "Racing connects", "%d sessions over %d replicas at once, %d workers of %d: %s", sessions, n, workers, capacity, connects)
	var over, placed int
	if err := sc.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE used > max_sessions), coalesce(sum(used), 0)
		FROM (SELECT w.max_sessions, count(s.id) AS used FROM workers w LEFT JOIN sessions s ON s.worker_id = w.id GROUP BY w.id) f`).
		Scan(&over, &placed); err != nil {
		t.Fatal(err)
	}
	sc.fact(t, "Workers over capacity / sessions placed", "%d / %d (capacity %d)", over, placed, workers*capacity)
	if over > 0 || placed != workers*capacity || connects.status(200) != workers*capacity || connects.status(503) != sessions-workers*capacity {
		t.Errorf("capacity broken: %d workers over, %d placed, %s", over, placed, connects)
	}
	var connected []tenant
	for _, tn := range tenants {
		var worker *string
		if err := sc.db.QueryRow(ctx, `SELECT worker_id FROM sessions WHERE id = $1`, tn.SessionID).Scan(&worker); err != nil {
			t.Fatal(err)
		}
		if worker != nil {
			connected = append(connected, tn)
		}
	}
	sc.waitConnected(t, connected, 30*time.Second)
	mismatched := 0
	rdb := sc.suite.redis.Client()
	defer rdb.Close()
	for _, tn := range connected {
		var dbWorker string
		_ = sc.db.QueryRow(ctx, `SELECT worker_id FROM sessions WHERE id = $1`, tn.SessionID).Scan(&dbWorker)
		if cached, err := rdb.HGet(ctx, sc.keyPrefix+"session_routing", tn.SessionID).Result(); err == nil && cached != dbWorker {
			mismatched++
		}
	}
	sc.fact(t, "Sessions whose Redis route disagrees with Postgres", "%d", mismatched)
	if mismatched > 0 {
		t.Errorf("%d sessions routed in Redis to another worker than Postgres says", mismatched)
	}

	// One leader, and the lease in Redis names its process.
	leaders := func(list []*gateway) []*gateway {
		var out []*gateway
		for _, g := range list {
			if h, err := g.detailed(ctx); err == nil && h.Leader {
				out = append(out, g)
			}
		}
		return out
	}
	if !waitFor(ctx, 15*time.Second, func() bool { return len(leaders(gws)) == 1 }) {
		t.Fatalf("no single leader within 15 s")
	}
	samples, bad := 0, 0
	for deadline := time.Now().Add(durations(2*time.Second, 10*time.Second)); time.Now().Before(deadline); samples++ {
		if len(leaders(gws)) != 1 {
			bad++
		}
	}
	leader := leaders(gws)[0]
	lease, _ := rdb.Get(ctx, sc.keyPrefix+"{health_monitor}:lease").Result()
	holderPID := leaseHolderPID(lease)
	sc.fact(t, "Health-monitor leaders seen", "exactly one in %d of %d rounds of /health/detailed over every replica; the lease names pid %d, the leader is pid %d",
		samples-bad, samples, holderPID, leader.PID())
	if bad > 0 || holderPID != leader.PID() {
		t.Errorf("leadership not unique or not the lease holder: %d bad samples, lease %q, leader pid %d", bad, lease, leader.PID())
	}

	// Async dispatch and webhooks on every replica: nothing twice.
	receiver := newWebhookReceiver(t)
	for _, tn := range connected {
		sc.api.mustOK(t, http.MethodPut, gws[0].URL+"/api/v1/sessions/"+tn.SessionID+"/webhook",
			map[string]any{"url": receiver.URL + "/hook", "events": []string{"message.status"}}, u.auth()...)
	}
	perLane := 15
	if !testing.Short() {
		perLane = 80
	}
	load := sc.startLoad(lanesFor(connected, urls(gws), true, 30*time.Millisecond))
	waitFor(ctx, 60*time.Second, func() bool { return len(sc.accepted.all()) >= perLane*len(connected) })
	tl := load.Stop()
	sc.countRequests(tl)
	sc.fact(t, "Async sends over every replica", "%s", tl)
	sc.verify(t, 60*time.Second)
	// Receipts of the last sends may still raise deliveries after the queue drained: the
	// receiver is read after the table, and both again until they agree (a delivery is stored
	// before it is sent, so one received meanwhile makes the receiver's count the larger).
	var deliveries, pending, distinct, repeated int
	drained := waitFor(ctx, 60*time.Second, func() bool {
		err := sc.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status <> 'DELIVERED') FROM webhook_deliveries`).
			Scan(&deliveries, &pending)
		distinct, repeated = receiver.counts()
		return err == nil && pending == 0 && deliveries > 0 && distinct == deliveries
	})
	sc.fact(t, "Webhook deliveries", "%d stored, %d received, %d received more than once, %d not delivered", deliveries, distinct, repeated, pending)
	if !drained || distinct != deliveries || repeated > 0 {
		t.Errorf("webhooks: %d stored, %d distinct received, %d repeated, %d pending", deliveries, distinct, repeated, pending)
	}
	for _, tn := range connected {
		sc.api.mustOK(t, http.MethodDelete, gws[0].URL+"/api/v1/sessions/"+tn.SessionID+"/webhook", nil, u.auth()...)
	}

	// SIGKILL the leader under async load (through the balancer, as clients behind a load
	// balancer would be): another replica leads within one interval plus the lease, and every
	// accepted message still goes out once.
	load = sc.startLoad(lanesFor(connected, []string{lb.URL}, true, 30*time.Millisecond))
	before := len(sc.accepted.all())
	waitFor(ctx, 30*time.Second, func() bool { return len(sc.accepted.all()) >= before+5*len(connected) })
	var survivors []*gateway
	for _, g := range gws {
		if g != leader {
			survivors = append(survivors, g)
		}
	}
	killedAt := time.Now()
	leader.Kill()
	lb.Set(urls(survivors)...)
	tookOver := waitFor(ctx, 3*(healthInterval+leaseTTL), func() bool { return len(leaders(survivors)) == 1 })
	takeover := time.Since(killedAt)
	sc.fact(t, "SIGKILL of the leader → a new leader", "%s (bound: interval %s + lease %s)", takeover.Round(10*time.Millisecond), healthInterval, leaseTTL)
	if !tookOver || takeover > healthInterval+leaseTTL {
		t.Errorf("takeover took %s, want at most %s", takeover, healthInterval+leaseTTL)
	}
	waitFor(ctx, 30*time.Second, func() bool { return len(sc.accepted.all()) >= before+15*len(connected) })
	tl = load.Stop()
	sc.countRequests(tl)
	sc.fact(t, "Async sends through the balancer across the kill", "%s", tl)
	sc.verify(t, 90*time.Second)
}

// leaseHolderPID reads the process ID out of a lease value "host-pid-random:token".
func leaseHolderPID(lease string) int {
	replica, _, _ := strings.Cut(lease, ":")
	parts := strings.Split(replica, "-")
	if len(parts) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	return pid
}
