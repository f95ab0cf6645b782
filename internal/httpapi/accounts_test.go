package httpapi_test

// Helpers shared by the accounts tests (auth, users, admin users, API keys and their fuzz
// targets). Every name starts with acct so that it cannot collide with the helpers of the
// other test files of this package.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// acctPassword meets every password rule and is not a common password.
const acctPassword = "Corr3ct-Horse!"

// acctGateway is a gateway whose auth guessing limit is out of the way; tests of the limit
// pass AUTH_RATE_LIMIT_PER_MINUTE themselves.
func acctGateway(t testing.TB, env map[string]string) *testenv.Gateway {
	t.Helper()
	merged := map[string]string{"AUTH_RATE_LIMIT_PER_MINUTE": "100000"}
	maps.Copy(merged, env)
	return testenv.NewGateway(t, testenv.Options{Env: merged})
}

// acctUser is a signed-in account.
type acctUser struct {
	ID, Name, Email, Password string
	Token, Refresh            string
}

func acctAuth(token string) []string { return []string{"Authorization", "Bearer " + token} }

// acctRegister registers an account and fails the test unless it gets 201.
func acctRegister(t testing.TB, g *testenv.Gateway, name, email, password string) acctUser {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/auth/register",
		map[string]any{"name": name, "email": email, "password": password})
	if res.Code != http.StatusCreated {
		t.Fatalf("register %s: status %d, body %s", email, res.Code, res.Body)
	}
	return acctFromAuth(t, res, password)
}

// acctSignUp registers "Test User" with email and acctPassword.
func acctSignUp(t testing.TB, g *testenv.Gateway, email string) acctUser {
	t.Helper()
	return acctRegister(t, g, "Test User", email, acctPassword)
}

// acctLogin signs in and fails the test unless it gets 200.
func acctLogin(t testing.TB, g *testenv.Gateway, email, password string) acctUser {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": email, "password": password})
	if res.Code != http.StatusOK {
		t.Fatalf("login %s: status %d, body %s", email, res.Code, res.Body)
	}
	return acctFromAuth(t, res, password)
}

func acctFromAuth(t testing.TB, res testenv.Response, password string) acctUser {
	t.Helper()
	data := acctData(t, res)
	user, _ := data["user"].(map[string]any)
	u := acctUser{Password: password}
	u.ID, _ = user["id"].(string)
	u.Name, _ = user["name"].(string)
	u.Email, _ = user["email"].(string)
	u.Token, _ = data["token"].(string)
	u.Refresh, _ = data["refreshToken"].(string)
	if u.ID == "" || u.Token == "" || u.Refresh == "" {
		t.Fatalf("auth answer lacks user.id, token or refreshToken: %s", res.Body)
	}
	return u
}

// acctData checks a success envelope and returns its data object.
func acctData(t testing.TB, res testenv.Response) map[string]any {
	t.Helper()
	body := res.JSON(t)
	if body["success"] != true {
		t.Fatalf("success = %v, want true; status %d, body %s", body["success"], res.Code, res.Body)
	}
	data, ok := body["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is not an object: %s", res.Body)
	}
	return data
}

// acctWantError checks that res is the error envelope of status and type, and returns it.
func acctWantError(t testing.TB, res testenv.Response, status int, typ string) map[string]any {
	t.Helper()
	if res.Code != status {
		t.Fatalf("status = %d, want %d; body %s", res.Code, status, res.Body)
	}
	body := res.JSON(t)
	if err := acctCheckErrorEnvelope(body); err != nil {
		t.Fatalf("%v: %s", err, res.Body)
	}
	if body["type"] != typ {
		t.Fatalf("type = %v, want %s; body %s", body["type"], typ, res.Body)
	}
	return body
}

// acctCheckErrorEnvelope reports what is wrong with an error envelope, if anything.
func acctCheckErrorEnvelope(body map[string]any) error {
	if body["success"] != false {
		return fmt.Errorf("success = %v, want false", body["success"])
	}
	msg, _ := body["message"].(string)
	if msg == "" || body["error"] != msg {
		return fmt.Errorf("error %q and message %q must be the same non-empty text", body["error"], body["message"])
	}
	ts, _ := body["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return fmt.Errorf("timestamp %q is not RFC 3339", ts)
	}
	if typ, _ := body["type"].(string); typ == "" {
		return fmt.Errorf("type is missing")
	}
	if body["type"] == "validation_error" {
		details, _ := body["details"].([]any)
		if len(details) == 0 {
			return fmt.Errorf("a validation error must list its details")
		}
		for _, d := range details {
			m, _ := d.(map[string]any)
			if f, _ := m["field"].(string); f == "" {
				return fmt.Errorf("detail %v names no field", d)
			}
			if s, _ := m["message"].(string); s == "" {
				return fmt.Errorf("detail %v has no message", d)
			}
		}
	}
	return nil
}

