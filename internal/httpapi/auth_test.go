package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/testenv"
)

// --- register -------------------------------------------------------------------------------

func TestRegister_ValidBody_Returns201WithUserTokensAndNoPasswordHash(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)

	res := g.Do(t, http.MethodPost, "/api/v1/auth/register",
		map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "password": acctPassword})

	if res.Code != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", res.Code, res.Body)
	}
	if raw := strings.ToLower(res.Body.String()); strings.Contains(raw, "password") || strings.Contains(raw, "$2a$") {
		t.Errorf("the answer mentions a password or a bcrypt hash: %s", res.Body)
	}
	data := acctData(t, res)
	for _, key := range []string{"user", "token", "expiresIn", "refreshToken"} {
		if _, ok := data[key]; !ok {
			t.Errorf("data lacks %q: %s", key, res.Body)
		}
	}
	if data["expiresIn"] != "7d" {
		t.Errorf("expiresIn = %v, want 7d", data["expiresIn"])
	}
	if tok, _ := data["token"].(string); strings.Count(tok, ".") != 2 {
		t.Errorf("token %q is not a JWT", tok)
	}
	if rt, _ := data["refreshToken"].(string); len(rt) < 32 {
		t.Errorf("refreshToken %q is too short to be a random token", rt)
	}
	user := data["user"].(map[string]any)
	want := map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "role": "USER", "tier": "BASIC", "isActive": true}
	for k, v := range want {
		if user[k] != v {
			t.Errorf("user.%s = %v, want %v", k, user[k], v)
		}
	}
	if _, err := uuid.Parse(user["id"].(string)); err != nil {
		t.Errorf("user.id %v is not a UUID", user["id"])
	}
	if _, err := time.Parse(time.RFC3339, user["createdAt"].(string)); err != nil {
		t.Errorf("user.createdAt %v is not RFC 3339", user["createdAt"])
	}
	// The token signs the new user in at once.
	if me := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(data["token"].(string))...); me.Code != http.StatusOK {
		t.Errorf("me with the register token = %d, want 200", me.Code)
	}
}

