package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
)

// The health monitor's and failover's queries: worker liveness and moving sessions off
// workers that are not ONLINE.

// MonitoredWorker is a worker as the health monitor sees it.
type MonitoredWorker struct {
	ID                  string
	Endpoint            string
	Status              model.WorkerStatus
	ConsecutiveFailures int
	LastHeartbeat       *time.Time
	// HeartbeatAge is measured on the database's clock, so that every replica agrees.
	HeartbeatAge time.Duration
}

// ListMonitoredWorkers lists every worker with the age of its last heartbeat (or of its
// registration, which counts as one).
func ListMonitoredWorkers(ctx context.Context, db DBTX) ([]MonitoredWorker, error) {
	rows, err := db.Query(ctx, `SELECT id, endpoint, status, consecutive_failures, last_heartbeat,
			(extract(epoch FROM now() - coalesce(last_heartbeat, updated_at)) * 1000)::bigint
		FROM workers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list workers to check: %w", err)
	}
	workers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (MonitoredWorker, error) {
		var w MonitoredWorker
		var ageMs int64
		err := row.Scan(&w.ID, &w.Endpoint, &w.Status, &w.ConsecutiveFailures, &w.LastHeartbeat, &ageMs)
		w.HeartbeatAge = time.Duration(ageMs) * time.Millisecond
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("list workers to check: %w", err)
	}
	return workers, nil
}

// HealthTransition is a worker's status before and after a recorded check.
type HealthTransition struct {
	Before, After       model.WorkerStatus
	ConsecutiveFailures int
}

// RecordHealthFailure counts a failed check; the threshold-th in a row takes the worker
// OFFLINE. The count only moves while the worker has not heartbeated since the round read
// seenHeartbeat (a newer sign of life wins over an older check); otherwise, or for an
// unknown worker, it returns ErrNotFound.
func RecordHealthFailure(ctx context.Context, db DBTX, workerID string, seenHeartbeat *time.Time, threshold int) (HealthTransition, error) {
	var t HealthTransition
	err := db.QueryRow(ctx, `
		WITH current AS (
			SELECT id, status FROM workers
			WHERE id = $1 AND last_heartbeat IS NOT DISTINCT FROM $2 FOR UPDATE
		)
		UPDATE workers w SET
			consecutive_failures = w.consecutive_failures + 1,
			status = CASE WHEN w.consecutive_failures + 1 >= $3 THEN 'OFFLINE'::worker_status ELSE w.status END,
			updated_at = CASE WHEN w.consecutive_failures + 1 >= $3 AND w.status <> 'OFFLINE' THEN now() ELSE w.updated_at END
		FROM current WHERE w.id = current.id
		RETURNING current.status, w.status, w.consecutive_failures`, workerID, seenHeartbeat, threshold).
		Scan(&t.Before, &t.After, &t.ConsecutiveFailures)
	if err != nil {
		return t, fmt.Errorf("record failed check of %s: %w", workerID, mapError(err))
	}
	return t, nil
}

// RecordHealthSuccess clears a worker's failure count and brings it back ONLINE if failed
// checks took it OFFLINE (a failure count of at least threshold says so; a worker that left or
// reported itself OFFLINE has none and comes back by registering or heartbeating). ok is
// false when there was nothing to change.
func RecordHealthSuccess(ctx context.Context, db DBTX, workerID string, threshold int) (t HealthTransition, ok bool, err error) {
	err = db.QueryRow(ctx, `
		WITH current AS (
			SELECT id, status FROM workers WHERE id = $1 AND consecutive_failures <> 0 FOR UPDATE
		)
		UPDATE workers w SET
			consecutive_failures = 0,
			status = CASE WHEN w.status = 'OFFLINE' AND w.consecutive_failures >= $2 THEN 'ONLINE'::worker_status
			              ELSE w.status END,
			updated_at = CASE WHEN w.status = 'OFFLINE' AND w.consecutive_failures >= $2 THEN now() ELSE w.updated_at END
		FROM current WHERE w.id = current.id
		RETURNING current.status, w.status, w.consecutive_failures`, workerID, threshold).
		Scan(&t.Before, &t.After, &t.ConsecutiveFailures)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	if err != nil {
		return t, false, fmt.Errorf("record successful check of %s: %w", workerID, err)
	}
	return t, true, nil
}

// MovableSession is a session placed on a worker, as failover sees it.
type MovableSession struct {
	ID       string
	WorkerID string
	// Preserved is true while the worker's sessions-preserved grace period runs.
	Preserved bool
}

// ListWorkerSessionsToMove lists the sessions placed on a worker, oldest first.
func ListWorkerSessionsToMove(ctx context.Context, db DBTX, workerID string) ([]MovableSession, error) {
	rows, err := db.Query(ctx, `SELECT id, worker_id, coalesce(preserved_until > now(), false)
		FROM sessions WHERE worker_id = $1 ORDER BY created_at, id`, workerID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of worker %s: %w", workerID, err)
	}
	sessions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MovableSession])
	if err != nil {
		return nil, fmt.Errorf("list sessions of worker %s: %w", workerID, err)
	}
	return sessions, nil
}

// ListStrandedSessions lists up to limit sessions placed on OFFLINE workers and out of their
// grace period: those failover still has to move.
func ListStrandedSessions(ctx context.Context, db DBTX, limit int) ([]MovableSession, error) {
	rows, err := db.Query(ctx, `SELECT s.id, s.worker_id, false
		FROM sessions s JOIN workers w ON w.id = s.worker_id
		WHERE w.status = 'OFFLINE' AND (s.preserved_until IS NULL OR s.preserved_until <= now())
		ORDER BY s.worker_id, s.created_at, s.id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list stranded sessions: %w", err)
	}
	sessions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MovableSession])
	if err != nil {
		return nil, fmt.Errorf("list stranded sessions: %w", err)
	}
	return sessions, nil
}