// acctFields returns the field names of an error envelope's details, sorted.
func acctFields(body map[string]any) []string {
	var fields []string
	details, _ := body["details"].([]any)
	for _, d := range details {
		if m, ok := d.(map[string]any); ok {
			f, _ := m["field"].(string)
			fields = append(fields, f)
		}
	}
	slices.Sort(fields)
	return fields
}

// acctExec runs one SQL statement against the gateway's database.
func acctExec(t testing.TB, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// acctCount runs a count query.
func acctCount(t testing.TB, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return n
}

// acctPromote makes a user an ADMINISTRATOR (there is no route for the first one).
func acctPromote(t testing.TB, g *testenv.Gateway, userID string) {
	t.Helper()
	acctExec(t, g.DB, `UPDATE users SET role = 'ADMINISTRATOR' WHERE id = $1`, userID)
}

// acctCreateSession inserts a session of a user (there is no create route yet).
func acctCreateSession(t testing.TB, g *testenv.Gateway, userID, sessionID string) {
	t.Helper()
	acctExec(t, g.DB, `INSERT INTO sessions (id, user_id, name) VALUES ($1, $2, $3)`, sessionID, userID, "Session "+sessionID)
}

// acctAPIKeys builds the API key service the way the gateway does from its configuration.
func acctAPIKeys(t testing.TB, g *testenv.Gateway) *service.APIKeys {
	t.Helper()
	keys := &service.APIKeys{DB: g.DB, Logger: g.Logger}
	if g.Config.APIKeyReveal {
		sealer, err := auth.NewKeySealer(g.Config.APIKeyEncryptionKey)
		if err != nil {
			t.Fatalf("key sealer: %v", err)
		}
		keys.Sealer = sealer
	}
	return keys
}

// acctIssueKey creates (or replaces) the API key of a session and returns it.
func acctIssueKey(t testing.TB, g *testenv.Gateway, sessionID string) service.IssuedKey {
	t.Helper()
	issued, err := acctAPIKeys(t, g).Issue(context.Background(), g.DB, sessionID)
	if err != nil {
		t.Fatalf("issue api key of %s: %v", sessionID, err)
	}
	return issued
}

// acctSessionWithKey creates a session of userID with an API key and returns the key.
func acctSessionWithKey(t testing.TB, g *testenv.Gateway, userID, sessionID string) service.IssuedKey {
	t.Helper()
	acctCreateSession(t, g, userID, sessionID)
	return acctIssueKey(t, g, sessionID)
}

// acctKeyStatus authenticates with an API key through the Messaging API and returns the
// status; header is "X-API-Key" or "Authorization" (then the key is sent as a Bearer token).
func acctKeyStatus(t testing.TB, g *testenv.Gateway, header, key string) int {
	t.Helper()
	value := key
	if header == "Authorization" {
		value = "Bearer " + key
	}
	return g.Do(t, http.MethodGet, "/api/v1/session/status", nil, header, value).Code
}

// acctEventually polls cond until it holds or the deadline passes.
func acctEventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// acctKeyRefusedWithin polls the Messaging API until key is refused with 401.
func acctKeyRefusedWithin(t testing.TB, g *testenv.Gateway, key string, within time.Duration) {
	t.Helper()
	acctEventually(t, within, "api key refused with 401", func() bool {
		return acctKeyStatus(t, g, "X-API-Key", key) == http.StatusUnauthorized
	})
}

// acctTablesContaining lists the tables with a row whose text form contains needle.
func acctTablesContaining(t testing.TB, db *pgxpool.Pool, needle string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatalf("list tables: %v", err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) == 0 {
		t.Fatal("no tables found")
	}
	var found []string
	for _, table := range tables {
		var hit bool
		q := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM public.%q t WHERE strpos(t::text, $1) > 0)`, table)
		if err := db.QueryRow(ctx, q, needle).Scan(&hit); err != nil {
			t.Fatalf("search %s: %v", table, err)
		}
		if hit {
			found = append(found, table)
		}
	}
	return found
}

// acctDoFrom sends a request from a client IP of the test's choosing (g.Do uses a fixed one).
func acctDoFrom(t testing.TB, g *testenv.Gateway, ip, method, path, body string) testenv.Response {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), method, path, strings.NewReader(body))
	req.RemoteAddr = ip + ":40000"
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	g.Handler.ServeHTTP(rec, req)
	return testenv.Response{ResponseRecorder: rec}
}

// acctMintToken signs a valid JWT for the user's current state, as a login would.
func acctMintToken(t testing.TB, g *testenv.Gateway, userID string) string {
	t.Helper()
	user, err := store.GetUser(context.Background(), g.DB, userID)
	if err != nil {
		t.Fatalf("load user %s: %v", userID, err)
	}
	issued, err := auth.NewJWTs(g.Config.JWTSecret, g.Config.JWTExpiresIn).Issue(user, time.Now())
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	return issued.Token
}
