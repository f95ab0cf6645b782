package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/redisdb"
)

// FailuresBeforeOffline is how many failed checks in a row take a worker OFFLINE.
const FailuresBeforeOffline = 3

// Bounds of the checks. Checks are cheap HTTP calls, so 32 at a time get through 1,000
// healthy workers well within 2 s while holding at most 32 goroutines and connections. A hung
// worker holds one slot until the 5 s health timeout, but never the round: a round waits for
// its checks at most one interval, a check still running then finishes in the background and
// records its outcome when it ends, and later rounds skip that worker until it has. Recording
// writes to Postgres only for workers whose state changes, through a smaller bound so that a
// fleet-wide outage cannot take the pool from the requests being served.
const (
	DefaultCheckConcurrency = 32
	recordConcurrency       = 8
	// manualRoundWait is how long an administrator's round waits for its checks: past the
	// health timeout, so that it reports every worker.
	manualRoundWait = HealthTimeout + 5*time.Second
)

// Monitored is a worker as a round sees it. HeartbeatAge is measured on the database's clock,
// so that replicas with skewed clocks agree.
type Monitored struct {
	ID                  string
	Endpoint            string
	Status              model.WorkerStatus
	ConsecutiveFailures int
	LastHeartbeat       *time.Time
	HeartbeatAge        time.Duration
}

// Recorded is a worker's state after a check was recorded.
type Recorded struct {
	Status              model.WorkerStatus
	ConsecutiveFailures int
}

// Fleet is what the monitor needs from the worker registry; service.Workers implements it.
type Fleet interface {
	// MonitoredWorkers lists every registered worker, OFFLINE ones included.
	MonitoredWorkers(ctx context.Context) ([]Monitored, error)
	// RecordCheck stores the outcome of one check: a failure counts toward OFFLINE, a success
	// clears the count and brings an OFFLINE worker back.
	RecordCheck(ctx context.Context, w Monitored, healthy bool, cause string) (Recorded, error)
	// FailOverStranded moves the sessions still placed on OFFLINE workers whose grace period
	// (sessions-preserved) has passed, and returns how many moved.
	FailOverStranded(ctx context.Context) (int, error)
}

// HealthChecker asks a worker whether it is alive; *Client implements it.
type HealthChecker interface {
	CheckHealth(ctx context.Context, workerID, endpoint string) (protocol.WorkerHealth, error)
}

// CheckResult is the outcome of checking one worker.
type CheckResult struct {
	WorkerID            string             `json:"workerId"`
	Endpoint            string             `json:"endpoint"`
	Healthy             bool               `json:"healthy"`
	Status              model.WorkerStatus `json:"status"`
	PreviousStatus      model.WorkerStatus `json:"previousStatus"`
	ConsecutiveFailures int                `json:"consecutiveFailures"`
	// ResponseTimeMs is null when the worker was not called (its heartbeat was too old).
	ResponseTimeMs *float64 `json:"responseTimeMs"`
	HeartbeatAgeMs int64    `json:"heartbeatAgeMs"`
	// Pending is true for a worker whose check had not ended when the round did; its outcome
	// is recorded when it ends.
	Pending bool   `json:"pending,omitempty"`
	Error   string `json:"error,omitempty"`
}

// RoundSummary sums a round up.
type RoundSummary struct {
	Total   int `json:"total"`
	Healthy int `json:"healthy"`
	Failed  int `json:"failed"`
	// Pending counts checks still running when the round ended (a hung worker).
	Pending   int       `json:"pending"`
	CheckedAt time.Time `json:"checkedAt"`
	// DurationMs covers the checks and the failover that followed.
	DurationMs         float64 `json:"durationMs"`
	SessionsFailedOver int     `json:"sessionsFailedOver"`
}

