package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workers"
)

// The health monitor's side of the worker registry: Workers implements workers.Fleet.

var _ workers.Fleet = (*Workers)(nil)

// MonitoredWorkers lists every worker for a health round. OFFLINE workers are included in
// every round: those whose heartbeat is too old fail without being called (no connection, no
// write), so only an OFFLINE worker that still heartbeats recently is called, and it is
// exactly the one a successful check can bring back.
func (s *Workers) MonitoredWorkers(ctx context.Context) ([]workers.Monitored, error) {
	rows, err := store.ListMonitoredWorkers(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	out := make([]workers.Monitored, 0, len(rows))
	for _, r := range rows {
		out = append(out, workers.Monitored{ID: r.ID, Endpoint: r.Endpoint, Status: r.Status,
			ConsecutiveFailures: r.ConsecutiveFailures, LastHeartbeat: r.LastHeartbeat, HeartbeatAge: r.HeartbeatAge})
	}
	return out, nil
}

// RecordCheck stores one check's outcome; only a change is written. The third failure in a row
// takes the worker OFFLINE (a system log entry, a worker_status_updated event and the routing
// snapshot); its sessions are then failed over at the end of the round. A success clears the
// count and brings back a worker the monitor took OFFLINE.
func (s *Workers) RecordCheck(ctx context.Context, w workers.Monitored, healthy bool, cause string) (workers.Recorded, error) {
	unchanged := workers.Recorded{Status: w.Status, ConsecutiveFailures: w.ConsecutiveFailures}
	var t store.HealthTransition
	switch {
	case healthy && w.ConsecutiveFailures == 0, !healthy && w.Status == model.WorkerOffline:
		return unchanged, nil // nothing to write: the common case of a round
	case healthy:
		var ok bool
		var err error
		if t, ok, err = store.RecordHealthSuccess(ctx, s.DB, w.ID, workers.FailuresBeforeOffline); err != nil || !ok {
			return unchanged, err
		}
	default:
		var err error
		t, err = store.RecordHealthFailure(ctx, s.DB, w.ID, w.LastHeartbeat, workers.FailuresBeforeOffline)
		if errors.Is(err, model.ErrNotFound) {
			return unchanged, nil // it heartbeated since the round began, or left
		}
		if err != nil {
			return unchanged, err
		}
	}
	if t.Before != t.After {
		s.workerStatusChanged(ctx, w.ID, t, cause)
	}
	return workers.Recorded{Status: t.After, ConsecutiveFailures: t.ConsecutiveFailures}, nil
}

func (s *Workers) workerStatusChanged(ctx context.Context, workerID string, t store.HealthTransition, cause string) {
	level, logLevel := model.LevelInfo, slog.LevelInfo
	message := fmt.Sprintf("Worker %s is %s again (health check)", workerID, t.After)
	if t.After == model.WorkerOffline {
		level, logLevel = model.LevelWarn, slog.LevelWarn
		message = fmt.Sprintf("Worker %s is OFFLINE after %d failed health checks: %s", workerID, t.ConsecutiveFailures, cause)
	}
	s.Logger.Log(ctx, logLevel, "worker status changed by the health monitor", slog.String("worker_id", workerID),
		slog.String("from", string(t.Before)), slog.String("to", string(t.After)), slog.String("cause", cause))
	s.systemLog(ctx, level, message, workerID)
	worker, err := store.GetWorker(ctx, s.DB, workerID)
	if err != nil {
		return
	}
	s.publishWorker(worker)
	s.Router.PutWorker(ctx, worker)
}

// FailOverStranded moves the sessions left on OFFLINE workers once their grace period has
// passed, when SESSION_FAILOVER is on.
func (s *Workers) FailOverStranded(ctx context.Context) (int, error) {
	if s.Failover == nil || !s.Failover.Enabled {
		return 0, nil
	}
	out, err := s.Failover.failOverStranded(ctx)
	return out.Moved, err
}

// DrainResult is the answer of POST /workers/{workerId}/drain.
type DrainResult struct {
	WorkerID       string             `json:"workerId"`
	Status         model.WorkerStatus `json:"status"`
	SessionsToMove int                `json:"sessionsToMove"`
}

// Drain sets a worker to MAINTENANCE, so that nothing new is placed on it, and has its
// sessions moved to other workers in the background, one at a time.
func (s *Workers) Drain(ctx context.Context, workerID string) (DrainResult, error) {
	if s.Failover == nil {
		return DrainResult{}, model.Errorf(model.KindConnectivity, "Draining is not available on this server")
	}
	maintenance := model.WorkerMaintenance
	worker, err := s.Update(ctx, workerID, store.WorkerChanges{Status: &maintenance})
	if err != nil {
		return DrainResult{}, err
	}
	s.Failover.queueDrain(worker.ID)
	s.systemLog(ctx, model.LevelInfo, fmt.Sprintf("Worker %s is being drained: %d sessions to move", worker.ID, worker.SessionCount), worker.ID)
	return DrainResult{WorkerID: worker.ID, Status: worker.Status, SessionsToMove: worker.SessionCount}, nil
}