func TestRegister_JWT_IsHS256WithTheSpecClaims(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	before := time.Now().Add(-time.Second)
	u := acctSignUp(t, g, "claims@example.com")

	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(u.Token, &claims, func(*jwt.Token) (any, error) { return []byte(g.Config.JWTSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatalf("the token does not verify with JWT_SECRET as HS256: %v", err)
	}
	if tok.Header["alg"] != "HS256" {
		t.Errorf("alg = %v, want HS256", tok.Header["alg"])
	}
	want := map[string]any{"userId": u.ID, "email": "claims@example.com", "role": "USER", "tier": "BASIC",
		"iss": "whatsapp-gateway-backend"}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if aud, _ := claims.GetAudience(); !slices.Equal(aud, jwt.ClaimStrings{"whatsapp-gateway-users"}) {
		t.Errorf("aud = %v, want whatsapp-gateway-users", aud)
	}
	exp, _ := claims.GetExpirationTime()
	if exp == nil {
		t.Fatal("no exp claim")
	}
	if lifetime := exp.Sub(before); lifetime < 7*24*time.Hour || lifetime > 7*24*time.Hour+time.Minute {
		t.Errorf("exp is %v after the request, want 7 days", lifetime)
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		t.Fatal("no jti claim")
	}
	// Every token has its own jti, or logout would revoke more than one.
	again := acctLogin(t, g, u.Email, u.Password)
	var other jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(again.Token, &other); err != nil {
		t.Fatal(err)
	}
	if other["jti"] == jti {
		t.Errorf("two tokens share jti %s", jti)
	}
}

func TestRegister_EmailTakenInAnotherLetterCase_Returns409AndLoginIgnoresCase(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	acctRegister(t, g, "Foo Bar", "Foo@X.com", acctPassword)

	res := g.Do(t, http.MethodPost, "/api/v1/auth/register",
		map[string]any{"name": "Other Person", "email": "foo@x.COM", "password": "An0ther-Secret"})
	body := acctWantError(t, res, http.StatusConflict, "conflict")
	if fields := acctFields(body); !slices.Equal(fields, []string{"email"}) {
		t.Errorf("conflict details = %v, want [email]", fields)
	}
	if n := acctCount(t, g.DB, `SELECT count(*) FROM users`); n != 1 {
		t.Errorf("%d users, want 1", n)
	}
	for _, email := range []string{"foo@x.com", "FOO@X.COM", "Foo@X.com"} {
		acctLogin(t, g, email, acctPassword)
	}
}

func TestRegister_InvalidBodies_ListEveryFailingField(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	acctRegister(t, g, "Taken Name", "taken@example.com", acctPassword)

	tests := []struct {
		name       string
		body       string
		wantType   string
		wantFields []string
	}{
		{"empty object lists every field", `{}`, "validation_error", []string{"email", "name", "password"}},
		{"empty body lists every field", ``, "validation_error", []string{"email", "name", "password"}},
		{"every field bad", `{"name":"R2-D2","email":"not-an-email","password":"short"}`, "validation_error", []string{"email", "name", "password"}},
		{"number for email names email and the other bad fields", `{"name":"A","email":42,"password":"` + acctPassword + `"}`, "validation_error", []string{"email", "name"}},
		{"number for email alone", `{"name":"Ada Lovelace","email":42,"password":"` + acctPassword + `"}`, "validation_error", []string{"email"}},
		{"object for name", `{"name":{"first":"Ada"},"email":"a@example.com","password":"` + acctPassword + `"}`, "validation_error", []string{"name"}},
		{"null fields are missing", `{"name":null,"email":null,"password":null}`, "validation_error", []string{"email", "name", "password"}},
		{"name with digits", `{"name":"Ada 2","email":"a@example.com","password":"` + acctPassword + `"}`, "validation_error", []string{"name"}},
		{"name of one letter", `{"name":"A","email":"a@example.com","password":"` + acctPassword + `"}`, "validation_error", []string{"name"}},
		{"name of 101 letters", `{"name":"` + strings.Repeat("a", 101) + `","email":"a@example.com","password":"` + acctPassword + `"}`, "validation_error", []string{"name"}},
		{"name of spaces only", `{"name":"    ","email":"a@example.com","password":"` + acctPassword + `"}`, "validation_error", []string{"name"}},
		{"email over 254 characters", `{"name":"Ada Lovelace","email":"` + acctEmailOfLength(255) + `","password":"` + acctPassword + `"}`, "validation_error", []string{"email"}},
		{"password without upper case", `{"name":"Ada Lovelace","email":"a@example.com","password":"lower-case-1"}`, "validation_error", []string{"password"}},
		{"password without a special character", `{"name":"Ada Lovelace","email":"a@example.com","password":"NoSpecial123"}`, "validation_error", []string{"password"}},
		{"common password", `{"name":"Ada Lovelace","email":"a@example.com","password":"P@ssw0rd123"}`, "validation_error", []string{"password"}},
		{"common password in another letter case", `{"name":"Ada Lovelace","email":"a@example.com","password":"WhatsApp@123"}`, "validation_error", []string{"password"}},
		{"not JSON", `{"name":`, "bad_request", nil},
		{"a JSON array", `[1,2]`, "bad_request", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := g.Do(t, http.MethodPost, "/api/v1/auth/register", tc.body)
			body := acctWantError(t, res, http.StatusBadRequest, tc.wantType)
			if tc.wantFields != nil && !slices.Equal(acctFields(body), tc.wantFields) {
				t.Errorf("details fields = %v, want %v; body %s", acctFields(body), tc.wantFields, res.Body)
			}
		})
	}
	if n := acctCount(t, g.DB, `SELECT count(*) FROM users`); n != 1 {
		t.Errorf("%d users after invalid registrations, want 1", n)
	}
}

// acctEmailOfLength builds a syntactically valid email of exactly n characters.
func acctEmailOfLength(n int) string {
	const suffix = "@example.com"
	rest := n - len(suffix)
	// Local parts are at most 64 characters; the remainder goes into DNS labels.
	local := strings.Repeat("l", min(rest, 64))
	rest -= len(local)
	var labels []string
	for rest > 0 {
		size := min(rest-1, 60) // each label costs its length plus a dot
		if size < 1 {
			local = local[:len(local)-1]
			rest++
			continue
		}
		labels = append(labels, strings.Repeat("d", size))
		rest -= size + 1
	}
	domain := strings.Join(append(labels, "example.com"), ".")
	return local + "@" + domain
}

func TestRegister_BoundaryLengths(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	password := func(n int) string { return "Aa1!" + strings.Repeat("x", n-4) }

	tests := []struct {
		name, field         string
		body                map[string]any
		accepted            bool
		loginPassword       string
		loginWithOtherEmail bool
	}{
		{name: "password of 7 characters", field: "password", body: map[string]any{"password": password(7)}},
		{name: "password of 8 characters", body: map[string]any{"password": password(8)}, accepted: true},
		{name: "password of 128 characters", body: map[string]any{"password": password(128)}, accepted: true},
		{name: "password of 129 characters", field: "password", body: map[string]any{"password": password(129)}},
		{name: "name of 2 characters", body: map[string]any{"name": "Al"}, accepted: true},
		{name: "name of 100 characters", body: map[string]any{"name": strings.Repeat("a", 100)}, accepted: true},
		{name: "name of 100 accented letters", body: map[string]any{"name": strings.Repeat("é", 100)}, accepted: true},
		{name: "name of 101 characters", field: "name", body: map[string]any{"name": strings.Repeat("a", 101)}},
		{name: "name with apostrophe, hyphen and dot", body: map[string]any{"name": "Jean-Luc O'Neil Jr."}, accepted: true},
		{name: "email of 254 characters", body: map[string]any{"email": acctEmailOfLength(254)}, accepted: true},
		{name: "email of 255 characters", field: "email", body: map[string]any{"email": acctEmailOfLength(255)}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"name": "Ada Lovelace", "email": "user" + strconv.Itoa(i) + "@example.com", "password": acctPassword}
			for k, v := range tc.body {
				body[k] = v
			}
			res := g.Do(t, http.MethodPost, "/api/v1/auth/register", body)
			if !tc.accepted {
				got := acctWantError(t, res, http.StatusBadRequest, "validation_error")
				if fields := acctFields(got); !slices.Equal(fields, []string{tc.field}) {
					t.Errorf("details = %v, want [%s]", fields, tc.field)
				}
				return
			}
			if res.Code != http.StatusCreated {
				t.Fatalf("status = %d, want 201; body %s", res.Code, res.Body)
			}
			// What was accepted can sign in.
			acctLogin(t, g, body["email"].(string), body["password"].(string))
		})
	}
}

