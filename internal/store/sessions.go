package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
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
	UserID *string // nil: every user's (admins)
	Status *model.SessionStatus
	Limit  int
	Offset int
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
		WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::session_status IS NULL OR status = $2)`,
		f.UserID, f.Status).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("count sessions: %w", err)
	}
	rows, err := db.Query(ctx, sessionListSelect+`
		WHERE ($1::uuid IS NULL OR s.user_id = $1) AND ($2::session_status IS NULL OR s.status = $2)
		ORDER BY s.created_at DESC, s.id
		LIMIT $3 OFFSET $4`, f.UserID, f.Status, f.Limit, f.Offset)
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
// off its worker, with the reason recorded.
func ReleaseUserSessions(ctx context.Context, db DBTX, userID, reason string) error {
	_, err := db.Exec(ctx, `UPDATE sessions SET status = 'DISCONNECTED', worker_id = NULL, qr_code = NULL,
		status_reason = $2, updated_at = now() WHERE user_id = $1`, userID, reason)
	if err != nil {
		return fmt.Errorf("release sessions of user %s: %w", userID, err)
	}
	return nil
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
