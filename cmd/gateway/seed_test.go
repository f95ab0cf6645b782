package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

const seedAdminPassword = "Seed-Admin-Passw0rd!"

// seedEnv is the environment of a seed run against databaseURL.
func seedEnv(databaseURL string, vars map[string]string) func(string) string {
	env := map[string]string{
		"APP_ENV":       "test",
		"BCRYPT_ROUNDS": "4",
		"DATABASE_URL":  databaseURL,
		"REDIS_URL":     testenv.RedisURL(),
	}
	for k, v := range vars {
		env[k] = v
	}
	return func(name string) string { return env[name] }
}

// runSeed runs `gateway seed` and returns what it printed.
func runSeed(t *testing.T, getenv func(string) string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), []string{"seed"}, getenv, &out)
	return out.String(), err
}

func seedLogin(t *testing.T, g *testenv.Gateway, email, password string) (int, map[string]any) {
	t.Helper()
	res := g.Do(t, http.MethodPost, "/api/v1/auth/login", map[string]any{"email": email, "password": password})
	if res.Code != http.StatusOK {
		return res.Code, nil
	}
	data, _ := res.JSON(t)["data"].(map[string]any)
	user, _ := data["user"].(map[string]any)
	return res.Code, user
}

func seedCount(t *testing.T, g *testenv.Gateway, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := g.DB.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSeed_CreatesAnAdministratorWhoCanLogInAndIsIdempotent(t *testing.T) {
	t.Parallel()
	databaseURL := testenv.NewDatabaseURL(t)
	getenv := seedEnv(databaseURL, map[string]string{"ADMIN_EMAIL": "Root@Example.com", "ADMIN_PASSWORD": seedAdminPassword})

	out, err := runSeed(t, getenv)
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "created administrator Root@Example.com (password from ADMIN_PASSWORD)") {
		t.Errorf("output = %q", out)
	}
	if strings.Contains(out, seedAdminPassword) {
		t.Error("the seed printed ADMIN_PASSWORD")
	}

	g := testenv.NewGateway(t, testenv.Options{DatabaseURL: databaseURL})
	code, user := seedLogin(t, g, "root@example.com", seedAdminPassword)
	if code != http.StatusOK || user["role"] != "ADMINISTRATOR" {
		t.Fatalf("admin login = %d, user %v", code, user)
	}
	users := seedCount(t, g, `SELECT count(*) FROM users`)

	out, err = runSeed(t, getenv)
	if err != nil {
		t.Fatalf("second seed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "administrator Root@Example.com already exists; left unchanged") {
		t.Errorf("second output = %q", out)
	}
	if again := seedCount(t, g, `SELECT count(*) FROM users`); again != users {
		t.Errorf("%d users after the second seed, want %d", again, users)
	}
	if n := seedCount(t, g, `SELECT count(*) FROM users WHERE role = 'ADMINISTRATOR'`); n != 1 {
		t.Errorf("%d administrators, want 1", n)
	}
	if code, _ := seedLogin(t, g, "root@example.com", seedAdminPassword); code != http.StatusOK {
		t.Errorf("admin login after the second seed = %d", code)
	}
}

func TestSeed_OutsideProduction_AlsoCreatesADemoUserAndPrintsItsPassword(t *testing.T) {
	t.Parallel()
	databaseURL := testenv.NewDatabaseURL(t)

	out, err := runSeed(t, seedEnv(databaseURL, nil))
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}

	g := testenv.NewGateway(t, testenv.Options{DatabaseURL: databaseURL})
	for _, email := range []string{"admin@example.com", "demo@example.com"} {
		prefix := "created administrator " + email + " with password "
		if email == "demo@example.com" {
			prefix = "created user " + email + " with password "
		}
		_, rest, ok := strings.Cut(out, prefix)
		if !ok {
			t.Fatalf("output lacks %q: %q", prefix, out)
		}
		password, _, _ := strings.Cut(rest, "\n")
		if code, _ := seedLogin(t, g, email, password); code != http.StatusOK {
			t.Errorf("%s cannot log in with the printed password: %d", email, code)
		}
	}
	if strings.Contains(g.Logs.String(), "with password") {
		t.Error("the generated password went to the log")
	}
}

