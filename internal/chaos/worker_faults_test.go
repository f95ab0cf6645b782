//go:build chaos

package chaos

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// TestWorkerKilledMidTraffic_SessionsFailOverAndQueuedMessagesGoOutOnceInOrder crashes the
// worker that runs every session while customers send (queued and synchronous): the health
// monitor takes it OFFLINE, failover places the sessions on the other worker, and every
// queued message goes out there, once, in order.
func TestWorkerKilledMidTraffic_SessionsFailOverAndQueuedMessagesGoOutOnceInOrder(t *testing.T) {
	sc := newScenario(t, "worker", "worker killed mid-traffic (crash, no goodbye)")
	gw, doomed, _, tenants := sc.fleet(t, nil, "doomed", workerOptions{}, 4)
	sc.startWorker(t, gw.URL, "survivor", workerOptions{})

	lanes := lanesFor(tenants, []string{gw.URL}, true, 25*time.Millisecond)
	lanes = append(lanes, lanesFor(tenants[:2], []string{gw.URL}, false, 50*time.Millisecond)...)
	load := sc.startLoad(lanes)
	waitFor(context.Background(), 10*time.Second, func() bool { return sc.ledger.total() >= 40 })
	sentBefore := sc.ledger.total()
	crashedAt := time.Now()
	doomed.Crash()
	sc.fact(t, "Sends by the doomed worker before it crashed", "%d", sentBefore)

	// Failover: every session CONNECTED again, on the survivor.
	moved := waitFor(context.Background(), 30*time.Second, func() bool {
		var n int
		err := sc.db.QueryRow(context.Background(), `SELECT count(*) FROM sessions s JOIN workers w ON w.id = s.worker_id
			WHERE s.id = ANY($1) AND s.status = 'CONNECTED' AND w.endpoint <> $2`, sessionIDs(tenants), doomed.Endpoint).Scan(&n)
		return err == nil && n == len(tenants)
	})
	failover := time.Since(crashedAt)
	if !moved {
		t.Fatalf("sessions not failed over within 30 s")
	}
	sc.fact(t, "Crash → every session CONNECTED on the other worker", "%s (health round %s, 3 failed checks take a worker OFFLINE)",
		failover.Round(100*time.Millisecond), healthInterval)
	// Keep sending a little on the new worker, then stop.
	waitFor(context.Background(), 10*time.Second, func() bool { return sc.ledger.total() >= sentBefore+40 })
	tl := load.Stop()
	sc.countRequests(tl)
	sc.fact(t, "Requests during the fault", "%s", tl)
	if n := tl.count(500, 502) + tl.transport; n > 0 {
		t.Errorf("%d answers were 500–502 or cut (want 503 for a dead worker, never an internal error)", n)
	}
	sc.verify(t, 30*time.Second)
}

// TestWorkerHangs_TimeoutsAndBreakerKeepServerResponsiveWithoutLeak makes a worker's engine
// hang on every call while its /health still answers (a wedged process): sends to its
// sessions time out and then fail fast once its circuit breaker opens, sessions on another
// worker and the health endpoints are not slowed down, and the gateway's goroutines come
// back to where they were.
func TestWorkerHangs_TimeoutsAndBreakerKeepServerResponsiveWithoutLeak(t *testing.T) {
	sc := newScenario(t, "worker", "worker hangs (engine blocks, /health answers)")
	ctx := context.Background()
	gw, hung, u, victims := sc.fleet(t, nil, "hung", workerOptions{}, 2)
	sc.startWorker(t, gw.URL, "healthy", workerOptions{})
	// Placement fills the least loaded worker first: the bystanders land on the healthy one.
	bystanders := sc.api.createSessions(t, gw.URL, u, "fine", 2)
	sc.connectAll(t, gw.URL, u, bystanders)
	var onHung int
	if err := sc.db.QueryRow(ctx, `SELECT count(*) FROM sessions s JOIN workers w ON w.id = s.worker_id
		WHERE s.id = ANY($1) AND w.endpoint = $2`, sessionIDs(bystanders), hung.Endpoint).Scan(&onHung); err != nil || onHung > 0 {
		t.Fatalf("bystander sessions placed on the hung worker (%d, %v)", onHung, err)
	}

	// The same load without the fault first, so that the connections it needs exist when the
	// goroutines are counted; the client's idle connections are closed before each count.
	lanes := func() []lane {
		return append(append(lanesFor(append(victims, victims...), []string{gw.URL}, false, 50*time.Millisecond),
			lanesFor(victims, []string{gw.URL}, true, 100*time.Millisecond)...),
			lanesFor(bystanders, []string{gw.URL}, false, 50*time.Millisecond)...)
	}
	warm := sc.startLoad(lanes())
	waitFor(ctx, 10*time.Second, func() bool { return sc.ledger.total() >= 100 })
	sc.countRequests(warm.Stop())
	sc.api.http.CloseIdleConnections()
	before := gw.settledGoroutines(ctx, 10*time.Second)

	hung.Engine.SetFaults(simengine.Faults{Hang: true})
	hangFor := durations(15*time.Second, 40*time.Second)
	victimLoad := sc.startLoad(append(
		lanesFor(append(victims, victims...), []string{gw.URL}, false, 50*time.Millisecond),
		lanesFor(victims, []string{gw.URL}, true, 100*time.Millisecond)...))
	bystanderLoad := sc.startLoad(lanesFor(bystanders, []string{gw.URL}, false, 50*time.Millisecond))
	health := newTally()
	peak := before
	// Probe /health and count goroutines every 100 ms for as long as the hang lasts.
	tick := time.NewTicker(100 * time.Millisecond)
	for deadline := time.Now().Add(hangFor); time.Now().Before(deadline); <-tick.C {
		r, err := sc.api.do(ctx, http.MethodGet, gw.URL+"/health", nil)
		health.add(r, err)
		if n, err := gw.goroutines(ctx); err == nil {
			peak = max(peak, n)
		}
	}
	tick.Stop()
	victimTally, bystanderTally := victimLoad.Stop(), bystanderLoad.Stop()
	hung.Engine.SetFaults(simengine.Faults{})
	for _, tl := range []*tally{victimTally, bystanderTally, health} {
		sc.countRequests(tl)
	}
	sc.fact(t, "Hang lasted", "%s", hangFor)
	sc.fact(t, "Sends to the hung worker's sessions", "%s", victimTally)
	sc.fact(t, "Sends to the other worker's sessions", "%s", bystanderTally)
	sc.fact(t, "GET /health meanwhile", "%s", health)
	if victimTally.slowest > 15*time.Second {
		t.Errorf("a send to the hung worker took %s (the worker call times out at 10 s)", victimTally.slowest)
	}
	if n := victimTally.status(200); n > 0 {
		t.Errorf("%d synchronous sends to the hung worker succeeded", n)
	}
	if bystanderTally.count(200, 200) != bystanderTally.requests || bystanderTally.slowest > 2*time.Second {
		t.Errorf("the other worker's sessions suffered: %s", bystanderTally)
	}
	if health.slowest > time.Second || health.status(200) != health.requests {
		t.Errorf("/health suffered: %s", health)
	}
	if victimTally.status(503) == 0 {
		t.Errorf("no 503 for the hung worker's sessions: %s", victimTally)
	}

	sc.api.http.CloseIdleConnections()
	after := gw.settledGoroutines(ctx, 30*time.Second)
	sc.fact(t, "Gateway goroutines before / peak / after", "%d / %d / %d", before, peak, after)
	// A few goroutines of slack: idle keep-alive connections to the workers come and go.
	if after > before+6 {
		t.Errorf("goroutines grew from %d to %d after the hang ended", before, after)
	}
	// The breaker closes on the next good health check; queued sends then go out.
	sc.verify(t, 60*time.Second)
}

