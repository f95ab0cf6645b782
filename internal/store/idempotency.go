package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// IdempotentResponse is a stored answer to replay.
type IdempotentResponse struct {
	RequestHash string
	StatusCode  *int
	Response    json.RawMessage
}

// ClaimIdempotencyKey claims a key of a session for a request. claimed is true for the first
// request; later ones get the stored row (whose response is empty while the first is still
// running). The primary key (session_id, key) decides between racing replicas.
func ClaimIdempotencyKey(ctx context.Context, db DBTX, sessionID, key, requestHash string) (claimed bool, existing IdempotentResponse, err error) {
	tag, err := db.Exec(ctx, `INSERT INTO idempotency_keys (session_id, key, request_hash) VALUES ($1, $2, $3)
		ON CONFLICT (session_id, key) DO NOTHING`, sessionID, key, requestHash)
	if err != nil {
		return false, existing, fmt.Errorf("claim idempotency key: %w", mapError(err))
	}
	if tag.RowsAffected() == 1 {
		return true, existing, nil
	}
	existing, err = GetIdempotencyKey(ctx, db, sessionID, key)
	return false, existing, err
}

// GetIdempotencyKey loads a claimed key.
func GetIdempotencyKey(ctx context.Context, db DBTX, sessionID, key string) (IdempotentResponse, error) {
	var r IdempotentResponse
	err := db.QueryRow(ctx, `SELECT request_hash, status_code, response FROM idempotency_keys
		WHERE session_id = $1 AND key = $2`, sessionID, key).Scan(&r.RequestHash, &r.StatusCode, &r.Response)
	if err != nil {
		return r, fmt.Errorf("load idempotency key: %w", mapError(err))
	}
	return r, nil
}

// CompleteIdempotencyKey stores the answer to replay.
func CompleteIdempotencyKey(ctx context.Context, db DBTX, sessionID, key string, status int, response json.RawMessage) error {
	_, err := db.Exec(ctx, `UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE session_id = $1 AND key = $2`,
		sessionID, key, status, response)
	if err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets a claim whose request ended in a way worth retrying (rate
// limited, or an internal error before anything reached a worker).
func ReleaseIdempotencyKey(ctx context.Context, db DBTX, sessionID, key string) error {
	_, err := db.Exec(ctx, `DELETE FROM idempotency_keys WHERE session_id = $1 AND key = $2 AND response IS NULL`, sessionID, key)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PruneIdempotencyKeys deletes keys older than a day.
func PruneIdempotencyKeys(ctx context.Context, db DBTX) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'`)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
