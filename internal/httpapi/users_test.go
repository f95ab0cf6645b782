package httpapi_test

import (
	"context"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/service"
)

// --- profile --------------------------------------------------------------------------------

func TestProfile_Get_ReturnsTheUserWithStats(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "stats@example.com")
	other := acctSignUp(t, g, "other@example.com")
	acctExec(t, g.DB, `INSERT INTO sessions (id, user_id, name, status) VALUES
		('st-on', $1, 'x', 'CONNECTED'), ('st-off', $1, 'x', 'DISCONNECTED'), ('st-other', $2, 'x', 'CONNECTED')`, u.ID, other.ID)
	acctExec(t, g.DB, `INSERT INTO messages (session_id, direction, status, created_at) VALUES
		('st-on', 'OUTBOUND', 'SENT', now()),
		('st-on', 'OUTBOUND', 'DELIVERED', now()),
		('st-off', 'OUTBOUND', 'FAILED', now()),
		('st-on', 'OUTBOUND', 'READ', now() - interval '3 days'),
		('st-on', 'INBOUND', 'DELIVERED', now()),
		('st-other', 'OUTBOUND', 'SENT', now())`)

	res := g.Do(t, http.MethodGet, "/api/v1/users/profile", nil, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	if strings.Contains(strings.ToLower(res.Body.String()), "password") {
		t.Errorf("profile mentions a password: %s", res.Body)
	}
	user := acctData(t, res)["user"].(map[string]any)
	if user["id"] != u.ID || user["email"] != "stats@example.com" {
		t.Errorf("user = %v", user)
	}
	stats := user["stats"].(map[string]any)
	want := map[string]float64{"activeSessions": 1, "totalSessions": 2, "messagesSent": 3, "messagesToday": 3}
	for k, v := range want {
		if stats[k] != v {
			t.Errorf("stats.%s = %v, want %v", k, stats[k], v)
		}
	}
}

func TestProfile_Put_ChangesTheName(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "rename@example.com")

	res := g.Do(t, http.MethodPut, "/api/v1/users/profile", map[string]any{"name": "New Name"}, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	if name := acctData(t, res)["user"].(map[string]any)["name"]; name != "New Name" {
		t.Errorf("name = %v", name)
	}
	// A name change needs no password and revokes nothing.
	me := acctData(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...))["user"].(map[string]any)
	if me["name"] != "New Name" {
		t.Errorf("me.name = %v", me["name"])
	}
}

func TestProfile_Put_EmailOrPasswordNeedsTheRightCurrentPassword(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "guarded@example.com")

	tests := []struct {
		name string
		body map[string]any
	}{
		{"email without currentPassword", map[string]any{"email": "new@example.com"}},
		{"password without currentPassword", map[string]any{"newPassword": "N3w-Passphrase!"}},
		{"both without currentPassword", map[string]any{"email": "new@example.com", "newPassword": "N3w-Passphrase!"}},
		{"email with a wrong currentPassword", map[string]any{"email": "new@example.com", "currentPassword": "Wr0ng-Password"}},
		{"password with a wrong currentPassword", map[string]any{"newPassword": "N3w-Passphrase!", "currentPassword": "Wr0ng-Password"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := g.Do(t, http.MethodPut, "/api/v1/users/profile", tc.body, acctAuth(u.Token)...)
			body := acctWantError(t, res, http.StatusBadRequest, "validation_error")
			if got := acctFields(body); !slices.Equal(got, []string{"currentPassword"}) {
				t.Errorf("details = %v, want [currentPassword]", got)
			}
		})
	}
	// Nothing changed.
	acctLogin(t, g, "guarded@example.com", acctPassword)
}

func TestProfile_Put_InvalidFields_ListEveryOne(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "invalid-profile@example.com")

	res := g.Do(t, http.MethodPut, "/api/v1/users/profile",
		map[string]any{"name": "R2-D2", "email": "not-an-email", "newPassword": "weak", "currentPassword": acctPassword},
		acctAuth(u.Token)...)

	body := acctWantError(t, res, http.StatusBadRequest, "validation_error")
	if got := acctFields(body); !slices.Equal(got, []string{"email", "name", "newPassword"}) {
		t.Errorf("details = %v, want [email name newPassword]", got)
	}
	for _, bad := range []map[string]any{{"name": ""}, {"name": "   "}, {"email": ""}, {"name": 5}, {"email": true}} {
		res := g.Do(t, http.MethodPut, "/api/v1/users/profile", bad, acctAuth(u.Token)...)
		acctWantError(t, res, http.StatusBadRequest, "validation_error")
	}
}

