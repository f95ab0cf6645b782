package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

func TestUseRefreshToken_WorksOnceThenTellsReuseApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	family := uuid.NewString()
	if err := store.CreateRefreshToken(ctx, db, u.ID, "hash-1", family, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	got, err := store.UseRefreshToken(ctx, db, "hash-1")
	if err != nil || got.UserID != u.ID || got.FamilyID != family || got.AccessJTI != "jti-1" {
		t.Fatalf("first use = %+v, %v", got, err)
	}
	if _, err := store.UseRefreshToken(ctx, db, "hash-1"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("second use: err = %v, want ErrNotFound", err)
	}
	f, userID, err := store.UsedRefreshTokenFamily(ctx, db, "hash-1")
	if err != nil || f != family || userID != u.ID {
		t.Errorf("used family = %s, %s, %v", f, userID, err)
	}
	if _, _, err := store.UsedRefreshTokenFamily(ctx, db, "unknown"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown token: err = %v, want ErrNotFound", err)
	}
	if err := store.CreateRefreshToken(ctx, db, u.ID, "hash-1", family, "jti-x", time.Now().Add(time.Hour)); !errors.Is(err, model.ErrConflict) {
		t.Errorf("duplicate hash: err = %v, want ErrConflict", err)
	}
}

func TestUseRefreshToken_ExpiredOrRevoked_IsErrNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	family := uuid.NewString()
	_ = store.CreateRefreshToken(ctx, db, u.ID, "expired", family, "j1", time.Now().Add(-time.Second))
	_ = store.CreateRefreshToken(ctx, db, u.ID, "revoked", family, "j2", time.Now().Add(time.Hour))
	if err := store.RevokeRefreshTokensOfAccess(ctx, db, "j2"); err != nil {
		t.Fatal(err)
	}

	for _, hash := range []string{"expired", "revoked"} {
		if _, err := store.UseRefreshToken(ctx, db, hash); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", hash, err)
		}
		// Neither was used, so neither counts as a replay.
		if _, _, err := store.UsedRefreshTokenFamily(ctx, db, hash); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("%s counts as used: %v", hash, err)
		}
	}
}

func TestRevokeRefreshFamily_RevokesEveryTokenOfTheFamilyOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	family, other := uuid.NewString(), uuid.NewString()
	_ = store.CreateRefreshToken(ctx, db, u.ID, "f1", family, "jti-f1", time.Now().Add(time.Hour))
	_ = store.CreateRefreshToken(ctx, db, u.ID, "f2", family, "jti-f2", time.Now().Add(time.Hour))
	_ = store.CreateRefreshToken(ctx, db, u.ID, "o1", other, "jti-o1", time.Now().Add(time.Hour))

	jtis, err := store.RevokeRefreshFamily(ctx, db, family)
	if err != nil {
		t.Fatal(err)
	}

	slices.Sort(jtis)
	if !slices.Equal(jtis, []string{"jti-f1", "jti-f2"}) {
		t.Errorf("jtis = %v, want the family's", jtis)
	}
	for _, hash := range []string{"f1", "f2"} {
		if _, err := store.UseRefreshToken(ctx, db, hash); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("%s still usable: %v", hash, err)
		}
	}
	if _, err := store.UseRefreshToken(ctx, db, "o1"); err != nil {
		t.Errorf("another family was revoked: %v", err)
	}
}

func TestCheckTokenHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")

	h, err := store.CheckTokenHolder(ctx, db, u.ID, "jti-live")
	if err != nil || !h.Exists || !h.IsActive || h.Revoked || h.Role != model.RoleUser || h.Tier != model.TierBasic {
		t.Errorf("live holder = %+v, %v", h, err)
	}
	if err := store.RevokeJWT(ctx, db, "jti-gone", u.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeJWT(ctx, db, "jti-gone", u.ID, time.Now().Add(time.Hour)); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if h, _ := store.CheckTokenHolder(ctx, db, u.ID, "jti-gone"); !h.Revoked {
		t.Error("a revoked jti is not reported")
	}
	h, err = store.CheckTokenHolder(ctx, db, uuid.NewString(), "jti")
	if err != nil || h.Exists {
		t.Errorf("unknown user = %+v, %v; want Exists false and no error", h, err)
	}
}

func TestUsePasswordReset_OnceAndNotAfterExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	_ = store.CreatePasswordReset(ctx, db, u.ID, "live", time.Now().Add(time.Hour))
	_ = store.CreatePasswordReset(ctx, db, u.ID, "stale", time.Now().Add(-time.Second))

	if userID, err := store.UsePasswordReset(ctx, db, "live"); err != nil || userID != u.ID {
		t.Fatalf("first use = %s, %v", userID, err)
	}
	for _, hash := range []string{"live", "stale", "unknown"} {
		if _, err := store.UsePasswordReset(ctx, db, hash); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", hash, err)
		}
	}
}

