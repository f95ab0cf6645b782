package httpapi_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/testenv"
)

// acctAdmin signs up a user and promotes it to ADMINISTRATOR.
func acctAdmin(t *testing.T, g *testenv.Gateway, email string) acctUser {
	t.Helper()
	u := acctSignUp(t, g, email)
	acctPromote(t, g, u.ID)
	return u
}

func TestAdminRoutes_RequireAnAdministrator(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "admin@example.com")
	user := acctSignUp(t, g, "user@example.com")
	key := acctSessionWithKey(t, g, user.ID, "not-an-admin")

	for _, prefix := range []string{"/api/v1", "/api"} {
		// Each route gets a target of its own, so that DELETE leaves the others theirs.
		target := acctSignUp(t, g, "target"+strings.ReplaceAll(prefix, "/", "-")+"@example.com")
		routes := []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, prefix + "/admin/users", nil},
			{http.MethodGet, prefix + "/admin/users/" + target.ID, nil},
			{http.MethodPut, prefix + "/admin/users/" + target.ID, map[string]any{"tier": "PRO"}},
			{http.MethodDelete, prefix + "/admin/users/" + target.ID, nil},
		}
		for _, r := range routes {
			name := r.method + " " + r.path
			acctWantError(t, g.Do(t, r.method, r.path, r.body), http.StatusUnauthorized, "unauthorized")
			acctWantError(t, g.Do(t, r.method, r.path, r.body, "X-API-Key", key.Key), http.StatusUnauthorized, "unauthorized")
			acctWantError(t, g.Do(t, r.method, r.path, r.body, acctAuth(user.Token)...), http.StatusForbidden, "forbidden")
			if res := g.Do(t, r.method, r.path, r.body, acctAuth(admin.Token)...); res.Code != http.StatusOK {
				t.Errorf("%s as ADMINISTRATOR = %d, want 200; body %s", name, res.Code, res.Body)
			}
		}
	}
	// The USER's PUT and DELETE attempts changed nothing.
	if n := acctCount(t, g.DB, `SELECT count(*) FROM users WHERE tier = 'PRO'`); n != 0 {
		t.Errorf("%d users on PRO: a forbidden PUT went through", n)
	}
}

// Every route under /admin, including ones added later, refuses anonymous callers and USERs
// before its handler runs.
func TestAdminRoutes_EveryRouteInTheRouter_RefusesAnonymousAndUsers(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	user := acctSignUp(t, g, "user@example.com")
	routes, ok := g.Handler.(chi.Routes)
	if !ok {
		t.Fatalf("the handler is a %T, not a chi router to walk", g.Handler)
	}
	placeholder := regexp.MustCompile(`\{[^}]*\}`)
	var checked int
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !strings.Contains(route, "/admin/") {
			return nil
		}
		path := placeholder.ReplaceAllString(strings.ReplaceAll(route, "/*", "/"), "00000000-0000-0000-0000-000000000000")
		checked++
		if res := g.Do(t, method, path, nil); res.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials = %d, want 401", method, path, res.Code)
		}
		if res := g.Do(t, method, path, nil, acctAuth(user.Token)...); res.Code != http.StatusForbidden {
			t.Errorf("%s %s as USER = %d, want 403", method, path, res.Code)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 8 { // the four user routes under /api/v1 and /api, at least
		t.Errorf("only %d admin routes found", checked)
	}
}

func TestAdminRole_IsReadFromTheDatabaseOnEveryRequest(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "shifting@example.com")
	list := func() int { return g.Do(t, http.MethodGet, "/api/v1/admin/users", nil, acctAuth(u.Token)...).Code }

	if code := list(); code != http.StatusForbidden {
		t.Fatalf("as USER = %d, want 403", code)
	}
	acctPromote(t, g, u.ID)
	if code := list(); code != http.StatusOK {
		t.Errorf("same token after promotion = %d, want 200", code)
	}
	acctExec(t, g.DB, `UPDATE users SET role = 'USER' WHERE id = $1`, u.ID)
	if code := list(); code != http.StatusForbidden {
		t.Errorf("same token after demotion = %d, want 403 at once", code)
	}
}