func TestProfile_Put_EmailTaken_Returns409(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	acctSignUp(t, g, "taken@example.com")
	u := acctSignUp(t, g, "mover@example.com")

	res := g.Do(t, http.MethodPut, "/api/v1/users/profile",
		map[string]any{"email": "TAKEN@example.com", "currentPassword": acctPassword}, acctAuth(u.Token)...)

	body := acctWantError(t, res, http.StatusConflict, "conflict")
	if got := acctFields(body); !slices.Equal(got, []string{"email"}) {
		t.Errorf("details = %v, want [email]", got)
	}
}

func TestProfile_Put_NewEmailWithCurrentPassword_IsTheNewLogin(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "old-address@example.com")

	res := g.Do(t, http.MethodPut, "/api/v1/users/profile",
		map[string]any{"email": "New-Address@Example.com", "currentPassword": acctPassword}, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	acctLogin(t, g, "new-address@example.com", acctPassword)
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "old-address@example.com", "password": acctPassword}),
		http.StatusUnauthorized, "unauthorized")
}

func TestProfile_Put_NewPassword_RevokesEveryEarlierTokenAndRefreshToken(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "profile-password@example.com")
	other := acctLogin(t, g, u.Email, u.Password)
	const newPassword = "N3w-Passphrase!"

	res := g.Do(t, http.MethodPut, "/api/v1/users/profile",
		map[string]any{"newPassword": newPassword, "currentPassword": acctPassword}, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	// The caller is signed in again: the new tokens work, the old JWT does not.
	data := res.JSON(t)["data"].(map[string]any)
	token, _ := data["token"].(string)
	refresh, _ := data["refreshToken"].(string)
	if token == "" || refresh == "" || data["user"] == nil {
		t.Fatalf("data = %v, want user, token and refreshToken", data)
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(token)...).Code; code != http.StatusOK {
		t.Errorf("the new JWT = %d, want 200", code)
	}
	if code := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": refresh}).Code; code != http.StatusOK {
		t.Errorf("the new refresh token = %d, want 200", code)
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...).Code; code != http.StatusUnauthorized {
		t.Errorf("the caller's old JWT = %d, want 401", code)
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(other.Token)...).Code; code != http.StatusUnauthorized {
		t.Errorf("another login's JWT = %d, want 401", code)
	}
	// A stolen refresh token must not outlive a password change.
	for name, rt := range map[string]string{"caller's refresh token": u.Refresh, "other login's refresh token": other.Refresh} {
		if code := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": rt}).Code; code != http.StatusUnauthorized {
			t.Errorf("%s = %d after a password change, want 401", name, code)
		}
	}
	acctLogin(t, g, u.Email, newPassword)
}

// --- API keys -------------------------------------------------------------------------------

var acctMasked = regexp.MustCompile(`^wg_[A-Za-z0-9]{4}…[A-Za-z0-9]{4}$`)

func TestAPIKeys_List_ShowsOwnKeysMaskedNeverInFull(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "keys@example.com")
	other := acctSignUp(t, g, "stranger@example.com")
	first := acctSessionWithKey(t, g, u.ID, "keys-one")
	second := acctSessionWithKey(t, g, u.ID, "keys-two")
	foreign := acctSessionWithKey(t, g, other.ID, "keys-foreign")

	res := g.Do(t, http.MethodGet, "/api/v1/users/api-keys", nil, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	raw := res.Body.String()
	for _, k := range []string{first.Key, second.Key, foreign.Key, first.Key[3:], second.Key[7:]} {
		if strings.Contains(raw, k) {
			t.Errorf("the body reveals %q: %s", k, raw)
		}
	}
	data := acctData(t, res)
	if data["total"] != float64(2) {
		t.Errorf("total = %v, want 2", data["total"])
	}
	var sessions []string
	for _, item := range data["apiKeys"].([]any) {
		k := item.(map[string]any)
		for _, field := range []string{"id", "name", "sessionId", "prefix", "masked", "isActive", "lastUsed", "createdAt", "expiresAt"} {
			if _, ok := k[field]; !ok {
				t.Errorf("key lacks %s: %v", field, k)
			}
		}
		if masked, _ := k["masked"].(string); !acctMasked.MatchString(masked) {
			t.Errorf("masked = %q, want wg_XXXX…XXXX", masked)
		}
		if k["isActive"] != true {
			t.Errorf("isActive = %v", k["isActive"])
		}
		sessions = append(sessions, k["sessionId"].(string))
	}
	slices.Sort(sessions)
	if !slices.Equal(sessions, []string{"keys-one", "keys-two"}) {
		t.Errorf("keys of sessions %v, want only the caller's", sessions)
	}
	wantMasked := first.Key[:7] + "…" + first.Key[len(first.Key)-4:]
	if !strings.Contains(raw, wantMasked) {
		t.Errorf("the body lacks the mask %s", wantMasked)
	}
}

