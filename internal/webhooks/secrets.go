package webhooks

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/wagateway/gateway/internal/auth"
)

// sealedPrefix marks a stored secret as sealed; anything else is taken as a secret in clear
// (rows written before secrets were sealed).
const sealedPrefix = "sealed:v1:"

// SecretBox seals signing secrets for storage. The gateway must be able to sign with a
// secret, so it cannot keep only a hash: it keeps the secret encrypted (AES-256-GCM) and bound
// to its session, so a sealed secret copied to another row does not open.
type SecretBox struct {
	sealer *auth.KeySealer
}

// NewSecretBox derives the webhook-secret key from keyMaterial (API_KEY_ENCRYPTION_KEY, or
// JWT_SECRET when there is none), so that the two uses never share a key.
func NewSecretBox(keyMaterial []byte) (*SecretBox, error) {
	if len(keyMaterial) == 0 {
		return nil, errors.New("webhook secrets: no key material")
	}
	key, err := hkdf.Key(sha256.New, keyMaterial, nil, "wagateway webhook-secret encryption", 32)
	if err != nil {
		return nil, fmt.Errorf("webhook secrets: %w", err)
	}
	sealer, err := auth.NewKeySealer(key)
	if err != nil {
		return nil, fmt.Errorf("webhook secrets: %w", err)
	}
	return &SecretBox{sealer: sealer}, nil
}

func secretBinding(sessionID string) string { return "webhook-secret:" + sessionID }

// Seal encrypts the secret of the webhook of sessionID for storage.
func (b *SecretBox) Seal(secret, sessionID string) string {
	return sealedPrefix + base64.StdEncoding.EncodeToString(b.sealer.Seal(secret, secretBinding(sessionID)))
}

// Open decrypts what Seal returned.
func (b *SecretBox) Open(stored, sessionID string) (string, error) {
	raw, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	sealed, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "", fmt.Errorf("webhook secret of session %s: %w", sessionID, err)
	}
	secret, err := b.sealer.Open(sealed, secretBinding(sessionID))
	if err != nil {
		return "", fmt.Errorf("webhook secret of session %s: %w", sessionID, err)
	}
	return secret, nil
}
