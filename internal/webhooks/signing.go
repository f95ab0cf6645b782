// Package webhooks delivers the gateway's events to customers' webhook URLs: it generates and
// seals signing secrets, signs payloads as the Standard Webhooks specification says, stores
// every delivery in Postgres before its first attempt (Recorder), and delivers and retries
// them from any number of replicas without sending one attempt twice (Deliverer), through an
// HTTP client that refuses private addresses at connect time.
package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as in the Standard Webhooks specification.
const SecretPrefix = "whsec_"

// secretBytes is the length of the random key inside a secret.
const secretBytes = 32

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// NewSecret returns a fresh signing secret: whsec_ and the base64 of 32 random bytes.
func NewSecret() string {
	key := make([]byte, secretBytes)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (it panics if the system cannot supply randomness)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// errBadSecret says a stored secret is not a Standard Webhooks secret.
var errBadSecret = errors.New("webhook secret is not whsec_ followed by base64")

// signingKey returns the HMAC key of a secret: the bytes the base64 after whsec_ encodes.
func signingKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errBadSecret
	}
	return key, nil
}

// Sign returns the webhook-signature header value of a message: "v1," and the base64 of
// HMAC-SHA256 over "{id}.{timestamp}.{body}", keyed with the secret's bytes.
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := signingKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// setSignatureHeaders sets the Standard Webhooks headers of an attempt made at now.
func setSignatureHeaders(h http.Header, secret, id string, now time.Time, body []byte) error {
	signature, err := Sign(secret, id, now, body)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderSignature, signature)
	return nil
}