func TestAPIKeys_Delete_TheKeyStopsWorkingWithinASecond(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "revoke@example.com")
	key := acctSessionWithKey(t, g, u.ID, "revoke-me")
	// Warm the gateway's key cache, so that revocation must get past it.
	if code := acctKeyStatus(t, g, "X-API-Key", key.Key); code != http.StatusOK {
		t.Fatalf("key before revocation = %d", code)
	}

	res := g.Do(t, http.MethodDelete, "/api/v1/users/api-keys/"+key.Stored.ID, nil, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	revoked := acctData(t, res)["apiKey"].(map[string]any)
	if revoked["isActive"] != false || strings.Contains(res.Body.String(), key.Key) {
		t.Errorf("answer = %s", res.Body)
	}
	// The gateway trusts its key cache for a second; the deadline leaves room for a busy machine.
	acctKeyRefusedWithin(t, g, key.Key, 2500*time.Millisecond)
	list := acctData(t, g.Do(t, http.MethodGet, "/api/v1/users/api-keys", nil, acctAuth(u.Token)...))
	if active := list["apiKeys"].([]any)[0].(map[string]any)["isActive"]; active != false {
		t.Errorf("listed isActive = %v after revocation", active)
	}
}

func TestAPIKeys_Delete_AnotherUsersKeyOrABadID_Returns404(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	owner := acctSignUp(t, g, "owner@example.com")
	stranger := acctSignUp(t, g, "stranger@example.com")
	key := acctSessionWithKey(t, g, owner.ID, "owned")

	for _, id := range []string{key.Stored.ID, "00000000-0000-0000-0000-000000000000", "not-a-uuid", "1", strings.ToUpper(key.Stored.ID) + "0"} {
		res := g.Do(t, http.MethodDelete, "/api/v1/users/api-keys/"+id, nil, acctAuth(stranger.Token)...)
		acctWantError(t, res, http.StatusNotFound, "not_found")
	}
	if code := acctKeyStatus(t, g, "X-API-Key", key.Key); code != http.StatusOK {
		t.Errorf("the owner's key = %d after a stranger's attempts, want 200", code)
	}
}

// --- usage ----------------------------------------------------------------------------------