// acctInsertUsers inserts users straight into the database (names and emails the register
// rules would refuse, such as % or _ in a name, exercise the search).
func acctInsertUsers(t *testing.T, g *testenv.Gateway, rows [][4]string) {
	t.Helper()
	for _, r := range rows {
		acctExec(t, g.DB, `INSERT INTO users (name, email, password_hash, role, tier) VALUES ($1, $2, 'x', $3, $4)`,
			r[0], r[1], r[2], r[3])
	}
}

func acctListEmails(t *testing.T, g *testenv.Gateway, token, query string) ([]string, map[string]any) {
	t.Helper()
	res := g.Do(t, http.MethodGet, "/api/v1/admin/users"+query, nil, acctAuth(token)...)
	if res.Code != http.StatusOK {
		t.Fatalf("list %s = %d; body %s", query, res.Code, res.Body)
	}
	if strings.Contains(strings.ToLower(res.Body.String()), "password") {
		t.Errorf("the user list mentions a password: %s", res.Body)
	}
	data := acctData(t, res)
	var emails []string
	for _, item := range data["users"].([]any) {
		emails = append(emails, item.(map[string]any)["email"].(string))
	}
	slices.Sort(emails)
	return emails, data["pagination"].(map[string]any)
}

func TestAdminUsers_List_SearchAndFilters(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")
	acctInsertUsers(t, g, [][4]string{
		{"Alice Smith", "alice@example.com", "USER", "BASIC"},
		{"Bob Jones", "bob_jones@example.com", "USER", "PRO"},
		{"Carol 100%", "carol@example.com", "USER", "MAX"},
		{"Dave", "dave@SMITH.org", "ADMINISTRATOR", "PRO"},
		{"Erin", "erin@example.com", "USER", "BASIC"},
	})
	acctExec(t, g.DB, `UPDATE users SET is_active = false WHERE email = 'erin@example.com'`)

	tests := map[string][]string{
		"?search=smith":                       {"alice@example.com", "dave@SMITH.org"},
		"?search=ALICE":                       {"alice@example.com"},
		"?search=" + "%25":                    {"carol@example.com"},     // a literal %
		"?search=_":                           {"bob_jones@example.com"}, // a literal _
		"?search=b_j":                         {"bob_jones@example.com"},
		"?search=o_j":                         nil,
		"?search=nobody":                      nil,
		"?role=ADMINISTRATOR":                 {"dave@SMITH.org", "root@admin.test"},
		"?tier=PRO":                           {"bob_jones@example.com", "dave@SMITH.org"},
		"?isActive=false":                     {"erin@example.com"},
		"?role=USER&tier=BASIC&isActive=true": {"alice@example.com"},
		"?search=example&tier=BASIC":          {"alice@example.com", "erin@example.com"},
	}
	for query, want := range tests {
		got, p := acctListEmails(t, g, admin.Token, query)
		if !slices.Equal(got, want) || p["total"] != float64(len(want)) {
			t.Errorf("%s = %v (total %v), want %v", query, got, p["total"], want)
		}
	}
}