func TestRegister_ExtraFieldsAreIgnored(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)

	res := g.Do(t, http.MethodPost, "/api/v1/auth/register", map[string]any{
		"name": "Ada Lovelace", "email": "extra@example.com", "password": acctPassword,
		"role": "ADMINISTRATOR", "tier": "MAX", "isActive": false, "confirmPassword": acctPassword,
	})

	if res.Code != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", res.Code, res.Body)
	}
	user := acctData(t, res)["user"].(map[string]any)
	if user["role"] != "USER" || user["tier"] != "BASIC" || user["isActive"] != true {
		t.Errorf("extra fields changed the account: %v", user)
	}
}

// --- login and me ---------------------------------------------------------------------------

func TestLogin_UnknownEmailAndWrongPassword_SameAnswer401(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	acctSignUp(t, g, "known@example.com")

	wrong := g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "known@example.com", "password": "Wr0ng-Password"})
	unknown := g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "nobody@example.com", "password": "Wr0ng-Password"})

	a := acctWantError(t, wrong, http.StatusUnauthorized, "unauthorized")
	b := acctWantError(t, unknown, http.StatusUnauthorized, "unauthorized")
	delete(a, "timestamp")
	delete(b, "timestamp")
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("wrong password answers %s, unknown email %s: they must not differ", ja, jb)
	}
}

func TestLogin_Valid_ReturnsTokensAndUpdatesLastLoginAt(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "login@example.com")

	me := acctData(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...))["user"].(map[string]any)
	if me["lastLoginAt"] != nil {
		t.Errorf("lastLoginAt = %v before any login, want null", me["lastLoginAt"])
	}

	res := g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "login@example.com", "password": acctPassword})
	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	if strings.Contains(strings.ToLower(res.Body.String()), "password") {
		t.Errorf("login answer mentions a password: %s", res.Body)
	}
	data := acctData(t, res)
	if data["expiresIn"] != "7d" || data["token"] == "" || data["refreshToken"] == "" {
		t.Errorf("login data = %v", data)
	}
	token := data["token"].(string)

	me = acctData(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(token)...))["user"].(map[string]any)
	last, err := time.Parse(time.RFC3339, me["lastLoginAt"].(string))
	if err != nil || time.Since(last) > time.Minute {
		t.Errorf("lastLoginAt = %v, want about now", me["lastLoginAt"])
	}
}

func TestMe_ReturnsTheSpecFieldsWithActiveSessions(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "me@example.com")
	acctCreateSession(t, g, u.ID, "me-one")
	acctCreateSession(t, g, u.ID, "me-two")
	acctExec(t, g.DB, `UPDATE sessions SET status = 'CONNECTED' WHERE id = 'me-one'`)

	res := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	if strings.Contains(strings.ToLower(res.Body.String()), "password") {
		t.Errorf("me mentions a password: %s", res.Body)
	}
	user := acctData(t, res)["user"].(map[string]any)
	for _, k := range []string{"id", "name", "email", "role", "tier", "isActive", "lastLoginAt", "createdAt", "activeSessions"} {
		if _, ok := user[k]; !ok {
			t.Errorf("user lacks %s: %v", k, user)
		}
	}
	if user["activeSessions"] != float64(1) {
		t.Errorf("activeSessions = %v, want 1 (only CONNECTED sessions)", user["activeSessions"])
	}
}

func TestMe_WithoutOrWithMalformedCredentials_Returns401(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	for _, headers := range [][]string{
		nil,
		{"Authorization", "Bearer"},
		{"Authorization", "Bearer "},
		{"Authorization", "Basic dXNlcjpwYXNz"},
		{"Authorization", "Bearer not.a.jwt"},
		{"Authorization", "Bearer wg_" + strings.Repeat("a", 32)}, // an API key is not a dashboard login
	} {
		res := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, headers...)
		acctWantError(t, res, http.StatusUnauthorized, "unauthorized")
	}
}

// --- logout, refresh ------------------------------------------------------------------------

