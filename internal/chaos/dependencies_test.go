//go:build chaos

package chaos

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// probe is a lane of checks run every 100 ms during a fault, each with its own tally.
type probe struct {
	name  string
	check func(ctx context.Context) (reply, error)
	tally *tally
}

// runProbes runs each probe in its own loop, every 100 ms, until stop is closed.
func runProbes(stop <-chan struct{}, probes []*probe) {
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				r, err := p.check(context.Background())
				p.tally.add(r, err)
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
}

// quotaRemaining is the X-RateLimit-Remaining of an answer (-1 when absent).
func quotaRemaining(r reply) int {
	if r.Header == nil {
		return -1
	}
	n, err := strconv.Atoi(r.Header.Get("X-RateLimit-Remaining"))
	if err != nil {
		return -1
	}
	return n
}

// TestRedisFlushedMidTraffic_RoutingRepairedCountersResetNothingLost wipes Redis (FLUSHALL)
// while customers send: routes are rebuilt from Postgres, the hourly counters start again,
// the health-monitor lease is taken again, and every accepted message goes out once.
func TestRedisFlushedMidTraffic_RoutingRepairedCountersResetNothingLost(t *testing.T) {
	sc := newScenario(t, "redis", "FLUSHALL mid-traffic")
	ctx := context.Background()
	gw, _, _, tenants := sc.fleet(t, nil, "flushed", workerOptions{}, 4)
	rdb := sc.suite.redis.Client()
	defer rdb.Close()
	routes := func() int64 { n, _ := rdb.HLen(ctx, sc.keyPrefix+"session_routing").Result(); return n }

	load := sc.startLoad(append(lanesFor(tenants, []string{gw.URL}, true, 25*time.Millisecond),
		lanesFor(tenants, []string{gw.URL}, false, 50*time.Millisecond)...))
	waitFor(ctx, 20*time.Second, func() bool { return len(sc.accepted.all()) >= 100 })
	r, _ := sc.send(ctx, gw.URL, tenants[0], false, load.Tally)
	before := quotaRemaining(r)
	routesBefore := routes()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	flushedAt := time.Now()
	// A replica hands out the hits it leased before the flush first: the new window shows
	// within one lease (a few of this tenant's requests at this rate).
	after, sendsToReset := before, 0
	waitFor(ctx, 10*time.Second, func() bool {
		r, _ = sc.send(ctx, gw.URL, tenants[0], false, load.Tally)
		after, sendsToReset = quotaRemaining(r), sendsToReset+1
		return after > before
	})
	repaired := waitFor(ctx, 10*time.Second, func() bool { return routes() >= int64(len(tenants)) })
	repairTime := time.Since(flushedAt)
	relead := waitFor(ctx, healthInterval+leaseTTL+time.Second, func() bool {
		h, err := gw.detailed(ctx)
		n, _ := rdb.Exists(ctx, sc.keyPrefix+"{health_monitor}:lease").Result()
		return err == nil && h.Leader && n == 1
	})
	releadTime := time.Since(flushedAt)
	waitFor(ctx, 20*time.Second, func() bool { return len(sc.accepted.all()) >= 200 })
	tl := load.Stop()
	sc.countRequests(tl)
	sc.fact(t, "Requests across the flush", "%s", tl)
	sc.fact(t, "Session routes in Redis", "%d before, rebuilt to %d within %s of the flush", routesBefore, routes(), repairTime.Round(10*time.Millisecond))
	sc.fact(t, "Hourly API-call quota remaining", "%d before the flush, %d after (counter started again), seen at the %s send after the flush",
		before, after, ordinal(sendsToReset))
	sc.fact(t, "Health-monitor lease", "taken again %s after the flush", releadTime.Round(10*time.Millisecond))
	if !repaired {
		t.Errorf("routes not rebuilt within 10 s")
	}
	if after <= before {
		t.Errorf("quota counter not reset: %d remaining before, %d after", before, after)
	}
	if !relead {
		t.Errorf("nobody leads the health monitor after the flush")
	}
	if n := tl.failed(500); n > 0 {
		t.Errorf("%d failed requests across the flush", n)
	}
	sc.verify(t, 30*time.Second)
}