func TestAdminUsers_List_Pagination(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")
	var rows [][4]string
	for i := range 6 {
		rows = append(rows, [4]string{"User", "user" + strconv.Itoa(i) + "@example.com", "USER", "BASIC"})
	}
	acctInsertUsers(t, g, rows) // 7 users with the administrator

	tests := []struct {
		query            string
		count            int
		page, totalPages float64
		hasNext, hasPrev bool
	}{
		{"?limit=3", 3, 1, 3, true, false},
		{"?limit=3&page=2", 3, 2, 3, true, true},
		{"?limit=3&page=3", 1, 3, 3, false, true},
		{"?limit=3&page=4", 0, 4, 3, false, true},
		{"?limit=3&offset=6", 1, 3, 3, false, true},
		{"?limit=100", 7, 1, 1, false, false},
		{"", 7, 1, 1, false, false},
	}
	var seen []string
	for _, tc := range tests {
		emails, p := acctListEmails(t, g, admin.Token, tc.query)
		if len(emails) != tc.count || p["total"] != float64(7) || p["page"] != tc.page || p["totalPages"] != tc.totalPages ||
			p["hasNext"] != tc.hasNext || p["hasPrev"] != tc.hasPrev {
			t.Errorf("%s: %d users, pagination %v; want %d, page %v of %v, next %v, prev %v",
				tc.query, len(emails), p, tc.count, tc.page, tc.totalPages, tc.hasNext, tc.hasPrev)
		}
		if strings.Contains(tc.query, "page=") || tc.query == "?limit=3" {
			seen = append(seen, emails...)
		}
	}
	slices.Sort(seen)
	if len(slices.Compact(seen)) != 7 {
		t.Errorf("pages 1–3 cover %v, want all 7 users once", seen)
	}
}

func TestAdminUsers_List_BadQuery_Returns400ListingEachParameter(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")

	tests := map[string][]string{
		"?role=ROOT":                          {"role"},
		"?role=user":                          {"role"},
		"?tier=GOLD&isActive=maybe":           {"isActive", "tier"},
		"?limit=0&page=0":                     {"limit", "page"},
		"?role=X&tier=Y&isActive=Z&limit=500": {"isActive", "limit", "role", "tier"},
		"?search=" + strings.Repeat("a", 255): {"search"},
	}
	for query, fields := range tests {
		res := g.Do(t, http.MethodGet, "/api/v1/admin/users"+query, nil, acctAuth(admin.Token)...)
		if got := acctFields(acctWantError(t, res, http.StatusBadRequest, "validation_error")); !slices.Equal(got, fields) {
			t.Errorf("%s: details = %v, want %v", query, got, fields)
		}
	}
}

