package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/bench"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// The sends: one tenant with sendSessions connected sessions on one simulated worker; load
// goroutine i sends through session i mod sendSessions.
const (
	sendSessions  = 8
	sendTo        = "6281234567890"
	sendMessage   = "Hello from the gateway benchmark"
	setupDeadline = 15 * time.Second
)

// sendTargetIDs are the sendText targets, in the order they run; the default runs all but
// the last, which shows what gzip costs the gateway (its answers are a few hundred bytes).
var (
	sendTargetIDs     = []string{"worker", "bare", "naive", "groupcommit", "groupcommit-accept", "gateway", "gateway-accept", "gateway-identity"}
	defaultSendTarget = sendTargetIDs[:len(sendTargetIDs)-1]
)

// Names of the summary's headline facts.
const (
	ratioNaiveFact = "sendText: gateway / naive durable proxy (throughput)"
	ratioBareFact  = "sendText: gateway / bare Go proxy (throughput)"
	// ratioAsyncFact compares the async acceptance alone with the naive proxy's sync sends.
	ratioAsyncFact = "async sendText accepted alone / naive durable proxy (throughput)"
	// The group-committing floor's ratios: what batching the commits alone reaches here.
	ratioFloorSyncFact  = "group-committing floor sendText / naive durable proxy (throughput)"
	ratioFloorAsyncFact = "group-committing floor async accept / naive durable proxy (throughput)"
	// The gateway against the group-committing floor: how much of what batching allows it keeps.
	ratioSyncFloorFact  = "sendText: gateway / group-committing floor (throughput)"
	ratioAsyncFloorFact = "async sendText accepted alone / group-committing floor's accept (throughput)"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// simWorker is a simulated worker running in-process: workerkit with the simulated engine,
// fast (no latency) and without receipts, sessions connected on demand.
type simWorker struct {
	id       string
	endpoint string
	engine   *simengine.Engine
	stop     context.CancelFunc
	done     chan error
}

func (e *env) startSimWorker(ctx context.Context, id string, maxSessions int) (*simWorker, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simworker: %w", err)
	}
	engine := simengine.New(simengine.Config{ConnectDelay: -1, ReceiptDelay: -1, QRInterval: time.Hour})
	wctx, stop := context.WithCancel(ctx)
	w := &simWorker{id: id, endpoint: "http://" + ln.Addr().String(), engine: engine, stop: stop, done: make(chan error, 1)}
	go func() {
		w.done <- workerkit.Run(wctx, workerkit.Config{WorkerID: id, Endpoint: w.endpoint, Listener: ln,
			BackendURL: e.baseURL, SharedToken: e.cfg.WorkerAuthToken, MaxSessions: maxSessions, ShutdownTimeout: 10 * time.Second,
			Engine: engine})
		_ = ln.Close() // already closed unless Run failed before serving
	}()
	err = waitFor(ctx, setupDeadline, "simworker registration", func() (bool, error) {
		select {
		case runErr := <-w.done:
			w.done <- runErr
			return false, fmt.Errorf("simworker stopped: %w", runErr)
		default:
		}
		var status string
		err := e.app.DB.QueryRow(ctx, `SELECT status::text FROM workers WHERE id = $1`, id).Scan(&status)
		return err == nil && status == "ONLINE", nil
	})
	if err != nil {
		return nil, errors.Join(err, w.close())
	}
	return w, nil
}

// close stops the worker (it says goodbye: the gateway releases its sessions and forgets it).
func (w *simWorker) close() error {
	w.stop()
	err := <-w.done
	w.engine.Close()
	if err != nil {
		return fmt.Errorf("simworker %s: %w", w.id, err)
	}
	return nil
}

// tenantSession is a connected session and its API key.
type tenantSession struct {
	id     string
	apiKey string
}