func TestLogout_RevokesTheTokenAndItsRefreshTokenOnly(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "logout@example.com")
	other := acctLogin(t, g, u.Email, u.Password)

	res := g.Do(t, http.MethodPost, "/api/v1/auth/logout", nil, acctAuth(u.Token)...)
	if res.Code != http.StatusOK {
		t.Fatalf("logout status = %d; body %s", res.Code, res.Body)
	}

	acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...), http.StatusUnauthorized, "unauthorized")
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}),
		http.StatusUnauthorized, "unauthorized")
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/logout", nil, acctAuth(u.Token)...), http.StatusUnauthorized, "unauthorized")
	// Another login of the same user is not affected.
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(other.Token)...).Code; code != http.StatusOK {
		t.Errorf("the other login's token = %d after logout, want 200", code)
	}
	if code := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": other.Refresh}).Code; code != http.StatusOK {
		t.Errorf("the other login's refresh token = %d after logout, want 200", code)
	}
}

func TestLogout_AfterRefresh_RevokesTheRotatedRefreshToken(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "logout-rotated@example.com")
	data := acctData(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}))
	token, refresh := data["token"].(string), data["refreshToken"].(string)

	if code := g.Do(t, http.MethodPost, "/api/v1/auth/logout", nil, acctAuth(token)...).Code; code != http.StatusOK {
		t.Fatalf("logout = %d", code)
	}

	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": refresh}),
		http.StatusUnauthorized, "unauthorized")
}

func TestRefresh_IsSingleUseAndRotated(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "refresh@example.com")

	res := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh})
	if res.Code != http.StatusOK {
		t.Fatalf("refresh = %d; body %s", res.Code, res.Body)
	}
	data := acctData(t, res)
	if len(data) != 3 || data["expiresIn"] != "7d" {
		t.Errorf("refresh data = %v, want exactly {token, expiresIn: 7d, refreshToken}", data)
	}
	token, next := data["token"].(string), data["refreshToken"].(string)
	if next == "" || next == u.Refresh {
		t.Fatalf("refresh token was not rotated: %q", next)
	}
	if token == "" || token == u.Token {
		t.Fatalf("no new JWT: %q", token)
	}
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(token)...).Code; code != http.StatusOK {
		t.Errorf("new token = %d, want 200", code)
	}
	// The rotated token works once more and is rotated again.
	res = g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": next})
	if res.Code != http.StatusOK {
		t.Fatalf("second refresh = %d; body %s", res.Code, res.Body)
	}
	for _, bad := range []string{"", "not-a-token", strings.Repeat("x", 513)} {
		res := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": bad})
		if bad == "" || len(bad) > 512 {
			acctWantError(t, res, http.StatusBadRequest, "validation_error")
			continue
		}
		acctWantError(t, res, http.StatusUnauthorized, "unauthorized")
	}
	// Only hashes are stored.
	if tables := acctTablesContaining(t, g.DB, next); len(tables) > 0 {
		t.Errorf("refresh token stored in clear in %v", tables)
	}
}

func TestRefresh_ReusedToken_RevokesTheWholeLoginFamilyAndItsJWTs(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "reuse@example.com")
	otherLogin := acctLogin(t, g, u.Email, u.Password)

	// The legitimate client rotates R0 into R1 (and T1).
	data := acctData(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}))
	t1, r1 := data["token"].(string), data["refreshToken"].(string)

	// A thief replays R0.
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}),
		http.StatusUnauthorized, "unauthorized")

	// The whole family is revoked: the successor R1 and the JWTs issued along the chain.
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": r1}),
		http.StatusUnauthorized, "unauthorized")
	for name, tok := range map[string]string{"T1 (successor)": t1, "T0 (login)": u.Token} {
		if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(tok)...).Code; code != http.StatusUnauthorized {
			t.Errorf("%s = %d after reuse, want 401", name, code)
		}
	}
	// Another login of the same user is another family.
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(otherLogin.Token)...).Code; code != http.StatusOK {
		t.Errorf("other login's JWT = %d, want 200", code)
	}
	if code := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": otherLogin.Refresh}).Code; code != http.StatusOK {
		t.Errorf("other login's refresh = %d, want 200", code)
	}
	if !strings.Contains(g.Logs.String(), "refresh token reused") {
		t.Error("the reuse was not logged")
	}
}

func TestRefresh_ExpiredRefreshToken_Returns401(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "expired-refresh@example.com")
	acctExec(t, g.DB, `UPDATE refresh_tokens SET expires_at = now() - interval '1 second'`)

	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}),
		http.StatusUnauthorized, "unauthorized")
}

// --- change password, deactivate ------------------------------------------------------------

func TestChangePassword_RevokesOtherTokensAndAnswersWithANewWorkingToken(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "change@example.com")
	older := acctLogin(t, g, u.Email, u.Password)
	const newPassword = "N3w-Passphrase!"

	res := g.Do(t, http.MethodPost, "/api/v1/auth/change-password",
		map[string]any{"currentPassword": acctPassword, "newPassword": newPassword}, acctAuth(u.Token)...)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", res.Code, res.Body)
	}
	fresh := acctFromAuth(t, res, newPassword)
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(fresh.Token)...).Code; code != http.StatusOK {
		t.Errorf("the new token = %d, want 200", code)
	}
	for name, tok := range map[string]string{"caller's old token": u.Token, "older token": older.Token} {
		if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(tok)...).Code; code != http.StatusUnauthorized {
			t.Errorf("%s = %d, want 401", name, code)
		}
	}
	for name, rt := range map[string]string{"caller's old refresh": u.Refresh, "older refresh": older.Refresh} {
		if code := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": rt}).Code; code != http.StatusUnauthorized {
			t.Errorf("%s = %d, want 401", name, code)
		}
	}
	if code := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": fresh.Refresh}).Code; code != http.StatusOK {
		t.Errorf("the new refresh token = %d, want 200", code)
	}
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": u.Email, "password": acctPassword}),
		http.StatusUnauthorized, "unauthorized")
	acctLogin(t, g, u.Email, newPassword)
}

