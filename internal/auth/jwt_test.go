package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/model"
)

const testSecret = "unit-test-secret-of-at-least-32-bytes"

var testUser = model.User{
	ID: "6f1c1a52-9a4e-4c36-a3a8-2f7d5bce1a10", Email: "ada@example.com",
	Role: model.RoleAdministrator, Tier: model.TierPro, TokenVersion: 3,
}

func TestJWTs_IssueThenVerify_CarriesTheClaims(t *testing.T) {
	t.Parallel()
	j := auth.NewJWTs(testSecret, 7*24*time.Hour)
	now := time.Now().Truncate(time.Second)

	issued, err := j.Issue(testUser, now)
	if err != nil {
		t.Fatal(err)
	}
	if !issued.ExpiresAt.Equal(now.Add(7 * 24 * time.Hour)) {
		t.Errorf("ExpiresAt = %v, want 7 days after %v", issued.ExpiresAt, now)
	}
	if j.TTL() != 7*24*time.Hour {
		t.Errorf("TTL = %v", j.TTL())
	}
	claims, err := j.Verify(issued.Token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.UserID != testUser.ID || claims.Email != testUser.Email || claims.Role != testUser.Role ||
		claims.Tier != testUser.Tier || claims.TokenVersion != 3 {
		t.Errorf("claims = %+v", claims)
	}
	if claims.ID != issued.JTI || claims.Issuer != auth.Issuer || claims.Subject != testUser.ID {
		t.Errorf("registered claims = %+v, jti %s", claims.RegisteredClaims, issued.JTI)
	}
	if _, err := uuid.Parse(issued.JTI); err != nil {
		t.Errorf("jti %q is not a UUID", issued.JTI)
	}

	// The wire form: HS256 with the original's claim names.
	header, payload := decodeSegments(t, issued.Token)
	if header["alg"] != "HS256" {
		t.Errorf("alg = %v", header["alg"])
	}
	for _, name := range []string{"userId", "email", "role", "tier", "iss", "aud", "exp", "iat", "jti"} {
		if _, ok := payload[name]; !ok {
			t.Errorf("payload lacks %s: %v", name, payload)
		}
	}

	other, _ := j.Issue(testUser, now)
	if other.JTI == issued.JTI {
		t.Error("two tokens share a jti")
	}
}

func decodeSegments(t *testing.T, token string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	for i, dst := range []*map[string]any{&header, &payload} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload
}

func TestJWTs_Verify_Leeway(t *testing.T) {
	t.Parallel()
	j := auth.NewJWTs(testSecret, time.Minute)
	tests := []struct {
		name     string
		issuedAt time.Time
		ok       bool
	}{
		{"expired 10 s ago, within the 30 s leeway", time.Now().Add(-70 * time.Second), true},
		{"expired 40 s ago, beyond the leeway", time.Now().Add(-100 * time.Second), false},
		{"issued 10 s in the future, within the leeway", time.Now().Add(10 * time.Second), true},
		{"issued 2 min in the future", time.Now().Add(2 * time.Minute), false},
	}
	for _, tc := range tests {
		issued, err := j.Issue(testUser, tc.issuedAt)
		if err != nil {
			t.Fatal(err)
		}
		_, err = j.Verify(issued.Token)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Verify error = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: error %v is not ErrInvalidToken", tc.name, err)
		}
	}
}

func validClaims() auth.Claims {
	now := time.Now()
	return auth.Claims{
		UserID: testUser.ID, Email: testUser.Email, Role: model.RoleUser, Tier: model.TierBasic,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: auth.Issuer, Audience: jwt.ClaimStrings{auth.Audience}, ID: uuid.NewString(),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now),
		},
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims auth.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTs_Verify_RefusesForgedOrIncompleteTokens(t *testing.T) {
	t.Parallel()
	j := auth.NewJWTs(testSecret, time.Hour)
	secret := []byte(testSecret)
	with := func(change func(*auth.Claims)) auth.Claims {
		c := validClaims()
		change(&c)
		return c
	}
	if _, err := j.Verify(sign(t, jwt.SigningMethodHS256, secret, validClaims())); err != nil {
		t.Fatalf("the control token is refused: %v", err)
	}
	noneToken, err := jwt.NewWithClaims(jwt.SigningMethodNone, validClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"another secret":        sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes"), validClaims()),
		"alg none":              noneToken,
		"HS384":                 sign(t, jwt.SigningMethodHS384, secret, validClaims()),
		"wrong audience":        sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"x"} })),
		"no audience":           sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.Audience = nil })),
		"wrong issuer":          sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.Issuer = "x" })),
		"no expiry":             sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.ExpiresAt = nil })),
		"no userId":             sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.UserID = "" })),
		"userId not a UUID":     sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.UserID = "42" })),
		"userId UUID in braces": sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.UserID = "{" + testUser.ID + "}" })),
		"no jti":                sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.ID = "" })),
		"garbage":               "a.b.c",
		"empty":                 "",
	}
	for name, token := range tests {
		if _, err := j.Verify(token); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: Verify error = %v, want ErrInvalidToken", name, err)
		}
	}
}

func TestPrincipal_RoundTripsThroughTheContext(t *testing.T) {
	t.Parallel()
	if auth.PrincipalFrom(t.Context()) != nil {
		t.Error("an anonymous context has a principal")
	}
	p := &auth.Principal{UserID: testUser.ID, Role: model.RoleUser}
	if got := auth.PrincipalFrom(auth.WithPrincipal(t.Context(), p)); got != p {
		t.Errorf("PrincipalFrom = %v, want %v", got, p)
	}
	if p.IsAdmin() {
		t.Error("a USER is an admin")
	}
	if !(&auth.Principal{Role: model.RoleAdministrator}).IsAdmin() {
		t.Error("an ADMINISTRATOR is not an admin")
	}
}
