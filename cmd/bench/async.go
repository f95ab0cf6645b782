package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wagateway/gateway/internal/bench"
)

// Async sends: a burst of acceptances builds a backlog that the dispatcher drains, then one
// message in flight per session measures the end-to-end time without a backlog.
const (
	asyncSessions = 16 // the dispatcher sends up to 16 sessions at a time
	// asyncAcceptWindow bounds the burst: acceptance outpaces delivery, and the backlog it
	// leaves must drain within the deadline.
	asyncAcceptWindow  = 5 * time.Second
	asyncDrainDeadline = 60 * time.Second
	quickAsyncDrain    = 30 * time.Second
	asyncLightWindow   = 5 * time.Second
	asyncMessage       = "Hello from the gateway benchmark (async)"
	sentPollInterval   = 500 * time.Microsecond
	sentWaitDeadline   = 30 * time.Second
)

func runSendAsync(ctx context.Context, e *env) (sc bench.Scenario, err error) {
	window := min(e.opts.duration, asyncAcceptWindow)
	drainDeadline := asyncDrainDeadline
	if e.opts.quick {
		drainDeadline = quickAsyncDrain
	}
	sc.Description = fmt.Sprintf("POST /api/v1/sendText?async=true answers 202 QUEUED once the message is stored; the dispatcher "+
		"then delivers each session's queue in order to the simworker (fast, receipts off). %d sessions of one tenant, "+
		"the gateway restarted with SEND_MIN_INTERVAL_MS=1 for this scenario (per-session pacing off: this measures the "+
		"dispatcher, not the pacing policy, whose default is one message per second per session). Four phases: acceptance alone "+
		"from %d connections for %s, each send scheduled an hour ahead (scheduledAt) on %d other sessions, so that the "+
		"dispatcher has nothing due and the CPUs serve acceptance only (those messages are cancelled afterwards, then messages vacuumed); acceptance "+
		"of sends due at once for %s (closed loop; delivery runs meanwhile and shares the CPUs); the backlog left is drained "+
		"(at most %s; its row's latency is each message's time from its record to its send, backlog included, and its CPU is "+
		"the drain's); then one message in flight per session for %s, each timed from the request until the simworker has "+
		"sent it.", asyncSessions, e.opts.connections, window, asyncSessions, window, drainDeadline, min(e.opts.duration, asyncLightWindow))
	// Pacing off for this scenario only: at 1 ms the dispatcher also polls the queue every
	// 20 ms, which the other scenarios should not pay for.
	if err := e.restartGateway(ctx, map[string]string{"SEND_MIN_INTERVAL_MS": "1"}); err != nil {
		return sc, err
	}
	defer func() {
		if ctx.Err() == nil {
			err = errors.Join(err, e.restartGateway(ctx, nil))
		}
	}()
	sim, err := e.startSimWorker(ctx, "bench-sim-async", 100)
	if err != nil {
		return sc, err
	}
	defer func() { err = errors.Join(err, sim.close()) }()
	sessions, err := e.connectedSessions(ctx, sim, "bench-async", asyncSessions)
	if err != nil {
		return sc, err
	}
	ids := make([]string, len(sessions))
	headers := make([]http.Header, len(sessions))
	for i, s := range sessions {
		ids[i], headers[i] = s.id, jsonHeader("X-API-Key", s.apiKey)
	}

	aloneRounds, err := acceptAlone(ctx, e, sim, window)
	alone := medianRound(aloneRounds)
	sc.Rows = append(sc.Rows, bench.LoadRow("accept alone: POST /api/v1/sendText?async=true, scheduled an hour ahead → 202", "msg/s", alone))
	if err != nil {
		return sc, err
	}
	if len(aloneRounds) > 1 {
		sc.Facts = append(sc.Facts, bench.TextFact("accept alone, throughput of each round (msg/s; the row shows the median round)",
			roundsText([]sendTarget{{id: "accept"}}, map[string][]bench.LoadResult{"accept": aloneRounds})))
	}
	// The ratios come from the sync scenario's rotation when it measured the acceptance there
	// (adjacent to the floors); otherwise from this measurement and theirs, minutes apart.
	if e.naiveThroughput > 0 && !e.acceptMeasured {
		sc.Facts = append(sc.Facts, bench.Fact{Name: ratioAsyncFact, Value: ratio(alone.Throughput(), e.naiveThroughput), Unit: "x"})
	}
	if e.floorAcceptThroughput > 0 && !e.acceptMeasured {
		sc.Facts = append(sc.Facts, bench.Fact{Name: ratioAsyncFloorFact, Value: ratio(alone.Throughput(), e.floorAcceptThroughput), Unit: "x"})
	}
	send := func(worker int) request {
		return request{method: http.MethodPost, url: e.baseURL + "/api/v1/sendText?async=true", header: headers[worker%len(headers)],
			body: fmt.Appendf(nil, `{"to":%q,"message":%q}`, sendTo, asyncMessage), expect: http.StatusAccepted,
			expectBody: []byte(`"status":"QUEUED"`)}
	}

	accept, dials, err := e.runHTTPLoad(ctx, e.opts.connections, window, send)
	sc.Rows = append(sc.Rows, bench.LoadRow("accept: POST /api/v1/sendText?async=true → 202", "msg/s", accept))
	if err != nil {
		return sc, err
	}
	accepted := accept.AllOps - accept.AllErrors
	before, err := queueCounts(ctx, e, ids)
	if err != nil {
		return sc, err
	}

	drainStart := time.Now()
	meter := bench.StartMeter(e.meter(0))
	var after counts
	drainErr := waitFor(ctx, drainDeadline, "drain the queue", func() (bool, error) {
		var err error
		after, err = queueCounts(ctx, e, ids)
		return after.queued == 0, err
	})
	drainUsage := meter.Stop()
	drainTime := time.Since(drainStart)
	if ctx.Err() != nil {
		return sc, ctx.Err()
	}
	drained := drainErr == nil
	delivery, err := deliveryRow(ctx, e, ids, after, drainUsage)
	if err != nil {
		return sc, err
	}
	sc.Rows = append(sc.Rows, delivery)
	sc.Facts = append(sc.Facts,
		bench.Fact{Name: "Accepted (202) in the burst, warm-up included", Value: float64(accepted)},
		bench.Fact{Name: "Delivered while the burst ran", Value: float64(before.sent)},
		bench.Fact{Name: "Backlog when the burst ended", Value: float64(before.queued)},
		bench.Fact{Name: "Time to drain it", Value: drainTime.Seconds(), Unit: "s"},
		bench.Fact{Name: "Connections the client opened", Value: float64(dials)},
	)
	if !drained {
		sc.Facts = append(sc.Facts, bench.TextFact("Backlog left after the deadline",
			fmt.Sprintf("%d still QUEUED after %s: the end-to-end phase is skipped", after.queued, drainDeadline)))
		sc.Headline = fmt.Sprintf("accepts %s msg/s (p99 %s); delivers %s msg/s; a backlog of %d did not drain within %s",
			bench.FormatNumber(accept.Throughput()), bench.FormatMillis(p99(accept)), bench.FormatNumber(delivery.Throughput),
			before.queued, drainDeadline)
		return sc, asyncIntegrity(sim, accepted, after, &sc)
	}

	light, err := oneInFlight(ctx, e, sim, sessions, send)
	sc.Rows = append(sc.Rows, bench.LoadRow("end to end, one in flight per session (latency: request → sent)", "msg/s", light))
	if err != nil {
		return sc, err
	}
	// The last sends reached the simworker before the dispatcher committed them: let it finish.
	var final counts
	if err := waitFor(ctx, setupDeadline, "record the last async sends", func() (bool, error) {
		var err error
		final, err = queueCounts(ctx, e, ids)
		return final.queued == 0 && final.sent >= int64(sim.engine.SentTotal()), err
	}); err != nil && ctx.Err() != nil {
		return sc, err
	}
	if err := asyncIntegrity(sim, accepted+light.AllOps-light.AllErrors, final, &sc); err != nil {
		return sc, err
	}
	sc.Headline = fmt.Sprintf("accepts %s msg/s alone (p99 %s), %s msg/s while delivering (p99 %s); the dispatcher delivers %s msg/s from a backlog; end to end %s p50 / %s p99 with one in flight per session",
		bench.FormatNumber(alone.Throughput()), bench.FormatMillis(p99(alone)),
		bench.FormatNumber(accept.Throughput()), bench.FormatMillis(p99(accept)), bench.FormatNumber(delivery.Throughput),
		bench.FormatMillis(bench.Millis(light.Latency.Percentile(50))), bench.FormatMillis(p99(light)))
	return sc, nil
}

