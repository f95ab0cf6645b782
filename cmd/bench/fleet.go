package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/wagateway/gateway/internal/bench"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/service"
)

// Fixture sizes: the full run's, and the quick run's (a smoke test).
const (
	placementSessions, placementWorkers, quickPlacementSessions, quickPlacementWorkers = 10_000, 100, 1_000, 10
	placementConcurrency                                                               = 32
	routingSessions, routingWorkers, quickRoutingSessions                              = 10_000, 100, 1_000
	healthWorkers, healthRounds, quickHealthRounds                                     = 1_000, 5, 2
	heartbeatSessions                                                                  = 50
	idleSessions, idleWorkers, quickIdleSessions, quickIdleWorkers                     = 100_000, 1_000, 20_000, 200
)

// insertWorkers inserts n ONLINE workers prefix0001… that heartbeat now, at the fake fleet's
// endpoints group/0001…, so that any health check of them succeeds.
func (e *env) insertWorkers(ctx context.Context, prefix, group string, n, maxSessions int) error {
	_, err := e.app.DB.Exec(ctx, `INSERT INTO workers (id, endpoint, status, max_sessions, version, last_heartbeat)
		SELECT $1 || lpad(g::text, 4, '0'), $2 || lpad(g::text, 4, '0'), 'ONLINE', $3, '1.0.0', now()
		FROM generate_series(1, $4::int) g`, prefix, e.fleet.endpointPrefix(group), maxSessions, n)
	if err != nil {
		return fmt.Errorf("insert %d workers %s…: %w", n, prefix, err)
	}
	return nil
}

// insertSessions inserts n sessions prefix000001… of the fixture user in status. With a
// worker prefix, session g runs on worker ((g-1) mod workers) + 1.
func (e *env) insertSessions(ctx context.Context, prefix string, n int, workerPrefix string, workers int, status string) error {
	_, err := e.app.DB.Exec(ctx, `INSERT INTO sessions (id, user_id, worker_id, name, status)
		SELECT $1 || lpad(g::text, 6, '0'), $2::uuid,
		       CASE WHEN $3 = '' THEN NULL ELSE $3 || lpad(((g - 1) % $4::int + 1)::text, 4, '0') END,
		       'Bench ' || g, $5::session_status
		FROM generate_series(1, $6::int) g`, prefix, e.fixtureUserID, workerPrefix, max(workers, 1), status, n)
	if err != nil {
		return fmt.Errorf("insert %d sessions %s…: %w", n, prefix, err)
	}
	return nil
}

// fixtureSession is the ID insertSessions gives session g (1-based); fixtureWorker likewise.
func fixtureSession(prefix string, g int) string { return fmt.Sprintf("%s%06d", prefix, g) }
func fixtureWorker(prefix string, n int) string  { return fmt.Sprintf("%s%04d", prefix, n) }

// deleteFixtures deletes the sessions and workers under the prefixes (worker metrics go with
// their workers).
func (e *env) deleteFixtures(ctx context.Context, sessionPrefix, workerPrefix string) error {
	ctx = context.WithoutCancel(ctx)
	_, err := e.app.DB.Exec(ctx, `DELETE FROM sessions WHERE starts_with(id, $1)`, sessionPrefix)
	if err == nil {
		_, err = e.app.DB.Exec(ctx, `DELETE FROM workers WHERE starts_with(id, $1)`, workerPrefix)
	}
	if err != nil {
		return fmt.Errorf("delete fixtures %s…, %s…: %w", sessionPrefix, workerPrefix, err)
	}
	return nil
}

// sessionsService builds the session service from the App's parts, as app.New wires it.
func (e *env) sessionsService() *service.Sessions {
	a := e.app
	return &service.Sessions{DB: a.DB, Router: a.Router, Client: a.WorkerClient,
		Events:  &service.SessionEvents{DB: a.DB, Bus: a.Bus, Logger: a.Logger},
		Metrics: a.Metrics, Logger: a.Logger, TierLimits: e.cfg.TierLimits, QRTTL: e.cfg.QRTTL}
}

