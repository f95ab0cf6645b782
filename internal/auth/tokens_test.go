package auth_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/auth"
)

var apiKeyShape = regexp.MustCompile(`^wg_[A-Za-z0-9]{32}$`)

func TestNewAPIKey_IsWgAnd32AlphanumericsAndUnique(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	chars := make(map[rune]bool)
	for range 2000 {
		key := auth.NewAPIKey()
		if !apiKeyShape.MatchString(key) {
			t.Fatalf("key %q is not wg_ and 32 letters or digits", key)
		}
		if !auth.LooksLikeAPIKey(key) {
			t.Fatalf("LooksLikeAPIKey refuses a new key %q", key)
		}
		if seen[key] {
			t.Fatalf("key %q issued twice", key)
		}
		seen[key] = true
		for _, c := range key[3:] {
			chars[c] = true
		}
	}
	// 64,000 draws from 62 characters: every one of them shows up unless the generator is
	// biased or broken.
	if len(chars) != 62 {
		t.Errorf("only %d distinct characters in 2000 keys, want all 62", len(chars))
	}
}

func TestLooksLikeAPIKey(t *testing.T) {
	t.Parallel()
	valid := "wg_" + strings.Repeat("aZ9", 10) + "xy"
	tests := map[string]bool{
		valid:                                 true,
		"":                                    false,
		"wg_":                                 false,
		valid[:len(valid)-1]:                  false, // 31 characters
		valid + "a":                           false, // 33 characters
		"WG_" + valid[3:]:                     false,
		"xx_" + valid[3:]:                     false,
		"wg_" + strings.Repeat("a", 31) + "-": false,
		"wg_" + strings.Repeat("a", 31) + " ": false,
		"wg_" + strings.Repeat("é", 16):       false, // 32 bytes, not 32 alphanumerics
		"Bearer " + valid:                     false,
	}
	for key, want := range tests {
		if got := auth.LooksLikeAPIKey(key); got != want {
			t.Errorf("LooksLikeAPIKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestMaskAPIKey_ShowsFirstAndLastFour(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"wg_AbCdEfGhIjKlMnOpQrStUvWxYz012345": "wg_AbCd…2345",
		"wg_AbCdWxYz":                         "wg_AbCd…WxYz",
		"wg_short":                            "wg_…",
		"wg_":                                 "wg_…",
		"":                                    "wg_…",
	}
	for key, want := range tests {
		if got := auth.MaskAPIKey(key); got != want {
			t.Errorf("MaskAPIKey(%q) = %q, want %q", key, got, want)
		}
	}
	key := auth.NewAPIKey()
	masked := auth.MaskAPIKey(key)
	if !regexp.MustCompile(`^wg_[A-Za-z0-9]{4}…[A-Za-z0-9]{4}$`).MatchString(masked) {
		t.Errorf("mask %q has the wrong shape", masked)
	}
	if strings.Contains(masked, key[7:len(key)-4]) {
		t.Errorf("mask %q reveals the middle of the key", masked)
	}
}

func TestAPIKeyDisplayPrefix(t *testing.T) {
	t.Parallel()
	if got := auth.APIKeyDisplayPrefix("wg_AbCdEfGh"); got != "wg_AbCd" {
		t.Errorf("prefix = %q, want wg_AbCd", got)
	}
	if got := auth.APIKeyDisplayPrefix("wg_A"); got != "wg_" {
		t.Errorf("prefix of a short key = %q, want wg_", got)
	}
}

func TestNewOpaqueToken_Is32RandomBytesBase64URL(t *testing.T) {
	t.Parallel()
	a, b := auth.NewOpaqueToken(), auth.NewOpaqueToken()
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Errorf("token %q is not 32 bytes of base64url (%v)", a, err)
	}
	if a == b {
		t.Error("two tokens are equal")
	}
}

func newSealer(t *testing.T) *auth.KeySealer {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := auth.NewKeySealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeySealer_RoundTrip(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	key := auth.NewAPIKey()

	sealed := s.Seal(key, "session-1")

	if bytes.Contains(sealed, []byte(key)) || bytes.Contains(sealed, []byte(key[3:])) {
		t.Fatal("the ciphertext contains the key")
	}
	got, err := s.Open(sealed, "session-1")
	if err != nil || got != key {
		t.Fatalf("Open = %q, %v; want %q", got, err, key)
	}
	if again := s.Seal(key, "session-1"); bytes.Equal(again, sealed) {
		t.Error("sealing twice gives the same bytes: the nonce is not random")
	}
}

func TestKeySealer_RefusesTamperingAnotherRowOrAnotherKey(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	sealed := s.Seal(auth.NewAPIKey(), "session-1")

	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := map[string]struct {
		sealer *auth.KeySealer
		data   []byte
		aad    string
	}{
		"another session ID (AAD)": {s, sealed, "session-2"},
		"empty AAD":                {s, sealed, ""},
		"flipped nonce byte":       {s, flip(0), "session-1"},
		"flipped ciphertext byte":  {s, flip(14), "session-1"},
		"flipped tag byte":         {s, flip(len(sealed) - 1), "session-1"},
		"truncated":                {s, sealed[:len(sealed)-1], "session-1"},
		"shorter than a nonce":     {s, sealed[:5], "session-1"},
		"empty":                    {s, nil, "session-1"},
		"another encryption key":   {newSealer(t), sealed, "session-1"},
	}
	for name, tc := range tests {
		if got, err := tc.sealer.Open(tc.data, tc.aad); err == nil {
			t.Errorf("%s: Open = %q, want an error", name, got)
		}
	}
}

func TestNewKeySealer_RefusesABadKeyLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 15, 31, 33} {
		if _, err := auth.NewKeySealer(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key was accepted", n)
		}
	}
}

func FuzzKeySealerOpen_NeverPanics(f *testing.F) {
	key := make([]byte, 32)
	s, err := auth.NewKeySealer(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.Seal("wg_abc", "s"), "s")
	f.Add([]byte{}, "")
	f.Add(make([]byte, 12), "x")
	f.Fuzz(func(t *testing.T, data []byte, aad string) {
		if plain, err := s.Open(data, aad); err == nil {
			// Only a real sealed value opens; the fuzzer cannot forge one.
			if again := s.Seal(plain, aad); len(again) != len(data) {
				t.Errorf("opened %d bytes that Seal would not produce", len(data))
			}
		}
	})
}

func FuzzLooksLikeAPIKey_MatchesTheShape(f *testing.F) {
	f.Add(auth.NewAPIKey())
	f.Add("wg_")
	f.Add("wg_" + strings.Repeat("é", 16))
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := auth.LooksLikeAPIKey(s), apiKeyShape.MatchString(s); got != want {
			t.Errorf("LooksLikeAPIKey(%q) = %v, regexp says %v", s, got, want)
		}
		_ = auth.MaskAPIKey(s) // must not panic on any input
	})
}