// RoundReport is a round's summary and each worker's result, by worker ID.
type RoundReport struct {
	Summary RoundSummary  `json:"summary"`
	Results []CheckResult `json:"results"`
}

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	Fleet   Fleet
	Checker HealthChecker
	// Leader elects the replica that runs rounds; Run needs it, Round does not.
	Leader *Leader
	// Redis and Keys hold the fleet-wide stop switch of /workers/health/stop.
	Redis            redis.UniversalClient
	Keys             redisdb.Keys
	Interval         time.Duration
	HeartbeatTimeout time.Duration
	// Concurrency bounds the checks in flight; DefaultCheckConcurrency when 0.
	Concurrency int
	Metrics     *metrics.HealthMonitor
	Logger      *slog.Logger
}

// Monitor checks every worker each interval on the replica that holds the lease, takes
// workers that keep failing OFFLINE, and has their sessions failed over.
type Monitor struct {
	cfg       MonitorConfig
	pausedKey string
	rounds    sync.Mutex    // one round at a time on this replica
	slots     chan struct{} // checks in flight, across rounds
	writes    chan struct{} // recordings in flight
	checks    sync.WaitGroup

	mu        sync.Mutex
	inFlight  map[string]bool // workers being checked
	running   bool
	paused    bool
	lastRunAt *time.Time
	last      *RoundSummary
}

// NewMonitor returns a monitor; Run starts it.
func NewMonitor(cfg MonitorConfig) *Monitor {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultCheckConcurrency
	}
	return &Monitor{cfg: cfg, pausedKey: cfg.Keys.Tagged("health_monitor", "paused"),
		slots: make(chan struct{}, cfg.Concurrency), writes: make(chan struct{}, recordConcurrency),
		inFlight: map[string]bool{}}
}

// Run campaigns for the lease and, while this replica holds it and no administrator stopped
// the monitor, runs a round every interval (and at once on election), until ctx ends. The
// lease is released only after the last check has returned, so that no other replica starts
// while this one still writes.
func (m *Monitor) Run(ctx context.Context) {
	m.setRunning(true)
	defer m.setRunning(false)

	campaign, stopCampaign := context.WithCancel(context.WithoutCancel(ctx))
	var campaigner sync.WaitGroup
	campaigner.Go(func() { m.cfg.Leader.Run(campaign) })
	defer campaigner.Wait()
	defer stopCampaign()
	defer m.checks.Wait()

	// termCtx lives as long as this replica's current term: checks that outlast their round
	// keep it, and a lost lease cancels them.
	var term, termCtx context.Context
	cancelTerm := context.CancelFunc(func() {})
	defer func() { cancelTerm() }()

	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.cfg.Leader.Elected():
		}
		if m.refreshPaused(ctx) {
			continue
		}
		current, ok := m.cfg.Leader.Term()
		if !ok || !m.cfg.Leader.Confirm(ctx) {
			continue
		}
		if current != term {
			cancelTerm()
			term = current
			termCtx, cancelTerm = context.WithCancel(ctx)
			context.AfterFunc(term, cancelTerm)
		}
		if _, err := m.round(termCtx, m.cfg.Interval); err != nil && termCtx.Err() == nil {
			m.cfg.Logger.WarnContext(ctx, "health round failed", slog.Any("err", err))
		}
	}
}

// Round checks every worker once now, on this replica whether or not it leads, and reports
// every outcome; see round. Its outcomes count like the leader's: a failure it records brings
// a failing worker one check closer to OFFLINE.
func (m *Monitor) Round(ctx context.Context) (RoundReport, error) {
	return m.round(ctx, manualRoundWait)
}

