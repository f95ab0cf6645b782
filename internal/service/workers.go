package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workers"
)

// preserveGrace is how long sessions a stopping worker preserved stay placed on it.
const preserveGrace = 2 * time.Minute

// WorkerTokenPrefix starts every per-worker token.
const WorkerTokenPrefix = "wkt_"

// Workers takes in what workers report and lets administrators manage the fleet.
type Workers struct {
	DB       *pgxpool.Pool
	Client   *workers.Client
	Sessions *SessionEvents
	Bus      *events.Bus
	Router   *router.Router
	Logger   *slog.Logger
	// Failover moves the sessions of workers that leave or fail; nil moves nothing.
	Failover *Failover
}

var semver = regexp.MustCompile(`^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$`)

// WorkerInput is a registration or a worker added by hand, before validation.
type WorkerInput struct {
	WorkerID    string
	Endpoint    string
	MaxSessions *int
	Description *string
	Version     *string
	Environment *string
}

// validWorker checks and normalises a registration, listing every bad field.
func validWorker(in WorkerInput) (store.WorkerRegistration, error) {
	var bad []model.FieldError
	reg := store.WorkerRegistration{ID: NormalizeID(in.WorkerID), MaxSessions: 50,
		Environment: model.EnvDevelopment, Description: in.Description, Version: in.Version}
	switch {
	case reg.ID == "":
		bad = append(bad, model.FieldError{Field: "workerId", Message: "must contain letters or digits"})
	case len(reg.ID) < 3 || len(reg.ID) > 50:
		bad = append(bad, model.FieldError{Field: "workerId", Message: "must be 3 to 50 characters after normalising"})
	case reservedWorkerIDs[reg.ID]:
		bad = append(bad, model.FieldError{Field: "workerId", Message: fmt.Sprintf("%q is reserved", reg.ID)})
	}
	endpoint, err := normalizeEndpoint(in.Endpoint)
	if err != nil {
		bad = append(bad, model.FieldError{Field: "endpoint", Message: err.Error()})
	}
	reg.Endpoint = endpoint
	if in.MaxSessions != nil {
		if *in.MaxSessions < 1 || *in.MaxSessions > 1000 {
			bad = append(bad, model.FieldError{Field: "maxSessions", Message: "must be from 1 to 1000"})
		}
		reg.MaxSessions = *in.MaxSessions
	}
	if in.Version != nil && !semver.MatchString(*in.Version) {
		bad = append(bad, model.FieldError{Field: "version", Message: "must be a version such as 1.0.0"})
	}
	if in.Description != nil && len(*in.Description) > 500 {
		bad = append(bad, model.FieldError{Field: "description", Message: "must be at most 500 characters"})
	}
	if in.Environment != nil && *in.Environment != "" {
		env := model.WorkerEnvironment(strings.ToUpper(*in.Environment))
		if !isWorkerEnvironment(env) {
			bad = append(bad, model.FieldError{Field: "environment", Message: "must be one of DEVELOPMENT, STAGING, TESTING, PRODUCTION"})
		}
		reg.Environment = env
	}
	if len(bad) > 0 {
		return reg, model.ValidationError(bad...)
	}
	return reg, nil
}

func isWorkerEnvironment(env model.WorkerEnvironment) bool {
	for _, e := range model.WorkerEnvironments {
		if e == env {
			return true
		}
	}
	return false
}

