package httpapi_test

import (
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// Durable async sends and idempotency keys across replicas, restarts and worker outages
// (prefix dur). The worker is a simworker behind a recording proxy, so every send that
// reaches it is counted by its clientMessageId.

// durGateway is a gateway for these tests: retries fast and never give up, no background
// health rounds (a worker outage must not fail sessions over), limits that never refuse.
// opts share a database and Redis prefix with another gateway.
func durGateway(t testing.TB, opts testenv.Options) *testenv.Gateway {
	t.Helper()
	env := map[string]string{
		"SEND_MIN_INTERVAL_MS": "1", "SEND_RETRY_BASE_MS": "20", "SEND_RETRY_MAX_MS": "200", "SEND_MAX_ATTEMPTS": "1000",
		"WORKER_HEALTH_CHECK_INTERVAL": "3600000", "AUTH_RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_MAX_REQUESTS": "100000000",
		"TIER_LIMITS": `{"BASIC":{"sessions":100,"messagesPerHour":1000000,"apiCallsPerHour":1000000}}`,
	}
	maps.Copy(env, opts.Env)
	opts.Env = env
	return testenv.NewGateway(t, opts)
}

// durLive serves a gateway with a simworker and n connected sessions dur-1…dur-n, and
// returns it with their API keys.
func durLive(t testing.TB, env map[string]string, n int) (*sesLive, []string) {
	t.Helper()
	g := durGateway(t, testenv.Options{Env: env})
	baseURL, _ := g.Serve(t)
	l := &sesLive{Gateway: g, URL: baseURL, Sim: sesStartSim(t, g, baseURL, "sim-dur", simengine.Config{})}
	u := sesNewUser(t, g)
	keys := make([]string, n)
	for i := range keys {
		_, keys[i] = l.connectedSession(t, u, fmt.Sprintf("dur-%d", i+1))
	}
	return l, keys
}

// durQueue queues n async texts "<label>-<i>" through the API key and returns their IDs in order.
func durQueue(t testing.TB, g *testenv.Gateway, key, label string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		res := msgSend(t, g, key, "sendText?async=true", map[string]any{"to": "6281234567890", "message": fmt.Sprintf("%s-%d", label, i)})
		if res.Code != http.StatusAccepted {
			t.Fatalf("queue %s-%d: %d %s", label, i, res.Code, res.Body)
		}
		ids[i] = sesData(t, res)["id"].(string)
	}
	return ids
}

// durSends returns the clientMessageIds of the sends the worker received for the session,
// in order of arrival.
func durSends(sim *sesSim, sessionID string) []string {
	var ids []string
	for _, r := range sim.Wire("/api/sessions/" + sessionID + "/send") {
		id, _ := r.Body["clientMessageId"].(string)
		ids = append(ids, id)
	}
	return ids
}

// durCountStatus counts the messages among ids in status.
func durCountStatus(t testing.TB, g *testenv.Gateway, ids []string, status string) int {
	t.Helper()
	return sesCount(t, g, `SELECT count(*) FROM messages WHERE id = ANY($1::uuid[]) AND status = $2::message_status`, ids, status)
}

func durWaitSent(t testing.TB, g *testenv.Gateway, ids []string, within time.Duration) {
	t.Helper()
	sesEventually(t, within, fmt.Sprintf("%d messages SENT", len(ids)), func() bool {
		return durCountStatus(t, g, ids, "SENT") == len(ids)
	})
}

// durExactlyInOrder checks that the worker received exactly want, each once, in this order.
func durExactlyInOrder(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: the worker received %d sends %v, want exactly the %d queued %v, once each and in order",
			what, len(got), got, len(want), want)
	}
}