func TestChangePassword_InvalidRequests(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "change-bad@example.com")

	tests := []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"missing both", map[string]any{}, []string{"currentPassword", "newPassword"}},
		{"wrong current password", map[string]any{"currentPassword": "Wr0ng-Password", "newPassword": "N3w-Passphrase!"}, []string{"currentPassword"}},
		{"new equals current", map[string]any{"currentPassword": acctPassword, "newPassword": acctPassword}, []string{"newPassword"}},
		{"weak new password", map[string]any{"currentPassword": acctPassword, "newPassword": "weakweak"}, []string{"newPassword"}},
		{"common new password", map[string]any{"currentPassword": acctPassword, "newPassword": "Welcome@123"}, []string{"newPassword"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := g.Do(t, http.MethodPost, "/api/v1/auth/change-password", tc.body, acctAuth(u.Token)...)
			body := acctWantError(t, res, http.StatusBadRequest, "validation_error")
			if got := acctFields(body); !slices.Equal(got, tc.fields) {
				t.Errorf("details = %v, want %v", got, tc.fields)
			}
		})
	}
	// Nothing changed.
	acctLogin(t, g, u.Email, acctPassword)
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/change-password",
		map[string]any{"currentPassword": acctPassword, "newPassword": "N3w-Passphrase!"}), http.StatusUnauthorized, "unauthorized")
}

func TestDeactivate_RevokesEverythingAndLoginIs403OnlyWithTheRightPassword(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/api/v1/auth/deactivate", "/api/v1/users/deactivate"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			g := acctGateway(t, nil)
			u := acctSignUp(t, g, "off@example.com")
			older := acctLogin(t, g, u.Email, u.Password)
			acctExec(t, g.DB, `INSERT INTO workers (id, endpoint) VALUES ('worker-1', 'http://127.0.0.1:1')`)
			key := acctSessionWithKey(t, g, u.ID, "off-session")
			acctExec(t, g.DB, `UPDATE sessions SET status = 'CONNECTED', worker_id = 'worker-1' WHERE id = 'off-session'`)
			if code := acctKeyStatus(t, g, "X-API-Key", key.Key); code != http.StatusOK {
				t.Fatalf("key before deactivation = %d", code)
			}

			wrong := g.Do(t, http.MethodPost, path, map[string]any{"password": "Wr0ng-Password"}, acctAuth(u.Token)...)
			if got := acctFields(acctWantError(t, wrong, http.StatusBadRequest, "validation_error")); !slices.Equal(got, []string{"password"}) {
				t.Errorf("wrong password details = %v, want [password]", got)
			}
			res := g.Do(t, http.MethodPost, path, map[string]any{"password": acctPassword}, acctAuth(u.Token)...)
			if res.Code != http.StatusOK {
				t.Fatalf("deactivate = %d; body %s", res.Code, res.Body)
			}

			for name, tok := range map[string]string{"own token": u.Token, "other token": older.Token} {
				if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(tok)...).Code; code != http.StatusUnauthorized {
					t.Errorf("%s = %d, want 401", name, code)
				}
			}
			if code := g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": older.Refresh}).Code; code != http.StatusUnauthorized {
				t.Errorf("refresh = %d, want 401", code)
			}
			acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": u.Email, "password": acctPassword}),
				http.StatusForbidden, "forbidden")
			acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": u.Email, "password": "Wr0ng-Password"}),
				http.StatusUnauthorized, "unauthorized")
			acctKeyRefusedWithin(t, g, key.Key, 3*time.Second)

			var status string
			var worker *string
			if err := g.DB.QueryRow(t.Context(), `SELECT status, worker_id FROM sessions WHERE id = 'off-session'`).Scan(&status, &worker); err != nil {
				t.Fatal(err)
			}
			if status != "DISCONNECTED" || worker != nil {
				t.Errorf("session status %s on worker %v, want DISCONNECTED and released", status, worker)
			}
		})
	}
}

// --- JWT attacks ----------------------------------------------------------------------------

func acctClaims(u acctUser) *auth.Claims {
	now := time.Now()
	return &auth.Claims{
		UserID: u.ID, Email: u.Email, Role: model.RoleUser, Tier: model.TierBasic,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: auth.Issuer, Subject: u.ID, Audience: jwt.ClaimStrings{auth.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString(),
		},
	}
}