func runPlacement(ctx context.Context, e *env) (sc bench.Scenario, err error) {
	n, w := placementSessions, placementWorkers
	if e.opts.quick {
		n, w = quickPlacementSessions, quickPlacementWorkers
	}
	capacity := n / w
	const sessionPrefix, workerPrefix = "place-s-", "place-w-"
	sc.Description = fmt.Sprintf("service.Sessions.Place (built from the App's parts) for %s DISCONNECTED sessions over %d ONLINE workers "+
		"of %d sessions each, inserted with SQL: the fleet ends exactly full, so the last placements meet full candidates. "+
		"%d placements at a time against the gateway's pool of %d connections. Each placement locks the session, ranks the "+
		"online workers by load (one aggregate query), locks candidates in turn and counts their sessions under the lock, "+
		"then writes the route to Redis. Capacity is checked afterwards with SQL over every worker.",
		bench.FormatNumber(float64(n)), w, capacity, placementConcurrency, e.cfg.DBMaxConns)
	if err := e.insertWorkers(ctx, workerPrefix, "place", w, capacity); err != nil {
		return sc, err
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fixtureSession(sessionPrefix, i+1)
	}
	defer func() {
		e.app.Router.Clear(context.WithoutCancel(ctx), ids...)
		err = errors.Join(err, e.deleteFixtures(ctx, sessionPrefix, workerPrefix))
	}()
	if err := e.insertSessions(ctx, sessionPrefix, n, "", 0, "DISCONNECTED"); err != nil {
		return sc, err
	}
	sessions := e.sessionsService()
	res, err := bench.RunBatch(ctx, placementConcurrency, n, e.meter(0), func(ctx context.Context, i int) error {
		_, _, err := sessions.Place(ctx, ids[i], "")
		return err
	})
	sc.Rows = append(sc.Rows, bench.BatchRow(fmt.Sprintf("Sessions.Place, %d concurrent: %s sessions over %d workers", placementConcurrency,
		bench.FormatNumber(float64(n)), w), "placements/s", res))
	if err != nil {
		return sc, err
	}

	var placed, elsewhere, unplaced int
	err = e.app.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE starts_with(worker_id, $2)),
		       count(*) FILTER (WHERE worker_id IS NOT NULL AND NOT starts_with(worker_id, $2)),
		       count(*) FILTER (WHERE worker_id IS NULL)
		FROM sessions WHERE starts_with(id, $1)`, sessionPrefix, workerPrefix).Scan(&placed, &elsewhere, &unplaced)
	if err != nil {
		return sc, fmt.Errorf("count placements: %w", err)
	}
	var over, fullest, emptiest int
	err = e.app.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE used > max_sessions),
		       coalesce(max(used) FILTER (WHERE starts_with(id, $1)), 0), coalesce(min(used) FILTER (WHERE starts_with(id, $1)), 0)
		FROM (SELECT w.id, w.max_sessions, count(s.id) AS used FROM workers w LEFT JOIN sessions s ON s.worker_id = w.id
		      GROUP BY w.id) AS fill`, workerPrefix).Scan(&over, &fullest, &emptiest)
	if err != nil {
		return sc, fmt.Errorf("check capacity: %w", err)
	}
	sc.Facts = append(sc.Facts,
		bench.Fact{Name: "Sessions placed on the bench's workers", Value: float64(placed)},
		bench.Fact{Name: "Sessions placed on other workers / left unplaced", Text: fmt.Sprintf("%d / %d", elsewhere, unplaced)},
		bench.Fact{Name: "Workers over capacity (SQL, every worker)", Value: float64(over)},
		bench.TextFact("Sessions per bench worker (min – max, capacity)", fmt.Sprintf("%d – %d, %d", emptiest, fullest, capacity)),
	)
	if over > 0 {
		return sc, fmt.Errorf("%d workers hold more sessions than their capacity", over)
	}
	if placed != n {
		return sc, fmt.Errorf("%d of %d sessions placed on the bench's workers (%d elsewhere, %d unplaced)", placed, n, elsewhere, unplaced)
	}
	sc.Headline = fmt.Sprintf("%s placements in %.1f s (%s/s, p99 %s), no worker over capacity", bench.FormatNumber(float64(n)),
		res.Elapsed.Seconds(), bench.FormatNumber(res.Throughput()), bench.FormatMillis(bench.Millis(res.Latency.Percentile(99))))
	return sc, nil
}