// normalizeEndpoint accepts an http or https URL with a host and drops a trailing slash.
func normalizeEndpoint(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("must be an http or https URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must not carry credentials, a query or a fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Register registers a worker after checking that it answers at its endpoint. Registering
// again under the same ID updates it and sets it ONLINE. The same endpoint under another ID,
// or the same ID at another endpoint while the old one still answers, is a conflict. The
// answer carries a fresh per-worker token.
func (s *Workers) Register(ctx context.Context, in WorkerInput) (protocol.RegisterResult, error) {
	reg, err := validWorker(in)
	if err != nil {
		return protocol.RegisterResult{}, err
	}
	if err := s.checkReachable(ctx, reg.ID, reg.Endpoint); err != nil {
		return protocol.RegisterResult{}, err
	}
	if existing, err := store.GetWorker(ctx, s.DB, reg.ID); err == nil && existing.Endpoint != reg.Endpoint {
		if _, err := s.Client.Health(ctx, "", existing.Endpoint); err == nil {
			return protocol.RegisterResult{}, model.Errorf(model.KindConflict,
				"Worker %s is already registered at %s, which still answers", reg.ID, existing.Endpoint)
		}
	}
	token := WorkerTokenPrefix + auth.NewOpaqueToken()
	hash := auth.HashToken(token)
	reg.TokenHash = &hash
	worker, err := store.UpsertWorker(ctx, s.DB, reg)
	if errors.Is(err, model.ErrConflict) {
		return protocol.RegisterResult{}, model.Errorf(model.KindConflict,
			"Another worker is already registered at %s", reg.Endpoint)
	}
	if err != nil {
		return protocol.RegisterResult{}, err
	}
	s.Client.Forget(worker.ID) // a fresh start deserves a closed breaker
	s.Router.PutWorker(ctx, worker)
	s.systemLog(ctx, model.LevelInfo, fmt.Sprintf("Worker %s registered at %s", worker.ID, worker.Endpoint), worker.ID)
	s.publishWorker(worker)
	return protocol.RegisterResult{
		WorkerID: worker.ID, Endpoint: worker.Endpoint, Status: string(worker.Status), MaxSessions: worker.MaxSessions,
		Version: worker.Version, Environment: string(worker.Environment), RegisteredAt: worker.UpdatedAt,
		RecoveryRequired: worker.SessionCount > 0, AssignedSessionCount: worker.SessionCount, WorkerToken: token,
	}, nil
}

// checkReachable requires a 2xx from GET {endpoint}/health, naming the cause when it fails.
func (s *Workers) checkReachable(ctx context.Context, workerID, endpoint string) error {
	if _, err := s.Client.Health(ctx, "", endpoint); err != nil {
		var e *model.Error
		message := "Worker endpoint is not reachable: " + endpoint
		if errors.As(err, &e) && e.Message != "" {
			message = e.Message
		}
		return &model.Error{Kind: model.KindConnectivity, Err: err,
			Message: fmt.Sprintf("%s. Please check that the worker %s is running.", strings.TrimSuffix(message, "."), workerID)}
	}
	return nil
}

// WorkerCaller is the worker a request authenticated as: ID is empty for the shared token.
type WorkerCaller struct {
	ID string
}

// mayActFor refuses a per-worker token acting for another worker.
func (c WorkerCaller) mayActFor(workerID string) error {
	if c.ID != "" && c.ID != workerID {
		return model.Errorf(model.KindForbidden, "This worker token belongs to another worker")
	}
	return nil
}

// Heartbeat records a heartbeat: liveness, figures, a metrics sample, and reconciles the
// sessions the worker reports with where the backend placed them.
func (s *Workers) Heartbeat(ctx context.Context, caller WorkerCaller, workerID string, hb protocol.HeartbeatRequest) (protocol.HeartbeatResult, error) {
	workerID = NormalizeID(workerID)
	if err := caller.mayActFor(workerID); err != nil {
		return protocol.HeartbeatResult{}, err
	}
	sample := store.WorkerSample{}
	var metrics protocol.HeartbeatMetrics
	if hb.Metrics != nil {
		metrics = *hb.Metrics
		sample.CPUUsage, sample.MemoryUsage, sample.Uptime = percent(metrics.CPUUsage), percent(metrics.MemoryUsage), metrics.Uptime
		sample.MessageCount = count(metrics.MessageCount, 1<<53)
	}
	n := len(hb.Sessions)
	sample.SessionCount = &n
	before, err := store.GetWorker(ctx, s.DB, workerID)
	if errors.Is(err, model.ErrNotFound) {
		return protocol.HeartbeatResult{}, model.Errorf(model.KindNotFound,
			"Worker with ID '%s' not found. Cannot update heartbeat.", workerID)
	}
	if err != nil {
		return protocol.HeartbeatResult{}, err
	}
	worker, err := store.RecordWorkerHeartbeat(ctx, s.DB, workerID, sample, nil)
	if err != nil {
		return protocol.HeartbeatResult{}, err
	}
	if before.Status != worker.Status {
		s.systemLog(ctx, model.LevelInfo, fmt.Sprintf("Worker %s is %s again (heartbeat)", workerID, worker.Status), workerID)
		s.publishWorker(worker)
		s.Router.PutWorker(ctx, worker)
	}
	synced, toStop, err := s.reconcile(ctx, workerID, hb)
	if err != nil {
		return protocol.HeartbeatResult{}, err
	}
	worker, err = store.GetWorker(ctx, s.DB, workerID) // the session count may have changed
	if err != nil {
		return protocol.HeartbeatResult{}, err
	}
	return protocol.HeartbeatResult{
		WorkerID: worker.ID, Status: string(worker.Status), LastHeartbeat: *worker.LastHeartbeat,
		SessionCount: worker.SessionCount, SessionsProcessed: len(hb.Sessions), SessionsSynced: synced,
		SessionsToStop: toStop, Metrics: metrics,
	}, nil
}

// percent keeps only plausible percentages; a worker's garbage must not fail its heartbeat.
func percent(v *float64) *float64 {
	if v == nil || *v < 0 || *v > 100 || *v != *v {
		return nil
	}
	return v
}

// count reads a count a worker reports as a JSON number: nil unless it is from 0 to limit.
// Like percent, it drops a figure out of range instead of failing the heartbeat that carries
// it (int(1e300) is not a count, and did not fit the column: a 500).
func count(v *float64, limit float64) *int64 {
	if v == nil || !(*v >= 0 && *v <= limit) {
		return nil
	}
	n := int64(*v)
	return &n
}

// reconcile applies each reported session placed on this worker as a session event stamped
// with its lastActivity (so staleness applies), lists the ones placed elsewhere or unknown in
// sessionsToStop, and counts placed sessions the heartbeat left out.
func (s *Workers) reconcile(ctx context.Context, workerID string, hb protocol.HeartbeatRequest) (int, []string, error) {
	ids := make([]string, 0, len(hb.Sessions))
	for _, entry := range hb.Sessions {
		if entry.SessionID != "" {
			ids = append(ids, entry.SessionID)
		}
	}
	placements, err := store.SessionPlacements(ctx, s.DB, ids)
	if err != nil {
		return 0, nil, err
	}
	placed, err := store.ListWorkerSessions(ctx, s.DB, workerID)
	if err != nil {
		return 0, nil, err
	}
	current := make(map[string]store.PlacedSession, len(placed))
	for _, p := range placed {
		current[p.ID] = p
	}

	synced := 0
	toStop := []string{}
	reported := map[string]bool{}
	for _, entry := range hb.Sessions {
		if entry.SessionID == "" {
			continue
		}
		reported[entry.SessionID] = true
		if placements[entry.SessionID] != workerID {
			toStop = append(toStop, entry.SessionID)
			continue
		}
		status, _, ok := protocol.ParseSessionStatus(entry.Status)
		p := current[entry.SessionID]
		if !ok || (status == p.Status && (entry.PhoneNumber == nil || equalPtr(entry.PhoneNumber, p.PhoneNumber)) &&
			(entry.DisplayName == nil || equalPtr(entry.DisplayName, p.DisplayName)) && !strings.EqualFold(entry.Status, "LOGGED_OUT")) {
			if err := store.ResetMissedHeartbeats(ctx, s.DB, entry.SessionID); err != nil {
				return synced, toStop, err
			}
			continue
		}
		at := protocol.TimeOrZero(entry.LastActivity)
		if at.IsZero() {
			at = protocol.TimeOrZero(hb.LastActivity)
		}
		event := protocol.SessionEvent{SessionID: entry.SessionID, Status: entry.Status, PhoneNumber: entry.PhoneNumber,
			DisplayName: entry.DisplayName, Timestamp: protocol.At(at)}
		if at.IsZero() {
			event.Timestamp = nil
		}
		res, err := s.Sessions.Apply(ctx, EventSource{WorkerID: workerID}, event)
		switch {
		case model.KindOf(err) == model.KindNotFound || model.KindOf(err) == model.KindConflict:
			toStop = append(toStop, entry.SessionID) // deleted or moved meanwhile
		case err != nil:
			return synced, toStop, err
		case res.Applied:
			synced++
		default: // stale, so not applied; but reported all the same, which resets the omissions
			if err := store.ResetMissedHeartbeats(ctx, s.DB, entry.SessionID); err != nil {
				return synced, toStop, err
			}
		}
	}
	var omitted []string
	for _, p := range placed {
		if !reported[p.ID] {
			omitted = append(omitted, p.ID)
		}
	}
	if len(omitted) == 0 {
		return synced, toStop, nil
	}
	var dropped []store.PlacedSession
	var raised []events.Event
	var deliveries int64
	err = store.WithTx(ctx, s.DB, func(tx pgx.Tx) (err error) {
		if dropped, err = store.MarkMissedHeartbeat(ctx, tx, workerID, omitted); err != nil {
			return err
		}
		raised, deliveries, err = storeReleased(ctx, tx, dropped)
		return err
	})
	if err != nil {
		return synced, toStop, err
	}
	for _, p := range dropped {
		s.Router.Clear(ctx, p.ID)
		s.Logger.InfoContext(ctx, "session not reported by its worker twice; disconnected",
			slog.String("session_id", p.ID), slog.String("worker_id", workerID))
	}
	s.Sessions.raise(raised, deliveries)
	return synced, toStop, nil
}

// LegacyHeartbeat records the original's flat heartbeat: liveness and a metrics sample.
func (s *Workers) LegacyHeartbeat(ctx context.Context, caller WorkerCaller, hb protocol.LegacyHeartbeat) (model.Worker, error) {
	workerID := NormalizeID(hb.WorkerID)
	if workerID == "" {
		return model.Worker{}, model.ValidationError(model.FieldError{Field: "workerId", Message: "is required"})
	}
	if err := caller.mayActFor(workerID); err != nil {
		return model.Worker{}, err
	}
	var reported *model.WorkerStatus
	switch st := model.WorkerStatus(strings.ToUpper(hb.Status)); st {
	case model.WorkerOnline, model.WorkerOffline, model.WorkerMaintenance:
		reported = &st
	}
	sample := store.WorkerSample{CPUUsage: percent(hb.CPUUsage), MemoryUsage: percent(hb.MemoryUsage), Uptime: hb.Uptime}
	if n := count(hb.SessionCount, math.MaxInt32); n != nil {
		sessions := int(*n)
		sample.SessionCount = &sessions
	}
	worker, err := store.RecordWorkerHeartbeat(ctx, s.DB, workerID, sample, reported)
	if errors.Is(err, model.ErrNotFound) {
		return worker, model.Errorf(model.KindNotFound, "Worker with ID '%s' not found", workerID)
	}
	return worker, err
}

// AssignedSessions lists the sessions a restarting worker should restore.
func (s *Workers) AssignedSessions(ctx context.Context, caller WorkerCaller, workerID string) (protocol.AssignedSessions, error) {
	workerID = NormalizeID(workerID)
	if err := caller.mayActFor(workerID); err != nil {
		return protocol.AssignedSessions{}, err
	}
	if _, err := store.GetWorker(ctx, s.DB, workerID); err != nil {
		return protocol.AssignedSessions{}, notFound(err, "Worker %s not found", workerID)
	}
	sessions, err := store.ListRecoverableSessions(ctx, s.DB, workerID)
	if err != nil {
		return protocol.AssignedSessions{}, err
	}
	return protocol.AssignedSessions{WorkerID: workerID, SessionCount: len(sessions), Sessions: sessions,
		RetrievedAt: time.Now().UTC()}, nil
}

// RecoveryOutcome summarises a recovery report.
type RecoveryOutcome struct {
	WorkerID   string    `json:"workerId"`
	Processed  int       `json:"processed"`
	Recovered  int       `json:"recovered"`
	Failed     int       `json:"failed"`
	Skipped    int       `json:"skipped"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// RecoveryStatus applies a worker's recovery report: SUCCESS → CONNECTED on this worker,
// FAILED → ERROR and unplaced. Sessions not placed on the worker are skipped.
func (s *Workers) RecoveryStatus(ctx context.Context, caller WorkerCaller, workerID string, req protocol.RecoveryStatusRequest) (RecoveryOutcome, error) {
	workerID = NormalizeID(workerID)
	if err := caller.mayActFor(workerID); err != nil {
		return RecoveryOutcome{}, err
	}
	if _, err := store.GetWorker(ctx, s.DB, workerID); err != nil {
		return RecoveryOutcome{}, notFound(err, "Worker %s not found", workerID)
	}
	out := RecoveryOutcome{WorkerID: workerID, ReceivedAt: time.Now().UTC()}
	for _, r := range req.RecoveryResults {
		out.Processed++
		var status model.SessionStatus
		switch strings.ToUpper(r.Status) {
		case "SUCCESS":
			status = model.SessionConnected
		case "FAILED":
			status = model.SessionError
		default:
			out.Skipped++
			continue
		}
		changed, err := store.ApplyRecoveryResult(ctx, s.DB, workerID, r.SessionID, status, r.Error)
		if err != nil {
			return out, err
		}
		switch {
		case !changed:
			out.Skipped++
		case status == model.SessionConnected:
			out.Recovered++
		default:
			out.Failed++
			s.Router.Clear(ctx, r.SessionID)
		}
	}
	totals := req.Totals()
	s.Logger.InfoContext(ctx, "worker recovery report", slog.String("worker_id", workerID),
		slog.Int("recovered", out.Recovered), slog.Int("failed", out.Failed), slog.Any("reported_total", totals.TotalSessions))
	s.systemLog(ctx, model.LevelInfo, fmt.Sprintf("Worker %s recovered %d sessions (%d failed)", workerID, out.Recovered, out.Failed), workerID)
	return out, nil
}

// SessionsPreserved keeps the sessions a stopping worker preserved placed on it for a grace
// period before failover moves them.
func (s *Workers) SessionsPreserved(ctx context.Context, caller WorkerCaller, workerID string, req protocol.SessionsPreservedRequest) (int, time.Time, error) {
	workerID = NormalizeID(workerID)
	if err := caller.mayActFor(workerID); err != nil {
		return 0, time.Time{}, err
	}
	ids := make([]string, 0, len(req.PreservedSessions))
	for _, ref := range req.PreservedSessions {
		if ref != "" {
			ids = append(ids, string(ref))
		}
	}
	until := time.Now().Add(preserveGrace).UTC()
	n, err := store.PreserveSessions(ctx, s.DB, workerID, ids, until)
	return n, until, err
}

// UnregisterResult is the answer of DELETE /workers/unregister.
type UnregisterResult struct {
	WorkerID string `json:"workerId"`
	// MigratedSessions were placed on other workers and started there (failover).
	MigratedSessions int `json:"migratedSessions"`
	// ReleasedSessions were left DISCONNECTED with a reason.
	ReleasedSessions int `json:"releasedSessions"`
	// PreservedSessions stay placed on the worker, kept OFFLINE, through their
	// sessions-preserved grace period.
	PreservedSessions int       `json:"preservedSessions"`
	UnregisteredAt    time.Time `json:"unregisteredAt"`
}

// Unregister removes a worker: its sessions are moved to other workers when failover is on,
// else released (DISCONNECTED with a reason), and the worker row is deleted.
func (s *Workers) Unregister(ctx context.Context, caller WorkerCaller, req protocol.UnregisterRequest) (UnregisterResult, error) {
	workerID := NormalizeID(req.WorkerID)
	if workerID == "" {
		return UnregisterResult{}, model.ValidationError(model.FieldError{Field: "workerId", Message: "is required"})
	}
	if err := caller.mayActFor(workerID); err != nil {
		return UnregisterResult{}, err
	}
	return s.remove(ctx, workerID, req.Endpoint, "worker unregistered", true)
}

// remove takes a worker out of the fleet. With failover on, the worker is first set OFFLINE
// (nothing new is placed on it) and its sessions are moved to other workers; when
// keepPreserved, sessions in their sessions-preserved grace period stay placed on it and so
// does the worker's row (OFFLINE), so that the worker can register again and recover them,
// or the health monitor fails them over once the grace has passed. What is left is released
// (DISCONNECTED with the reason) and the worker deleted, in one transaction.
func (s *Workers) remove(ctx context.Context, workerID, endpoint, reason string, keepPreserved bool) (UnregisterResult, error) {
	out := UnregisterResult{WorkerID: workerID}
	if s.Failover != nil && s.Failover.Enabled {
		worker, err := store.GetWorker(ctx, s.DB, workerID)
		if err != nil {
			return out, notFound(err, "Worker not found")
		}
		if err := sameEndpoint(worker, endpoint); err != nil {
			return out, err
		}
		if worker, err = store.MarkWorkerLeaving(ctx, s.DB, workerID); err != nil {
			return out, notFound(err, "Worker not found")
		}
		s.Router.PutWorker(ctx, worker)
		cause := fmt.Sprintf("worker %s %s", workerID, strings.TrimPrefix(reason, "worker "))
		moved, err := s.Failover.evacuate(ctx, workerID, cause, !keepPreserved)
		if err != nil {
			s.Logger.WarnContext(ctx, "fail over the sessions of a leaving worker; the rest are released",
				slog.String("worker_id", workerID), slog.Any("err", err))
		}
		out.MigratedSessions, out.ReleasedSessions = moved.Moved, moved.Disconnected
		if moved.Preserved > 0 {
			out.PreservedSessions, out.UnregisteredAt = moved.Preserved, time.Now().UTC()
			s.systemLog(ctx, model.LevelWarn, fmt.Sprintf("Worker %s is OFFLINE (%s); %d sessions moved, %d kept through their grace period",
				workerID, reason, moved.Moved, moved.Preserved), workerID)
			s.publishWorker(worker)
			return out, nil
		}
	}
	var released []store.PlacedSession
	var raised []events.Event
	var deliveries int64
	err := store.WithTx(ctx, s.DB, func(tx pgx.Tx) error {
		worker, err := store.GetWorker(ctx, tx, workerID)
		if err != nil {
			return notFound(err, "Worker not found")
		}
		if err := sameEndpoint(worker, endpoint); err != nil {
			return err
		}
		if released, err = store.ReleaseWorkerSessions(ctx, tx, workerID, reason); err != nil {
			return err
		}
		if raised, deliveries, err = storeReleased(ctx, tx, released); err != nil {
			return err
		}
		return store.DeleteWorker(ctx, tx, workerID)
	})
	if err != nil {
		return out, err
	}
	s.Client.Forget(workerID)
	ids := make([]string, 0, len(released))
	for _, p := range released {
		ids = append(ids, p.ID)
	}
	s.Router.RemoveWorker(ctx, workerID, ids)
	s.Sessions.raise(raised, deliveries)
	out.ReleasedSessions += len(released)
	s.systemLog(ctx, model.LevelWarn, fmt.Sprintf("Worker %s removed (%s); %d sessions moved, %d released",
		workerID, reason, out.MigratedSessions, out.ReleasedSessions), workerID)
	s.Bus.Publish(events.Event{Type: events.WorkerStatusUpdated, WorkerID: workerID, Payload: map[string]any{
		"workerId": workerID, "status": model.WorkerOffline, "sessionCount": 0, "timestamp": time.Now().UTC(),
	}})
	out.UnregisteredAt = time.Now().UTC()
	return out, nil
}

// sameEndpoint refuses to remove a worker named with an endpoint other than its own.
func sameEndpoint(worker model.Worker, endpoint string) error {
	if strings.TrimSpace(endpoint) == "" {
		return nil
	}
	// An endpoint that is not even a URL is not the worker's endpoint either.
	if normalized, err := normalizeEndpoint(endpoint); err != nil || normalized != worker.Endpoint {
		return model.Errorf(model.KindConflict, "Worker %s is registered at another endpoint", worker.ID)
	}
	return nil
}

func (s *Workers) publishWorker(w model.Worker) {
	s.Bus.Publish(events.Event{Type: events.WorkerStatusUpdated, WorkerID: w.ID, Payload: map[string]any{
		"workerId": w.ID, "status": w.Status, "sessionCount": w.SessionCount, "timestamp": time.Now().UTC(),
	}})
}

func (s *Workers) systemLog(ctx context.Context, level model.LogLevel, message, workerID string) {
	if err := store.InsertSystemLog(ctx, s.DB, store.SystemLogEntry{Level: level, Service: "workers",
		Message: message, WorkerID: &workerID}); err != nil {
		s.Logger.WarnContext(ctx, "write system log", slog.Any("err", err))
	}
}

// notFound gives a store not-found error a client-facing message; other errors pass.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, model.ErrNotFound) {
		return model.Errorf(model.KindNotFound, format, args...)
	}
	return err
}

// AvailableWorker is an ONLINE worker with room, with its placement score.
type AvailableWorker struct {
	WorkerID     string  `json:"workerId"`
	MaxSessions  int     `json:"maxSessions"`
	SessionCount int     `json:"sessionCount"`
	Free         int     `json:"freeSlots"`
	Score        float64 `json:"score"`
}

// Available lists ONLINE workers with free capacity, best placement first.
func (s *Workers) Available(ctx context.Context) ([]AvailableWorker, error) {
	rows, err := store.ListOnlineWorkerLoads(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	loads := make([]workers.Load, 0, len(rows))
	for _, r := range rows {
		loads = append(loads, workers.Load{WorkerID: r.WorkerID, MaxSessions: r.MaxSessions, Used: r.Used,
			Unhealthy: r.Unhealthy, WaitingForQR: r.WaitingForQR, CPUUsage: r.CPUUsage, MemoryUsage: r.MemoryUsage,
			HeartbeatAge: now.Sub(r.LastHeartbeat)})
	}
	ranked := workers.RankByScore(loads)
	out := make([]AvailableWorker, 0, len(ranked))
	for _, l := range ranked {
		out = append(out, AvailableWorker{WorkerID: l.WorkerID, MaxSessions: l.MaxSessions, SessionCount: l.Used,
			Free: l.Free(), Score: l.Score()})
	}
	return out, nil
}

// AddByHand registers a worker an administrator names; the ID defaults to
// worker-<host>-<port>. Its reachability is tested first. No token is returned: the worker
// gets its own when it registers itself.
func (s *Workers) AddByHand(ctx context.Context, in WorkerInput) (model.Worker, error) {
	if strings.TrimSpace(in.WorkerID) == "" {
		if u, err := url.Parse(strings.TrimSpace(in.Endpoint)); err == nil && u.Hostname() != "" {
			port := u.Port()
			if port == "" {
				port = map[string]string{"https": "443"}[u.Scheme]
				if port == "" {
					port = "80"
				}
			}
			in.WorkerID = "worker-" + u.Hostname() + "-" + port
		}
	}
	res, err := s.Register(ctx, in)
	if err != nil {
		return model.Worker{}, err
	}
	return store.GetWorker(ctx, s.DB, res.WorkerID)
}

// Update applies an administrator's changes. Status may only be set to ONLINE or
// MAINTENANCE; maxSessions may not go below the sessions already placed.
func (s *Workers) Update(ctx context.Context, workerID string, c store.WorkerChanges) (model.Worker, error) {
	workerID = NormalizeID(workerID)
	var bad []model.FieldError
	if c.MaxSessions != nil && (*c.MaxSessions < 1 || *c.MaxSessions > 1000) {
		bad = append(bad, model.FieldError{Field: "maxSessions", Message: "must be from 1 to 1000"})
	}
	if c.Status != nil && *c.Status != model.WorkerOnline && *c.Status != model.WorkerMaintenance {
		bad = append(bad, model.FieldError{Field: "status", Message: "must be ONLINE or MAINTENANCE"})
	}
	if c.Version != nil && !semver.MatchString(*c.Version) {
		bad = append(bad, model.FieldError{Field: "version", Message: "must be a version such as 1.0.0"})
	}
	if c.Environment != nil && !isWorkerEnvironment(*c.Environment) {
		bad = append(bad, model.FieldError{Field: "environment", Message: "must be one of DEVELOPMENT, STAGING, TESTING, PRODUCTION"})
	}
	if len(bad) > 0 {
		return model.Worker{}, model.ValidationError(bad...)
	}
	before, err := store.GetWorker(ctx, s.DB, workerID)
	if err != nil {
		return model.Worker{}, notFound(err, "Worker %s not found", workerID)
	}
	if c.MaxSessions != nil && *c.MaxSessions < before.SessionCount {
		return model.Worker{}, model.ValidationError(model.FieldError{Field: "maxSessions",
			Message: fmt.Sprintf("must be at least the %d sessions placed on the worker", before.SessionCount)})
	}
	worker, err := store.UpdateWorker(ctx, s.DB, workerID, c)
	if err != nil {
		return worker, notFound(err, "Worker %s not found", workerID)
	}
	if before.Status != worker.Status {
		s.systemLog(ctx, model.LevelInfo, fmt.Sprintf("Worker %s set to %s by an administrator", workerID, worker.Status), workerID)
		s.publishWorker(worker)
		s.Router.PutWorker(ctx, worker)
	}
	return worker, nil
}

// Delete removes a worker by hand, releasing its sessions first.
func (s *Workers) Delete(ctx context.Context, workerID string) (UnregisterResult, error) {
	return s.remove(ctx, NormalizeID(workerID), "", "worker deleted by an administrator", false)
}

// EndpointTest is the outcome of testing a worker endpoint.
type EndpointTest struct {
	Endpoint  string                 `json:"endpoint"`
	Reachable bool                   `json:"reachable"`
	LatencyMs float64                `json:"latencyMs"`
	Error     string                 `json:"error,omitempty"`
	Health    *protocol.WorkerHealth `json:"health,omitempty"`
}

// TestEndpoint checks whether an endpoint answers GET /health.
func (s *Workers) TestEndpoint(ctx context.Context, workerID, endpoint string) (EndpointTest, error) {
	normalized, err := normalizeEndpoint(endpoint)
	if err != nil {
		return EndpointTest{}, model.ValidationError(model.FieldError{Field: "endpoint", Message: err.Error()})
	}
	start := time.Now()
	health, err := s.Client.Health(ctx, workerID, normalized)
	out := EndpointTest{Endpoint: normalized, LatencyMs: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		var e *model.Error
		out.Error = "unreachable"
		if errors.As(err, &e) {
			out.Error = e.Message
		}
		return out, nil
	}
	out.Reachable, out.Health = true, &health
	return out, nil
}
