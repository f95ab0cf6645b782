package service_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// keysFor builds the API key service the way the gateway does for env.
func keysFor(t *testing.T, db *pgxpool.Pool, env map[string]string) *service.APIKeys {
	t.Helper()
	cfg := testenv.Config(t, env)
	keys := &service.APIKeys{DB: db, Logger: slog.New(slog.DiscardHandler)}
	if cfg.APIKeyReveal {
		sealer, err := auth.NewKeySealer(cfg.APIKeyEncryptionKey)
		if err != nil {
			t.Fatal(err)
		}
		keys.Sealer = sealer
	}
	return keys
}

// newUserWithSessions inserts a user and sessions of it.
func newUserWithSessions(t *testing.T, db *pgxpool.Pool, sessionIDs ...string) string {
	t.Helper()
	ctx := context.Background()
	var userID string
	if err := db.QueryRow(ctx, `INSERT INTO users (name, email, password_hash) VALUES ('Key Owner', $1, 'x')
		RETURNING id::text`, sessionIDs[0]+"@example.com").Scan(&userID); err != nil {
		t.Fatal(err)
	}
	for _, id := range sessionIDs {
		if _, err := db.Exec(ctx, `INSERT INTO sessions (id, user_id, name) VALUES ($1, $2, $1)`, id, userID); err != nil {
			t.Fatal(err)
		}
	}
	return userID
}

