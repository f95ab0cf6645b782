package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/wagateway/gateway/internal/model"
)

// The issuer and audience of the original's tokens, which the dashboard's tokens carry.
const (
	Issuer   = "whatsapp-gateway-backend"
	Audience = "whatsapp-gateway-users"
)

// Claims are the claims of a dashboard JWT: the original's userId, email, role and tier,
// plus a unique jti (for logout) and the user's token version (for revoking every token).
type Claims struct {
	UserID       string         `json:"userId"`
	Email        string         `json:"email"`
	Role         model.UserRole `json:"role"`
	Tier         model.UserTier `json:"tier"`
	TokenVersion int            `json:"tv"`
	jwt.RegisteredClaims
}

// JWTs issues and verifies HS256 tokens.
type JWTs struct {
	secret []byte
	ttl    time.Duration
	parser *jwt.Parser
}

// NewJWTs returns an issuer and verifier for secret with the given lifetime.
func NewJWTs(secret string, ttl time.Duration) *JWTs {
	return &JWTs{
		secret: []byte(secret),
		ttl:    ttl,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), // refuses alg none and RS/HS confusion
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(30*time.Second),
		),
	}
}

// TTL is the lifetime of issued tokens.
func (j *JWTs) TTL() time.Duration { return j.ttl }

// IssuedToken is a signed JWT and what a caller needs to know about it.
type IssuedToken struct {
	Token     string
	JTI       string
	ExpiresAt time.Time
}

// Issue signs a token for user.
func (j *JWTs) Issue(user model.User, now time.Time) (IssuedToken, error) {
	jti := uuid.NewString()
	expires := now.Add(j.ttl)
	claims := Claims{
		UserID:       user.ID,
		Email:        user.Email,
		Role:         user.Role,
		Tier:         user.Tier,
		TokenVersion: user.TokenVersion,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   user.ID,
			Audience:  jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(expires),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(j.secret)
	if err != nil {
		return IssuedToken{}, fmt.Errorf("sign token: %w", err)
	}
	return IssuedToken{Token: signed, JTI: jti, ExpiresAt: expires}, nil
}

// ErrInvalidToken is returned for any token that does not verify.
var ErrInvalidToken = errors.New("invalid token")

// Verify checks the signature, algorithm, issuer, audience and expiry of a token.
func (j *JWTs) Verify(token string) (*Claims, error) {
	var claims Claims
	_, err := j.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return j.secret, nil })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.UserID == "" || claims.ID == "" {
		return nil, fmt.Errorf("%w: missing userId or jti", ErrInvalidToken)
	}
	// users.id is a uuid column: any other userId would fail the lookup with a database error.
	if _, err := uuid.Parse(claims.UserID); err != nil || len(claims.UserID) != 36 {
		return nil, fmt.Errorf("%w: userId is not a UUID", ErrInvalidToken)
	}
	return &claims, nil
}