func acctSign(t *testing.T, method jwt.SigningMethod, secret string, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// acctUnsigned builds an alg "none" token by hand (golang-jwt refuses to make one casually).
func acctUnsigned(t *testing.T, alg string, claims jwt.Claims) string {
	t.Helper()
	header, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(header) + "." + enc(payload) + "."
}

func TestJWT_ForgedExpiredOrRevokedTokens_AreAll401(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	secret := g.Config.JWTSecret
	u := acctSignUp(t, g, "victim@example.com")

	// The control: a token minted by hand like the gateway's own is accepted, so each refusal
	// below is caused by the one thing that case changes.
	if code := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(acctSign(t, jwt.SigningMethodHS256, secret, acctClaims(u)))...).Code; code != http.StatusOK {
		t.Fatalf("hand-made valid token = %d, want 200", code)
	}

	with := func(change func(c *auth.Claims)) *auth.Claims {
		c := acctClaims(u)
		change(c)
		return c
	}
	loggedOut := acctLogin(t, g, u.Email, u.Password)
	if code := g.Do(t, http.MethodPost, "/api/v1/auth/logout", nil, acctAuth(loggedOut.Token)...).Code; code != http.StatusOK {
		t.Fatalf("logout = %d", code)
	}

	tests := map[string]string{
		"signed with another secret":  acctSign(t, jwt.SigningMethodHS256, "another-secret-of-at-least-32-bytes!", acctClaims(u)),
		"alg none":                    acctUnsigned(t, "none", acctClaims(u)),
		"alg None":                    acctUnsigned(t, "None", acctClaims(u)),
		"HS512 with the right secret": acctSign(t, jwt.SigningMethodHS512, secret, acctClaims(u)),
		"expired": acctSign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Minute))
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		})),
		"without exp": acctSign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.ExpiresAt = nil })),
		"wrong audience": acctSign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) {
			c.Audience = jwt.ClaimStrings{"someone-else"}
		})),
		"wrong issuer":      acctSign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.Issuer = "evil" })),
		"without jti":       acctSign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.ID = "" })),
		"old token version": acctSign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.TokenVersion = 7 })),
		"unknown user": acctSign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) {
			c.UserID = uuid.NewString()
		})),
		"user id not a UUID": acctSign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.UserID = "1 OR 1=1" })),
		"after logout":       loggedOut.Token,
		"signature stripped": strings.Join(strings.Split(u.Token, ".")[:2], ".") + ".",
		"payload swapped": func() string {
			parts := strings.Split(u.Token, ".")
			forged := strings.Split(acctSign(t, jwt.SigningMethodHS256, "x", with(func(c *auth.Claims) { c.Role = model.RoleAdministrator })), ".")
			return parts[0] + "." + forged[1] + "." + parts[2]
		}(),
	}
	for name, token := range tests {
		t.Run(name, func(t *testing.T) {
			res := g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(token)...)
			acctWantError(t, res, http.StatusUnauthorized, "unauthorized")
		})
	}
}

func TestJWT_OfADeletedOrDeactivatedUser_Is401(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	deleted := acctSignUp(t, g, "deleted@example.com")
	inactive := acctSignUp(t, g, "inactive@example.com")

	acctExec(t, g.DB, `DELETE FROM users WHERE id = $1`, deleted.ID)
	acctExec(t, g.DB, `UPDATE users SET is_active = false WHERE id = $1`, inactive.ID)

	for _, u := range []acctUser{deleted, inactive} {
		acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...), http.StatusUnauthorized, "unauthorized")
		acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}),
			http.StatusUnauthorized, "unauthorized")
	}
}

// --- guessing limits ------------------------------------------------------------------------

func acctLimitedGateway(t *testing.T) *testenv.Gateway {
	t.Helper()
	return acctGateway(t, map[string]string{"AUTH_RATE_LIMIT_PER_MINUTE": "3"})
}

func acctWant429(t *testing.T, res testenv.Response) {
	t.Helper()
	acctWantError(t, res, http.StatusTooManyRequests, "rate_limited")
	retry, err := strconv.Atoi(res.Header().Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds", res.Header().Get("Retry-After"))
	}
}

func TestAuthRateLimit_FourthLoginFromOneIP_Returns429(t *testing.T) {
	t.Parallel()
	tests := map[string]func(i int) string{
		"same email":       func(int) string { return "same@example.com" },
		"different emails": func(i int) string { return "user" + strconv.Itoa(i) + "@example.com" },
	}
	for name, email := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := acctLimitedGateway(t)
			for i := range 3 {
				res := acctDoFrom(t, g, "198.51.100.7", http.MethodPost, "/api/v1/auth/login",
					`{"email":"`+email(i)+`","password":"Wr0ng-Password"}`)
				acctWantError(t, res, http.StatusUnauthorized, "unauthorized")
			}
			acctWant429(t, acctDoFrom(t, g, "198.51.100.7", http.MethodPost, "/api/v1/auth/login",
				`{"email":"`+email(3)+`","password":"Wr0ng-Password"}`))
			// Another IP with another email is not limited.
			res := acctDoFrom(t, g, "198.51.100.8", http.MethodPost, "/api/v1/auth/login",
				`{"email":"fresh@example.com","password":"Wr0ng-Password"}`)
			acctWantError(t, res, http.StatusUnauthorized, "unauthorized")
		})
	}
}

