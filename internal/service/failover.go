package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workers"
)

// Failover outcomes of one session, as gateway_failovers_total counts them.
const (
	failoverMoved       = "moved"        // placed on another worker and started there
	failoverNoCapacity  = "no_capacity"  // no worker had room: DISCONNECTED with the reason
	failoverStartFailed = "start_failed" // placed, but the new worker did not start it: DISCONNECTED
	failoverReleased    = "released"     // not running on the old worker: released, not placed
	failoverSkipped     = "skipped"      // nothing to move: gone, moved, reconnected, preserved, or its worker is back
)

const (
	// moveConcurrency bounds the sessions moved at once; each move takes two short
	// transactions and one worker call.
	moveConcurrency = 8
	// moveTimeout bounds one move once its session was released: the move then completes
	// even if the caller goes away, so that no session is left half-moved.
	moveTimeout = 15 * time.Second
	// strandedBatch bounds the sessions one health round fails over; the rest wait a round.
	strandedBatch = 5000
)

// Failover moves sessions off workers that can no longer run them: workers the health monitor
// took OFFLINE, workers that unregistered or were deleted, and workers an administrator
// drains. Every move releases the session from its old worker (only while that worker is not
// ONLINE, checked by the database) and then places it with Sessions.Place, the one placement
// rule, so that no worker is ever filled beyond maxSessions.
type Failover struct {
	DB       *pgxpool.Pool
	Sessions *Sessions
	Metrics  *metrics.HealthMonitor
	Logger   *slog.Logger
	// Enabled is SESSION_FAILOVER. It governs the automatic moves (a worker OFFLINE or
	// unregistered); a drain is an administrator's explicit order and always moves.
	Enabled bool

	mu      sync.Mutex
	pending []string // workers waiting to be drained, oldest request first
	queued  map[string]bool
	wake    chan struct{}
}

// FailoverOutcome counts what happened to a worker's sessions.
type FailoverOutcome struct {
	Moved        int
	Disconnected int
	// Preserved sessions were left in place for their sessions-preserved grace period.
	Preserved int
}

func (o *FailoverOutcome) add(outcome string) {
	switch outcome {
	case failoverMoved:
		o.Moved++
	case failoverNoCapacity, failoverStartFailed, failoverReleased:
		o.Disconnected++
	}
}

// failOverStranded moves the sessions placed on OFFLINE workers whose grace has passed. The
// health monitor calls it after each round, so a failover that could not finish (a crash, a
// grace period still running) is picked up by a later round, on whichever replica leads.
func (f *Failover) failOverStranded(ctx context.Context) (FailoverOutcome, error) {
	stranded, err := store.ListStrandedSessions(ctx, f.DB, strandedBatch)
	if err != nil || len(stranded) == 0 {
		return FailoverOutcome{}, err
	}
	return f.moveAll(ctx, stranded, false, func(workerID string) string {
		return fmt.Sprintf("worker %s went OFFLINE", workerID)
	})
}

// evacuate moves every session off a worker that is leaving; sessions in their grace period
// stay unless includePreserved.
func (f *Failover) evacuate(ctx context.Context, workerID, cause string, includePreserved bool) (FailoverOutcome, error) {
	sessions, err := store.ListWorkerSessionsToMove(ctx, f.DB, workerID)
	if err != nil {
		return FailoverOutcome{}, err
	}
	return f.moveAll(ctx, sessions, includePreserved, func(string) string { return cause })
}