// round checks every worker not already being checked, at most Concurrency at a time,
// records the outcomes, then fails over the sessions stranded on OFFLINE workers. It waits for
// its checks at most wait; those still running go on in the background under ctx. An
// administrator's round and the leader's share this code; one replica runs one at a time.
func (m *Monitor) round(ctx context.Context, wait time.Duration) (RoundReport, error) {
	m.rounds.Lock()
	defer m.rounds.Unlock()
	start := time.Now()
	list, err := m.cfg.Fleet.MonitoredWorkers(ctx)
	if err != nil {
		return RoundReport{}, fmt.Errorf("list workers to check: %w", err)
	}

	type outcome struct {
		i       int
		res     CheckResult
		checked bool
	}
	// Buffered for every check, so that one finishing after the round never blocks.
	outcomes := make(chan outcome, len(list))
	waiting, stopWaiting := context.WithTimeout(ctx, wait)
	defer stopWaiting()
	results := make([]CheckResult, len(list))
	done := make([]bool, len(list))
	launched := 0
spawn:
	for i, w := range list {
		if !m.claim(w.ID) {
			continue // still being checked since an earlier round
		}
		select {
		case m.slots <- struct{}{}:
		case <-waiting.Done():
			m.unclaim(w.ID)
			break spawn
		}
		launched++
		m.checks.Go(func() {
			defer m.unclaim(w.ID)
			defer func() { <-m.slots }()
			res, checked := m.check(ctx, w)
			outcomes <- outcome{i, res, checked}
		})
	}
collect:
	for ; launched > 0; launched-- {
		select {
		case o := <-outcomes:
			results[o.i], done[o.i] = o.res, o.checked
		case <-waiting.Done():
			break collect
		}
	}

	report := RoundReport{Summary: RoundSummary{CheckedAt: start.UTC()}, Results: make([]CheckResult, 0, len(list))}
	for i, w := range list {
		r := results[i]
		switch {
		case done[i] && r.Healthy:
			report.Summary.Healthy++
		case done[i]:
			report.Summary.Failed++
		default:
			r = CheckResult{WorkerID: w.ID, Endpoint: w.Endpoint, Status: w.Status, PreviousStatus: w.Status,
				ConsecutiveFailures: w.ConsecutiveFailures, HeartbeatAgeMs: w.HeartbeatAge.Milliseconds(), Pending: true}
			report.Summary.Pending++
		}
		report.Results = append(report.Results, r)
	}
	report.Summary.Total = len(report.Results)
	if ctx.Err() != nil {
		return report, ctx.Err()
	}
	moved, err := m.cfg.Fleet.FailOverStranded(ctx)
	report.Summary.SessionsFailedOver = moved
	if err != nil && ctx.Err() == nil {
		m.cfg.Logger.WarnContext(ctx, "fail over stranded sessions", slog.Any("err", err))
	}

	elapsed := time.Since(start)
	report.Summary.DurationMs = float64(elapsed.Microseconds()) / 1000
	m.cfg.Metrics.Rounds.Inc()
	m.cfg.Metrics.RoundDuration.Observe(elapsed.Seconds())
	finished := time.Now().UTC()
	m.mu.Lock()
	m.lastRunAt, m.last = &finished, &report.Summary
	m.mu.Unlock()
	return report, nil
}

// check checks one worker and records the outcome. It reports false when the round was cut
// short before the outcome could be known: a cancelled check says nothing about the worker.
func (m *Monitor) check(ctx context.Context, w Monitored) (CheckResult, bool) {
	res := CheckResult{WorkerID: w.ID, Endpoint: w.Endpoint, Status: w.Status, PreviousStatus: w.Status,
		ConsecutiveFailures: w.ConsecutiveFailures, HeartbeatAgeMs: w.HeartbeatAge.Milliseconds()}
	cause := ""
	if w.HeartbeatAge > m.cfg.HeartbeatTimeout {
		// No call: the worker fails the check whatever /health says, and sparing the call
		// keeps long-dead OFFLINE workers from costing a round anything.
		cause = fmt.Sprintf("no heartbeat for %s (timeout %s)", w.HeartbeatAge.Round(time.Second), m.cfg.HeartbeatTimeout)
	} else {
		start := time.Now()
		_, err := m.cfg.Checker.CheckHealth(ctx, w.ID, w.Endpoint)
		ms := float64(time.Since(start).Microseconds()) / 1000
		res.ResponseTimeMs = &ms
		if ctx.Err() != nil {
			return res, false
		}
		if err != nil {
			cause = describeFailure(err)
		}
	}
	res.Healthy, res.Error = cause == "", cause
	if !res.Healthy {
		m.cfg.Metrics.CheckFailures.Inc()
	}

	select {
	case m.writes <- struct{}{}:
	case <-ctx.Done():
		return res, false
	}
	rec, err := m.cfg.Fleet.RecordCheck(ctx, w, res.Healthy, cause)
	<-m.writes
	if err != nil {
		if ctx.Err() == nil {
			m.cfg.Logger.WarnContext(ctx, "record health check", slog.String("worker_id", w.ID), slog.Any("err", err))
		}
		return res, ctx.Err() == nil
	}
	res.Status, res.ConsecutiveFailures = rec.Status, rec.ConsecutiveFailures
	return res, true
}

