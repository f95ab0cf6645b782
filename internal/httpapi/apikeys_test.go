package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPIKey_AcceptedAsBearerAndAsXAPIKey(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "apikey@example.com")
	key := acctSessionWithKey(t, g, u.ID, "key-session")

	for _, header := range []string{"X-API-Key", "Authorization"} {
		res := g.Do(t, http.MethodGet, "/api/v1/session/status", nil, header, map[string]string{
			"X-API-Key": key.Key, "Authorization": "Bearer " + key.Key,
		}[header])
		if res.Code != http.StatusOK {
			t.Fatalf("%s: status = %d; body %s", header, res.Code, res.Body)
		}
		data := acctData(t, res)
		if data["sessionId"] != "key-session" || data["status"] != "DISCONNECTED" {
			t.Errorf("%s: data = %v; the session must come from the key", header, data)
		}
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/session/status", nil, "Authorization", "bearer "+key.Key).Code; code != http.StatusOK {
		t.Errorf("lower-case bearer scheme = %d, want 200", code)
	}
	// A dashboard JWT is not an API key.
	acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/session/status", nil, acctAuth(u.Token)...), http.StatusUnauthorized, "unauthorized")
	acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/session/status", nil), http.StatusUnauthorized, "unauthorized")
}

func TestAPIKey_WrongOrMalformed_Returns401(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "wrong-key@example.com")
	key := acctSessionWithKey(t, g, u.ID, "wrong-key").Key

	changeAt := func(i int) string {
		b := []byte(key)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"first character after the prefix changed": changeAt(3),
		"middle character changed":                 changeAt(18),
		"last character changed":                   changeAt(len(key) - 1),
		"upper-cased":                              "wg_" + strings.ToUpper(key[3:]),
		"without the prefix":                       key[3:],
		"one character short":                      key[:len(key)-1],
		"one character more":                       key + "a",
		"another prefix":                           "xx_" + key[3:],
		"the mask":                                 key[:7] + "…" + key[len(key)-4:],
	} {
		if bad == key {
			continue
		}
		for _, header := range []string{"X-API-Key", "Authorization"} {
			if code := acctKeyStatus(t, g, header, bad); code != http.StatusUnauthorized {
				t.Errorf("%s via %s = %d, want 401", name, header, code)
			}
		}
	}
	if code := acctKeyStatus(t, g, "X-API-Key", key); code != http.StatusOK {
		t.Errorf("the right key = %d after the wrong ones, want 200", code)
	}
}

func TestAPIKey_InactiveExpiredRevokedOrOfAnInactiveUser_Returns401(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "states@example.com")
	inactiveUser := acctSignUp(t, g, "inactive-owner@example.com")

	tests := map[string]struct {
		owner string
		sql   string
	}{
		"inactive":              {u.ID, `UPDATE api_keys SET is_active = false WHERE session_id = $1`},
		"expired":               {u.ID, `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE session_id = $1`},
		"revoked":               {u.ID, `UPDATE api_keys SET revoked_at = now() WHERE session_id = $1`},
		"of an inactive user":   {inactiveUser.ID, `UPDATE users SET is_active = false WHERE id = (SELECT user_id FROM sessions WHERE id = $1)`},
		"of a deleted session":  {u.ID, `DELETE FROM sessions WHERE id = $1`},
		"replaced by a new key": {u.ID, ``},
	}
	for name, tc := range tests {
		session := "state-" + strings.ReplaceAll(name, " ", "-")
		key := acctSessionWithKey(t, g, tc.owner, session)
		if tc.sql == "" {
			acctIssueKey(t, g, session)
		} else {
			acctExec(t, g.DB, tc.sql, session)
		}
		for _, header := range []string{"X-API-Key", "Authorization"} {
			if code := acctKeyStatus(t, g, header, key.Key); code != http.StatusUnauthorized {
				t.Errorf("%s key via %s = %d, want 401", name, header, code)
			}
		}
	}
	// A key that expires later still works.
	live := acctSessionWithKey(t, g, u.ID, "expires-later")
	acctExec(t, g.DB, `UPDATE api_keys SET expires_at = now() + interval '1 hour' WHERE session_id = 'expires-later'`)
	if code := acctKeyStatus(t, g, "X-API-Key", live.Key); code != http.StatusOK {
		t.Errorf("a key expiring in an hour = %d, want 200", code)
	}
}