func TestAuthRateLimit_OneEmailFromManyIPs_Returns429EvenWithTheRightPassword(t *testing.T) {
	t.Parallel()
	g := acctLimitedGateway(t)
	// Registering counts on the register route only.
	acctDoFrom(t, g, "192.0.2.200", http.MethodPost, "/api/v1/auth/register",
		`{"name":"Target User","email":"target@example.com","password":"`+acctPassword+`"}`)

	for i := range 3 {
		res := acctDoFrom(t, g, "203.0.113."+strconv.Itoa(i+1), http.MethodPost, "/api/v1/auth/login",
			`{"email":"target@example.com","password":"Wr0ng-Password"}`)
		acctWantError(t, res, http.StatusUnauthorized, "unauthorized")
	}
	// The email is counted case-insensitively, and the limit comes before the password check.
	acctWant429(t, acctDoFrom(t, g, "203.0.113.99", http.MethodPost, "/api/v1/auth/login",
		`{"email":"TARGET@example.com","password":"`+acctPassword+`"}`))
}

func TestAuthRateLimit_AppliesToRegisterRefreshAndForgotPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		body func(i int) string
	}{
		{"/api/v1/auth/register", func(i int) string {
			return `{"name":"Some User","email":"reg` + strconv.Itoa(i) + `@example.com","password":"` + acctPassword + `"}`
		}},
		{"/api/v1/auth/refresh", func(i int) string { return `{"refreshToken":"guess-` + strconv.Itoa(i) + `"}` }},
		{"/api/v1/auth/forgot-password", func(i int) string { return `{"email":"f` + strconv.Itoa(i) + `@example.com"}` }},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			g := acctLimitedGateway(t)
			for i := range 3 {
				if res := acctDoFrom(t, g, "198.51.100.20", http.MethodPost, tc.path, tc.body(i)); res.Code == http.StatusTooManyRequests {
					t.Fatalf("request %d limited too early", i+1)
				}
			}
			acctWant429(t, acctDoFrom(t, g, "198.51.100.20", http.MethodPost, tc.path, tc.body(3)))
		})
	}
	t.Run("forgot-password per email", func(t *testing.T) {
		t.Parallel()
		g := acctLimitedGateway(t)
		for i := range 3 {
			acctDoFrom(t, g, "198.51.100."+strconv.Itoa(30+i), http.MethodPost, "/api/v1/auth/forgot-password", `{"email":"one@example.com"}`)
		}
		acctWant429(t, acctDoFrom(t, g, "198.51.100.99", http.MethodPost, "/api/v1/auth/forgot-password", `{"email":"one@example.com"}`))
	})
}

func TestAuthRateLimit_IsSharedByReplicas(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AUTH_RATE_LIMIT_PER_MINUTE": "3"}
	first := testenv.NewGateway(t, testenv.Options{Env: env})
	second := testenv.NewGateway(t, testenv.Options{Env: env, DatabaseURL: first.DatabaseURL, KeyPrefix: first.KeyPrefix})

	for i, g := range []*testenv.Gateway{first, second, first} {
		res := acctDoFrom(t, g, "198.51.100.40", http.MethodPost, "/api/v1/auth/login",
			`{"email":"r`+strconv.Itoa(i)+`@example.com","password":"Wr0ng-Password"}`)
		acctWantError(t, res, http.StatusUnauthorized, "unauthorized")
	}
	acctWant429(t, acctDoFrom(t, second, "198.51.100.40", http.MethodPost, "/api/v1/auth/login",
		`{"email":"r9@example.com","password":"Wr0ng-Password"}`))
}

// --- password reset -------------------------------------------------------------------------

var acctResetLink = regexp.MustCompile(`reset-password\?token=([A-Za-z0-9_-]+)`)

// acctResetTokens returns every reset token the log mailer has written so far.
func acctResetTokens(g *testenv.Gateway) []string {
	var tokens []string
	for _, m := range acctResetLink.FindAllStringSubmatch(g.Logs.String(), -1) {
		tokens = append(tokens, m[1])
	}
	return tokens
}

func TestForgotPassword_UnknownOrInactiveEmail_Returns200AndSendsNothing(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "inactive-reset@example.com")
	acctExec(t, g.DB, `UPDATE users SET is_active = false WHERE id = $1`, u.ID)

	for _, email := range []string{"nobody@example.com", u.Email} {
		res := g.Do(t, http.MethodPost, "/api/v1/auth/forgot-password", map[string]any{"email": email})
		if res.Code != http.StatusOK {
			t.Fatalf("%s: status = %d; body %s", email, res.Code, res.Body)
		}
	}

	if tokens := acctResetTokens(g); len(tokens) > 0 {
		t.Errorf("a reset link was sent: %v", tokens)
	}
	if strings.Contains(g.Logs.String(), "logged instead of sent") {
		t.Error("an email was handed to the mailer")
	}
	if n := acctCount(t, g.DB, `SELECT count(*) FROM password_resets`); n != 0 {
		t.Errorf("%d reset tokens created, want 0", n)
	}
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/forgot-password", map[string]any{"email": "nope"}),
		http.StatusBadRequest, "validation_error")
}

