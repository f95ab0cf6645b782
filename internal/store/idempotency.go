package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
)

// claimSkew is how far this replica's clock may be from the database's for a claim to be
// named by it (see ClaimIdempotencyKey).
const claimSkew = 30 * time.Second

// IdempotentResponse is a claimed key: the request it was claimed for, and the stored answer
// to replay once there is one.
type IdempotentResponse struct {
	RequestHash string
	StatusCode  *int
	Response    json.RawMessage
	// CreatedAt is when the key was first claimed; the message ID of its send derives from it.
	CreatedAt time.Time
	// ClaimedAt, set by ClaimIdempotencyKey for the claim it made, names that claim: a
	// takeover claims the key anew, and what the first claim's request writes afterwards
	// (CompleteIdempotencyKey and the others take ClaimedAt) then changes nothing.
	ClaimedAt time.Time
	// Stale is a claim without answer made longer ago than the staleAfter asked for, or held
	// by a replica not seen for ReplicaGoneAfter: the request that made it is over, and its
	// gateway died or lost the database before storing its answer. TakeOverIdempotencyKey
	// takes it over.
	Stale bool
}

// staleClaim is the SQL condition of a stale claim of idempotency_keys ($staleAfter is the
// parameter number of staleAfter, $replicaGone that of ReplicaGoneAfter).
func staleClaim(staleAfter, replicaGone int) string {
	return fmt.Sprintf(`(status_code IS NULL AND (claimed_at < now() - $%d::interval
		OR (claimed_by IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM gateway_replicas r WHERE r.id = claimed_by AND r.seen_at > now() - $%d::interval))))`,
		staleAfter, replicaGone)
}

// ClaimIdempotencyKey claims a key of a session for a request served by the gateway replica
// named replica. claimed is true for the first request, with the new claim's CreatedAt; later
// ones get the stored row (whose response is empty while the first is still running). The
// primary key (session_id, key) decides between racing replicas.
//
// The claim is named by a claimed_at chosen here, not by the database: when the INSERT fails
// because PostgreSQL went away, its commit may still have landed with only the
// acknowledgement lost, and a non-zero existing.ClaimedAt then names the claim the request
// may hold, for AbandonIdempotencyKey to leave it to a retry (a no-op when nothing was
// committed). The stale rules compare claimed_at with the database's clock, so this replica's
// is taken only within claimSkew of it; beyond that the database's is, and an abandon after a
// lost acknowledgement matches nothing (the claim goes stale as before).
func ClaimIdempotencyKey(ctx context.Context, db DBTX, sessionID, key, requestHash, replica string, staleAfter time.Duration) (claimed bool, existing IdempotentResponse, err error) {
	return claimIdempotencyKeyAt(ctx, db, sessionID, key, requestHash, replica, staleAfter, time.Now())
}

// claimIdempotencyKeyAt is ClaimIdempotencyKey with this replica's clock reading now.
func claimIdempotencyKeyAt(ctx context.Context, db DBTX, sessionID, key, requestHash, replica string, staleAfter time.Duration,
	now time.Time) (claimed bool, existing IdempotentResponse, err error) {
	claimedAt := now.Truncate(time.Microsecond) // timestamptz's precision
	err = db.QueryRow(ctx, `INSERT INTO idempotency_keys (session_id, key, request_hash, claimed_at, claimed_by)
		VALUES ($1, $2, $3,
			CASE WHEN $5::timestamptz BETWEEN now() - $6::interval AND now() + $6::interval THEN $5::timestamptz ELSE now() END,
			nullif($4, '')::uuid)
		ON CONFLICT (session_id, key) DO NOTHING RETURNING created_at, claimed_at`,
		sessionID, key, requestHash, replica, claimedAt, claimSkew).
		Scan(&existing.CreatedAt, &existing.ClaimedAt)
	if err == nil {
		existing.RequestHash = requestHash
		return true, existing, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, IdempotentResponse{ClaimedAt: claimedAt}, fmt.Errorf("claim idempotency key: %w", mapError(err))
	}
	existing, err = GetIdempotencyKey(ctx, db, sessionID, key, staleAfter)
	return false, existing, err
}