// counts are the async messages of the scenario's sessions by status.
type counts struct {
	queued, sent, failed int64
}

func queueCounts(ctx context.Context, e *env, sessionIDs []string) (counts, error) {
	var c counts
	err := e.app.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'QUEUED'), count(*) FILTER (WHERE status = 'SENT'),
		       count(*) FILTER (WHERE status = 'FAILED')
		FROM messages WHERE session_id = ANY($1) AND direction = 'OUTBOUND'`, sessionIDs).Scan(&c.queued, &c.sent, &c.failed)
	if err != nil {
		return c, fmt.Errorf("count queued messages: %w", err)
	}
	return c, nil
}

// deliveryRow describes the dispatcher's work from the database: messages SENT per second
// from the first to the last send, and each message's time from its record to its send.
func deliveryRow(ctx context.Context, e *env, sessionIDs []string, c counts, usage bench.Usage) (bench.Row, error) {
	rows, err := e.app.DB.Query(ctx, `SELECT extract(epoch FROM sent_at - created_at), extract(epoch FROM sent_at)
		FROM messages WHERE session_id = ANY($1) AND status = 'SENT' AND sent_at IS NOT NULL`, sessionIDs)
	if err != nil {
		return bench.Row{}, fmt.Errorf("read send times: %w", err)
	}
	defer rows.Close()
	hist := bench.NewHistogram()
	first, last := 0.0, 0.0
	for rows.Next() {
		var wait, at float64
		if err := rows.Scan(&wait, &at); err != nil {
			return bench.Row{}, fmt.Errorf("read send times: %w", err)
		}
		hist.Record(time.Duration(wait * float64(time.Second)))
		if first == 0 || at < first {
			first = at
		}
		last = max(last, at)
	}
	if err := rows.Err(); err != nil {
		return bench.Row{}, fmt.Errorf("read send times: %w", err)
	}
	span := last - first
	row := bench.Row{Name: "deliver: the dispatcher drains the backlog (latency: stored → sent)",
		Unit: "msg/s", Ops: int64(hist.Count()) + c.failed, Errors: c.failed, WindowSeconds: span}
	if span > 0 {
		row.Throughput = float64(hist.Count()) / span
	}
	latency := hist.Summary()
	row.Latency = &latency
	usage.SetOps(int64(hist.Count()))
	row.Usage = &usage
	return row, nil
}

// oneInFlight keeps one async message in flight per session: send, then wait until the
// simworker has sent it, and again. The latency is the customer's end to end.
func oneInFlight(ctx context.Context, e *env, sim *simWorker, sessions []tenantSession, send func(int) request) (bench.LoadResult, error) {
	client := newLoadClient(len(sessions))
	defer client.close()
	return bench.RunLoad(ctx, bench.LoadConfig{Workers: len(sessions), Warmup: e.opts.warmup / 2,
		Duration: min(e.opts.duration, asyncLightWindow), Meter: e.meter(0)}, func(ctx context.Context, worker int) error {
		session := sessions[worker].id
		before := sentCount(sim, session)
		raw, err := client.doBody(ctx, worker, send(worker))
		if err != nil {
			return err
		}
		var answer struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &answer); err != nil || answer.Data.ID == "" {
			return fmt.Errorf("202 without a message ID: %s", truncate(string(raw), 200))
		}
		deadline := time.Now().Add(sentWaitDeadline)
		for sentCount(sim, session) == before {
			if time.Now().After(deadline) {
				return fmt.Errorf("message %s not sent within %s", answer.Data.ID, sentWaitDeadline)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(sentPollInterval):
			}
		}
		return nil
	})
}

func sentCount(sim *simWorker, sessionID string) int {
	n := 0
	for _, c := range sim.engine.Sent(sessionID) {
		n += c
	}
	return n
}

// asyncIntegrity checks that every accepted message was delivered once or is still queued,
// and that the simworker sent each delivered message exactly once.
func asyncIntegrity(sim *simWorker, accepted int64, c counts, sc *bench.Scenario) error {
	var problems []error
	if c.sent+c.queued+c.failed != accepted {
		problems = append(problems, fmt.Errorf("accepted %d async sends but the database holds %d SENT, %d QUEUED, %d FAILED",
			accepted, c.sent, c.queued, c.failed))
	}
	if got := int64(sim.engine.SentTotal()); got != c.sent {
		problems = append(problems, fmt.Errorf("the simworker sent %d messages, the database says %d SENT", got, c.sent))
	}
	if len(problems) == 0 {
		sc.Facts = append(sc.Facts, bench.TextFact("Integrity", fmt.Sprintf(
			"each of the %s accepted messages is SENT (%s) or still QUEUED (%d), none FAILED unexpectedly (%d); the simworker sent each SENT one exactly once",
			bench.FormatNumber(float64(accepted)), bench.FormatNumber(float64(c.sent)), c.queued, c.failed)))
	}
	return errors.Join(problems...)
}

// acceptAlone measures acceptance with nothing to deliver, once per round: every send is
// scheduled an hour ahead, on sessions of their own, and cancelled after each round so that it
// never reaches the dispatcher (nor the queue counts of the other phases).
func acceptAlone(ctx context.Context, e *env, sim *simWorker, window time.Duration) ([]bench.LoadResult, error) {
	sessions, err := e.connectedSessions(ctx, sim, "bench-async-later", asyncSessions)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(sessions))
	headers := make([]http.Header, len(sessions))
	for i, s := range sessions {
		ids[i], headers[i] = s.id, jsonHeader("X-API-Key", s.apiKey)
	}
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	body := fmt.Appendf(nil, `{"to":%q,"message":%q,"scheduledAt":%q}`, sendTo, asyncMessage, at)
	var rounds []bench.LoadResult
	for range e.opts.rounds {
		res, _, err := e.runHTTPLoad(ctx, e.opts.connections, window, func(worker int) request {
			return request{method: http.MethodPost, url: e.baseURL + "/api/v1/sendText?async=true", header: headers[worker%len(headers)],
				body: body, expect: http.StatusAccepted, expectBody: []byte(`"status":"QUEUED"`)}
		})
		rounds = append(rounds, res)
		if err != nil {
			return rounds, err
		}
		var due int64
		if err := e.app.DB.QueryRow(ctx, `SELECT count(*) FROM messages WHERE session_id = ANY($1) AND status NOT IN ('QUEUED', 'CANCELLED')`, ids).Scan(&due); err != nil {
			return rounds, fmt.Errorf("count the scheduled sends: %w", err)
		}
		if due > 0 {
			return rounds, fmt.Errorf("%d sends scheduled an hour ahead left the queue", due)
		}
		if err := cancelScheduled(ctx, e, ids); err != nil {
			return rounds, err
		}
	}
	return rounds, nil
}
