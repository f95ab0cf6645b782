package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/webhooks"
)

// verifyStandardWebhook checks a delivery the way a receiver following the Standard Webhooks
// specification does, written from the specification and sharing no code with the signer:
// the key is the base64 after "whsec_"; the signed content is "{webhook-id}.{webhook-timestamp}.{body}";
// webhook-signature is a space-separated list of "v1,<base64 HMAC-SHA256>"; the timestamp must
// be within five minutes of now.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, signatures := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || signatures == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	seconds, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not unix seconds")
	}
	if d := now.Sub(time.Unix(seconds, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("webhook-timestamp too far from now")
	}
	if !strings.HasPrefix(secret, "whsec_") {
		return errors.New("secret lacks whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, candidate := range strings.Split(signatures, " ") {
		version, sig, ok := strings.Cut(candidate, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

func TestSign_MatchesTheStandardWebhooksTestVector(t *testing.T) {
	t.Parallel()
	// The example of the Standard Webhooks specification's reference libraries.
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	got, err := webhooks.Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestSign_IsVerifiedByAnIndependentVerifier(t *testing.T) {
	t.Parallel()
	secret := webhooks.NewSecret()
	body := []byte(`{"id":"evt_1","event":"message.received","data":{"text":"héllo\n"}}`)
	now := time.Now()
	sig, err := webhooks.Sign(secret, "evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", "v1a,ignored "+sig)
	if err := verifyStandardWebhook(secret, h, body, now); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := verifyStandardWebhook(secret, h, append(body, ' '), now); err == nil {
		t.Fatal("a changed body verified")
	}
	if err := verifyStandardWebhook(webhooks.NewSecret(), h, body, now); err == nil {
		t.Fatal("another secret verified")
	}
}

func TestNewSecret_IsWhsecAndBase64Of32Bytes(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 20 {
		s := webhooks.NewSecret()
		raw, ok := strings.CutPrefix(s, "whsec_")
		key, err := base64.StdEncoding.DecodeString(raw)
		if !ok || err != nil || len(key) != 32 {
			t.Fatalf("secret %q: want whsec_ and the base64 of 32 bytes", s)
		}
		if seen[s] {
			t.Fatal("a secret repeated")
		}
		seen[s] = true
	}
}

func TestSign_RefusesASecretThatIsNotBase64(t *testing.T) {
	t.Parallel()
	if _, err := webhooks.Sign("whsec_not base64!", "id", time.Now(), nil); err == nil {
		t.Fatal("signed with a malformed secret")
	}
}

func TestSecretBox_SealsBoundToTheSession(t *testing.T) {
	t.Parallel()
	box, err := webhooks.NewSecretBox([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	secret := webhooks.NewSecret()
	sealed := box.Seal(secret, "session-a")
	if strings.Contains(sealed, strings.TrimPrefix(secret, "whsec_")) {
		t.Fatal("the sealed secret contains the secret")
	}
	if got, err := box.Open(sealed, "session-a"); err != nil || got != secret {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := box.Open(sealed, "session-b"); err == nil {
		t.Fatal("a secret sealed for one session opened for another")
	}
	if got, err := box.Open(secret, "session-a"); err != nil || got != secret {
		t.Fatalf("a secret stored in clear (older rows) must open as itself: %q, %v", got, err)
	}
	if _, err := webhooks.NewSecretBox(nil); err == nil {
		t.Fatal("a box without key material")
	}
}