// rowsContaining counts the rows of every table whose text form contains needle.
func rowsContaining(t *testing.T, db *pgxpool.Pool, needle string) int {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		_ = rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	total := 0
	for _, table := range tables {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM public."`+table+`" t WHERE strpos(t::text, $1) > 0`, needle).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

func TestAPIKeys_Issue_StoresOnlyTheHashAndACiphertextBoundToTheSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	keys := keysFor(t, db, nil)
	newUserWithSessions(t, db, "sess-a", "sess-b")

	issued, err := keys.Issue(ctx, db, "sess-a")
	if err != nil {
		t.Fatal(err)
	}

	if !auth.LooksLikeAPIKey(issued.Key) {
		t.Fatalf("issued key %q has the wrong shape", issued.Key)
	}
	if n := rowsContaining(t, db, issued.Key); n != 0 {
		t.Errorf("%d rows contain the key in clear", n)
	}
	if n := rowsContaining(t, db, issued.Key[3:]); n != 0 {
		t.Errorf("%d rows contain the key without its prefix", n)
	}
	stored, err := store.GetSessionAPIKey(ctx, db, "sess-a")
	if err != nil {
		t.Fatal(err)
	}
	if stored.KeyHash != auth.HashToken(issued.Key) {
		t.Error("key_hash is not the SHA-256 of the key")
	}
	if stored.Masked != auth.MaskAPIKey(issued.Key) || stored.Prefix != issued.Key[:7] {
		t.Errorf("masked %q, prefix %q", stored.Masked, stored.Prefix)
	}
	if len(stored.KeyCiphertext) == 0 {
		t.Fatal("no ciphertext stored while API_KEY_REVEAL is on")
	}
	if got := keys.Reveal(ctx, stored); got != issued.Key {
		t.Errorf("Reveal = %q, want the issued key", got)
	}
	// The ciphertext is bound to its session: moved to another row, it does not open.
	moved := stored
	moved.SessionID = "sess-b"
	if got := keys.Reveal(ctx, moved); got != "" {
		t.Errorf("Reveal under another session ID = %q, want nothing", got)
	}
	// Another encryption key cannot open it either (and says nothing).
	other := keysFor(t, db, map[string]string{"JWT_SECRET": "another-secret-of-at-least-thirty-two-bytes"})
	if got := other.Reveal(ctx, stored); got != "" {
		t.Errorf("Reveal with another encryption key = %q", got)
	}
}

func TestAPIKeys_RevealOff_StoresNoCiphertext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	keys := keysFor(t, db, map[string]string{"API_KEY_REVEAL": "false"})
	if keys.Sealer != nil {
		t.Fatal("API_KEY_REVEAL=false still yields an encryption key")
	}
	newUserWithSessions(t, db, "no-reveal")

	issued, err := keys.Issue(ctx, db, "no-reveal")
	if err != nil {
		t.Fatal(err)
	}

	var ciphertext []byte
	if err := db.QueryRow(ctx, `SELECT key_ciphertext FROM api_keys WHERE session_id = 'no-reveal'`).Scan(&ciphertext); err != nil {
		t.Fatal(err)
	}
	if ciphertext != nil {
		t.Errorf("ciphertext stored with API_KEY_REVEAL=false: %x", ciphertext)
	}
	if got := keys.Reveal(ctx, issued.Stored); got != "" {
		t.Errorf("Reveal = %q, want nothing", got)
	}
	if p, err := keys.Authenticate(ctx, issued.Key); err != nil || p.SessionID != "no-reveal" {
		t.Errorf("the key does not authenticate: %v", err)
	}
}

func TestAPIKeys_Issue_ReplacesTheSessionsKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	keys := keysFor(t, db, nil)
	newUserWithSessions(t, db, "rotate")
	first, err := keys.Issue(ctx, db, "rotate")
	if err != nil {
		t.Fatal(err)
	}

	second, err := keys.Issue(ctx, db, "rotate")
	if err != nil {
		t.Fatal(err)
	}

	if first.Key == second.Key {
		t.Fatal("the same key was issued twice")
	}
	var n int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE session_id = 'rotate'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d keys for the session, want 1", n)
	}
	// A fresh service (another replica, no cache) refuses the old key at once.
	if _, err := keysFor(t, db, nil).Authenticate(ctx, first.Key); model.KindOf(err) != model.KindUnauthorized {
		t.Errorf("old key: err = %v, want unauthorized", err)
	}
	if _, err := keysFor(t, db, nil).Authenticate(ctx, second.Key); err != nil {
		t.Errorf("new key: %v", err)
	}
}

func TestAPIKeys_Authenticate_ReturnsThePrincipalOfTheKeysSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	keys := keysFor(t, db, nil)
	userID := newUserWithSessions(t, db, "principal")
	issued, err := keys.Issue(ctx, db, "principal")
	if err != nil {
		t.Fatal(err)
	}

	p, err := keys.Authenticate(ctx, issued.Key)
	if err != nil {
		t.Fatal(err)
	}

	if p.UserID != userID || p.SessionID != "principal" || p.APIKeyID != issued.Stored.ID || p.Tier != model.TierBasic || p.TokenID != "" {
		t.Errorf("principal = %+v", p)
	}
	for _, bad := range []string{"", "wg_short", issued.Key[:len(issued.Key)-1] + "!", "wg_" + "A" + issued.Key[4:]} {
		if bad == issued.Key {
			continue
		}
		_, err := keys.Authenticate(ctx, bad)
		var e *model.Error
		if !errors.As(err, &e) || e.Kind != model.KindUnauthorized {
			t.Errorf("Authenticate(%q) = %v, want unauthorized", bad, err)
		}
	}
}

func TestAPIKeys_Authenticate_RecordsLastUsedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	keys := keysFor(t, db, nil)
	newUserWithSessions(t, db, "touch")
	issued, err := keys.Issue(ctx, db, "touch")
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() *time.Time {
		var at *time.Time
		if err := db.QueryRow(ctx, `SELECT last_used FROM api_keys WHERE session_id = 'touch'`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}

	if _, err := keys.Authenticate(ctx, issued.Key); err != nil {
		t.Fatal(err)
	}
	first := lastUsed()
	if first == nil {
		t.Fatal("last_used not written")
	}
	// Another replica and this one again: neither writes within the minute.
	for _, k := range []*service.APIKeys{keys, keysFor(t, db, nil)} {
		if _, err := k.Authenticate(ctx, issued.Key); err != nil {
			t.Fatal(err)
		}
	}
	if second := lastUsed(); !second.Equal(*first) {
		t.Errorf("last_used moved from %v to %v", first, second)
	}
}
