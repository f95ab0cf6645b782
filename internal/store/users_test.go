package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

func acctCreateUser(t *testing.T, db store.DBTX, name, email string) model.User {
	t.Helper()
	u, err := store.CreateUser(context.Background(), db, model.User{
		Name: name, Email: email, PasswordHash: "$2a$04$hash", Role: model.RoleUser, Tier: model.TierBasic,
	})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func TestCreateUser_EmailTakenInAnotherLetterCase_IsErrConflict(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	created := acctCreateUser(t, db, "Foo", "foo@x.com")
	if created.ID == "" || created.Role != model.RoleUser || created.Tier != model.TierBasic || !created.IsActive || created.TokenVersion != 0 {
		t.Errorf("created = %+v", created)
	}

	_, err := store.CreateUser(context.Background(), db, model.User{Name: "Bar", Email: "FOO@X.COM", PasswordHash: "h",
		Role: model.RoleUser, Tier: model.TierBasic})

	if !errors.Is(err, model.ErrConflict) {
		t.Errorf("err = %v, want ErrConflict", err)
	}
}

func TestGetUserByEmail_IgnoresLetterCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	created := acctCreateUser(t, db, "Foo", "foo@x.com")

	got, err := store.GetUserByEmail(ctx, db, "Foo@X.Com")
	if err != nil || got.ID != created.ID || got.PasswordHash != "$2a$04$hash" {
		t.Errorf("GetUserByEmail = %+v, %v", got, err)
	}
	if _, err := store.GetUserByEmail(ctx, db, "nobody@x.com"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown email: err = %v, want ErrNotFound", err)
	}
	if _, err := store.GetUser(ctx, db, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
}

func TestUpdateUser_ChangesOnlyTheGivenFieldsAndBumpsTheTokenVersionOnRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	acctCreateUser(t, db, "Bar", "bar@x.com")

	name, tier := "Renamed", model.TierPro
	got, err := store.UpdateUser(ctx, db, u.ID, store.UserChanges{Name: &name, Tier: &tier})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Renamed" || got.Tier != model.TierPro || got.Email != "foo@x.com" || got.Role != model.RoleUser ||
		got.TokenVersion != 0 || !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("after rename: %+v", got)
	}

	got, err = store.UpdateUser(ctx, db, u.ID, store.UserChanges{RevokeTokens: true})
	if err != nil || got.TokenVersion != 1 {
		t.Errorf("token version = %d (%v), want 1", got.TokenVersion, err)
	}

	taken := "BAR@x.com"
	if _, err := store.UpdateUser(ctx, db, u.ID, store.UserChanges{Email: &taken}); !errors.Is(err, model.ErrConflict) {
		t.Errorf("taken email: err = %v, want ErrConflict", err)
	}
	if _, err := store.UpdateUser(ctx, db, "00000000-0000-0000-0000-000000000000", store.UserChanges{Name: &name}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown user: err = %v, want ErrNotFound", err)
	}
}

