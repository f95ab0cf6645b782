package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wagateway/gateway/internal/auth"
)

func newPasswords(t *testing.T) *auth.Passwords {
	t.Helper()
	p, err := auth.NewPasswords(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPasswords_HashThenMatches(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)

	hash, err := p.Hash("Corr3ct-Horse!")
	if err != nil {
		t.Fatal(err)
	}

	if !strings.HasPrefix(hash, "$2a$04$") {
		t.Errorf("hash %q is not bcrypt at cost 4", hash)
	}
	if strings.Contains(hash, "Corr3ct-Horse!") {
		t.Error("the hash contains the password")
	}
	if !p.Matches(hash, "Corr3ct-Horse!") {
		t.Error("the right password does not match")
	}
	for _, wrong := range []string{"corr3ct-horse!", "Corr3ct-Horse", "Corr3ct-Horse!!", "", " Corr3ct-Horse!"} {
		if p.Matches(hash, wrong) {
			t.Errorf("%q matches", wrong)
		}
	}
	again, _ := p.Hash("Corr3ct-Horse!")
	if again == hash {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestPasswords_CostComesFromBcryptRounds(t *testing.T) {
	t.Parallel()
	p, err := auth.NewPasswords(5)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := p.Hash("Corr3ct-Horse!")
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != 5 {
		t.Errorf("cost = %d (%v), want 5", cost, err)
	}
	if _, err := auth.NewPasswords(bcrypt.MaxCost + 1); err == nil {
		t.Error("an impossible cost was accepted")
	}
}

func TestPasswords_EmptyHashNeverMatches(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	for _, password := range []string{"", "timing-equaliser-not-a-password", "Corr3ct-Horse!"} {
		if p.Matches("", password) {
			t.Errorf("%q matches an empty hash (an unknown user)", password)
		}
	}
	if p.Matches("not-a-bcrypt-hash", "Corr3ct-Horse!") {
		t.Error("a malformed hash matches")
	}
}

// bcrypt reads 72 bytes: longer passwords (up to 128 characters are allowed) are cut the
// same way when hashing and when checking, as bcryptjs did in the original.
func TestPasswords_LongerThan72Bytes_AreTruncatedConsistently(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	long := "Aa1!" + strings.Repeat("x", 124) // 128 characters
	hash, err := p.Hash(long)
	if err != nil {
		t.Fatalf("a 128-character password cannot be hashed: %v", err)
	}

	if !p.Matches(hash, long) {
		t.Error("the 128-character password does not match its own hash")
	}
	if !p.Matches(hash, long[:72]+"anything after byte 72") {
		t.Error("bytes after the 72nd are not ignored")
	}
	changed := []byte(long)
	changed[71] = 'y'
	if p.Matches(hash, string(changed)) {
		t.Error("a change in the 72nd byte is not noticed")
	}
	// A hash made by another bcrypt implementation from the first 72 bytes (the original's
	// stored hashes) matches the full password.
	legacy, err := bcrypt.GenerateFromPassword([]byte(long[:72]), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Matches(string(legacy), long) {
		t.Error("a legacy hash of the first 72 bytes does not match")
	}
}

func TestPasswords_MultiByteCharactersPast72Bytes(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	// 3-byte characters: byte 72 falls inside the 25th character.
	long := "A1!" + strings.Repeat("é€", 40)
	hash, err := p.Hash(long)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Matches(hash, long) {
		t.Error("a multi-byte password does not match its own hash")
	}
}

func TestHashToken_IsHexSHA256(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("wg_secret"))
	if got, want := auth.HashToken("wg_secret"), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("HashToken = %s, want %s", got, want)
	}
	if auth.HashToken("a") == auth.HashToken("b") {
		t.Error("different tokens hash alike")
	}
}

func TestIsCommonPassword_IgnoresCase(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"P@ssw0rd":        true,
		"p@ssw0rd":        true,
		"WHATSAPP@123":    true,
		"Summer2025!":     true,
		"Corr3ct-Horse!":  false,
		"P@ssw0rd-plus-1": false,
		"":                false,
	}
	for password, want := range tests {
		if got := auth.IsCommonPassword(password); got != want {
			t.Errorf("IsCommonPassword(%q) = %v, want %v", password, got, want)
		}
	}
}