func TestAdminUsers_Get_ShowsTheUserWithStats(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")
	u := acctSignUp(t, g, "viewed@example.com")
	acctCreateSession(t, g, u.ID, "viewed-session")

	res := g.Do(t, http.MethodGet, "/api/v1/admin/users/"+u.ID, nil, acctAuth(admin.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	if strings.Contains(strings.ToLower(res.Body.String()), "password") {
		t.Errorf("mentions a password: %s", res.Body)
	}
	user := acctData(t, res)["user"].(map[string]any)
	if user["id"] != u.ID || user["email"] != "viewed@example.com" {
		t.Errorf("user = %v", user)
	}
	if stats, _ := user["stats"].(map[string]any); stats["totalSessions"] != float64(1) {
		t.Errorf("stats = %v, want totalSessions 1", user["stats"])
	}
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", "42"} {
		acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/admin/users/"+id, nil, acctAuth(admin.Token)...), http.StatusNotFound, "not_found")
	}
}

func TestAdminUsers_Put_ChangesNameRoleTierAndIsActive(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")
	u := acctSignUp(t, g, "managed@example.com")

	res := g.Do(t, http.MethodPut, "/api/v1/admin/users/"+u.ID,
		map[string]any{"name": "Managed Person", "role": "ADMINISTRATOR", "tier": "MAX"}, acctAuth(admin.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	user := acctData(t, res)["user"].(map[string]any)
	if user["name"] != "Managed Person" || user["role"] != "ADMINISTRATOR" || user["tier"] != "MAX" || user["isActive"] != true {
		t.Errorf("user = %v", user)
	}
	// The change shows at once in the user's own view, without a new login.
	tier := acctData(t, g.Do(t, http.MethodGet, "/api/v1/users/tier", nil, acctAuth(u.Token)...))["tier"].(map[string]any)
	if tier["current"] != "MAX" {
		t.Errorf("the user's tier = %v, want MAX", tier["current"])
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/admin/users", nil, acctAuth(u.Token)...).Code; code != http.StatusOK {
		t.Errorf("the promoted user's admin access = %d, want 200", code)
	}

	// Only the given fields change.
	res = g.Do(t, http.MethodPut, "/api/v1/admin/users/"+u.ID, map[string]any{"tier": "PRO"}, acctAuth(admin.Token)...)
	user = acctData(t, res)["user"].(map[string]any)
	if user["name"] != "Managed Person" || user["role"] != "ADMINISTRATOR" || user["tier"] != "PRO" {
		t.Errorf("after a tier-only change: %v", user)
	}
}

func TestAdminUsers_Put_InvalidBodyOrTarget(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")
	u := acctSignUp(t, g, "target@example.com")

	tests := map[string][]string{
		`{"role":"SUPERUSER"}`:                       {"role"},
		`{"role":"administrator"}`:                   {"role"},
		`{"tier":"GOLD","role":"GOD"}`:               {"role", "tier"},
		`{"name":"R2-D2"}`:                           {"name"},
		`{"name":""}`:                                {"name"},
		`{"isActive":"no"}`:                          {"isActive"},
		`{"isActive":"no","tier":"GOLD","name":"X"}`: {"isActive", "name", "tier"},
	}
	for body, fields := range tests {
		res := g.Do(t, http.MethodPut, "/api/v1/admin/users/"+u.ID, body, acctAuth(admin.Token)...)
		if got := acctFields(acctWantError(t, res, http.StatusBadRequest, "validation_error")); !slices.Equal(got, fields) {
			t.Errorf("%s: details = %v, want %v", body, got, fields)
		}
	}
	acctWantError(t, g.Do(t, http.MethodPut, "/api/v1/admin/users/"+u.ID, `{"role":`, acctAuth(admin.Token)...),
		http.StatusBadRequest, "bad_request")
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "nope"} {
		acctWantError(t, g.Do(t, http.MethodPut, "/api/v1/admin/users/"+id, map[string]any{"tier": "PRO"}, acctAuth(admin.Token)...),
			http.StatusNotFound, "not_found")
	}
	if n := acctCount(t, g.DB, `SELECT count(*) FROM users WHERE role = 'USER' AND tier = 'BASIC' AND id = $1`, u.ID); n != 1 {
		t.Error("a refused update changed the user")
	}
}

func TestAdminUsers_Put_Deactivate_RevokesTheUsersTokensAndKeys(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")
	u := acctSignUp(t, g, "banned@example.com")
	key := acctSessionWithKey(t, g, u.ID, "banned-session")
	if code := acctKeyStatus(t, g, "X-API-Key", key.Key); code != http.StatusOK {
		t.Fatalf("key before = %d", code)
	}

	res := g.Do(t, http.MethodPut, "/api/v1/admin/users/"+u.ID, map[string]any{"isActive": false}, acctAuth(admin.Token)...)

	if res.Code != http.StatusOK || acctData(t, res)["user"].(map[string]any)["isActive"] != false {
		t.Fatalf("deactivate = %d; body %s", res.Code, res.Body)
	}
	acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...), http.StatusUnauthorized, "unauthorized")
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}),
		http.StatusUnauthorized, "unauthorized")
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": u.Email, "password": acctPassword}),
		http.StatusForbidden, "forbidden")
	acctKeyRefusedWithin(t, g, key.Key, 3*time.Second)

	// Reactivated, the account signs in again (old tokens stay revoked).
	res = g.Do(t, http.MethodPut, "/api/v1/admin/users/"+u.ID, map[string]any{"isActive": true}, acctAuth(admin.Token)...)
	if res.Code != http.StatusOK {
		t.Fatalf("reactivate = %d", res.Code)
	}
	acctLogin(t, g, u.Email, acctPassword)
	acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...), http.StatusUnauthorized, "unauthorized")
}