func TestDeleteUser_CascadesAndUnknownIsErrNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	acctExecSQL(t, db, `INSERT INTO sessions (id, user_id, name) VALUES ('doomed', $1, 'x')`, u.ID)
	acctExecSQL(t, db, `INSERT INTO api_keys (session_id, key_hash, prefix, masked) VALUES ('doomed', 'h', 'wg_', 'wg_…')`)
	acctExecSQL(t, db, `INSERT INTO refresh_tokens (user_id, token_hash, family_id, expires_at) VALUES ($1, 'r', gen_random_uuid(), now() + interval '1 day')`, u.ID)

	if err := store.DeleteUser(ctx, db, u.ID); err != nil {
		t.Fatal(err)
	}

	for _, table := range []string{"users", "sessions", "api_keys", "refresh_tokens"} {
		if n := acctCountRows(t, db, table); n != 0 {
			t.Errorf("%d rows left in %s", n, table)
		}
	}
	if err := store.DeleteUser(ctx, db, u.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

// A batch of sends locks its sessions in ID order; so does DeleteUser, whatever order the
// sessions' rows are in. While the deletion waits for a session a batch holds, it holds none of
// the user's sessions, so the batch's next lock is granted and the two never deadlock. (The
// cascade alone takes the sessions in the rows' order: here leaving-b first, which the batch
// would then wait for while the deletion waits for leaving-a.)
func TestDeleteUser_TakesTheSessionsInIDOrderAsBatchesDo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Leaving", "leaving@x.com")
	acctExecSQL(t, db, `INSERT INTO sessions (id, user_id, name) VALUES ('leaving-b', $1, 'B')`, u.ID)
	acctExecSQL(t, db, `INSERT INTO sessions (id, user_id, name) VALUES ('leaving-a', $1, 'A')`, u.ID)

	batch, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Rollback(ctx) //nolint:errcheck // a no-op after commit
	acctExecSQL(t, batch, `SELECT FROM sessions WHERE id = 'leaving-a' FOR KEY SHARE`)
	deleted := make(chan error, 1)
	go func() { deleted <- store.DeleteUser(ctx, db, u.ID) }()
	msgWaitForLockWaiters(t, db, 1)

	if _, err := batch.Exec(ctx, `SELECT FROM sessions WHERE id = 'leaving-b' FOR KEY SHARE NOWAIT`); err != nil {
		t.Fatalf("the waiting deletion holds leaving-b: %v", err)
	}
	if err := batch.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if n := acctCountRows(t, db, "sessions"); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

func acctExecSQL(t *testing.T, db store.DBTX, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func acctCountRows(t *testing.T, db store.DBTX, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func acctEmails(users []model.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.Email)
	}
	slices.Sort(out)
	return out
}

func TestListUsers_SearchIsACaseInsensitiveLiteralSubstring(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	acctExecSQL(t, db, `INSERT INTO users (name, email, password_hash) VALUES
		('Alice Smith', 'alice@example.com', 'x'),
		('Bob Jones', 'bob_jones@example.com', 'x'),
		('Carol', 'carol%off@example.com', 'x'),
		('Dave', 'dave\back@example.com', 'x'),
		('Erin SMITHERS', 'erin@other.org', 'x')`)

	tests := map[string][]string{
		"smith":   {"alice@example.com", "erin@other.org"},
		"EXAMPLE": {"alice@example.com", "bob_jones@example.com", "carol%off@example.com", "dave\\back@example.com"},
		"_":       {"bob_jones@example.com"},
		"%":       {"carol%off@example.com"},
		`\`:       {"dave\\back@example.com"},
		"b_b":     nil,
		"nobody":  nil,
	}
	for search, want := range tests {
		users, total, err := store.ListUsers(ctx, db, store.UserFilter{Search: search, Limit: 50})
		if err != nil {
			t.Fatalf("search %q: %v", search, err)
		}
		if got := acctEmails(users); !slices.Equal(got, want) || total != len(want) {
			t.Errorf("search %q = %v (total %d), want %v", search, got, total, want)
		}
	}
}

func TestListUsers_FiltersAndPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	acctExecSQL(t, db, `INSERT INTO users (name, email, password_hash, role, tier, is_active) VALUES
		('A', 'a@x.com', 'x', 'ADMINISTRATOR', 'MAX', true),
		('B', 'b@x.com', 'x', 'USER', 'PRO', true),
		('C', 'c@x.com', 'x', 'USER', 'PRO', false),
		('D', 'd@x.com', 'x', 'USER', 'BASIC', true)`)
	admin, pro, off := model.RoleAdministrator, model.TierPro, false

	users, total, err := store.ListUsers(ctx, db, store.UserFilter{Role: &admin, Limit: 10})
	if err != nil || total != 1 || acctEmails(users)[0] != "a@x.com" {
		t.Errorf("role filter: %v, total %d, %v", acctEmails(users), total, err)
	}
	users, total, _ = store.ListUsers(ctx, db, store.UserFilter{Tier: &pro, IsActive: &off, Limit: 10})
	if total != 1 || acctEmails(users)[0] != "c@x.com" {
		t.Errorf("tier+inactive filter: %v, total %d", acctEmails(users), total)
	}
	var seen []string
	for offset := 0; offset < 4; offset += 3 {
		page, total, err := store.ListUsers(ctx, db, store.UserFilter{Limit: 3, Offset: offset})
		if err != nil || total != 4 {
			t.Fatalf("page at %d: total %d, %v", offset, total, err)
		}
		seen = append(seen, acctEmails(page)...)
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"a@x.com", "b@x.com", "c@x.com", "d@x.com"}) {
		t.Errorf("pages cover %v, want each user once", seen)
	}
}

func TestGetUserStats_CountsSessionsAndOutboundMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	other := acctCreateUser(t, db, "Bar", "bar@x.com")
	acctExecSQL(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES
		('s-on', $1, 'x', 'CONNECTED'), ('s-off', $1, 'x', 'DISCONNECTED'), ('s-other', $2, 'x', 'CONNECTED')`, u.ID, other.ID)
	acctExecSQL(t, db, `INSERT INTO messages (session_id, direction, status, created_at) VALUES
		('s-on', 'OUTBOUND', 'SENT', now()),
		('s-on', 'OUTBOUND', 'READ', now() - interval '3 days'),
		('s-off', 'OUTBOUND', 'FAILED', now()),
		('s-on', 'INBOUND', 'DELIVERED', now()),
		('s-other', 'OUTBOUND', 'SENT', now())`)

	stats, err := store.GetUserStats(ctx, db, u.ID)
	if err != nil {
		t.Fatal(err)
	}

	want := store.UserStats{ActiveSessions: 1, TotalSessions: 2, MessagesSent: 2, MessagesToday: 2}
	if stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
}

func TestSeedUser_CreatesOnceAndPromotesAnExistingUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	admin := store.SeedAccount{Name: "Administrator", Email: "Admin@Example.com", PasswordHash: "h1", Admin: true}

	created, err := store.SeedUser(ctx, db, admin)
	if err != nil || !created {
		t.Fatalf("first seed: created %v, %v", created, err)
	}
	u, err := store.GetUserByEmail(ctx, db, "admin@example.com")
	if err != nil || u.Role != model.RoleAdministrator || u.Tier != model.TierMax || u.Email != "admin@example.com" {
		t.Errorf("seeded admin = %+v, %v", u, err)
	}

	admin.PasswordHash = "h2"
	created, err = store.SeedUser(ctx, db, admin)
	if err != nil || created {
		t.Errorf("second seed: created %v, %v; want false", created, err)
	}
	if again, _ := store.GetUserByEmail(ctx, db, "admin@example.com"); again.PasswordHash != "h1" {
		t.Errorf("the second seed changed the password hash to %q", again.PasswordHash)
	}

	plain := acctCreateUser(t, db, "Plain", "plain@example.com")
	acctExecSQL(t, db, `UPDATE users SET is_active = false WHERE id = $1`, plain.ID)
	created, err = store.SeedUser(ctx, db, store.SeedAccount{Name: "X", Email: "PLAIN@example.com", PasswordHash: "h3", Admin: true})
	if err != nil || created {
		t.Fatalf("promote: created %v, %v", created, err)
	}
	promoted, _ := store.GetUser(ctx, db, plain.ID)
	if promoted.Role != model.RoleAdministrator || !promoted.IsActive || promoted.PasswordHash != plain.PasswordHash {
		t.Errorf("promoted = %+v", promoted)
	}

	if created, err := store.SeedUser(ctx, db, store.SeedAccount{Name: "Demo", Email: "demo@example.com", PasswordHash: "h"}); err != nil || !created {
		t.Errorf("demo seed: %v, %v", created, err)
	}
	if demo, _ := store.GetUserByEmail(ctx, db, "demo@example.com"); demo.Role != model.RoleUser || demo.Tier != model.TierBasic {
		t.Errorf("demo = %+v", demo)
	}
}

func TestUserEmailAndNameConstraints_AreEnforcedByTheDatabase(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	for _, tc := range []struct{ name, email string }{{"", "ok@x.com"}, {"Ok", "a"}} {
		_, err := store.CreateUser(context.Background(), db, model.User{Name: tc.name, Email: tc.email, PasswordHash: "h",
			Role: model.RoleUser, Tier: model.TierBasic})
		if err == nil {
			t.Errorf("name %q, email %q accepted", tc.name, tc.email)
		}
	}
}