// connectedSessions registers a user with n sessions, connects them through the API (the
// gateway places them on the simulated worker, which shows a QR), scans the QRs and waits
// until the gateway knows them CONNECTED.
func (e *env) connectedSessions(ctx context.Context, sim *simWorker, idPrefix string, n int) ([]tenantSession, error) {
	token, _, _, _, err := e.registerUser(ctx, "sender")
	if err != nil {
		return nil, err
	}
	sessions := make([]tenantSession, n)
	ids := make([]string, n)
	for i := range sessions {
		id := fmt.Sprintf("%s-%02d", idPrefix, i+1)
		var created struct {
			APIKey string `json:"apiKey"`
		}
		if err := e.call(ctx, http.MethodPost, "/api/v1/sessions", token, map[string]string{"name": "Bench sender", "sessionId": id}, &created); err != nil {
			return nil, err
		}
		if err := e.call(ctx, http.MethodPost, "/api/v1/sessions/"+id+"/connect", token, nil, nil); err != nil {
			return nil, err
		}
		if err := waitFor(ctx, setupDeadline, "scan the QR of "+id, func() (bool, error) { return sim.engine.Connect(id) == nil, nil }); err != nil {
			return nil, err
		}
		sessions[i], ids[i] = tenantSession{id: id, apiKey: created.APIKey}, id
	}
	err = waitFor(ctx, setupDeadline, "sessions CONNECTED", func() (bool, error) {
		var connected int
		err := e.app.DB.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE id = ANY($1) AND status = 'CONNECTED'`, ids).Scan(&connected)
		return connected == n, err
	})
	return sessions, err
}

// sendTarget is one of the things sendText is measured against.
type sendTarget struct {
	id   string
	name string
	pick func(worker int) request
}

func runSendSync(ctx context.Context, e *env) (sc bench.Scenario, err error) {
	sc.Description = fmt.Sprintf("POST /api/v1/sendText with an API key, end to end: authentication, validation, quotas (Redis), "+
		"the durable record (group-committed INSERT), routing (Redis), the forward to a fast simulated worker (no latency, "+
		"receipts off) and the recorded answer. %d sessions of one tenant on one in-process simworker; connection i sends through "+
		"session i mod %d. The same closed-loop client, connections and simworker drive floors in the same invocation: "+
		"a bare Go proxy (parse, forward, reply; no database), a naive durable proxy (parse, INSERT, forward, UPDATE, "+
		"each its own commit, pgxpool of %d connections, a table of its own) and a minimal group-committing proxy (the same "+
		"with the INSERTs of concurrent requests in one statement and one commit, likewise the UPDATEs, one flusher each; "+
		"with ?async=true it answers 202 once its INSERT committed and forwards nothing). The gateway's async acceptance (?async=true, "+
		"every send scheduled an hour ahead so that nothing is delivered meanwhile, on 8 sessions of its own; cancelled at the end, then messages vacuumed) "+
		"runs in the same rotation, so that its ratios compare adjacent measurements. The simworker's own send route, hit directly, "+
		"is the ceiling for reference. A CHECKPOINT runs before each target; the database starts empty, like a fresh install.", sendSessions, sendSessions, naivePoolConns)
	sim, err := e.startSimWorker(ctx, "bench-sim-send", 100)
	if err != nil {
		return sc, err
	}
	defer func() { err = errors.Join(err, sim.close()) }()
	sessions, err := e.connectedSessions(ctx, sim, "bench-send", sendSessions)
	if err != nil {
		return sc, err
	}
	keys := make(map[string]string, len(sessions))
	for _, s := range sessions {
		keys[s.apiKey] = s.id
	}
	// The gateway's async acceptance is measured in the same rotation, on sessions of its own:
	// every send is scheduled an hour ahead (nothing is delivered meanwhile) and cancelled
	// at the end.
	var acceptSessions []tenantSession
	if slices.Contains(e.opts.sendTargets, "gateway-accept") {
		if acceptSessions, err = e.connectedSessions(ctx, sim, "bench-accept", sendSessions); err != nil {
			return sc, err
		}
	}
	acceptIDs := make([]string, len(acceptSessions))
	acceptHeaders := make([]http.Header, len(acceptSessions))
	for i, s := range acceptSessions {
		acceptIDs[i], acceptHeaders[i] = s.id, jsonHeader("X-API-Key", s.apiKey)
	}
	acceptBody := fmt.Appendf(nil, `{"to":%q,"message":%q,"scheduledAt":%q}`, sendTo, sendMessage,
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	stopCtx := context.WithoutCancel(ctx)
	pool, err := e.openFloorPool(ctx)
	if err != nil {
		return sc, err
	}
	defer pool.Close()
	floors := map[floorMode]*floorProxy{}
	for _, mode := range []floorMode{floorBare, floorNaive, floorGroupCommit} {
		f, startErr := startFloor(ctx, mode, newForwarder(sim.endpoint, e.cfg.WorkerAuthToken, e.opts.connections), keys, pool)
		if startErr != nil {
			return sc, startErr
		}
		defer func() { err = errors.Join(err, f.close(stopCtx)) }()
		floors[mode] = f
	}

	body := fmt.Appendf(nil, `{"to":%q,"message":%q}`, sendTo, sendMessage)
	viaAPIKey := func(url string, expect []byte, extra ...string) func(int) request {
		headers := make([]http.Header, len(sessions))
		for i, s := range sessions {
			headers[i] = jsonHeader(append([]string{"X-API-Key", s.apiKey}, extra...)...)
		}
		return func(worker int) request {
			return request{method: http.MethodPost, url: url, header: headers[worker%len(sessions)], body: body,
				expect: http.StatusOK, expectBody: expect}
		}
	}
	accepted := func(pick func(int) request) func(int) request {
		return func(worker int) request {
			r := pick(worker)
			r.expect = http.StatusAccepted
			return r
		}
	}
	workerAuth := jsonHeader("Authorization", "Bearer "+e.cfg.WorkerAuthToken)
	targets := []sendTarget{
		{"worker", "simworker send route, hit directly (ceiling, for reference)", func(worker int) request {
			s := sessions[worker%len(sessions)]
			return request{method: http.MethodPost, url: sim.endpoint + "/api/sessions/" + s.id + "/send", header: workerAuth,
				body:   fmt.Appendf(nil, `{"to":%q,"type":"text","message":%q,"clientMessageId":%q}`, sendTo, sendMessage, uuid.NewString()),
				expect: http.StatusOK}
		}},
		{"bare", "bare Go proxy: parse, forward, reply (floor, no database)", viaAPIKey(floors[floorBare].url+"/sendText", []byte(`"SENT"`))},
		{"naive", fmt.Sprintf("naive durable proxy: parse, INSERT, forward, UPDATE (floor, pgxpool %d)", naivePoolConns),
			viaAPIKey(floors[floorNaive].url+"/sendText", []byte(`"SENT"`))},
		{"groupcommit", "group-committing proxy: parse, batched INSERT, forward, batched UPDATE (floor, one commit per batch)",
			viaAPIKey(floors[floorGroupCommit].url+"/sendText", []byte(`"SENT"`))},
		{"groupcommit-accept", "group-committing accept: parse, batched INSERT, 202 (floor of the async acceptance)",
			accepted(viaAPIKey(floors[floorGroupCommit].url+"/sendText?async=true", []byte(`"QUEUED"`)))},
		{"gateway", "gateway POST /api/v1/sendText", viaAPIKey(e.baseURL+"/api/v1/sendText", []byte(`"status":"SENT"`))},
		{"gateway-accept", "gateway POST /api/v1/sendText?async=true, scheduled an hour ahead → 202 (the async acceptance alone)",
			func(worker int) request {
				return request{method: http.MethodPost, url: e.baseURL + "/api/v1/sendText?async=true",
					header: acceptHeaders[worker%len(acceptHeaders)], body: acceptBody, expect: http.StatusAccepted,
					expectBody: []byte(`"status":"QUEUED"`)}
			}},
		{"gateway-identity", "gateway POST /api/v1/sendText, client not accepting gzip", viaAPIKey(e.baseURL+"/api/v1/sendText",
			[]byte(`"status":"SENT"`), "Accept-Encoding", "identity")},
	}
	rounds := map[string][]bench.LoadResult{}
	totals := map[string]bench.LoadResult{} // every round's requests, for the integrity check
	dials := map[string]int64{}
	var served int64
	var order []sendTarget
	for _, t := range targets {
		if slices.Contains(e.opts.sendTargets, t.id) {
			order = append(order, t)
		}
	}
	for range e.opts.rounds {
		for _, t := range order {
			if _, err := e.app.DB.Exec(ctx, "CHECKPOINT"); err != nil {
				return sc, fmt.Errorf("checkpoint: %w", err)
			}
			res, opened, err := e.runHTTPLoad(ctx, e.opts.connections, e.opts.duration, t.pick)
			rounds[t.id] = append(rounds[t.id], res)
			total := totals[t.id]
			total.AllOps, total.AllErrors = total.AllOps+res.AllOps, total.AllErrors+res.AllErrors
			totals[t.id] = total
			dials[t.id] = max(dials[t.id], opened)
			if t.id != "groupcommit-accept" && t.id != "gateway-accept" { // accepted, not forwarded
				served += res.AllOps - res.AllErrors
			}
			if err != nil {
				sc.Rows = append(sc.Rows, bench.LoadRow(t.name, "msg/s", res))
				return sc, err
			}
		}
	}
	results := map[string]bench.LoadResult{}
	for _, t := range order {
		results[t.id] = medianRound(rounds[t.id])
		sc.Rows = append(sc.Rows, bench.LoadRow(t.name, "msg/s", results[t.id]))
		sc.Facts = append(sc.Facts, bench.Fact{Name: "connections the client opened for: " + t.id + " (most in a round)", Value: float64(dials[t.id])})
	}
	if e.opts.rounds > 1 {
		sc.Facts = append(sc.Facts, bench.TextFact("throughput of each round (msg/s; the rows show each target's median round)", roundsText(order, rounds)))
	}
	if err := sendIntegrity(ctx, e, sim, pool, totals, served, &sc); err != nil {
		return sc, err
	}
	if len(acceptIDs) > 0 {
		if err := cancelAccepted(ctx, e, acceptIDs, totals["gateway-accept"]); err != nil {
			return sc, err
		}
	}
	gateway, hasGateway := results["gateway"]
	naiveRes, hasNaive := results["naive"]
	bareRes, hasBare := results["bare"]
	if floor, ok := results["groupcommit-accept"]; ok {
		e.floorAcceptThroughput = floor.Throughput()
	}
	if _, ok := results["gateway-accept"]; ok {
		e.acceptMeasured = true
		if hasNaive {
			sc.Facts = append(sc.Facts, bench.Fact{Name: ratioAsyncFact, Value: medianRatio(rounds["gateway-accept"], rounds["naive"]), Unit: "x"})
		}
		if _, ok := results["groupcommit-accept"]; ok {
			sc.Facts = append(sc.Facts, bench.Fact{Name: ratioAsyncFloorFact, Value: medianRatio(rounds["gateway-accept"], rounds["groupcommit-accept"]), Unit: "x"})
		}
	}
	if _, ok := results["groupcommit"]; ok && hasGateway {
		sc.Facts = append(sc.Facts, bench.Fact{Name: ratioSyncFloorFact, Value: medianRatio(rounds["gateway"], rounds["groupcommit"]), Unit: "x"})
	}
	if hasNaive {
		e.naiveThroughput = naiveRes.Throughput()
		for _, f := range [][2]string{{"groupcommit", ratioFloorSyncFact}, {"groupcommit-accept", ratioFloorAsyncFact}} {
			if _, ok := results[f[0]]; ok {
				sc.Facts = append(sc.Facts, bench.Fact{Name: f[1], Value: medianRatio(rounds[f[0]], rounds["naive"]), Unit: "x"})
			}
		}
	}
	if !hasGateway || !hasNaive || !hasBare {
		sc.Headline = "gateway, naive and bare not all measured (-send-targets): no ratios"
		return sc, nil
	}
	sc.Facts = append(sc.Facts,
		bench.Fact{Name: ratioNaiveFact, Value: medianRatio(rounds["gateway"], rounds["naive"]), Unit: "x"},
		bench.Fact{Name: ratioBareFact, Value: medianRatio(rounds["gateway"], rounds["bare"]), Unit: "x"},
		bench.Fact{Name: "sendText p99: gateway / naive durable proxy", Value: ratio(p99(gateway), p99(naiveRes)), Unit: "x"},
	)
	sc.Headline = fmt.Sprintf("gateway %s msg/s (p99 %s) = %.2f× naive durable proxy (%s msg/s), %.2f× bare proxy (%s msg/s)",
		bench.FormatNumber(gateway.Throughput()), bench.FormatMillis(p99(gateway)), medianRatio(rounds["gateway"], rounds["naive"]),
		bench.FormatNumber(naiveRes.Throughput()), medianRatio(rounds["gateway"], rounds["bare"]), bench.FormatNumber(bareRes.Throughput()))
	return sc, nil
}

// sendIntegrity checks that every answered send happened once: the simworker sent exactly as
// many messages as the targets answered successfully (warm-up included), and each durable
// target recorded exactly its successful answers as SENT.
func sendIntegrity(ctx context.Context, e *env, sim *simWorker, pool *pgxpool.Pool, totals map[string]bench.LoadResult,
	served int64, sc *bench.Scenario) error {
	var problems []error
	sent := int64(sim.engine.SentTotal())
	if sent != served {
		problems = append(problems, fmt.Errorf("the simworker sent %d messages but the targets answered %d sends", sent, served))
	}
	var gatewaySent, naiveSent, floorSent, floorQueued int64
	if err := e.app.DB.QueryRow(ctx, `SELECT count(*) FROM messages
		WHERE direction = 'OUTBOUND' AND status = 'SENT' AND session_id LIKE 'bench-send-%'`).Scan(&gatewaySent); err != nil {
		return fmt.Errorf("count the gateway's records: %w", err)
	}
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM bench_naive_messages WHERE status = 'SENT'),
		(SELECT count(*) FROM bench_gc_messages WHERE status = 'SENT'), (SELECT count(*) FROM bench_gc_messages WHERE status = 'QUEUED')`).
		Scan(&naiveSent, &floorSent, &floorQueued); err != nil {
		return fmt.Errorf("count the floors' records: %w", err)
	}
	for _, c := range []struct {
		name     string
		recorded int64
		res      bench.LoadResult
	}{{"gateway", gatewaySent, gatewayResult(totals)}, {"naive durable proxy", naiveSent, totals["naive"]},
		{"group-committing proxy", floorSent, totals["groupcommit"]}, {"group-committing accept", floorQueued, totals["groupcommit-accept"]}} {
		if answered := c.res.AllOps - c.res.AllErrors; c.recorded != answered {
			problems = append(problems, fmt.Errorf("the %s recorded %d messages SENT but answered %d sends", c.name, c.recorded, answered))
		}
	}
	if len(problems) == 0 {
		sc.Facts = append(sc.Facts, bench.TextFact("Integrity", fmt.Sprintf(
			"every answered send reached the simworker exactly once (%s sends); the gateway recorded each of its %s answered sends SENT, "+
				"the naive proxy each of its %s, the group-committing proxy each of its %s, and its accept path each of its %s accepted sends QUEUED",
			bench.FormatNumber(float64(sent)), bench.FormatNumber(float64(gatewaySent)), bench.FormatNumber(float64(naiveSent)),
			bench.FormatNumber(float64(floorSent)), bench.FormatNumber(float64(floorQueued)))))
	}
	return errors.Join(problems...)
}

// cancelAccepted checks that the accepted sends, scheduled an hour ahead, are all still
// queued (one per accepted request), then cancels them so that they never reach a dispatcher.
func cancelAccepted(ctx context.Context, e *env, sessionIDs []string, accepted bench.LoadResult) error {
	var queued int64
	if err := e.app.DB.QueryRow(ctx, `SELECT count(*) FROM messages WHERE session_id = ANY($1) AND status = 'QUEUED'`, sessionIDs).
		Scan(&queued); err != nil {
		return fmt.Errorf("count the accepted sends: %w", err)
	}
	if answered := accepted.AllOps - accepted.AllErrors; queued != answered {
		return fmt.Errorf("the gateway queued %d sends but accepted %d", queued, answered)
	}
	return cancelScheduled(ctx, e, sessionIDs)
}

// cancelScheduled cancels the sends the benchmark scheduled an hour ahead on sessionIDs, then
// vacuums messages, as autovacuum would after so many updates (the benchmark's server may run
// without it): the cancelled sends leave the queue index, whose dead entries the dispatcher's
// scans would otherwise walk through. A million of them (the sync rotation's acceptance at
// 13,000 msg/s) slowed the async scenario's drain from 1,100 to 132 msg/s.
func cancelScheduled(ctx context.Context, e *env, sessionIDs []string) error {
	if _, err := e.app.DB.Exec(ctx, `UPDATE messages SET status = 'CANCELLED', next_attempt_at = NULL, updated_at = now()
		WHERE session_id = ANY($1) AND status = 'QUEUED'`, sessionIDs); err != nil {
		return fmt.Errorf("cancel the scheduled sends: %w", err)
	}
	if _, err := e.app.DB.Exec(ctx, "VACUUM messages"); err != nil {
		return fmt.Errorf("vacuum messages after the cancelled sends: %w", err)
	}
	return nil
}

// gatewayResult adds up what the gateway served under both gateway targets.
func gatewayResult(results map[string]bench.LoadResult) bench.LoadResult {
	a, b := results["gateway"], results["gateway-identity"]
	return bench.LoadResult{AllOps: a.AllOps + b.AllOps, AllErrors: a.AllErrors + b.AllErrors}
}

// medianRound is the round of median throughput (the lower middle one of an even count).
func medianRound(rounds []bench.LoadResult) bench.LoadResult {
	if len(rounds) == 0 {
		return bench.LoadResult{}
	}
	sorted := slices.Clone(rounds)
	slices.SortFunc(sorted, func(a, b bench.LoadResult) int { return cmp.Compare(a.Throughput(), b.Throughput()) })
	return sorted[(len(sorted)-1)/2]
}

// medianRatio is the median of a's throughput over b's, round by round: each round measured
// the two one after the other, so a drift of the machine's speed between rounds cancels out.
func medianRatio(a, b []bench.LoadResult) float64 {
	var ratios []float64
	for i := range min(len(a), len(b)) {
		ratios = append(ratios, ratio(a[i].Throughput(), b[i].Throughput()))
	}
	if len(ratios) == 0 {
		return 0
	}
	slices.Sort(ratios)
	return ratios[(len(ratios)-1)/2]
}

// roundsText lists each target's throughput, round by round.
func roundsText(order []sendTarget, rounds map[string][]bench.LoadResult) string {
	parts := make([]string, 0, len(order))
	for _, t := range order {
		values := make([]string, len(rounds[t.id]))
		for i, r := range rounds[t.id] {
			values[i] = bench.FormatNumber(r.Throughput())
		}
		parts = append(parts, t.id+" "+strings.Join(values, " / "))
	}
	return strings.Join(parts, "; ")
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func p99(r bench.LoadResult) float64 {
	if r.Latency == nil {
		return 0
	}
	return bench.Millis(r.Latency.Percentile(99))
}

// summarize puts the headline of each scenario, and the sendText ratios, in the summary.
func summarize(r *bench.Report) {
	for _, s := range r.Scenarios {
		for _, f := range s.Facts {
			if slices.Contains([]string{ratioNaiveFact, ratioBareFact, ratioAsyncFact, ratioFloorSyncFact,
				ratioFloorAsyncFact, ratioSyncFloorFact, ratioAsyncFloorFact}, f.Name) {
				r.Summary = append(r.Summary, f)
			}
		}
	}
	for _, s := range r.Scenarios {
		headline := s.Headline
		switch {
		case s.Status == bench.StatusFailed:
			headline = "FAILED: " + s.Reason
		case headline == "":
			continue
		}
		r.Summary = append(r.Summary, bench.TextFact(s.Title, headline))
	}
}