func TestSeed_InProductionWithoutAdminCredentials_Errors(t *testing.T) {
	t.Parallel()
	databaseURL := testenv.NewDatabaseURL(t)
	production := map[string]string{
		"APP_ENV":           "production",
		"JWT_SECRET":        "production-jwt-secret-0123456789abcdef",
		"WORKER_AUTH_TOKEN": "production-worker-token-0123456789abcdef",
		"API_KEY_REVEAL":    "false",
		"CORS_ORIGIN":       "https://app.example.com",
	}
	tests := map[string]map[string]string{
		"neither":           {},
		"no ADMIN_PASSWORD": {"ADMIN_EMAIL": "root@example.com"},
		"no ADMIN_EMAIL":    {"ADMIN_PASSWORD": seedAdminPassword},
	}
	for name, admin := range tests {
		vars := map[string]string{}
		for k, v := range production {
			vars[k] = v
		}
		for k, v := range admin {
			vars[k] = v
		}
		out, err := runSeed(t, seedEnv(databaseURL, vars))
		if err == nil || !strings.Contains(err.Error(), "ADMIN_EMAIL and ADMIN_PASSWORD") {
			t.Errorf("%s: err = %v, want one naming ADMIN_EMAIL and ADMIN_PASSWORD (output %q)", name, err, out)
		}
	}
	g := testenv.NewGateway(t, testenv.Options{DatabaseURL: databaseURL})
	if n := seedCount(t, g, `SELECT count(*) FROM users`); n != 0 {
		t.Errorf("%d users created by failed seeds", n)
	}
}

func TestSeed_ShortAdminPassword_Errors(t *testing.T) {
	t.Parallel()
	databaseURL := testenv.NewDatabaseURL(t)
	_, err := runSeed(t, seedEnv(databaseURL, map[string]string{"ADMIN_EMAIL": "root@example.com", "ADMIN_PASSWORD": "Sh0rt!pass"}))
	if err == nil || !strings.Contains(err.Error(), "ADMIN_PASSWORD") {
		t.Errorf("err = %v, want one about ADMIN_PASSWORD", err)
	}
}

func TestSeed_ExistingUserNamedByAdminEmail_IsPromotedAndKeepsItsPassword(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	const ownPassword = "My-0wn-Passw0rd"
	res := g.Do(t, http.MethodPost, "/api/v1/auth/register",
		map[string]any{"name": "Existing User", "email": "boss@example.com", "password": ownPassword})
	if res.Code != http.StatusCreated {
		t.Fatalf("register = %d: %s", res.Code, res.Body)
	}
	token := res.JSON(t)["data"].(map[string]any)["token"].(string)
	if code := g.Do(t, http.MethodGet, "/api/v1/admin/users", nil, "Authorization", "Bearer "+token).Code; code != http.StatusForbidden {
		t.Fatalf("admin route before the seed = %d, want 403", code)
	}

	out, err := runSeed(t, seedEnv(g.DatabaseURL, map[string]string{"ADMIN_EMAIL": "BOSS@example.com", "ADMIN_PASSWORD": seedAdminPassword}))
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}

	code, user := seedLogin(t, g, "boss@example.com", ownPassword)
	if code != http.StatusOK || user["role"] != "ADMINISTRATOR" {
		t.Errorf("login with the own password = %d, user %v; want 200 as ADMINISTRATOR", code, user)
	}
	if code, _ := seedLogin(t, g, "boss@example.com", seedAdminPassword); code != http.StatusUnauthorized {
		t.Errorf("login with ADMIN_PASSWORD = %d, want 401 (the password is left alone)", code)
	}
	// The role is read on every request: the token from before the seed now reaches admin routes.
	if code := g.Do(t, http.MethodGet, "/api/v1/admin/users", nil, "Authorization", "Bearer "+token).Code; code != http.StatusOK {
		t.Errorf("admin route after the seed = %d, want 200", code)
	}
	if n := seedCount(t, g, `SELECT count(*) FROM users WHERE lower(email) = 'boss@example.com'`); n != 1 {
		t.Errorf("%d accounts for the email, want 1", n)
	}
}
