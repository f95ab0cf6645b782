package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
)

// SessionListItem is a session with its worker and key, as lists show it.
type SessionListItem struct {
	model.Session
	WorkerEndpoint *string
	WorkerStatus   *model.WorkerStatus
	KeyMasked      *string
	KeyActive      *bool
	KeyLastUsed    *time.Time
}

// SessionFilter selects sessions for a list.
type SessionFilter struct {
	UserID   *string // nil: every user's (admins)
	WorkerID *string
	Status   *model.SessionStatus
	Limit    int
	Offset   int
}

// sessionListSelect reads sessions with their worker and key, for sessionListItem.
const sessionListSelect = `
	SELECT s.id, s.user_id::text, s.worker_id, s.name, s.display_name, s.phone_number, s.status,
	       s.qr_code, s.qr_updated_at, s.last_seen_at, s.last_event_at, s.status_reason, s.created_at, s.updated_at,
	       w.endpoint, w.status, k.masked, k.is_active AND k.revoked_at IS NULL, k.last_used
	FROM sessions s
	LEFT JOIN workers w ON w.id = s.worker_id
	LEFT JOIN api_keys k ON k.session_id = s.id`

func scanSessionListItem(row pgx.Row) (SessionListItem, error) {
	var it SessionListItem
	s := &it.Session
	err := row.Scan(&s.ID, &s.UserID, &s.WorkerID, &s.Name, &s.DisplayName, &s.PhoneNumber, &s.Status,
		&s.QRCode, &s.QRUpdatedAt, &s.LastSeenAt, &s.LastEventAt, &s.StatusReason, &s.CreatedAt, &s.UpdatedAt,
		&it.WorkerEndpoint, &it.WorkerStatus, &it.KeyMasked, &it.KeyActive, &it.KeyLastUsed)
	return it, mapError(err)
}

// ListSessions returns a page of sessions, newest first, and the total count.
func ListSessions(ctx context.Context, db DBTX, f SessionFilter) ([]SessionListItem, int, error) {
	var total int
	err := db.QueryRow(ctx, `SELECT count(*) FROM sessions
		WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::session_status IS NULL OR status = $2)
		  AND ($3::text IS NULL OR worker_id = $3)`,
		f.UserID, f.Status, f.WorkerID).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("count sessions: %w", err)
	}
	rows, err := db.Query(ctx, sessionListSelect+`
		WHERE ($1::uuid IS NULL OR s.user_id = $1) AND ($2::session_status IS NULL OR s.status = $2)
		  AND ($5::text IS NULL OR s.worker_id = $5)
		ORDER BY s.created_at DESC, s.id
		LIMIT $3 OFFSET $4`, f.UserID, f.Status, f.Limit, f.Offset, f.WorkerID)
	if err != nil {
		return nil, 0, fmt.Errorf("list sessions: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SessionListItem, error) { return scanSessionListItem(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("list sessions: %w", err)
	}
	return items, total, nil
}

// GetSessionListItem loads one session with its worker and key.
func GetSessionListItem(ctx context.Context, db DBTX, sessionID string) (SessionListItem, error) {
	it, err := scanSessionListItem(db.QueryRow(ctx, sessionListSelect+` WHERE s.id = $1`, sessionID))
	if err != nil {
		return it, fmt.Errorf("get session %s: %w", sessionID, err)
	}
	return it, nil
}