func TestResetPassword_TokenFromTheLogMailer_WorksOnceAndReplacesThePassword(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "reset@example.com")

	// Same answer as for an unknown email, in any letter case.
	res := g.Do(t, http.MethodPost, "/api/v1/auth/forgot-password", map[string]any{"email": "RESET@example.com"})
	if res.Code != http.StatusOK {
		t.Fatalf("forgot-password = %d; body %s", res.Code, res.Body)
	}
	tokens := acctResetTokens(g)
	if len(tokens) != 1 {
		t.Fatalf("want one reset link in the log, found %v", tokens)
	}
	token := tokens[0]
	if tables := acctTablesContaining(t, g.DB, token); len(tables) > 0 {
		t.Errorf("the reset token is stored in clear in %v", tables)
	}

	const newPassword = "Fr3sh-Start!x"
	res = g.Do(t, http.MethodPost, "/api/v1/auth/reset-password", map[string]any{"token": token, "newPassword": newPassword})
	if res.Code != http.StatusOK {
		t.Fatalf("reset-password = %d; body %s", res.Code, res.Body)
	}

	again := g.Do(t, http.MethodPost, "/api/v1/auth/reset-password", map[string]any{"token": token, "newPassword": "An0ther-Pass!"})
	if got := acctFields(acctWantError(t, again, http.StatusBadRequest, "validation_error")); !slices.Equal(got, []string{"token"}) {
		t.Errorf("second use details = %v, want [token]", got)
	}
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": u.Email, "password": acctPassword}),
		http.StatusUnauthorized, "unauthorized")
	acctLogin(t, g, u.Email, newPassword)
	// Every earlier token is revoked.
	acctWantError(t, g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(u.Token)...), http.StatusUnauthorized, "unauthorized")
	acctWantError(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}),
		http.StatusUnauthorized, "unauthorized")
}

func TestResetPassword_ExpiredUnknownOrWeak_IsRefused(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "expired-reset@example.com")
	if code := g.Do(t, http.MethodPost, "/api/v1/auth/forgot-password", map[string]any{"email": u.Email}).Code; code != http.StatusOK {
		t.Fatalf("forgot-password = %d", code)
	}
	token := acctResetTokens(g)[0]
	acctExec(t, g.DB, `UPDATE password_resets SET expires_at = now() - interval '1 minute'`)

	tests := []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"expired token", map[string]any{"token": token, "newPassword": "Fr3sh-Start!x"}, []string{"token"}},
		{"unknown token", map[string]any{"token": "bm90LWEtdG9rZW4", "newPassword": "Fr3sh-Start!x"}, []string{"token"}},
		{"missing fields", map[string]any{}, []string{"newPassword", "token"}},
		{"weak password", map[string]any{"token": token, "newPassword": "weak"}, []string{"newPassword"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := g.Do(t, http.MethodPost, "/api/v1/auth/reset-password", tc.body)
			if got := acctFields(acctWantError(t, res, http.StatusBadRequest, "validation_error")); !slices.Equal(got, tc.fields) {
				t.Errorf("details = %v, want %v", got, tc.fields)
			}
		})
	}
	acctLogin(t, g, u.Email, acctPassword)
}

// --- secrets --------------------------------------------------------------------------------

func TestAuth_SecretsAreNeverLogged(t *testing.T) {
	t.Parallel()
	g := acctGateway(t, nil)
	u := acctSignUp(t, g, "quiet@example.com")
	data := acctData(t, g.Do(t, http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refreshToken": u.Refresh}))
	g.Do(t, http.MethodGet, "/api/v1/auth/me", nil, acctAuth(data["token"].(string))...)
	g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": u.Email, "password": "Wr0ng-Password"})
	key := acctSessionWithKey(t, g, u.ID, "quiet-session")
	acctKeyStatus(t, g, "Authorization", key.Key)

	logs := g.Logs.String()
	if !strings.Contains(logs, `"path":"/api/v1/auth/me"`) {
		t.Fatalf("no access log captured: %s", logs)
	}
	// The access lines name who called, never with the credential.
	for _, who := range []string{`"principal":"user:` + u.ID + `"`, `"principal":"apikey:`} {
		if !strings.Contains(logs, who) {
			t.Errorf("no access line names %s:\n%s", who, logs)
		}
	}
	secrets := map[string]string{
		"JWT": u.Token, "refresh token": u.Refresh, "rotated JWT": data["token"].(string),
		"rotated refresh token": data["refreshToken"].(string), "password": acctPassword,
		"wrong password": "Wr0ng-Password", "API key": key.Key,
	}
	for name, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s was logged", name)
		}
	}
	if tables := acctTablesContaining(t, g.DB, acctPassword); len(tables) > 0 {
		t.Errorf("the password is stored in clear in %v", tables)
	}
}