func runRouting(ctx context.Context, e *env) (sc bench.Scenario, err error) {
	n, w := routingSessions, routingWorkers
	if e.opts.quick {
		n = quickRoutingSessions
	}
	const sessionPrefix, workerPrefix = "route-s-", "route-w-"
	concurrentWindow := min(max(e.opts.duration/4, time.Second), 5*time.Second)
	sc.Description = fmt.Sprintf("router.Lookup of %s CONNECTED sessions placed on %d workers (SQL fixtures). A hit is two HGETs "+
		"(session → worker, worker → endpoint); a miss reads Postgres and repairs both hashes. Passes: every session once "+
		"sequentially on a warm cache; random sessions from %d goroutines for %s; then every key under the run's Redis prefix "+
		"is deleted (its routing hashes, the leader lease, quota counters — nothing outside the prefix) and every session is "+
		"looked up once (each repairs from Postgres) and once more (hits again).",
		bench.FormatNumber(float64(n)), w, e.opts.connections, concurrentWindow)
	if err := e.insertWorkers(ctx, workerPrefix, "route", w, 1000); err != nil {
		return sc, err
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fixtureSession(sessionPrefix, i+1)
	}
	defer func() {
		e.app.Router.Clear(context.WithoutCancel(ctx), ids...)
		err = errors.Join(err, e.deleteFixtures(ctx, sessionPrefix, workerPrefix))
	}()
	if err := e.insertSessions(ctx, sessionPrefix, n, workerPrefix, w, "CONNECTED"); err != nil {
		return sc, err
	}
	lookup := func(ctx context.Context, i int) error {
		route, err := e.app.Router.Lookup(ctx, ids[i])
		if err != nil {
			return err
		}
		if want := fixtureWorker(workerPrefix, i%w+1); route.WorkerID != want || route.Endpoint != e.fleet.endpoint("route", i%w+1) {
			return fmt.Errorf("session %s routed to %s at %s, want %s", ids[i], route.WorkerID, route.Endpoint, want)
		}
		return nil
	}
	sequential := func(name string) (bench.BatchResult, error) {
		res, err := bench.RunBatch(ctx, 1, n, e.meter(0), lookup)
		sc.Rows = append(sc.Rows, bench.BatchRow(name, "lookups/s", res))
		return res, err
	}
	if _, err := bench.RunBatch(ctx, 8, n, e.meter(0), lookup); err != nil { // fills the cache
		return sc, err
	}
	hits, err := sequential("hits, sequential")
	if err != nil {
		return sc, err
	}
	next := make([]int, e.opts.connections)
	concurrent, err := bench.RunLoad(ctx, bench.LoadConfig{Workers: e.opts.connections, Warmup: e.opts.warmup / 2, Duration: concurrentWindow,
		Meter: e.meter(0)},
		func(ctx context.Context, worker int) error {
			// A fixed stride spreads each goroutine over every session without a shared generator.
			next[worker]++
			return lookup(ctx, (worker*7919+next[worker]*104729)%n)
		})
	sc.Rows = append(sc.Rows, bench.LoadRow(fmt.Sprintf("hits, %d goroutines", e.opts.connections), "lookups/s", concurrent))
	if err != nil {
		return sc, err
	}
	deleted, err := redisdb.DeletePrefix(ctx, e.app.Redis, e.keyPrefix)
	if err != nil {
		return sc, err
	}
	misses, err := sequential("first lookup after the prefix was flushed (repair from Postgres), sequential")
	if err != nil {
		return sc, err
	}
	cached, err := e.app.Router.Size(ctx)
	if err != nil {
		return sc, err
	}
	if _, err := sequential("lookups after the repair, sequential"); err != nil {
		return sc, err
	}
	sc.Facts = append(sc.Facts,
		bench.Fact{Name: "Redis keys deleted under the run's prefix", Value: float64(deleted)},
		bench.Fact{Name: "Routes cached again after one lookup each", Value: float64(cached)},
	)
	if cached < int64(n) {
		return sc, fmt.Errorf("only %d of %d routes were repaired", cached, n)
	}
	pct := func(r bench.BatchResult, q float64) string {
		return bench.FormatMillis(bench.Millis(r.Latency.Percentile(q)))
	}
	sc.Headline = fmt.Sprintf("hit p50 %s / p99 %s; after a flush, repair p50 %s / p99 %s; %s lookups/s from %d goroutines",
		pct(hits, 50), pct(hits, 99), pct(misses, 50), pct(misses, 99), bench.FormatNumber(concurrent.Throughput()), e.opts.connections)
	return sc, nil
}