func TestUsage_CountsTheCallersMessagesAndAPICallsInThePeriod(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "usage@example.com")
	other := acctSignUp(t, g, "other-usage@example.com")
	acctCreateSession(t, g, u.ID, "use-a")
	acctCreateSession(t, g, u.ID, "use-b")
	acctCreateSession(t, g, other.ID, "use-other")
	acctExec(t, g.DB, `INSERT INTO messages (session_id, direction, message_type, status, created_at) VALUES
		('use-a', 'OUTBOUND', 'TEXT', 'SENT', now() - interval '1 hour'),
		('use-a', 'OUTBOUND', 'TEXT', 'READ', now() - interval '2 hours'),
		('use-a', 'OUTBOUND', 'IMAGE', 'FAILED', now() - interval '3 hours'),
		('use-b', 'OUTBOUND', 'TEXT', 'PENDING', now()),
		('use-a', 'INBOUND', 'TEXT', 'DELIVERED', now()),
		('use-a', 'OUTBOUND', 'TEXT', 'SENT', now() - interval '3 days'),
		('use-a', 'OUTBOUND', 'TEXT', 'SENT', now() - interval '20 days'),
		('use-other', 'OUTBOUND', 'TEXT', 'SENT', now())`)
	acctExec(t, g.DB, `INSERT INTO usage_records (user_id, session_id, kind, count, bucket) VALUES
		($1, 'use-a', 'api_call', 5, date_trunc('hour', now())),
		($1, 'use-b', 'api_call', 2, date_trunc('hour', now()) - interval '1 hour'),
		($1, 'use-a', 'api_call', 7, date_trunc('hour', now()) - interval '3 days'),
		($1, 'use-a', 'message', 99, date_trunc('hour', now())),
		($2, 'use-other', 'api_call', 50, date_trunc('hour', now()))`, u.ID, other.ID)

	tests := []struct {
		query               string
		total, sent, failed float64
		byType              map[string]any
		apiCalls            float64
		minDays, maxDays    int
	}{
		{"", 4, 2, 1, map[string]any{"TEXT": float64(3), "IMAGE": float64(1)}, 7, 2, 2},
		{"?period=24h", 4, 2, 1, map[string]any{"TEXT": float64(3), "IMAGE": float64(1)}, 7, 2, 2},
		{"?period=7d", 5, 3, 1, map[string]any{"TEXT": float64(4), "IMAGE": float64(1)}, 14, 8, 8},
		{"?period=30d", 6, 4, 1, map[string]any{"TEXT": float64(5), "IMAGE": float64(1)}, 14, 31, 31},
		{"?period=24h&sessionId=use-b", 1, 0, 0, map[string]any{"TEXT": float64(1)}, 2, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			res := g.Do(t, http.MethodGet, "/api/v1/users/usage"+tc.query, nil, acctAuth(u.Token)...)
			if res.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", res.Code, res.Body)
			}
			data := acctData(t, res)
			msgs := data["messages"].(map[string]any)
			if msgs["total"] != tc.total || msgs["sent"] != tc.sent || msgs["failed"] != tc.failed {
				t.Errorf("messages = %v, want total %v sent %v failed %v", msgs, tc.total, tc.sent, tc.failed)
			}
			byType := msgs["byType"].(map[string]any)
			if len(byType) != len(tc.byType) {
				t.Errorf("byType = %v, want %v", byType, tc.byType)
			}
			for k, v := range tc.byType {
				if byType[k] != v {
					t.Errorf("byType = %v, want %v", byType, tc.byType)
				}
			}
			if data["apiCalls"] != tc.apiCalls {
				t.Errorf("apiCalls = %v, want %v", data["apiCalls"], tc.apiCalls)
			}
			days := data["byDay"].([]any)
			if len(days) < tc.minDays || len(days) > tc.maxDays {
				t.Errorf("%d days, want %d", len(days), tc.minDays)
			}
			var dayMessages, dayCalls float64
			for _, d := range days {
				day := d.(map[string]any)
				dayMessages += day["messages"].(float64)
				dayCalls += day["apiCalls"].(float64)
			}
			if dayMessages != tc.total || dayCalls != tc.apiCalls {
				t.Errorf("byDay sums to %v messages and %v calls, want %v and %v", dayMessages, dayCalls, tc.total, tc.apiCalls)
			}
		})
	}
}

func TestUsage_BadPeriodOrForeignSession_IsRefused(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "usage-bad@example.com")
	other := acctSignUp(t, g, "usage-other@example.com")
	acctCreateSession(t, g, other.ID, "not-mine")

	for _, period := range []string{"1h", "24", "week", "7D"} {
		res := g.Do(t, http.MethodGet, "/api/v1/users/usage?period="+period, nil, acctAuth(u.Token)...)
		if got := acctFields(acctWantError(t, res, http.StatusBadRequest, "validation_error")); !slices.Equal(got, []string{"period"}) {
			t.Errorf("period %s: details = %v", period, got)
		}
	}
	for _, id := range []string{"not-mine", "nonexistent"} {
		res := g.Do(t, http.MethodGet, "/api/v1/users/usage?sessionId="+id, nil, acctAuth(u.Token)...)
		acctWantError(t, res, http.StatusNotFound, "not_found")
	}
}

// --- tier -----------------------------------------------------------------------------------