// claim marks a worker as being checked, unless it already is.
func (m *Monitor) claim(workerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inFlight[workerID] {
		return false
	}
	m.inFlight[workerID] = true
	return true
}

func (m *Monitor) unclaim(workerID string) {
	m.mu.Lock()
	delete(m.inFlight, workerID)
	m.mu.Unlock()
}

func describeFailure(err error) string {
	var e *model.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

// MonitorStatus is the monitor's state on this replica.
type MonitorStatus struct {
	// Running is true while the monitor's loop runs here and no administrator stopped it.
	Running bool `json:"running"`
	// Leader is true while this replica holds the lease (and so runs the rounds).
	Leader bool `json:"leader"`
	// LastRunAt is when this replica last finished a round.
	LastRunAt *time.Time `json:"lastRunAt"`
	// Stopped is true while an administrator has the monitor stopped on every replica.
	Stopped            bool          `json:"stopped"`
	FencingToken       int64         `json:"fencingToken"`
	IntervalMs         int64         `json:"intervalMs"`
	HeartbeatTimeoutMs int64         `json:"heartbeatTimeoutMs"`
	LastRound          *RoundSummary `json:"lastRound"`
}

// Status reports the monitor's state on this replica.
func (m *Monitor) Status() MonitorStatus {
	leader, token := false, int64(0)
	if m.cfg.Leader != nil {
		leader, token = m.cfg.Leader.IsLeader(), m.cfg.Leader.FencingToken()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return MonitorStatus{Running: m.running && !m.paused, Leader: leader, LastRunAt: m.lastRunAt, Stopped: m.paused,
		FencingToken: token, IntervalMs: m.cfg.Interval.Milliseconds(),
		HeartbeatTimeoutMs: m.cfg.HeartbeatTimeout.Milliseconds(), LastRound: m.last}
}

// Stop stops the rounds on every replica (the switch lives in Redis) until Start. Replicas
// keep the lease, so that Start resumes at once.
func (m *Monitor) Stop(ctx context.Context) (MonitorStatus, error) {
	if err := m.cfg.Redis.Set(ctx, m.pausedKey, "1", 0).Err(); err != nil {
		return m.Status(), &model.Error{Kind: model.KindConnectivity, Err: err,
			Message: "Could not stop the health monitor: Redis is unavailable"}
	}
	m.setPaused(true)
	return m.Status(), nil
}

// Start resumes the rounds stopped by Stop.
func (m *Monitor) Start(ctx context.Context) (MonitorStatus, error) {
	if err := m.cfg.Redis.Del(ctx, m.pausedKey).Err(); err != nil {
		return m.Status(), &model.Error{Kind: model.KindConnectivity, Err: err,
			Message: "Could not start the health monitor: Redis is unavailable"}
	}
	m.setPaused(false)
	return m.Status(), nil
}

// refreshPaused reads the fleet-wide switch; on a Redis error the last known value stands.
func (m *Monitor) refreshPaused(ctx context.Context) bool {
	n, err := m.cfg.Redis.Exists(ctx, m.pausedKey).Result()
	if err == nil {
		m.setPaused(n > 0)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused
}

func (m *Monitor) setPaused(paused bool) {
	m.mu.Lock()
	m.paused = paused
	m.mu.Unlock()
}

func (m *Monitor) setRunning(running bool) {
	m.mu.Lock()
	m.running = running
	m.mu.Unlock()
}