// ReleaseUserSessions disconnects every session of a user in the database: DISCONNECTED,
// off its worker, with the reason recorded. It returns the IDs of the sessions that were
// placed on a worker, whose routes must be forgotten.
func ReleaseUserSessions(ctx context.Context, db DBTX, userID, reason string) ([]string, error) {
	rows, err := db.Query(ctx, `
		WITH placed AS (SELECT id, worker_id FROM sessions WHERE user_id = $1 FOR UPDATE)
		UPDATE sessions s SET status = 'DISCONNECTED', worker_id = NULL, qr_code = NULL,
			status_reason = $2, updated_at = now()
		FROM placed WHERE s.id = placed.id
		RETURNING s.id, placed.worker_id IS NOT NULL`, userID, reason)
	if err != nil {
		return nil, fmt.Errorf("release sessions of user %s: %w", userID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		var wasPlaced bool
		if err := rows.Scan(&id, &wasPlaced); err != nil {
			return nil, fmt.Errorf("release sessions of user %s: %w", userID, err)
		}
		if wasPlaced {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// ListUserSessionIDs lists the IDs of a user's sessions.
func ListUserSessionIDs(ctx context.Context, db DBTX, userID string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT id FROM sessions WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %s: %w", userID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %s: %w", userID, err)
	}
	return ids, nil
}

// GetUserSession loads a session of a user; another user's session is ErrNotFound.
func GetUserSession(ctx context.Context, db DBTX, userID, sessionID string) (model.Session, error) {
	var s model.Session
	err := db.QueryRow(ctx, `
		SELECT id, user_id::text, worker_id, name, display_name, phone_number, status, qr_code, qr_updated_at,
		       last_seen_at, last_event_at, status_reason, created_at, updated_at
		FROM sessions WHERE id = $1 AND user_id = $2`, sessionID, userID).
		Scan(&s.ID, &s.UserID, &s.WorkerID, &s.Name, &s.DisplayName, &s.PhoneNumber, &s.Status, &s.QRCode,
			&s.QRUpdatedAt, &s.LastSeenAt, &s.LastEventAt, &s.StatusReason, &s.CreatedAt, &s.UpdatedAt)
	if err != nil {
		return s, fmt.Errorf("get session %s: %w", sessionID, mapError(err))
	}
	return s, nil
}

// LockSession loads a session and locks its row until the transaction ends, so that
// concurrent events and commands on one session apply one after the other.
func LockSession(ctx context.Context, tx pgx.Tx, sessionID string) (model.Session, error) {
	var s model.Session
	err := tx.QueryRow(ctx, `
		SELECT id, user_id::text, worker_id, name, display_name, phone_number, status, qr_code, qr_updated_at,
		       last_seen_at, last_event_at, status_reason, created_at, updated_at
		FROM sessions WHERE id = $1 FOR UPDATE`, sessionID).
		Scan(&s.ID, &s.UserID, &s.WorkerID, &s.Name, &s.DisplayName, &s.PhoneNumber, &s.Status, &s.QRCode,
			&s.QRUpdatedAt, &s.LastSeenAt, &s.LastEventAt, &s.StatusReason, &s.CreatedAt, &s.UpdatedAt)
	if err != nil {
		return s, fmt.Errorf("lock session %s: %w", sessionID, mapError(err))
	}
	return s, nil
}

// SessionEventUpdate is a worker event to write to a session.
type SessionEventUpdate struct {
	Status      model.SessionStatus
	QRCode      *string
	PhoneNumber *string
	DisplayName *string
	LoggedOut   bool
	Reason      *string
	At          time.Time
}

// ApplySessionEvent writes a worker event: the status, the QR while QR_REQUIRED (cleared
// otherwise), phone and display name, lastSeenAt (cleared with the phone on logout), the
// event clock last_event_at, and resets the missed-heartbeat count.
func ApplySessionEvent(ctx context.Context, db DBTX, sessionID string, u SessionEventUpdate) (model.Session, error) {
	var s model.Session
	err := db.QueryRow(ctx, `
		UPDATE sessions SET
			status        = $2,
			qr_code       = CASE WHEN $2 = 'QR_REQUIRED'::session_status THEN coalesce($3, qr_code) END,
			qr_updated_at = CASE WHEN $2 = 'QR_REQUIRED'::session_status
			                     THEN CASE WHEN $3::text IS NOT NULL THEN now() ELSE qr_updated_at END END,
			phone_number  = CASE WHEN $6 THEN NULL ELSE coalesce($4, phone_number) END,
			display_name  = coalesce($5, display_name),
			last_seen_at  = CASE WHEN $6 THEN NULL ELSE now() END,
			last_event_at = $7,
			status_reason = $8,
			missed_heartbeats = 0,
			updated_at    = now()
		WHERE id = $1
		RETURNING id, user_id::text, worker_id, name, display_name, phone_number, status, qr_code, qr_updated_at,
		          last_seen_at, last_event_at, status_reason, created_at, updated_at`,
		sessionID, u.Status, u.QRCode, u.PhoneNumber, u.DisplayName, u.LoggedOut, u.At, u.Reason).
		Scan(&s.ID, &s.UserID, &s.WorkerID, &s.Name, &s.DisplayName, &s.PhoneNumber, &s.Status, &s.QRCode,
			&s.QRUpdatedAt, &s.LastSeenAt, &s.LastEventAt, &s.StatusReason, &s.CreatedAt, &s.UpdatedAt)
	if err != nil {
		return s, fmt.Errorf("apply event to session %s: %w", sessionID, mapError(err))
	}
	return s, nil
}

// PlacedSession is a session placed on a worker, as heartbeat reconciliation sees it.
type PlacedSession struct {
	ID          string
	UserID      string
	Status      model.SessionStatus
	PhoneNumber *string
	DisplayName *string
}

// ListWorkerSessions returns the sessions placed on a worker.
func ListWorkerSessions(ctx context.Context, db DBTX, workerID string) ([]PlacedSession, error) {
	rows, err := db.Query(ctx, `SELECT id, user_id::text, status, phone_number, display_name
		FROM sessions WHERE worker_id = $1 ORDER BY id`, workerID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of worker %s: %w", workerID, err)
	}
	sessions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PlacedSession])
	if err != nil {
		return nil, fmt.Errorf("list sessions of worker %s: %w", workerID, err)
	}
	return sessions, nil
}