func TestIdempotencyKey_RacingOnTwoServers_ReachesTheWorkerOnceAndBothAnswerAlike(t *testing.T) {
	t.Parallel()
	l, keys := durLive(t, nil, 1)
	other := durGateway(t, testenv.Options{DatabaseURL: l.DatabaseURL, KeyPrefix: l.KeyPrefix})
	other.Serve(t)
	servers := []*testenv.Gateway{l.Gateway, other}

	const racers = 12
	body := map[string]any{"to": "6281234567890", "message": "exactly once"}
	answers := make([]testenv.Response, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			answers[i] = servers[i%2].Do(t, http.MethodPost, "/api/v1/sendText", body, "X-API-Key", keys[0], "Idempotency-Key", "two-servers-1")
		})
	}
	close(start)
	wg.Wait()

	var first map[string]any
	replayed := 0
	for i, res := range answers {
		if res.Code != http.StatusOK {
			t.Fatalf("answer %d (server %d): %d %s", i, i%2, res.Code, res.Body)
		}
		// The stored answer is jsonb: the same document, not necessarily the same bytes.
		if first == nil {
			first = res.JSON(t)
		}
		if got := res.JSON(t); !reflect.DeepEqual(got, first) {
			t.Fatalf("answer %d (server %d) differs:\n%v\nwant\n%v", i, i%2, got, first)
		}
		if res.Header().Get("Idempotent-Replayed") == "true" {
			replayed++
		}
	}
	if replayed != racers-1 {
		t.Errorf("%d answers replayed, want all but the first (%d)", replayed, racers-1)
	}
	sends := durSends(l.Sim, "dur-1")
	if len(sends) != 1 {
		t.Fatalf("the worker received %d sends for one idempotency key on two servers, want 1: %v", len(sends), sends)
	}
	if n := sesCount(t, l.Gateway, `SELECT count(*) FROM messages WHERE session_id = 'dur-1' AND direction = 'OUTBOUND'`); n != 1 {
		t.Fatalf("%d message records, want 1", n)
	}
}

func TestAsyncSend_ServerRestartWithAQueue_TheNextServerDeliversTheRestOnceInOrder(t *testing.T) {
	t.Parallel()
	// Paced, so that the queue is still being worked on when the first server stops.
	env := map[string]string{"SEND_MIN_INTERVAL_MS": "250"}
	first := durGateway(t, testenv.Options{Env: env})
	baseURL, stopFirst := first.Serve(t)
	l := &sesLive{Gateway: first, URL: baseURL, Sim: sesStartSim(t, first, baseURL, "sim-restart", simengine.Config{})}
	_, key := l.connectedSession(t, sesNewUser(t, first), "restart-1")

	ids := durQueue(t, first, key, "restart", 8)
	sesEventually(t, 10*time.Second, "the first server delivers two", func() bool { return len(durSends(l.Sim, "restart-1")) >= 2 })
	if err := stopFirst(); err != nil {
		t.Fatalf("stop the first server: %v", err)
	}
	before := durSends(l.Sim, "restart-1")
	queued := durCountStatus(t, first, ids, "QUEUED")
	if queued == 0 || queued+len(before) != len(ids) {
		t.Fatalf("after the stop: %d sent, %d still QUEUED, want some queued and every message accounted for", len(before), queued)
	}

	second := durGateway(t, testenv.Options{DatabaseURL: first.DatabaseURL, KeyPrefix: first.KeyPrefix, Env: env})
	second.Serve(t)
	durWaitSent(t, second, ids, 15*time.Second)
	durExactlyInOrder(t, "across the restart", durSends(l.Sim, "restart-1"), ids)
	if sent := l.Sim.Engine.Sent("restart-1")["text"]; sent != len(ids) {
		t.Fatalf("the engine sent %d texts, want %d", sent, len(ids))
	}
}

func TestAsyncSend_WorkerOutage_RetriedThenDeliveredOnceInOrder(t *testing.T) {
	t.Parallel()
	l, keys := durLive(t, nil, 1)
	l.Sim.SetDown(true)
	ids := durQueue(t, l.Gateway, keys[0], "outage", 6)
	sesEventually(t, 10*time.Second, "the head of the queue retried three times", func() bool {
		return sesCount(t, l.Gateway, `SELECT coalesce(max(attempts), 0) FROM messages WHERE id = ANY($1::uuid[]) AND status = 'QUEUED'`, ids) >= 3
	})
	if sent := durCountStatus(t, l.Gateway, ids, "SENT"); sent != 0 || len(durSends(l.Sim, "dur-1")) != 0 {
		t.Fatalf("%d SENT while the worker is down", sent)
	}
	// Strict order: only the head is attempted while the worker is down.
	if tried := sesCount(t, l.Gateway, `SELECT count(*) FROM messages WHERE id = ANY($1::uuid[]) AND attempts > 0`, ids); tried != 1 {
		t.Fatalf("%d messages attempted during the outage, want only the head", tried)
	}

	l.Sim.SetDown(false)
	durWaitSent(t, l.Gateway, ids, 15*time.Second)
	durExactlyInOrder(t, "after the outage", durSends(l.Sim, "dur-1"), ids)
	if failed := durCountStatus(t, l.Gateway, ids, "FAILED"); failed != 0 {
		t.Fatalf("%d FAILED", failed)
	}
}