// TestRedisStopped_HealthSaysSoAuthWorksNoCrashRecoversWithoutRestart stops Redis for 30 s
// (10 s in the short form) under traffic. Readiness answers 503 naming Redis, liveness stays
// 200; JWT and API-key authentication keep working because neither depends on Redis (token
// revocation and keys live in Postgres; see README, Failure behaviour); quotas and rate
// limits let requests through; sends keep working from Postgres routes. When Redis is back
// the same process is ready again, leads the health monitor and counts quotas again.
func TestRedisStopped_HealthSaysSoAuthWorksNoCrashRecoversWithoutRestart(t *testing.T) {
	sc := newScenario(t, "redis", "Redis stopped under traffic")
	ctx := context.Background()
	gw, _, u, tenants := sc.fleet(t, nil, "redisless", workerOptions{}, 2)
	outage := durations(10*time.Second, 30*time.Second)

	probes := []*probe{
		{name: "GET /health (liveness)", check: func(ctx context.Context) (reply, error) {
			return sc.api.do(ctx, http.MethodGet, gw.URL+"/health", nil)
		}},
		{name: "GET /health/detailed (readiness)", check: func(ctx context.Context) (reply, error) {
			return sc.api.do(ctx, http.MethodGet, gw.URL+"/health/detailed", nil)
		}},
		{name: "GET /api/v1/auth/me (JWT)", check: func(ctx context.Context) (reply, error) {
			return sc.api.do(ctx, http.MethodGet, gw.URL+"/api/v1/auth/me", nil, u.auth()...)
		}},
		{name: "POST /api/v1/sendText (API key, synchronous)", check: func(ctx context.Context) (reply, error) {
			return sc.send(ctx, gw.URL, tenants[0], false, nil)
		}},
		{name: "POST /api/v1/sendText?async=true (API key)", check: func(ctx context.Context) (reply, error) {
			return sc.send(ctx, gw.URL, tenants[1], true, nil)
		}},
	}
	for _, p := range probes {
		p.tally = newTally()
	}
	sc.suite.redis.Kill()
	stoppedAt := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { runProbes(stop, probes); close(done) }()
	sawDown := waitFor(ctx, outage, func() bool {
		h, err := gw.detailed(ctx)
		return err == nil && h.Status == http.StatusServiceUnavailable && h.Redis != "up"
	})
	<-time.After(time.Until(stoppedAt.Add(outage)))
	close(stop)
	<-done
	alive := gw.Alive()
	if err := sc.suite.redis.Start(ctx); err != nil {
		t.Fatalf("restart Redis: %v", err)
	}
	restartedAt := time.Now()
	for _, p := range probes {
		sc.countRequests(p.tally)
		sc.fact(t, p.name+" while Redis was down", "%s", p.tally)
	}
	sc.fact(t, "Outage", "%s; readiness reported Redis down: %v; gateway process still running: %v", outage, sawDown, alive)
	if !sawDown || !alive {
		t.Errorf("readiness did not report Redis down (%v) or the gateway died (alive %v)", sawDown, alive)
	}
	wantAll := map[string]int{"GET /health (liveness)": 200, "GET /health/detailed (readiness)": 503,
		"GET /api/v1/auth/me (JWT)": 200, "POST /api/v1/sendText (API key, synchronous)": 200,
		"POST /api/v1/sendText?async=true (API key)": 202}
	for _, p := range probes {
		if want := wantAll[p.name]; p.tally.status(want) != p.tally.requests || p.tally.slowest > 5*time.Second {
			t.Errorf("%s: want every answer %d within 5 s, got %s", p.name, want, p.tally)
		}
	}

	ready := waitFor(ctx, 30*time.Second, func() bool {
		h, err := gw.detailed(ctx)
		return err == nil && h.Status == http.StatusOK && h.Leader
	})
	sc.fact(t, "Redis back → ready and leading again (same process)", "%s", time.Since(restartedAt).Round(10*time.Millisecond))
	if !ready {
		t.Errorf("not ready (or not leading) within 30 s of Redis coming back")
	}
	r, err := sc.send(ctx, gw.URL, tenants[0], false, nil)
	// A send reads its worker from PostgreSQL with its record; the dispatcher looks routes up
	// in Redis, which repairs them.
	queued, queueErr := sc.send(ctx, gw.URL, tenants[0], true, nil)
	rdb := sc.suite.redis.Client()
	defer rdb.Close()
	var route string
	waitFor(ctx, 10*time.Second, func() bool {
		route, _ = rdb.HGet(ctx, sc.keyPrefix+"session_routing", tenants[0].SessionID).Result()
		return route != ""
	})
	sc.fact(t, "First sends after recovery", "sync %d, async %d, quota remaining %d; route of the session back in Redis: %q",
		r.Status, queued.Status, quotaRemaining(r), route)
	if err != nil || r.Status != http.StatusOK || queueErr != nil || queued.Status != http.StatusAccepted || route == "" || quotaRemaining(r) < 0 {
		t.Errorf("after recovery: sync %d (%v), async %d (%v), route %q, quota header %d",
			r.Status, err, queued.Status, queueErr, route, quotaRemaining(r))
	}
	sc.verify(t, 30*time.Second)
}

