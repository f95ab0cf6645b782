package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wagateway/gateway/internal/model"
)

// RefreshToken is a stored refresh token (its hash only).
type RefreshToken struct {
	ID        string
	UserID    string
	FamilyID  string
	AccessJTI string
}

// CreateRefreshToken stores the hash of a new refresh token of a login family.
func CreateRefreshToken(ctx context.Context, db DBTX, userID, tokenHash, familyID, accessJTI string, expiresAt time.Time) error {
	_, err := db.Exec(ctx, `
		INSERT INTO refresh_tokens (user_id, token_hash, family_id, access_jti, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, userID, tokenHash, familyID, accessJTI, expiresAt)
	if err != nil {
		return fmt.Errorf("create refresh token: %w", mapError(err))
	}
	return nil
}

// UseRefreshToken marks a live refresh token used and returns it. A token already used,
// revoked or expired is ErrNotFound; UsedRefreshTokenFamily tells reuse apart.
func UseRefreshToken(ctx context.Context, db DBTX, tokenHash string) (RefreshToken, error) {
	var t RefreshToken
	err := db.QueryRow(ctx, `
		UPDATE refresh_tokens SET used_at = now()
		WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
		RETURNING id::text, user_id::text, family_id::text, coalesce(access_jti, '')`, tokenHash).
		Scan(&t.ID, &t.UserID, &t.FamilyID, &t.AccessJTI)
	if err != nil {
		return t, fmt.Errorf("use refresh token: %w", mapError(err))
	}
	return t, nil
}

// UsedRefreshTokenFamily returns the family of a token that exists but was already used:
// the sign that a refresh token was stolen and replayed.
func UsedRefreshTokenFamily(ctx context.Context, db DBTX, tokenHash string) (familyID, userID string, err error) {
	err = db.QueryRow(ctx, `SELECT family_id::text, user_id::text FROM refresh_tokens
		WHERE token_hash = $1 AND used_at IS NOT NULL`, tokenHash).Scan(&familyID, &userID)
	if err != nil {
		return "", "", fmt.Errorf("look up used refresh token: %w", mapError(err))
	}
	return familyID, userID, nil
}

// RevokeRefreshFamily revokes every refresh token of a login family and returns the JWT IDs
// they were issued with.
func RevokeRefreshFamily(ctx context.Context, db DBTX, familyID string) ([]string, error) {
	rows, err := db.Query(ctx, `UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now())
		WHERE family_id = $1 RETURNING coalesce(access_jti, '')`, familyID)
	if err != nil {
		return nil, fmt.Errorf("revoke refresh family: %w", err)
	}
	defer rows.Close()
	var jtis []string
	for rows.Next() {
		var jti string
		if err := rows.Scan(&jti); err != nil {
			return nil, fmt.Errorf("revoke refresh family: %w", err)
		}
		if jti != "" {
			jtis = append(jtis, jti)
		}
	}
	return jtis, rows.Err()
}

// RevokeRefreshTokensOfAccess revokes the refresh tokens issued with a JWT (logout).
func RevokeRefreshTokensOfAccess(ctx context.Context, db DBTX, accessJTI string) error {
	_, err := db.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now()
		WHERE access_jti = $1 AND revoked_at IS NULL`, accessJTI)
	if err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", err)
	}
	return nil
}

// RevokeUserRefreshTokens revokes every refresh token of a user.
func RevokeUserRefreshTokens(ctx context.Context, db DBTX, userID string) error {
	_, err := db.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now()
		WHERE user_id = $1 AND revoked_at IS NULL`, userID)
	if err != nil {
		return fmt.Errorf("revoke refresh tokens of user: %w", err)
	}
	return nil
}

// RevokeJWT puts a JWT ID on the denylist until the token would have expired anyway.
func RevokeJWT(ctx context.Context, db DBTX, jti, userID string, expiresAt time.Time) error {
	_, err := db.Exec(ctx, `INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (jti) DO NOTHING`, jti, userID, expiresAt)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// TokenHolder is the user behind a JWT as checked on every request.
type TokenHolder struct {
	Exists       bool
	IsActive     bool
	TokenVersion int
	Revoked      bool
	// Role and Tier are the current ones, which may differ from the token's claims.
	Role model.UserRole
	Tier model.UserTier
}

// CheckTokenHolder loads, in one round trip, whether the token's user still exists and is
// active, its current token version, and whether the token itself was revoked.
func CheckTokenHolder(ctx context.Context, db DBTX, userID, jti string) (TokenHolder, error) {
	var h TokenHolder
	err := db.QueryRow(ctx, `
		SELECT true, u.is_active, u.token_version,
		       EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $2), u.role, u.tier
		FROM users u WHERE u.id = $1`, userID, jti).Scan(&h.Exists, &h.IsActive, &h.TokenVersion, &h.Revoked, &h.Role, &h.Tier)
	switch err = mapError(err); {
	case errors.Is(err, model.ErrNotFound):
		return TokenHolder{}, nil
	case err != nil:
		return h, fmt.Errorf("check token holder: %w", err)
	}
	return h, nil
}

// CreatePasswordReset stores the hash of a reset token.
func CreatePasswordReset(ctx context.Context, db DBTX, userID, tokenHash string, expiresAt time.Time) error {
	_, err := db.Exec(ctx, `INSERT INTO password_resets (user_id, token_hash, expires_at) VALUES ($1, $2, $3)`,
		userID, tokenHash, expiresAt)
	if err != nil {
		return fmt.Errorf("create password reset: %w", err)
	}
	return nil
}

// UsePasswordReset consumes a live reset token and returns its user; a used, expired or
// unknown token is ErrNotFound.
func UsePasswordReset(ctx context.Context, db DBTX, tokenHash string) (string, error) {
	var userID string
	err := db.QueryRow(ctx, `UPDATE password_resets SET used_at = now()
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
		RETURNING user_id::text`, tokenHash).Scan(&userID)
	if err != nil {
		return "", fmt.Errorf("use password reset: %w", mapError(err))
	}
	return userID, nil
}

// PruneExpiredTokens deletes denylist entries, refresh tokens and reset tokens that have
// expired and so can no longer be presented.
func PruneExpiredTokens(ctx context.Context, db DBTX) (int64, error) {
	var n int64
	for _, q := range []string{
		`DELETE FROM revoked_tokens WHERE expires_at < now()`,
		`DELETE FROM refresh_tokens WHERE expires_at < now()`,
		`DELETE FROM password_resets WHERE expires_at < now() - interval '1 day'`,
	} {
		tag, err := db.Exec(ctx, q)
		if err != nil {
			return n, fmt.Errorf("prune tokens: %w", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
