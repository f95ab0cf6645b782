package workers_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workers"
)

const testLeaseTTL = 3 * time.Second

// campaign runs a candidate until the returned stop is called (or the test ends).
func campaign(t *testing.T, l *workers.Leader) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func newCandidate(t *testing.T, keys redisdb.Keys) *workers.Leader {
	t.Helper()
	rdb, _ := testenv.NewRedis(t)
	return workers.NewLeader(rdb, keys, testLeaseTTL, 50*time.Millisecond,
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "leader"}), slog.New(slog.DiscardHandler))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func leaders(candidates ...*workers.Leader) int {
	n := 0
	for _, c := range candidates {
		if c.IsLeader() {
			n++
		}
	}
	return n
}

func TestLeader_ExactlyOneOfThreeLeads_AndAnotherTakesOverWhenItStops(t *testing.T) {
	t.Parallel()
	_, keys := testenv.NewRedis(t)
	candidates := []*workers.Leader{newCandidate(t, keys), newCandidate(t, keys), newCandidate(t, keys)}
	stops := make([]func(), len(candidates))
	for i, c := range candidates {
		stops[i] = campaign(t, c)
	}
	waitFor(t, testLeaseTTL, "a leader is elected", func() bool { return leaders(candidates...) == 1 })
	first := -1
	for i, c := range candidates {
		if c.IsLeader() {
			first = i
		}
	}
	token := candidates[first].FencingToken()
	if !candidates[first].Confirm(context.Background()) || leaders(candidates...) != 1 {
		t.Fatal("the leader could not renew its lease, or another candidate leads too")
	}

	stops[first]() // a graceful stop releases the lease
	if candidates[first].IsLeader() {
		t.Fatal("a stopped candidate still leads")
	}
	took := waitFor(t, testLeaseTTL, "another candidate takes over", func() bool { return leaders(candidates...) == 1 })
	for _, c := range candidates {
		if c.IsLeader() && c.FencingToken() <= token {
			t.Fatalf("new leader's fencing token %d is not above %d", c.FencingToken(), token)
		}
	}
	t.Logf("takeover after a graceful stop: %s", took)
}

func TestLeader_LeaseTakenAway_TheHolderStepsDownOnItsNextRenewal(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	a := newCandidate(t, keys)
	campaign(t, a)
	waitFor(t, testLeaseTTL, "the candidate leads", a.IsLeader)
	term, ok := a.Term()
	if !ok {
		t.Fatal("a leader has no term")
	}

	// Another process now holds the lease (as after a Redis failover that lost the key).
	if err := rdb.Set(context.Background(), a.LeaseKey(), "someone-else:999", testLeaseTTL).Err(); err != nil {
		t.Fatal(err)
	}
	if a.Confirm(context.Background()) {
		t.Fatal("Confirm reports leadership over a lease held by someone else")
	}
	select {
	case <-term.Done():
	default:
		t.Fatal("the term's context is still alive after the lease was lost")
	}
}

func TestLeader_RedisUnreachable_TheHolderStopsLeadingBeforeTheLeaseCouldExpire(t *testing.T) {
	t.Parallel()
	_, keys := testenv.NewRedis(t)
	own, err := redisdb.Open(context.Background(), testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	a := workers.NewLeader(own, keys, testLeaseTTL, 50*time.Millisecond,
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "leader"}), slog.New(slog.DiscardHandler))
	campaign(t, a)
	waitFor(t, testLeaseTTL, "the candidate leads", a.IsLeader)
	lostAt := time.Now()
	_ = own.Close() // every renewal fails from now on

	b := newCandidate(t, keys)
	campaign(t, b)
	// a must step down on its own before b can possibly hold the lease, and b takes over once
	// the lease expired in Redis.
	for !b.IsLeader() {
		if a.IsLeader() && time.Since(lostAt) > testLeaseTTL {
			t.Fatal("the old holder still leads after its lease could have expired")
		}
		if time.Since(lostAt) > 2*testLeaseTTL {
			t.Fatal("no takeover within two lease TTLs")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.IsLeader() {
		t.Fatal("two candidates lead at once")
	}
	if took := time.Since(lostAt); took > testLeaseTTL+200*time.Millisecond {
		t.Fatalf("takeover took %s, want within the TTL plus one poll", took)
	}
}