func runHealthMonitor(ctx context.Context, e *env) (sc bench.Scenario, err error) {
	rounds := healthRounds
	if e.opts.quick {
		rounds = quickHealthRounds
	}
	const workerPrefix = "health-w-"
	sc.Description = fmt.Sprintf("workers.Monitor.Round (the health monitor's one-round function, as POST /workers/health-check runs it) "+
		"over %s ONLINE workers inserted with SQL, whose endpoints are distinct base URLs on one local HTTP server answering "+
		"/health (http://127.0.0.1:PORT/health/0001 …). %d rounds in a row; each round lists the workers, checks them %d at a "+
		"time (the monitor's bound) and records outcomes (Postgres writes only on a change of state). All endpoints share "+
		"one host:port, so the client reuses its connections across workers: a fleet of distinct hosts would also pay "+
		"connection setup, at most 512 of which the client keeps idle.",
		bench.FormatNumber(healthWorkers), rounds, 32)
	if err := e.insertWorkers(ctx, workerPrefix, "health", healthWorkers, 50); err != nil {
		return sc, err
	}
	defer func() { err = errors.Join(err, e.deleteFixtures(ctx, "health-s-", workerPrefix)) }()

	before, checksBefore := runtime.NumGoroutine(), e.fleet.checks.Load()
	roundTimes, checkTimes := bench.NewHistogram(), bench.NewHistogram()
	var total time.Duration
	var checked, failed, others int64
	var firstRound time.Duration
	meter := bench.StartMeter(e.meter(2 * time.Millisecond))
	for r := range rounds {
		start := time.Now()
		report, err := e.app.HealthMonitor.Round(ctx)
		took := time.Since(start)
		if err != nil {
			meter.Stop()
			return sc, fmt.Errorf("round %d: %w", r+1, err)
		}
		total += took
		roundTimes.Record(took)
		if r == 0 {
			firstRound = took
		}
		for _, res := range report.Results {
			if !strings.HasPrefix(res.WorkerID, workerPrefix) {
				others++
				continue
			}
			checked++
			if !res.Healthy || res.Pending {
				failed++
			}
			if res.ResponseTimeMs != nil {
				checkTimes.Record(time.Duration(*res.ResponseTimeMs * float64(time.Millisecond)))
			}
		}
	}
	usage := meter.Stop()
	usage.SetOps(checked)
	roundLatency, checkLatency := roundTimes.Summary(), checkTimes.Summary()
	throughput := float64(checked) / total.Seconds()
	sc.Rows = append(sc.Rows,
		bench.Row{Name: fmt.Sprintf("round over %s workers (latency = round time)", bench.FormatNumber(healthWorkers)), Unit: "checks/s",
			Ops: checked, Errors: failed, WindowSeconds: total.Seconds(), Throughput: throughput, Latency: &roundLatency, Usage: &usage},
		bench.Row{Name: "one worker's /health check within a round", Unit: "checks/s", Ops: checked, WindowSeconds: total.Seconds(),
			Throughput: throughput, Latency: &checkLatency},
	)
	sc.Facts = append(sc.Facts,
		bench.Fact{Name: "Goroutines before the rounds", Value: float64(before)},
		bench.Fact{Name: "Goroutines at the peak of the rounds (sampled every 2 ms)", Value: float64(usage.PeakGoroutines)},
		bench.Fact{Name: "First round (connections opened)", Value: bench.Millis(firstRound), Unit: "ms"},
		bench.Fact{Name: "Health requests the fake fleet answered", Value: float64(e.fleet.checks.Load() - checksBefore)},
		bench.Fact{Name: "Other workers in the rounds", Value: float64(others) / float64(rounds)},
	)
	sc.Headline = fmt.Sprintf("round over %s workers: median %s, max %s; peak %d goroutines (%d before), peak heap %s",
		bench.FormatNumber(healthWorkers), bench.FormatMillis(roundLatency.P50), bench.FormatMillis(roundLatency.Max),
		usage.PeakGoroutines, before, bench.FormatBytes(usage.PeakHeapBytes))
	return sc, nil
}