// TestWorkerAnswersGarbageOr500_ClientsGet502AndQueuedMessagesGoOutOnce puts a worker through
// three bad answers to sends: 500 with an error body, 200 with a body that is not JSON (the
// send not performed), and the send performed but answered with garbage. Synchronous sends
// answer 502 worker_error (never 500 or a hang), queued ones are retried and go out once:
// the retry of a send the worker did perform is answered from its clientMessageId memory.
func TestWorkerAnswersGarbageOr500_ClientsGet502AndQueuedMessagesGoOutOnce(t *testing.T) {
	sc := newScenario(t, "worker", "worker answers 500 / garbage JSON")
	gw, bad, _, tenants := sc.fleet(t, nil, "garbled", workerOptions{}, 3)

	// Each answer lasts until the synchronous sends have met it this many times.
	per := 20
	if !testing.Short() {
		per = 100
	}
	for _, mode := range []struct {
		answer int32
		name   string
	}{
		{answerStatus500, "500 with an error body"},
		{answerGarbage, "200 with a body that is not JSON, send not performed"},
		{answerGarbageAfterSend, "send performed, then a body that is not JSON"},
	} {
		// While a performed send is answered with garbage, the phase also lasts until the
		// worker has performed a queued send and answered it with garbage: the dispatcher
		// retries that send after the fault, and the worker must answer it from its memory.
		// (A dispatcher retry alone is not enough: it may be of a send the previous answer
		// refused, still in flight when the answer changed.)
		bad.answer.Store(mode.answer)
		load := sc.startLoad(append(lanesFor(tenants, []string{gw.URL}, false, 40*time.Millisecond),
			lanesFor(tenants, []string{gw.URL}, true, 40*time.Millisecond)...))
		met := waitFor(context.Background(), 60*time.Second, func() bool {
			return load.Tally.status(http.StatusBadGateway) >= per &&
				(mode.answer != answerGarbageAfterSend || bad.garbledAny(asyncIDs(sc.accepted.all())))
		})
		tl := load.Stop()
		if !met {
			t.Errorf("%s: fewer than %d answers 502 within 60 s: %s", mode.name, per, tl)
		}
		sc.countRequests(tl)
		sc.fact(t, "Answer: "+mode.name, "%s", tl)
		if n := tl.count(500, 501) + tl.count(503, 599) + tl.transport; n > 0 {
			t.Errorf("%s: %d answers other than 502 for a misbehaving worker", mode.name, n)
		}
		if tl.status(http.StatusBadGateway) == 0 {
			t.Errorf("%s: no 502 worker_error", mode.name)
		}
		if tl.slowest > 5*time.Second {
			t.Errorf("%s: a request took %s", mode.name, tl.slowest)
		}
	}
	bad.answer.Store(answerNormal)
	v := sc.verify(t, 60*time.Second)
	if v.Deduplicated == 0 {
		t.Errorf("no retry was answered from the worker's memory, yet sends were performed and answered with garbage")
	}
}

// asyncIDs are the IDs of the queued sends among msgs.
func asyncIDs(msgs []accepted) []string {
	var ids []string
	for _, m := range msgs {
		if m.Async {
			ids = append(ids, m.ID)
		}
	}
	return ids
}