// moveAll moves sessions, moveConcurrency at a time, and stops starting new moves once ctx
// ends.
func (f *Failover) moveAll(ctx context.Context, sessions []store.MovableSession, includePreserved bool, cause func(workerID string) string) (FailoverOutcome, error) {
	var out FailoverOutcome
	var errs []error
	var mu sync.Mutex
	slots := make(chan struct{}, moveConcurrency)
	var wg sync.WaitGroup
spawn:
	for _, sess := range sessions {
		if sess.Preserved && !includePreserved {
			out.Preserved++
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break spawn
		}
		wg.Go(func() {
			defer func() { <-slots }()
			outcome, err := f.moveOff(ctx, sess.ID, sess.WorkerID, cause(sess.WorkerID), includePreserved, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out.add(outcome)
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// moveOff moves one session off fromWorker: it is released there (DISCONNECTED), placed by
// the placement rule on another ONLINE worker with room (INIT) and started there; without
// room it stays DISCONNECTED with the reason. stopOn is the old worker when it is still alive
// (a drain): it is told to stop the session before the new worker starts it, so that one
// WhatsApp connection never runs on two workers. A dead worker is told nothing; if it comes
// back, its heartbeat answer lists the session in sessionsToStop.
func (f *Failover) moveOff(ctx context.Context, sessionID, fromWorker, cause string, includePreserved bool, stopOn *workers.Target) (string, error) {
	outcome, err := f.move(ctx, sessionID, fromWorker, cause, includePreserved, stopOn)
	if err == nil {
		f.Metrics.Failovers.WithLabelValues(outcome).Inc()
	}
	return outcome, err
}

func (f *Failover) move(ctx context.Context, sessionID, fromWorker, cause string, includePreserved bool, stopOn *workers.Target) (string, error) {
	released, err := store.ReleaseForFailover(ctx, f.DB, sessionID, fromWorker, cause+"; moving the session", includePreserved)
	if errors.Is(err, model.ErrNotFound) {
		return failoverSkipped, nil
	}
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), moveTimeout)
	defer cancel()
	s := f.Sessions
	s.Router.Clear(ctx, sessionID)
	before := model.Session{ID: released.ID, UserID: released.UserID, Status: released.Status,
		PhoneNumber: released.PhoneNumber, DisplayName: released.DisplayName}
	disconnected := before
	disconnected.Status = model.SessionDisconnected
	if !isRunning(released.Status) {
		s.Events.publish(before, disconnected)
		return failoverReleased, nil
	}

	placed, worker, err := s.Place(ctx, sessionID, fromWorker)
	switch kind := model.KindOf(err); {
	case err == nil:
	case kind == model.KindConflict:
		return failoverSkipped, nil // its user connected it again meanwhile
	case kind == model.KindConnectivity:
		reason := cause + " and no other worker has free capacity"
		if err := store.SetUnplacedSessionReason(ctx, f.DB, sessionID, reason); err != nil {
			f.Logger.WarnContext(ctx, "record failover reason", slog.String("session_id", sessionID), slog.Any("err", err))
		}
		s.Events.publish(before, disconnected)
		f.systemLog(ctx, model.LevelWarn, released, fromWorker, fmt.Sprintf("Session %s is DISCONNECTED: %s", sessionID, reason))
		return failoverNoCapacity, nil
	default:
		// Released but not placed: it stays DISCONNECTED with the release's reason.
		s.Events.publish(before, disconnected)
		return "", err
	}

	if stopOn != nil {
		if _, err := s.Client.Disconnect(ctx, *stopOn, sessionID); err != nil {
			f.Logger.WarnContext(ctx, "drained worker did not confirm stopping the session; its heartbeat will be told",
				slog.String("session_id", sessionID), slog.String("worker_id", stopOn.ID), slog.Any("err", err))
		}
	}
	if _, err := s.Client.StartSession(ctx, workers.Target{ID: worker.ID, Endpoint: worker.Endpoint},
		protocol.StartSessionRequest{SessionID: sessionID, UserID: placed.UserID, SessionName: placed.Name}); err != nil {
		reason := fmt.Sprintf("%s and worker %s failed to start the session", cause, worker.ID)
		s.rollback(ctx, sessionID, worker.ID, reason)
		f.systemLog(ctx, model.LevelWarn, released, fromWorker, fmt.Sprintf("Session %s is DISCONNECTED: %s", sessionID, reason))
		return failoverStartFailed, nil
	}
	s.Events.publish(before, placed)
	f.systemLog(ctx, model.LevelInfo, released, fromWorker,
		fmt.Sprintf("Session %s moved from worker %s to worker %s (%s)", sessionID, fromWorker, worker.ID, cause))
	return failoverMoved, nil
}

// isRunning reports whether a session in this status runs on its worker (and so should be
// started elsewhere); DISCONNECTED and ERROR sessions are only released.
func isRunning(status model.SessionStatus) bool {
	switch status {
	case model.SessionInit, model.SessionQRRequired, model.SessionConnected, model.SessionReconnecting:
		return true
	}
	return false
}

func (f *Failover) systemLog(ctx context.Context, level model.LogLevel, p store.PlacedSession, workerID, message string) {
	if err := store.InsertSystemLog(ctx, f.DB, store.SystemLogEntry{Level: level, Service: "failover", Message: message,
		UserID: &p.UserID, SessionID: &p.ID, WorkerID: &workerID}); err != nil {
		f.Logger.WarnContext(ctx, "write system log", slog.Any("err", err))
	}
}

// --- Drains ---

// queueDrain asks RunDrains to move the worker's sessions away; a worker already waiting is
// not queued twice.
func (f *Failover) queueDrain(workerID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	if !f.queued[workerID] {
		f.queued[workerID] = true
		f.pending = append(f.pending, workerID)
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Failover) init() {
	if f.wake == nil {
		f.wake = make(chan struct{}, 1)
		f.queued = map[string]bool{}
	}
}

func (f *Failover) nextDrain() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) == 0 {
		return "", false
	}
	id := f.pending[0]
	f.pending = f.pending[1:]
	delete(f.queued, id) // a drain asked for while this one runs gets a pass of its own
	return id, true
}

// RunDrains drains the workers administrators asked to drain, one worker and one session at a
// time, until ctx ends. It is one of the app's background loops: drains run in the
// background because moving hundreds of sessions outlasts any request, and one at a time so
// that a drain never stampedes the other workers. A drain is not durable: one cut short by a
// shutdown leaves the worker in MAINTENANCE with the sessions not yet moved, and asking again
// resumes it.
func (f *Failover) RunDrains(ctx context.Context) {
	f.mu.Lock()
	f.init()
	wake := f.wake
	f.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			if len(f.pending) > 0 {
				f.Logger.Warn("drains not started before shutdown; ask again to resume them", slog.Any("workers", f.pending))
			}
			f.mu.Unlock()
			return
		case <-wake:
		}
		for ctx.Err() == nil {
			workerID, ok := f.nextDrain()
			if !ok {
				break
			}
			f.drain(ctx, workerID)
		}
	}
}