type heartbeatSession struct {
	SessionID string `json:"sessionId"`
	Status    string `json:"status"`
}

type heartbeatBody struct {
	Sessions []heartbeatSession `json:"sessions"`
	Metrics  map[string]float64 `json:"metrics"`
}

func runHeartbeats(ctx context.Context, e *env) (sc bench.Scenario, err error) {
	w := e.opts.connections
	const sessionPrefix, workerPrefix = "hb-s-", "hb-w-"
	sc.Description = fmt.Sprintf("PUT /api/v1/workers/{id}/heartbeat over HTTP from %d workers registered through the API (each with its "+
		"own worker token), each with %d CONNECTED sessions placed on it (SQL). Every heartbeat reports its %d sessions as "+
		"connected, with metrics: the gateway records liveness and a metrics sample and reconciles each reported session. "+
		"One goroutine per worker, closed loop.", w, heartbeatSessions, heartbeatSessions)
	defer func() { err = errors.Join(err, e.deleteFixtures(ctx, sessionPrefix, workerPrefix)) }()
	tokens := make([]string, w)
	for i := range w {
		var res struct {
			WorkerToken string `json:"workerToken"`
		}
		if err := e.call(ctx, http.MethodPost, "/api/v1/workers/register", e.cfg.WorkerAuthToken, map[string]any{
			"workerId": fixtureWorker(workerPrefix, i+1), "endpoint": e.fleet.endpoint("hb", i+1), "maxSessions": 100,
		}, &res); err != nil {
			return sc, err
		}
		tokens[i] = res.WorkerToken
	}
	if err := e.insertSessions(ctx, sessionPrefix, w*heartbeatSessions, workerPrefix, w, "CONNECTED"); err != nil {
		return sc, err
	}
	requests := make([]request, w)
	for i := range w {
		body := heartbeatBody{Metrics: map[string]float64{"cpuUsage": 12.5, "memoryUsage": 41.2, "uptime": 3600,
			"messageCount": 1000, "totalSessions": heartbeatSessions, "activeSessions": heartbeatSessions}}
		for g := i + 1; g <= w*heartbeatSessions; g += w {
			body.Sessions = append(body.Sessions, heartbeatSession{SessionID: fixtureSession(sessionPrefix, g), Status: "connected"})
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return sc, err
		}
		requests[i] = request{method: http.MethodPut, url: e.baseURL + "/api/v1/workers/" + fixtureWorker(workerPrefix, i+1) + "/heartbeat",
			header: jsonHeader("Authorization", "Bearer "+tokens[i]), body: raw, expect: http.StatusOK,
			expectBody: []byte(`"sessionsToStop":[]`)}
	}
	res, dials, err := e.runHTTPLoad(ctx, w, e.opts.duration, func(worker int) request { return requests[worker] })
	sc.Rows = append(sc.Rows, bench.LoadRow(fmt.Sprintf("heartbeat with %d sessions, %d workers", heartbeatSessions, w), "heartbeats/s", res))
	sc.Facts = append(sc.Facts,
		bench.Fact{Name: "Reported sessions reconciled per second", Value: res.Throughput() * heartbeatSessions, Unit: "/s"},
		bench.Fact{Name: "Connections the client opened", Value: float64(dials)},
	)
	if err != nil {
		return sc, err
	}
	sc.Headline = fmt.Sprintf("%s heartbeats/s with %d sessions each (%s sessions/s), p99 %s", bench.FormatNumber(res.Throughput()),
		heartbeatSessions, bench.FormatNumber(res.Throughput()*heartbeatSessions), bench.FormatMillis(p99(res)))
	return sc, nil
}