// MarkMissedHeartbeat counts a heartbeat that omitted sessions placed on the worker, and
// disconnects (and unplaces) those omitted for the second time in a row. It returns them,
// with the status they had before, so that the change to DISCONNECTED can be published.
func MarkMissedHeartbeat(ctx context.Context, db DBTX, workerID string, omitted []string) ([]PlacedSession, error) {
	if len(omitted) == 0 {
		return nil, nil
	}
	rows, err := db.Query(ctx, `
		WITH omitted AS (
			SELECT id, status AS old_status FROM sessions WHERE worker_id = $1 AND id = ANY($2) FOR UPDATE
		)
		UPDATE sessions s SET
			missed_heartbeats = s.missed_heartbeats + 1,
			status = CASE WHEN s.missed_heartbeats + 1 >= 2 THEN 'DISCONNECTED'::session_status ELSE s.status END,
			worker_id = CASE WHEN s.missed_heartbeats + 1 >= 2 THEN NULL ELSE s.worker_id END,
			qr_code = CASE WHEN s.missed_heartbeats + 1 >= 2 THEN NULL ELSE s.qr_code END,
			status_reason = CASE WHEN s.missed_heartbeats + 1 >= 2 THEN 'not reported by its worker for two heartbeats'
			                     ELSE s.status_reason END,
			updated_at = now()
		FROM omitted WHERE s.id = omitted.id AND s.worker_id = $1
		RETURNING s.id, s.user_id::text, omitted.old_status, s.phone_number, s.display_name, s.missed_heartbeats >= 2`, workerID, omitted)
	if err != nil {
		return nil, fmt.Errorf("mark missed heartbeat: %w", err)
	}
	defer rows.Close()
	var dropped []PlacedSession
	for rows.Next() {
		var p PlacedSession
		var gone bool
		if err := rows.Scan(&p.ID, &p.UserID, &p.Status, &p.PhoneNumber, &p.DisplayName, &gone); err != nil {
			return nil, fmt.Errorf("mark missed heartbeat: %w", err)
		}
		if gone {
			dropped = append(dropped, p)
		}
	}
	return dropped, rows.Err()
}