// GetIdempotencyKey loads a claimed key; a claim without answer made longer than staleAfter
// ago, or held by a replica gone, is Stale.
func GetIdempotencyKey(ctx context.Context, db DBTX, sessionID, key string, staleAfter time.Duration) (IdempotentResponse, error) {
	var r IdempotentResponse
	err := db.QueryRow(ctx, `SELECT request_hash, status_code, response, created_at, coalesce(`+staleClaim(3, 4)+`, false)
		FROM idempotency_keys WHERE session_id = $1 AND key = $2`, sessionID, key, staleAfter, ReplicaGoneAfter).
		Scan(&r.RequestHash, &r.StatusCode, &r.Response, &r.CreatedAt, &r.Stale)
	if err != nil {
		return r, fmt.Errorf("load idempotency key: %w", mapError(err))
	}
	return r, nil
}

// Takeover is what TakeOverIdempotencyKey did.
type Takeover struct {
	// Taken is false when the claim was not stale (any more).
	Taken bool
	// ClaimedAt names the retry's claim (see IdempotentResponse.ClaimedAt).
	ClaimedAt time.Time
	// Recorded is the message the first attempt recorded, if it did.
	Recorded *model.Message
}

// TakeOverIdempotencyKey takes over a stale claim (see IdempotentResponse.Stale) of the
// request hashed requestHash, made at createdAt, for a retry of that request served by
// replica. It is not taken when the claim is not stale (any more): answered, released, or
// taken over by another retry meanwhile; the conditional update decides between racing
// retries, on any replica. A taken claim is the caller's, as if it had just claimed it: it
// must store an answer or release it.
//
// messageID is the ID the claim's send records its message under. When that message exists,
// the first attempt recorded it before it died: it is returned, and must not be sent again.
// It is looked for in the same transaction as the takeover, so that the answer does not
// depend on a look made before another retry's takeover.
func TakeOverIdempotencyKey(ctx context.Context, db DBTX, sessionID, key, requestHash, replica string, createdAt time.Time,
	staleAfter time.Duration, messageID string) (Takeover, error) {
	var t Takeover
	err := WithTxOn(ctx, db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE idempotency_keys SET claimed_at = now(), claimed_by = nullif($7, '')::uuid
			WHERE session_id = $1 AND key = $2 AND request_hash = $3 AND created_at = $4 AND `+staleClaim(5, 6)+`
			RETURNING claimed_at`,
			sessionID, key, requestHash, createdAt, staleAfter, ReplicaGoneAfter, replica).Scan(&t.ClaimedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		t.Taken = true
		msg, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1 AND session_id = $2`,
			messageID, sessionID))
		switch {
		case err == nil:
			t.Recorded = &msg
		case !errors.Is(err, model.ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return Takeover{}, fmt.Errorf("take over idempotency key: %w", mapError(err))
	}
	return t, nil
}

// CompleteIdempotencyKey stores the answer to replay, for the claim made at claimedAt.
func CompleteIdempotencyKey(ctx context.Context, db DBTX, sessionID, key string, claimedAt time.Time, status int, response json.RawMessage) error {
	_, err := db.Exec(ctx, `UPDATE idempotency_keys SET status_code = $4, response = $5
		WHERE session_id = $1 AND key = $2 AND claimed_at = $3 AND status_code IS NULL`,
		sessionID, key, claimedAt, status, response)
	if err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets the claim made at claimedAt, whose request ended in a way
// worth retrying (rate limited, or an internal error before anything reached a worker).
func ReleaseIdempotencyKey(ctx context.Context, db DBTX, sessionID, key string, claimedAt time.Time) error {
	_, err := db.Exec(ctx, `DELETE FROM idempotency_keys WHERE session_id = $1 AND key = $2 AND claimed_at = $3 AND response IS NULL`,
		sessionID, key, claimedAt)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// AbandonIdempotencyKey leaves the claim made at claimedAt, for a request that lost
// PostgreSQL midway, to be taken over at once by a retry (it is Stale from now on): the
// request's outcome is unknown to it (a statement whose commit was lost may have recorded the
// message), and the takeover answers from the message if there is one, or sends.
func AbandonIdempotencyKey(ctx context.Context, db DBTX, sessionID, key string, claimedAt time.Time) error {
	_, err := db.Exec(ctx, `UPDATE idempotency_keys SET claimed_at = '-infinity', claimed_by = NULL
		WHERE session_id = $1 AND key = $2 AND claimed_at = $3 AND status_code IS NULL`,
		sessionID, key, claimedAt)
	if err != nil {
		return fmt.Errorf("abandon idempotency key: %w", err)
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
