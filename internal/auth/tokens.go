package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

const (
	// APIKeyPrefix starts every API key.
	APIKeyPrefix = "wg_"
	apiKeyChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	apiKeyLength = 32
)

// NewAPIKey returns "wg_" and 32 letters and digits from crypto/rand, without modulo bias.
func NewAPIKey() string {
	return APIKeyPrefix + randomAlphanumeric(apiKeyLength)
}

func randomAlphanumeric(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails
		for _, b := range buf {
			// 248 is the largest multiple of 62 below 256: rejecting above it keeps each
			// character equally likely.
			if b < 248 && len(out) < n {
				out = append(out, apiKeyChars[int(b)%len(apiKeyChars)])
			}
		}
	}
	return string(out)
}

// LooksLikeAPIKey reports whether s has the shape of an API key.
func LooksLikeAPIKey(s string) bool {
	if len(s) != len(APIKeyPrefix)+apiKeyLength || !strings.HasPrefix(s, APIKeyPrefix) {
		return false
	}
	for _, c := range s[len(APIKeyPrefix):] {
		if !strings.ContainsRune(apiKeyChars, c) {
			return false
		}
	}
	return true
}

// MaskAPIKey shows the first and last four characters: wg_AbCd…WxYz.
func MaskAPIKey(key string) string {
	body := strings.TrimPrefix(key, APIKeyPrefix)
	if len(body) < 8 {
		return APIKeyPrefix + "…"
	}
	return APIKeyPrefix + body[:4] + "…" + body[len(body)-4:]
}

// APIKeyDisplayPrefix is the part of a key stored in clear to help owners recognise it.
func APIKeyDisplayPrefix(key string) string {
	if len(key) < len(APIKeyPrefix)+4 {
		return APIKeyPrefix
	}
	return key[:len(APIKeyPrefix)+4]
}

// NewOpaqueToken returns 32 random bytes, base64url-encoded: refresh and reset tokens.
func NewOpaqueToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// KeySealer encrypts API keys with AES-256-GCM so that owners can see them again.
type KeySealer struct {
	aead cipher.AEAD
}

// NewKeySealer returns a sealer for a 32-byte key.
func NewKeySealer(key []byte) (*KeySealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("api key encryption: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("api key encryption: %w", err)
	}
	return &KeySealer{aead: aead}, nil
}

// Seal encrypts plaintext; the nonce is stored in front of the ciphertext. additional binds
// the ciphertext to its row (the session ID), so it cannot be moved to another.
func (s *KeySealer) Seal(plaintext, additional string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(additional))
}

// Open decrypts what Seal returned.
func (s *KeySealer) Open(sealed []byte, additional string) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("api key ciphertext too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(additional))
	if err != nil {
		return "", fmt.Errorf("decrypt api key: %w", err)
	}
	return string(plain), nil
}