// SessionPlacements returns, for the given session IDs, the worker each is placed on ("" when
// unplaced); unknown IDs are absent.
func SessionPlacements(ctx context.Context, db DBTX, ids []string) (map[string]string, error) {
	rows, err := db.Query(ctx, `SELECT id, coalesce(worker_id, '') FROM sessions WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("session placements: %w", err)
	}
	defer rows.Close()
	out := make(map[string]string, len(ids))
	for rows.Next() {
		var id, worker string
		if err := rows.Scan(&id, &worker); err != nil {
			return nil, fmt.Errorf("session placements: %w", err)
		}
		out[id] = worker
	}
	return out, rows.Err()
}

// ResetMissedHeartbeats records that a heartbeat reported the session.
func ResetMissedHeartbeats(ctx context.Context, db DBTX, sessionID string) error {
	if _, err := db.Exec(ctx, `UPDATE sessions SET missed_heartbeats = 0 WHERE id = $1 AND missed_heartbeats <> 0`, sessionID); err != nil {
		return fmt.Errorf("reset missed heartbeats: %w", err)
	}
	return nil
}

// ListRecoverableSessions lists a worker's sessions in CONNECTED, QR_REQUIRED, RECONNECTING or
// INIT, with their owners, for a restarting worker.
func ListRecoverableSessions(ctx context.Context, db DBTX, workerID string) ([]protocol.AssignedSession, error) {
	rows, err := db.Query(ctx, `
		SELECT s.id, s.user_id::text, s.name, s.phone_number, s.status::text, u.email, u.tier::text,
		       s.created_at, s.updated_at, s.last_seen_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.worker_id = $1 AND s.status IN ('CONNECTED', 'QR_REQUIRED', 'RECONNECTING', 'INIT')
		ORDER BY s.created_at, s.id`, workerID)
	if err != nil {
		return nil, fmt.Errorf("list recoverable sessions: %w", err)
	}
	sessions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[protocol.AssignedSession])
	if err != nil {
		return nil, fmt.Errorf("list recoverable sessions: %w", err)
	}
	return sessions, nil
}

// ApplyRecoveryResult sets a session the worker recovered to CONNECTED, or one it failed to
// ERROR and unplaced. Only sessions placed on that worker change; it reports whether one did.
func ApplyRecoveryResult(ctx context.Context, db DBTX, workerID, sessionID string, status model.SessionStatus, reason *string) (bool, error) {
	tag, err := db.Exec(ctx, `
		UPDATE sessions SET status = $3,
			worker_id = CASE WHEN $3 = 'ERROR'::session_status THEN NULL ELSE worker_id END,
			status_reason = $4, last_seen_at = now(), missed_heartbeats = 0, updated_at = now()
		WHERE id = $2 AND worker_id = $1`, workerID, sessionID, status, reason)
	if err != nil {
		return false, fmt.Errorf("apply recovery of %s: %w", sessionID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// PreserveSessions keeps the listed sessions of a worker placed on it until until.
func PreserveSessions(ctx context.Context, db DBTX, workerID string, ids []string, until time.Time) (int, error) {
	tag, err := db.Exec(ctx, `UPDATE sessions SET preserved_until = $3, updated_at = now()
		WHERE worker_id = $1 AND id = ANY($2)`, workerID, ids, until)
	if err != nil {
		return 0, fmt.Errorf("preserve sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ReleaseWorkerSessions takes every session off a worker: DISCONNECTED with the reason.
func ReleaseWorkerSessions(ctx context.Context, db DBTX, workerID, reason string) ([]PlacedSession, error) {
	rows, err := db.Query(ctx, `
		WITH released AS (
			SELECT id, status AS old_status FROM sessions WHERE worker_id = $1 FOR UPDATE
		)
		UPDATE sessions s SET status = 'DISCONNECTED', worker_id = NULL, qr_code = NULL,
			status_reason = $2, updated_at = now()
		FROM released WHERE s.id = released.id
		RETURNING s.id, s.user_id::text, released.old_status, s.phone_number, s.display_name`, workerID, reason)
	if err != nil {
		return nil, fmt.Errorf("release sessions of worker %s: %w", workerID, err)
	}
	released, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PlacedSession])
	if err != nil {
		return nil, fmt.Errorf("release sessions of worker %s: %w", workerID, err)
	}
	return released, nil
}

const sessionColumns = `id, user_id::text, worker_id, name, display_name, phone_number, status, qr_code, qr_updated_at,
	last_seen_at, last_event_at, status_reason, created_at, updated_at`

func scanSession(row pgx.Row) (model.Session, error) {
	var s model.Session
	err := row.Scan(&s.ID, &s.UserID, &s.WorkerID, &s.Name, &s.DisplayName, &s.PhoneNumber, &s.Status, &s.QRCode,
		&s.QRUpdatedAt, &s.LastSeenAt, &s.LastEventAt, &s.StatusReason, &s.CreatedAt, &s.UpdatedAt)
	return s, mapError(err)
}

// GetSession loads a session by ID, whoever owns it.
func GetSession(ctx context.Context, db DBTX, sessionID string) (model.Session, error) {
	s, err := scanSession(db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, sessionID))
	if err != nil {
		return s, fmt.Errorf("get session %s: %w", sessionID, err)
	}
	return s, nil
}

// LockUser locks a user's row until the transaction ends; creations of that user's sessions
// queue behind it, so the tier limit holds under concurrent requests.
func LockUser(ctx context.Context, tx pgx.Tx, userID string) (model.User, error) {
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, userID))
	if err != nil {
		return u, fmt.Errorf("lock user %s: %w", userID, err)
	}
	return u, nil
}

// CountUserSessions counts every session a user has, whatever its status.
func CountUserSessions(ctx context.Context, db DBTX, userID string) (int, error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count sessions of %s: %w", userID, err)
	}
	return n, nil
}

// CreateSession inserts a DISCONNECTED session; a taken ID is ErrConflict.
func CreateSession(ctx context.Context, db DBTX, id, userID, name string, displayName *string) (model.Session, error) {
	s, err := scanSession(db.QueryRow(ctx, `INSERT INTO sessions (id, user_id, name, display_name)
		VALUES ($1, $2, $3, $4) RETURNING `+sessionColumns, id, userID, name, displayName))
	if err != nil {
		return s, fmt.Errorf("create session %s: %w", id, err)
	}
	return s, nil
}

// LockWorkerForPlacement locks an ONLINE worker's row and returns its capacity and the
// sessions placed on it, counted after the lock was taken. Every placement on a worker takes
// this lock first, so no two placements can both see the last free slot.
func LockWorkerForPlacement(ctx context.Context, tx pgx.Tx, workerID string) (model.Worker, int, error) {
	var w model.Worker
	err := tx.QueryRow(ctx, `SELECT id, endpoint, status, max_sessions FROM workers
		WHERE id = $1 AND status = 'ONLINE' FOR UPDATE`, workerID).Scan(&w.ID, &w.Endpoint, &w.Status, &w.MaxSessions)
	if err != nil {
		return w, 0, fmt.Errorf("lock worker %s: %w", workerID, mapError(err))
	}
	// A new statement: in READ COMMITTED it sees every placement committed before the lock.
	var used int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE worker_id = $1`, workerID).Scan(&used); err != nil {
		return w, 0, fmt.Errorf("count sessions of worker %s: %w", workerID, err)
	}
	return w, used, nil
}