func TestAdminUsers_CannotDemoteDeactivateOrDeleteThemselves(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")
	self := "/api/v1/admin/users/" + admin.ID

	for _, body := range []map[string]any{{"role": "USER"}, {"isActive": false}, {"role": "USER", "isActive": false}, {"tier": "MAX", "isActive": false}} {
		res := g.Do(t, http.MethodPut, self, body, acctAuth(admin.Token)...)
		acctWantError(t, res, http.StatusConflict, "conflict")
	}
	acctWantError(t, g.Do(t, http.MethodDelete, self, nil, acctAuth(admin.Token)...), http.StatusConflict, "conflict")

	// Harmless changes to oneself are fine.
	res := g.Do(t, http.MethodPut, self, map[string]any{"name": "Root Admin", "role": "ADMINISTRATOR", "isActive": true}, acctAuth(admin.Token)...)
	if res.Code != http.StatusOK {
		t.Errorf("harmless self-update = %d; body %s", res.Code, res.Body)
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/admin/users", nil, acctAuth(admin.Token)...).Code; code != http.StatusOK {
		t.Errorf("the administrator lost access: %d", code)
	}
}

func TestAdminUsers_Delete_CascadesAndRevokesEverything(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	admin := acctAdmin(t, g, "root@admin.test")
	u := acctSignUp(t, g, "doomed@example.com")
	survivor := acctSignUp(t, g, "survivor@example.com")
	key := acctSessionWithKey(t, g, u.ID, "doomed-session")
	keep := acctSessionWithKey(t, g, survivor.ID, "survivor-session")
	acctExec(t, g.DB, `INSERT INTO messages (session_id, direction) VALUES ('doomed-session', 'OUTBOUND')`)
	if code := acctKeyStatus(t, g, "X-API-Key", key.Key); code != http.StatusOK {
		t.Fatalf("key before = %d", code)
	}

	res := g.Do(t, http.MethodDelete, "/api/v1/admin/users/"+u.ID, nil, acctAuth(admin.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("delete = %d; body %s", res.Code, res.Body)
	}
	if acctData(t, res)["userId"] != u.ID {
		t.Errorf("answer = %s", res.Body)
	}
	for table, where := range map[string]string{
		"users": "id = $1", "sessions": "user_id = $1", "refresh_tokens": "user_id = $1",
		"api_keys": "session_id = 'doomed-session' AND $1::uuid IS NOT NULL",
		"messages": "session_id = 'doomed-session' AND $1::uuid IS NOT NULL",
	} {
		if n := acctCount(t, g.DB, `SELECT count(*) FROM `+table+` WHERE `+where, u.ID); n != 0 {
			t.Errorf("%d rows of the deleted user left in %s", n, table)
		}
	}
	acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...), http.StatusUnauthorized, "unauthorized")
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}),
		http.StatusUnauthorized, "unauthorized")
	acctKeyRefusedWithin(t, g, key.Key, 3*time.Second)
	acctWantError(t, g.Do(t, http.MethodDelete, "/api/v1/admin/users/"+u.ID, nil, acctAuth(admin.Token)...), http.StatusNotFound, "not_found")
	acctWantError(t, g.Do(t, http.MethodDelete, "/api/v1/admin/users/not-a-uuid", nil, acctAuth(admin.Token)...), http.StatusNotFound, "not_found")

	// Nobody else lost anything.
	if code := acctKeyStatus(t, g, "X-API-Key", keep.Key); code != http.StatusOK {
		t.Errorf("another user's key = %d, want 200", code)
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(survivor.Token)...).Code; code != http.StatusOK {
		t.Errorf("another user's token = %d, want 200", code)
	}
	var n int
	_ = g.DB.QueryRow(context.Background(), `SELECT count(*) FROM system_logs WHERE message LIKE '%deleted by administrator%'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d system log entries for the deletion, want 1", n)
	}
}