// drain moves a MAINTENANCE worker's sessions away one at a time, preserved ones included. It
// stops when no other worker has room, leaving the remaining sessions running where they are.
func (f *Failover) drain(ctx context.Context, workerID string) {
	worker, err := store.GetWorker(ctx, f.DB, workerID)
	if err != nil {
		f.Logger.WarnContext(ctx, "drain: worker gone", slog.String("worker_id", workerID), slog.Any("err", err))
		return
	}
	sessions, err := store.ListWorkerSessionsToMove(ctx, f.DB, workerID)
	if err != nil {
		f.Logger.WarnContext(ctx, "drain: list sessions", slog.String("worker_id", workerID), slog.Any("err", err))
		return
	}
	old := workers.Target{ID: worker.ID, Endpoint: worker.Endpoint}
	cause := fmt.Sprintf("worker %s is being drained", workerID)
	var out FailoverOutcome
	for i, sess := range sessions {
		if ctx.Err() != nil {
			break
		}
		room, err := f.Sessions.rankedWorkers(ctx, f.DB, workerID)
		if err != nil || len(room) == 0 {
			f.Logger.WarnContext(ctx, "drain stopped: no other worker has room",
				slog.String("worker_id", workerID), slog.Int("remaining", len(sessions)-i), slog.Any("err", err))
			break
		}
		outcome, err := f.moveOff(ctx, sess.ID, workerID, cause, true, &old)
		if err != nil {
			f.Logger.WarnContext(ctx, "drain: move session", slog.String("session_id", sess.ID), slog.Any("err", err))
			continue
		}
		out.add(outcome)
	}
	left, err := store.ListWorkerSessionsToMove(ctx, f.DB, workerID)
	if err != nil {
		left = nil
	}
	message := fmt.Sprintf("Drain of worker %s: %d sessions moved, %d disconnected, %d still on it",
		workerID, out.Moved, out.Disconnected, len(left))
	f.Logger.InfoContext(ctx, "drain finished", slog.String("worker_id", workerID), slog.Int("moved", out.Moved),
		slog.Int("disconnected", out.Disconnected), slog.Int("remaining", len(left)))
	if err := store.InsertSystemLog(context.WithoutCancel(ctx), f.DB, store.SystemLogEntry{Level: model.LevelInfo,
		Service: "failover", Message: message, WorkerID: &workerID}); err != nil {
		f.Logger.WarnContext(ctx, "write system log", slog.Any("err", err))
	}
}