// PlaceSession puts a session on a worker in INIT. The backend's own change does not move the
// worker-event clock (last_event_at).
func PlaceSession(ctx context.Context, db DBTX, sessionID, workerID string) (model.Session, error) {
	s, err := scanSession(db.QueryRow(ctx, `UPDATE sessions SET worker_id = $2, status = 'INIT', qr_code = NULL,
		qr_updated_at = NULL, status_reason = NULL, preserved_until = NULL, missed_heartbeats = 0, updated_at = now()
		WHERE id = $1 RETURNING `+sessionColumns, sessionID, workerID))
	if err != nil {
		return s, fmt.Errorf("place session %s: %w", sessionID, err)
	}
	return s, nil
}

// ReleaseSession sets a session DISCONNECTED and off its worker. onlyFromWorker, when not
// empty, releases it only while it is still placed there (undoing a failed placement without
// clobbering a newer one). forgetPhone also clears phone and lastSeenAt (logout).
func ReleaseSession(ctx context.Context, db DBTX, sessionID, onlyFromWorker string, forgetPhone bool, reason *string) (model.Session, error) {
	s, err := scanSession(db.QueryRow(ctx, `UPDATE sessions SET status = 'DISCONNECTED', worker_id = NULL, qr_code = NULL,
		qr_updated_at = NULL, status_reason = $4, missed_heartbeats = 0, preserved_until = NULL,
		phone_number = CASE WHEN $3 THEN NULL ELSE phone_number END,
		last_seen_at = CASE WHEN $3 THEN NULL ELSE last_seen_at END, updated_at = now()
		WHERE id = $1 AND ($2 = '' OR worker_id = $2) RETURNING `+sessionColumns, sessionID, onlyFromWorker, forgetPhone, reason))
	if err != nil {
		return s, fmt.Errorf("release session %s: %w", sessionID, err)
	}
	return s, nil
}