// TestPostgresRestartedMidTraffic_503NotHangPoolRecoversNothingLost crashes PostgreSQL
// (pg_ctl stop -m immediate) under traffic and starts it again after an outage: requests
// during the outage fail fast with 503, the pool reconnects by itself, and every message
// answered 200 or 202 is in the database and goes out once.
func TestPostgresRestartedMidTraffic_503NotHangPoolRecoversNothingLost(t *testing.T) {
	sc := newScenario(t, "postgres", "PostgreSQL crashed and restarted mid-traffic")
	ctx := context.Background()
	gw, _, _, tenants := sc.fleet(t, nil, "pg-worker", workerOptions{}, 4)
	outage := durations(5*time.Second, 15*time.Second)

	load := sc.startLoad(append(lanesFor(tenants, []string{gw.URL}, true, 25*time.Millisecond),
		lanesFor(tenants, []string{gw.URL}, false, 50*time.Millisecond)...))
	waitFor(ctx, 20*time.Second, func() bool { return len(sc.accepted.all()) >= 100 })
	steady := load.Stop()
	sc.countRequests(steady)
	sc.fact(t, "Before the crash", "%s", steady)

	load = sc.startLoad(append(lanesFor(tenants, []string{gw.URL}, true, 25*time.Millisecond),
		lanesFor(tenants, []string{gw.URL}, false, 50*time.Millisecond)...))
	readiness := &probe{name: "readiness", tally: newTally(), check: func(ctx context.Context) (reply, error) {
		return sc.api.do(ctx, http.MethodGet, gw.URL+"/health/detailed", nil)
	}}
	stop, done := make(chan struct{}), make(chan struct{})
	if err := sc.suite.pg.Stop(ctx, "immediate"); err != nil {
		t.Fatal(err)
	}
	go func() { runProbes(stop, []*probe{readiness}); close(done) }()
	<-time.After(outage)
	during := load.Stop()
	close(stop)
	<-done
	if err := sc.suite.pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restartedAt := time.Now()
	sc.countRequests(during)
	sc.countRequests(readiness.tally)
	sc.fact(t, "Requests during the outage", "%s (outage %s)", during, outage)
	sc.fact(t, "Readiness during the outage", "%s", readiness.tally)
	if n := during.count(500, 502) + during.count(504, 599) + during.transport; n > 0 {
		t.Errorf("%d requests during the outage failed otherwise than 503", n)
	}
	if during.slowest > 10*time.Second {
		t.Errorf("a request hung for %s during the outage", during.slowest)
	}
	if readiness.tally.status(http.StatusServiceUnavailable) == 0 {
		t.Errorf("readiness never said 503 during the outage: %s", readiness.tally)
	}

	recovered := waitFor(ctx, 30*time.Second, func() bool {
		r, err := sc.send(ctx, gw.URL, tenants[0], false, nil)
		return err == nil && r.Status == http.StatusOK
	})
	sc.fact(t, "PostgreSQL back → sends succeed again (same process)", "%s", time.Since(restartedAt).Round(10*time.Millisecond))
	if !recovered {
		t.Fatalf("the gateway did not recover within 30 s of PostgreSQL coming back")
	}
	// A client retries what was refused, with the same Idempotency-Key: the key must not
	// replay the outage's 503.
	sc.accepted.mu.Lock()
	refused := append([]attempt(nil), sc.accepted.refused...)
	sc.accepted.mu.Unlock()
	retries := newTally()
	bySession := map[string][]attempt{}
	for _, a := range refused {
		bySession[a.tenant.SessionID] = append(bySession[a.tenant.SessionID], a)
	}
	var wg sync.WaitGroup
	for _, list := range bySession {
		wg.Go(func() { // in order per session, as the client would
			for _, a := range list {
				_, _ = sc.sendAttempt(ctx, gw.URL, a, retries)
			}
		})
	}
	wg.Wait()
	sc.countRequests(retries)
	sc.fact(t, "Retries of the sends refused with 503, same Idempotency-Key", "%s", retries)
	if n := retries.status(http.StatusServiceUnavailable); n > 0 {
		t.Errorf("%d retries were answered 503 again after recovery (a replayed outage answer)", n)
	}
	after := sc.startLoad(lanesFor(tenants, []string{gw.URL}, true, 25*time.Millisecond))
	soFar := len(sc.accepted.all())
	waitFor(ctx, 20*time.Second, func() bool { return len(sc.accepted.all()) >= soFar+150 })
	tl := after.Stop()
	sc.countRequests(tl)
	sc.fact(t, "After recovery", "%s", tl)
	if n := tl.failed(500); n > 0 {
		t.Errorf("%d failed requests after recovery", n)
	}
	sc.verify(t, 60*time.Second)
}

// ordinal writes 1st, 2nd, 3rd, 4th...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}