// ReleaseForFailover takes a session off fromWorker, DISCONNECTED with the reason, so that
// placement can put it elsewhere; it returns the session as it was (status before). It
// refuses (ErrNotFound) a session no longer placed there, one in its grace period unless
// includePreserved, and any session of a worker that is ONLINE: failover never takes a
// session from a live worker, even one that came back while its sessions were being moved
// (the worker's row is share-locked, so such a change waits for the release).
func ReleaseForFailover(ctx context.Context, db DBTX, sessionID, fromWorker, reason string, includePreserved bool) (PlacedSession, error) {
	var p PlacedSession
	err := db.QueryRow(ctx, `
		WITH target AS (
			SELECT s.id, s.status AS old_status
			FROM sessions s JOIN workers w ON w.id = s.worker_id
			WHERE s.id = $1 AND s.worker_id = $2 AND w.status <> 'ONLINE'
			  AND ($4 OR s.preserved_until IS NULL OR s.preserved_until <= now())
			FOR UPDATE OF s FOR SHARE OF w
		)
		UPDATE sessions s SET status = 'DISCONNECTED', worker_id = NULL, qr_code = NULL, qr_updated_at = NULL,
			status_reason = $3, missed_heartbeats = 0, preserved_until = NULL, updated_at = now()
		FROM target WHERE s.id = target.id
		RETURNING s.id, s.user_id::text, target.old_status, s.phone_number, s.display_name`,
		sessionID, fromWorker, reason, includePreserved).
		Scan(&p.ID, &p.UserID, &p.Status, &p.PhoneNumber, &p.DisplayName)
	if err != nil {
		return p, fmt.Errorf("release session %s from worker %s: %w", sessionID, fromWorker, mapError(err))
	}
	return p, nil
}

// SetUnplacedSessionReason records why an unplaced session is DISCONNECTED; a session placed
// again meanwhile is left alone.
func SetUnplacedSessionReason(ctx context.Context, db DBTX, sessionID, reason string) error {
	if _, err := db.Exec(ctx, `UPDATE sessions SET status_reason = $2, updated_at = now()
		WHERE id = $1 AND worker_id IS NULL AND status = 'DISCONNECTED'`, sessionID, reason); err != nil {
		return fmt.Errorf("set reason of session %s: %w", sessionID, err)
	}
	return nil
}

// MarkWorkerLeaving sets a worker OFFLINE because it leaves (unregister, deletion) and clears
// its failure count: the health monitor brings back only workers it took OFFLINE itself (those
// with FailuresBeforeOffline failures), never one that said goodbye.
func MarkWorkerLeaving(ctx context.Context, db DBTX, workerID string) (model.Worker, error) {
	tag, err := db.Exec(ctx, `UPDATE workers SET status = 'OFFLINE', consecutive_failures = 0, updated_at = now()
		WHERE id = $1`, workerID)
	if err != nil {
		return model.Worker{}, fmt.Errorf("mark worker %s leaving: %w", workerID, err)
	}
	if tag.RowsAffected() == 0 {
		return model.Worker{}, fmt.Errorf("mark worker %s leaving: %w", workerID, model.ErrNotFound)
	}
	return GetWorker(ctx, db, workerID)
}