func TestAsyncSend_TwoReplicasDispatchingOneQueue_NeverDoubleSend(t *testing.T) {
	t.Parallel()
	const sessions, perSession = 6, 15
	l, keys := durLive(t, nil, sessions)
	other := durGateway(t, testenv.Options{DatabaseURL: l.DatabaseURL, KeyPrefix: l.KeyPrefix})
	other.Serve(t)

	queued := make([][]string, sessions)
	var all []string
	for round := range perSession {
		for s := range sessions {
			g := []*testenv.Gateway{l.Gateway, other}[(round+s)%2]
			queued[s] = append(queued[s], durQueue(t, g, keys[s], fmt.Sprintf("r%d", round), 1)...)
		}
	}
	for _, ids := range queued {
		all = append(all, ids...)
	}
	durWaitSent(t, l.Gateway, all, 30*time.Second)

	counts := map[string]int{}
	for s := range sessions {
		got := durSends(l.Sim, fmt.Sprintf("dur-%d", s+1))
		for _, id := range got {
			counts[id]++
		}
		durExactlyInOrder(t, fmt.Sprintf("session dur-%d", s+1), got, queued[s])
	}
	if len(counts) != len(all) {
		t.Fatalf("the worker received %d distinct messages, want %d", len(counts), len(all))
	}
	sentBy := func(g *testenv.Gateway) float64 {
		var m dto.Metric
		if err := g.Metrics.DispatchAttempts.WithLabelValues("sent").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	a, b := sentBy(l.Gateway), sentBy(other)
	if int(a+b) != len(all) {
		t.Fatalf("the replicas counted %v + %v sends, want %d in all", a, b, len(all))
	}
	t.Logf("replica a dispatched %v, replica b %v", a, b)
}

func TestAsyncSend_Pacing_HoldsPerSessionWhileSessionsProceedInParallel(t *testing.T) {
	t.Parallel()
	const interval = 400 * time.Millisecond
	const sessions, perSession = 3, 3
	l, keys := durLive(t, map[string]string{"SEND_MIN_INTERVAL_MS": fmt.Sprint(interval.Milliseconds())}, sessions)

	// Round robin, so that every session has its first message queued before any has a second.
	var all []string
	for i := range perSession {
		for s := range sessions {
			all = append(all, durQueue(t, l.Gateway, keys[s], fmt.Sprintf("paced-%d", i), 1)...)
		}
	}
	durWaitSent(t, l.Gateway, all, 20*time.Second)

	var firsts, seconds []time.Time
	for s := range sessions {
		var at []time.Time
		for _, r := range l.Sim.Wire(fmt.Sprintf("/api/sessions/dur-%d/send", s+1)) {
			at = append(at, r.At)
		}
		if len(at) != perSession {
			t.Fatalf("session dur-%d: %d sends reached the worker, want %d", s+1, len(at), perSession)
		}
		for i := 1; i < len(at); i++ {
			// The pacing clock is stored with microsecond precision.
			if gap := at[i].Sub(at[i-1]); gap < interval-time.Millisecond {
				t.Errorf("session dur-%d: sends %d and %d reached the worker %s apart, below SEND_MIN_INTERVAL_MS %s", s+1, i-1, i, gap, interval)
			}
		}
		firsts, seconds = append(firsts, at[0]), append(seconds, at[1])
	}
	// In parallel: every session's first send went before any session's second, instead of
	// one session's queue after the other's.
	if last, earliest := slices.MaxFunc(firsts, time.Time.Compare), slices.MinFunc(seconds, time.Time.Compare); !last.Before(earliest) {
		t.Fatalf("the last first send (%s) is not before the earliest second send (%s): sessions were not sent in parallel",
			last.Format(time.StampMicro), earliest.Format(time.StampMicro))
	}
}