func TestTier_ShowsTheLimitsAndRealUsage(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "tier@example.com")
	acctCreateSession(t, g, u.ID, "tier-one")
	acctCreateSession(t, g, u.ID, "tier-two")
	ctx := context.Background()
	if err := g.Redis.Set(ctx, service.QuotaKey(g.Keys, service.QuotaMessages, u.ID), 7, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := g.Redis.Set(ctx, service.QuotaKey(g.Keys, service.QuotaAPICalls, u.ID), 42, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}

	res := g.Do(t, http.MethodGet, "/api/v1/users/tier", nil, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	tier := acctData(t, res)["tier"].(map[string]any)
	if tier["current"] != "BASIC" || tier["upgradeTo"] != "PRO" {
		t.Errorf("current %v, upgradeTo %v", tier["current"], tier["upgradeTo"])
	}
	limits := tier["limits"].(map[string]any)
	if limits["sessions"] != float64(1) || limits["messagesPerHour"] != float64(100) || limits["apiCallsPerHour"] != float64(1000) {
		t.Errorf("limits = %v, want the BASIC row of the table", limits)
	}
	usage := tier["usage"].(map[string]any)
	if usage["sessions"] != float64(2) || usage["messagesThisHour"] != float64(7) || usage["apiCallsThisHour"] != float64(42) {
		t.Errorf("usage = %v, want 2 sessions, 7 messages, 42 calls", usage)
	}
	if features, _ := tier["features"].([]any); len(features) == 0 {
		t.Error("no features")
	}

	// Another user's counters are their own.
	stranger := acctSignUp(t, g, "tier-stranger@example.com")
	usage = acctData(t, g.Do(t, http.MethodGet, "/api/v1/users/tier", nil, acctAuth(stranger.Token)...))["tier"].(map[string]any)["usage"].(map[string]any)
	if usage["sessions"] != float64(0) || usage["messagesThisHour"] != float64(0) {
		t.Errorf("a stranger's usage = %v, want zeros", usage)
	}
}

func TestTier_TierLimitsOverrideAndTopTier(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":3}}`})
	u := acctSignUp(t, g, "override@example.com")

	tier := acctData(t, g.Do(t, http.MethodGet, "/api/v1/users/tier", nil, acctAuth(u.Token)...))["tier"].(map[string]any)
	limits := tier["limits"].(map[string]any)
	if limits["sessions"] != float64(3) || limits["messagesPerHour"] != float64(100) || limits["apiCallsPerHour"] != float64(1000) {
		t.Errorf("limits = %v, want sessions 3 and the other defaults", limits)
	}

	acctExec(t, g.DB, `UPDATE users SET tier = 'MAX' WHERE id = $1`, u.ID)
	tier = acctData(t, g.Do(t, http.MethodGet, "/api/v1/users/tier", nil, acctAuth(u.Token)...))["tier"].(map[string]any)
	if tier["current"] != "MAX" || tier["upgradeTo"] != nil {
		t.Errorf("MAX tier: current %v, upgradeTo %v (want null)", tier["current"], tier["upgradeTo"])
	}
	if tier["limits"].(map[string]any)["sessions"] != float64(20) {
		t.Errorf("MAX limits = %v", tier["limits"])
	}
}

// --- session lists --------------------------------------------------------------------------

func TestSessionLists_ShowOnlyOwnSessionsWithMaskedKeysAndPagination(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "lists@example.com")
	other := acctSignUp(t, g, "lists-other@example.com")
	keys := map[string]string{}
	for _, id := range []string{"list-a", "list-b", "list-c"} {
		keys[id] = acctSessionWithKey(t, g, u.ID, id).Key
	}
	foreign := acctSessionWithKey(t, g, other.ID, "list-foreign")
	acctExec(t, g.DB, `UPDATE sessions SET status = 'CONNECTED' WHERE id IN ('list-a', 'list-foreign')`)

	for _, path := range []string{"/api/v1/sessions", "/api/v1/users/sessions", "/api/sessions"} {
		t.Run(path, func(t *testing.T) {
			res := g.Do(t, http.MethodGet, path, nil, acctAuth(u.Token)...)
			if res.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", res.Code, res.Body)
			}
			for _, k := range append(slices.Collect(maps.Values(keys)), foreign.Key) {
				if strings.Contains(res.Body.String(), k) {
					t.Errorf("the list reveals a key: %s", res.Body)
				}
			}
			data := acctData(t, res)
			var ids []string
			for _, item := range data["sessions"].([]any) {
				s := item.(map[string]any)
				ids = append(ids, s["id"].(string))
				key := s["apiKey"].(map[string]any)
				if masked, _ := key["masked"].(string); !acctMasked.MatchString(masked) {
					t.Errorf("apiKey.masked = %q", masked)
				}
				if key["isActive"] != true {
					t.Errorf("apiKey.isActive = %v", key["isActive"])
				}
			}
			slices.Sort(ids)
			if !slices.Equal(ids, []string{"list-a", "list-b", "list-c"}) {
				t.Errorf("sessions %v, want only the caller's", ids)
			}
			p := data["pagination"].(map[string]any)
			want := map[string]any{"total": float64(3), "page": float64(1), "limit": float64(20), "totalPages": float64(1), "hasNext": false, "hasPrev": false}
			for k, v := range want {
				if p[k] != v {
					t.Errorf("pagination.%s = %v, want %v", k, p[k], v)
				}
			}
		})
	}

	t.Run("status filter", func(t *testing.T) {
		data := acctData(t, g.Do(t, http.MethodGet, "/api/v1/sessions?status=CONNECTED", nil, acctAuth(u.Token)...))
		sessions := data["sessions"].([]any)
		if len(sessions) != 1 || sessions[0].(map[string]any)["id"] != "list-a" {
			t.Errorf("CONNECTED sessions = %v, want [list-a]", sessions)
		}
		if total := data["pagination"].(map[string]any)["total"]; total != float64(1) {
			t.Errorf("total = %v, want 1", total)
		}
	})

	t.Run("pages", func(t *testing.T) {
		var seen []string
		for _, q := range []string{"?limit=2", "?limit=2&page=2"} {
			data := acctData(t, g.Do(t, http.MethodGet, "/api/v1/users/sessions"+q, nil, acctAuth(u.Token)...))
			for _, item := range data["sessions"].([]any) {
				seen = append(seen, item.(map[string]any)["id"].(string))
			}
			p := data["pagination"].(map[string]any)
			if p["totalPages"] != float64(2) || p["limit"] != float64(2) {
				t.Errorf("%s: pagination = %v", q, p)
			}
		}
		slices.Sort(seen)
		if !slices.Equal(seen, []string{"list-a", "list-b", "list-c"}) {
			t.Errorf("pages cover %v", seen)
		}
		p := acctData(t, g.Do(t, http.MethodGet, "/api/v1/sessions?limit=1&offset=1", nil, acctAuth(u.Token)...))["pagination"].(map[string]any)
		if p["page"] != float64(2) || p["hasNext"] != true || p["hasPrev"] != true {
			t.Errorf("offset 1 of 3: pagination = %v", p)
		}
	})

	t.Run("an administrator sees every user's sessions", func(t *testing.T) {
		acctPromote(t, g, other.ID)
		data := acctData(t, g.Do(t, http.MethodGet, "/api/v1/sessions", nil, acctAuth(other.Token)...))
		if total := data["pagination"].(map[string]any)["total"]; total != float64(4) {
			t.Errorf("admin total = %v, want 4", total)
		}
	})
}

