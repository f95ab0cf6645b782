// Package auth holds the gateway's credentials: bcrypt passwords, HS256 JWTs, API keys (their
// generation, hashing, masking and encryption), opaque tokens, and the authenticated
// principal carried in a request's context.
package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// bcrypt reads at most 72 bytes. The original (bcryptjs) silently used the first 72, so the
// same truncation keeps its stored hashes valid while allowing passwords up to 128 characters.
const bcryptMaxBytes = 72

func bcryptInput(password string) []byte {
	b := []byte(password)
	if len(b) > bcryptMaxBytes {
		b = b[:bcryptMaxBytes]
	}
	return b
}

// Passwords hashes and checks passwords at a fixed bcrypt cost.
type Passwords struct {
	cost int
	// dummyHash is compared against when a login names no user, so that an unknown email
	// takes as long as a wrong password.
	dummyHash []byte
}

// NewPasswords prepares password hashing at cost (BCRYPT_ROUNDS).
func NewPasswords(cost int) (*Passwords, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("timing-equaliser-not-a-password"), cost)
	if err != nil {
		return nil, fmt.Errorf("prepare password hashing: %w", err)
	}
	return &Passwords{cost: cost, dummyHash: dummy}, nil
}

// Hash returns the bcrypt hash of password.
func (p *Passwords) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(bcryptInput(password), p.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Matches reports whether password matches hash. An empty hash (no such user) is compared
// against a dummy hash so that the call takes the same time, and never matches.
func (p *Passwords) Matches(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(p.dummyHash, bcryptInput(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), bcryptInput(password)) == nil
}

// HashToken returns the hex SHA-256 of an opaque token (API key, refresh or reset token),
// which is what the database stores and looks up.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