func TestAPIKey_OfAUserWhoDeactivates_StopsWorking(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "leaving@example.com")
	key := acctSessionWithKey(t, g, u.ID, "leaving-session")
	if code := acctKeyStatus(t, g, "Authorization", key.Key); code != http.StatusOK {
		t.Fatalf("key before = %d", code)
	}

	if code := g.Do(t, http.MethodPost, "/api/v1/auth/deactivate", map[string]any{"password": acctPassword}, acctAuth(u.Token)...).Code; code != http.StatusOK {
		t.Fatalf("deactivate = %d", code)
	}

	acctKeyRefusedWithin(t, g, key.Key, 3*time.Second)
	if code := acctKeyStatus(t, g, "Authorization", key.Key); code != http.StatusUnauthorized {
		t.Errorf("bearer key after deactivation = %d, want 401", code)
	}
}

func TestAPIKey_Use_WritesLastUsedOnce(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "last-used@example.com")
	key := acctSessionWithKey(t, g, u.ID, "last-used")
	lastUsed := func() *time.Time {
		var at *time.Time
		if err := g.DB.QueryRow(context.Background(), `SELECT last_used FROM api_keys WHERE session_id = 'last-used'`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if lastUsed() != nil {
		t.Fatal("last_used set before any use")
	}

	if code := acctKeyStatus(t, g, "X-API-Key", key.Key); code != http.StatusOK {
		t.Fatalf("first use = %d", code)
	}
	first := lastUsed()
	if first == nil || time.Since(*first) > time.Minute {
		t.Fatalf("last_used after the first use = %v, want about now", first)
	}
	if code := acctKeyStatus(t, g, "Authorization", key.Key); code != http.StatusOK {
		t.Fatalf("second use = %d", code)
	}
	if second := lastUsed(); !second.Equal(*first) {
		t.Errorf("last_used moved from %v to %v on the second use", first, second)
	}
	list := acctData(t, g.Do(t, http.MethodGet, "/api/v1/users/api-keys", nil, acctAuth(u.Token)...))
	if got := list["apiKeys"].([]any)[0].(map[string]any)["lastUsed"]; got == nil {
		t.Error("the key list does not show lastUsed")
	}
}

func TestAPIKey_IsStoredOnlyHashedAndEncrypted(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "stored@example.com")
	key := acctSessionWithKey(t, g, u.ID, "stored-key")
	acctKeyStatus(t, g, "X-API-Key", key.Key)

	for _, needle := range []string{key.Key, key.Key[3:], key.Key[7 : len(key.Key)-4]} {
		if tables := acctTablesContaining(t, g.DB, needle); len(tables) > 0 {
			t.Errorf("%q found in clear in %v", needle, tables)
		}
	}
	if strings.Contains(g.Logs.String(), key.Key) {
		t.Error("the key was logged")
	}
	stored := key.Stored
	keys := acctAPIKeys(t, g)
	if got := keys.Reveal(context.Background(), stored); got != key.Key {
		t.Errorf("Reveal = %q, want the key", got)
	}
	stored.SessionID = "another-session"
	if got := keys.Reveal(context.Background(), stored); got != "" {
		t.Errorf("Reveal under another session ID = %q, want nothing", got)
	}
}

func TestAPIKey_RevealOff_StoresNoCiphertextAndTheKeyStillWorks(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, map[string]string{"API_KEY_REVEAL": "false"})
	u := acctSignUp(t, g, "no-reveal@example.com")

	key := acctSessionWithKey(t, g, u.ID, "no-reveal")

	if n := acctCount(t, g.DB, `SELECT count(*) FROM api_keys WHERE key_ciphertext IS NOT NULL`); n != 0 {
		t.Errorf("%d keys stored encrypted with API_KEY_REVEAL=false", n)
	}
	if code := acctKeyStatus(t, g, "X-API-Key", key.Key); code != http.StatusOK {
		t.Errorf("key = %d, want 200", code)
	}
}