func TestSessionLists_BadQuery_Returns400ListingEachParameter(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "bad-query@example.com")

	tests := map[string][]string{
		"?status=connected":                  {"status"},
		"?status=BOGUS&limit=0":              {"limit", "status"},
		"?limit=101":                         {"limit"},
		"?limit=abc&page=0&offset=-1":        {"limit", "offset", "page"},
		"?status=DELETED&limit=-5&page=zero": {"limit", "page", "status"},
	}
	for _, path := range []string{"/api/v1/sessions", "/api/v1/users/sessions"} {
		for q, fields := range tests {
			res := g.Do(t, http.MethodGet, path+q, nil, acctAuth(u.Token)...)
			if got := acctFields(acctWantError(t, res, http.StatusBadRequest, "validation_error")); !slices.Equal(got, fields) {
				t.Errorf("%s%s: details = %v, want %v", path, q, got, fields)
			}
		}
	}
}

func TestUsersRoutes_WithoutAJWT_Return401(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "apikey-not-jwt@example.com")
	key := acctSessionWithKey(t, g, u.ID, "not-a-login")
	routes := []struct{ method, path string }{
		{http.MethodGet, "/api/v1/users/profile"},
		{http.MethodPut, "/api/v1/users/profile"},
		{http.MethodGet, "/api/v1/users/api-keys"},
		{http.MethodDelete, "/api/v1/users/api-keys/" + key.Stored.ID},
		{http.MethodGet, "/api/v1/users/usage"},
		{http.MethodGet, "/api/v1/users/tier"},
		{http.MethodGet, "/api/v1/users/sessions"},
		{http.MethodPost, "/api/v1/users/deactivate"},
		{http.MethodGet, "/api/v1/sessions"},
		{http.MethodPost, "/api/v1/auth/logout"},
		{http.MethodGet, "/api/v1/auth/me"},
		{http.MethodPost, "/api/v1/auth/change-password"},
		{http.MethodPost, "/api/v1/auth/deactivate"},
	}
	for _, r := range routes {
		for _, headers := range [][]string{nil, acctAuth(key.Key), {"X-API-Key", key.Key}} {
			res := g.Do(t, r.method, r.path, nil, headers...)
			if res.Code != http.StatusUnauthorized {
				t.Errorf("%s %s with %v = %d, want 401", r.method, r.path, headers, res.Code)
			}
		}
	}
}
