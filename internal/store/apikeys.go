package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
)

// sessionKeyColumns are the columns of an api_keys row (hashes and ciphertext, never a key).
const sessionKeyColumns = `k.id::text, k.session_id, k.name, k.key_hash, k.key_ciphertext, k.prefix, k.masked,
	k.is_active, k.last_used, k.created_at, k.expires_at, k.revoked_at`

func scanAPIKey(row pgx.Row) (model.APIKey, error) {
	var k model.APIKey
	err := row.Scan(&k.ID, &k.SessionID, &k.Name, &k.KeyHash, &k.KeyCiphertext, &k.Prefix, &k.Masked,
		&k.IsActive, &k.LastUsed, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt)
	return k, mapError(err)
}

// PutAPIKey stores the session's key, replacing the one it had: a session has one key, and
// replacing the row makes the old key unknown at once.
func PutAPIKey(ctx context.Context, db DBTX, k model.APIKey) (model.APIKey, error) {
	key, err := scanAPIKey(db.QueryRow(ctx, `
		INSERT INTO api_keys AS k (session_id, name, key_hash, key_ciphertext, prefix, masked, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (session_id) DO UPDATE SET
			name = excluded.name, key_hash = excluded.key_hash, key_ciphertext = excluded.key_ciphertext,
			prefix = excluded.prefix, masked = excluded.masked, expires_at = excluded.expires_at,
			is_active = true, revoked_at = NULL, last_used = NULL, created_at = now()
		RETURNING `+sessionKeyColumns,
		k.SessionID, k.Name, k.KeyHash, k.KeyCiphertext, k.Prefix, k.Masked, k.ExpiresAt))
	if err != nil {
		return key, fmt.Errorf("store api key of session %s: %w", k.SessionID, err)
	}
	return key, nil
}

// GetSessionAPIKey loads the key of a session.
func GetSessionAPIKey(ctx context.Context, db DBTX, sessionID string) (model.APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `SELECT `+sessionKeyColumns+` FROM api_keys k WHERE k.session_id = $1`, sessionID))
	if err != nil {
		return k, fmt.Errorf("get api key of session %s: %w", sessionID, err)
	}
	return k, nil
}

// ListUserAPIKeys lists the keys of a user's sessions, newest first.
func ListUserAPIKeys(ctx context.Context, db DBTX, userID string) ([]model.APIKey, error) {
	rows, err := db.Query(ctx, `SELECT `+sessionKeyColumns+` FROM api_keys k
		JOIN sessions s ON s.id = k.session_id WHERE s.user_id = $1
		ORDER BY k.created_at DESC, k.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.APIKey, error) { return scanAPIKey(row) })
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeUserAPIKey deactivates a key of one of the user's sessions. Another user's key is
// ErrNotFound, never a hint that it exists.
func RevokeUserAPIKey(ctx context.Context, db DBTX, userID, keyID string) (model.APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `
		UPDATE api_keys AS k SET is_active = false, revoked_at = coalesce(k.revoked_at, now())
		FROM sessions s
		WHERE k.id = $2 AND s.id = k.session_id AND s.user_id = $1
		RETURNING `+sessionKeyColumns, userID, keyID))
	if err != nil {
		return k, fmt.Errorf("revoke api key %s: %w", keyID, err)
	}
	return k, nil
}

// KeyHolder is what authenticating an API key needs, loaded in one query.
type KeyHolder struct {
	KeyID        string
	SessionID    string
	KeyActive    bool
	KeyExpiresAt *time.Time
	UserID       string
	UserEmail    string
	UserActive   bool
	Role         model.UserRole
	Tier         model.UserTier
	LastUsed     *time.Time
}

// GetKeyHolder looks a key up by its hash.
func GetKeyHolder(ctx context.Context, db DBTX, keyHash string) (KeyHolder, error) {
	var h KeyHolder
	err := db.QueryRow(ctx, `
		SELECT k.id::text, k.session_id, k.is_active AND k.revoked_at IS NULL, k.expires_at,
		       u.id::text, u.email, u.is_active, u.role, u.tier, k.last_used
		FROM api_keys k
		JOIN sessions s ON s.id = k.session_id
		JOIN users u ON u.id = s.user_id
		WHERE k.key_hash = $1`, keyHash).
		Scan(&h.KeyID, &h.SessionID, &h.KeyActive, &h.KeyExpiresAt, &h.UserID, &h.UserEmail, &h.UserActive,
			&h.Role, &h.Tier, &h.LastUsed)
	if err != nil {
		return h, fmt.Errorf("look up api key: %w", mapError(err))
	}
	return h, nil
}

// TouchAPIKey records a use of a key, at most once a minute whatever the replicas do.
func TouchAPIKey(ctx context.Context, db DBTX, keyID string) error {
	_, err := db.Exec(ctx, `UPDATE api_keys SET last_used = now()
		WHERE id = $1 AND (last_used IS NULL OR last_used < now() - interval '1 minute')`, keyID)
	if err != nil {
		return fmt.Errorf("record api key use: %w", err)
	}
	return nil
}