func TestPruneExpiredTokens_DeletesOnlyWhatCanNoLongerBePresented(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	_ = store.RevokeJWT(ctx, db, "old", u.ID, time.Now().Add(-time.Minute))
	_ = store.RevokeJWT(ctx, db, "live", u.ID, time.Now().Add(time.Hour))
	_ = store.CreateRefreshToken(ctx, db, u.ID, "old", uuid.NewString(), "", time.Now().Add(-time.Minute))
	_ = store.CreateRefreshToken(ctx, db, u.ID, "live", uuid.NewString(), "", time.Now().Add(time.Hour))
	_ = store.CreatePasswordReset(ctx, db, u.ID, "old", time.Now().Add(-48*time.Hour))
	_ = store.CreatePasswordReset(ctx, db, u.ID, "recent", time.Now().Add(-time.Minute))

	n, err := store.PruneExpiredTokens(ctx, db)
	if err != nil || n != 3 {
		t.Errorf("pruned %d (%v), want 3", n, err)
	}
	for table, want := range map[string]int{"revoked_tokens": 1, "refresh_tokens": 1, "password_resets": 1} {
		if got := acctCountRows(t, db, table); got != want {
			t.Errorf("%s has %d rows, want %d", table, got, want)
		}
	}
}

func TestTouchAPIKey_WritesLastUsedAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Foo", "foo@x.com")
	acctExecSQL(t, db, `INSERT INTO sessions (id, user_id, name) VALUES ('touch', $1, 'x')`, u.ID)
	key, err := store.PutAPIKey(ctx, db, model.APIKey{SessionID: "touch", KeyHash: "kh", Prefix: "wg_abcd", Masked: "wg_abcd…wxyz"})
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() *time.Time {
		var at *time.Time
		_ = db.QueryRow(ctx, `SELECT last_used FROM api_keys WHERE id = $1`, key.ID).Scan(&at)
		return at
	}

	if err := store.TouchAPIKey(ctx, db, key.ID); err != nil {
		t.Fatal(err)
	}
	first := lastUsed()
	if first == nil {
		t.Fatal("last_used not written")
	}
	_ = store.TouchAPIKey(ctx, db, key.ID)
	if again := lastUsed(); !again.Equal(*first) {
		t.Errorf("last_used moved within a minute: %v → %v", first, again)
	}
	acctExecSQL(t, db, `UPDATE api_keys SET last_used = now() - interval '2 minutes' WHERE id = $1`, key.ID)
	_ = store.TouchAPIKey(ctx, db, key.ID)
	if later := lastUsed(); time.Since(*later) > 30*time.Second {
		t.Errorf("last_used not refreshed after a minute: %v", later)
	}

	h, err := store.GetKeyHolder(ctx, db, "kh")
	if err != nil || h.KeyID != key.ID || h.SessionID != "touch" || h.UserID != u.ID || !h.KeyActive || !h.UserActive {
		t.Errorf("holder = %+v, %v", h, err)
	}
	if _, err := store.GetKeyHolder(ctx, db, "unknown"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown hash: err = %v, want ErrNotFound", err)
	}
}

func TestRevokeUserAPIKey_AnotherUsersKeyIsErrNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t)
	owner := acctCreateUser(t, db, "Owner", "owner@x.com")
	stranger := acctCreateUser(t, db, "Stranger", "stranger@x.com")
	acctExecSQL(t, db, `INSERT INTO sessions (id, user_id, name) VALUES ('mine', $1, 'x')`, owner.ID)
	key, err := store.PutAPIKey(ctx, db, model.APIKey{SessionID: "mine", KeyHash: "kh", Prefix: "wg_abcd", Masked: "wg_abcd…wxyz"})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := store.RevokeUserAPIKey(ctx, db, stranger.ID, key.ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("stranger: err = %v, want ErrNotFound", err)
	}
	if h, _ := store.GetKeyHolder(ctx, db, "kh"); !h.KeyActive {
		t.Error("the stranger revoked the key")
	}
	revoked, err := store.RevokeUserAPIKey(ctx, db, owner.ID, key.ID)
	if err != nil || revoked.IsActive || revoked.RevokedAt == nil {
		t.Errorf("owner revoke = %+v, %v", revoked, err)
	}
	if h, _ := store.GetKeyHolder(ctx, db, "kh"); h.KeyActive {
		t.Error("a revoked key is still active")
	}
}