// SetSessionInit marks a placed session INIT again (restart on the same worker).
func SetSessionInit(ctx context.Context, db DBTX, sessionID string) (model.Session, error) {
	s, err := scanSession(db.QueryRow(ctx, `UPDATE sessions SET status = 'INIT', qr_code = NULL, qr_updated_at = NULL,
		status_reason = NULL, updated_at = now() WHERE id = $1 RETURNING `+sessionColumns, sessionID))
	if err != nil {
		return s, fmt.Errorf("restart session %s: %w", sessionID, err)
	}
	return s, nil
}

// DeleteSession deletes a session; its key, webhook, messages and idempotency keys go with it.
// A deletion aborted as a deadlock's victim (its trigger deletes messages whose answers a batch
// is writing, in another order) runs again.
func DeleteSession(ctx context.Context, db DBTX, sessionID string) error {
	var tag pgconn.CommandTag
	err := retryDeadlock(func() (err error) {
		tag, err = db.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, sessionID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session %s: %w", sessionID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete session %s: %w", sessionID, model.ErrNotFound)
	}
	return nil
}

// SessionStatistics are a session's message counters.
type SessionStatistics struct {
	MessagesSent     int        `json:"messagesSent"`
	MessagesReceived int        `json:"messagesReceived"`
	LastMessageAt    *time.Time `json:"lastMessageAt"`
}

// GetSessionStatistics counts a session's messages.
func GetSessionStatistics(ctx context.Context, db DBTX, sessionID string) (SessionStatistics, error) {
	var s SessionStatistics
	err := db.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE direction = 'OUTBOUND' AND status IN ('SENT', 'DELIVERED', 'READ')),
			count(*) FILTER (WHERE direction = 'INBOUND'),
			max(created_at)
		FROM messages WHERE session_id = $1`, sessionID).Scan(&s.MessagesSent, &s.MessagesReceived, &s.LastMessageAt)
	if err != nil {
		return s, fmt.Errorf("session statistics: %w", err)
	}
	return s, nil
}
