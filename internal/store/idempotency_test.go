package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

const idemStaleAfter = 2 * time.Minute

// idemClaim claims key of session ses-1 for hash, by no named replica, and returns the claim's
// created_at.
func idemClaim(t *testing.T, db *pgxpool.Pool, key, hash string) time.Time {
	t.Helper()
	return idemClaimBy(t, db, "", key, hash)
}

// idemClaimBy is idemClaim by a replica.
func idemClaimBy(t *testing.T, db *pgxpool.Pool, replica, key, hash string) time.Time {
	t.Helper()
	claimed, k, err := store.ClaimIdempotencyKey(context.Background(), db, "ses-1", key, hash, replica, idemStaleAfter)
	if err != nil || !claimed || k.CreatedAt.IsZero() {
		t.Fatalf("claim %s: claimed=%v created=%v err=%v", key, claimed, k.CreatedAt, err)
	}
	return k.CreatedAt
}

// idemAge moves a key's claim back by age, as if its request had started that long ago.
func idemAge(t *testing.T, db *pgxpool.Pool, key string, age time.Duration) {
	t.Helper()
	msgExec(t, db, `UPDATE idempotency_keys SET claimed_at = claimed_at - $2::interval WHERE session_id = 'ses-1' AND key = $1`, key, age)
}

// idemClaimedAt is when the key's current claim was made.
func idemClaimedAt(t *testing.T, db *pgxpool.Pool, key string) time.Time {
	t.Helper()
	var at time.Time
	if err := db.QueryRow(context.Background(), `SELECT claimed_at FROM idempotency_keys WHERE session_id = 'ses-1' AND key = $1`, key).Scan(&at); err != nil {
		t.Fatalf("claimed_at of %s: %v", key, err)
	}
	return at
}

func idemGet(t *testing.T, db *pgxpool.Pool, key string) store.IdempotentResponse {
	t.Helper()
	k, err := store.GetIdempotencyKey(context.Background(), db, "ses-1", key, idemStaleAfter)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return k
}

func idemTakeOver(t *testing.T, db *pgxpool.Pool, key, hash string, createdAt time.Time, messageID string) (bool, *model.Message) {
	t.Helper()
	took, err := store.TakeOverIdempotencyKey(context.Background(), db, "ses-1", key, hash, "", createdAt, idemStaleAfter, messageID)
	if err != nil {
		t.Fatalf("take over %s: %v", key, err)
	}
	return took.Taken, took.Recorded
}

const idemMessageID = "6a4c3c1e-7d7f-5b0a-9e51-0c1f6f3d2a10"

func TestTakeOverIdempotencyKey_OnlyAStaleUnansweredClaim_AndOnlyOnce(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "ses-1")
	ctx := context.Background()
	created := idemClaim(t, db, "k", "h")

	if k := idemGet(t, db, "k"); k.Stale || !k.CreatedAt.Equal(created) {
		t.Fatalf("fresh claim: stale=%v created=%v, want not stale, created %v", k.Stale, k.CreatedAt, created)
	}
	if taken, _ := idemTakeOver(t, db, "k", "h", created, idemMessageID); taken {
		t.Fatal("a fresh claim was taken over")
	}

	idemAge(t, db, "k", idemStaleAfter+time.Second)
	if k := idemGet(t, db, "k"); !k.Stale {
		t.Fatal("an unanswered claim older than the threshold is not stale")
	}
	if taken, _ := idemTakeOver(t, db, "k", "other hash", created, idemMessageID); taken {
		t.Fatal("a claim was taken over for another request")
	}
	if taken, _ := idemTakeOver(t, db, "k", "h", created.Add(-time.Microsecond), idemMessageID); taken {
		t.Fatal("a claim was taken over for another claim of the key")
	}
	taken, msg := idemTakeOver(t, db, "k", "h", created, idemMessageID)
	if !taken || msg != nil {
		t.Fatalf("stale claim without message: taken=%v message=%v, want taken and no message", taken, msg)
	}
	if k := idemGet(t, db, "k"); k.Stale || !k.CreatedAt.Equal(created) {
		t.Fatalf("after the takeover: stale=%v created=%v, want a fresh claim keeping its created_at", k.Stale, k.CreatedAt)
	}
	if taken, _ := idemTakeOver(t, db, "k", "h", created, idemMessageID); taken {
		t.Fatal("a claim just taken over was taken over again")
	}

	// An answered claim is never stale, however old.
	if err := store.CompleteIdempotencyKey(ctx, db, "ses-1", "k", idemClaimedAt(t, db, "k"), 200, []byte(`{"success":true}`)); err != nil {
		t.Fatal(err)
	}
	idemAge(t, db, "k", time.Hour)
	if k := idemGet(t, db, "k"); k.Stale {
		t.Fatal("an answered claim is stale")
	}
	if taken, _ := idemTakeOver(t, db, "k", "h", created, idemMessageID); taken {
		t.Fatal("an answered claim was taken over")
	}
}

func TestTakeOverIdempotencyKey_RacingRetries_OneTakesItOver(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "ses-1")
	created := idemClaim(t, db, "k", "h")
	idemAge(t, db, "k", idemStaleAfter+time.Second)

	const racers = 8
	var wg sync.WaitGroup
	taken := make([]bool, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			var took store.Takeover
			took, errs[i] = store.TakeOverIdempotencyKey(context.Background(), db, "ses-1", "k", "h", "", created, idemStaleAfter, idemMessageID)
			taken[i] = took.Taken
		})
	}
	close(start)
	wg.Wait()
	n := 0
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		if taken[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d racing retries took the claim over, want exactly 1", n)
	}
}

func TestTakeOverIdempotencyKey_MessageRecorded_ReturnsIt(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "ses-1", "ses-2")
	created := idemClaim(t, db, "k", "h")
	idemAge(t, db, "k", idemStaleAfter+time.Second)
	msgExec(t, db, `INSERT INTO messages (id, session_id, direction, to_number, message_type, content, payload, status, wa_message_id)
		VALUES ($1, 'ses-1', 'OUTBOUND', '6281234567890@s.whatsapp.net', 'TEXT', 'x', '{"type":"text"}', 'SENT', '3EB0X')`, idemMessageID)

	taken, msg := idemTakeOver(t, db, "k", "h", created, idemMessageID)
	if !taken || msg == nil || msg.ID != idemMessageID || msg.Status != model.MessageSent {
		t.Fatalf("stale claim with its message: taken=%v message=%+v, want taken with the SENT message", taken, msg)
	}

	// The message of another session is not this claim's.
	created2, err := time.Parse(time.RFC3339, "2000-01-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	msgExec(t, db, `INSERT INTO idempotency_keys (session_id, key, request_hash, created_at, claimed_at) VALUES ('ses-2', 'k', 'h', $1, $1)`, created2)
	took, err := store.TakeOverIdempotencyKey(context.Background(), db, "ses-2", "k", "h", "", created2, idemStaleAfter, idemMessageID)
	taken, msg = took.Taken, took.Recorded
	if err != nil || !taken || msg != nil {
		t.Fatalf("another session's message: taken=%v message=%v err=%v, want taken without message", taken, msg, err)
	}
}

// A claim made before claims could be taken over has no claimed_at: its message ID was random,
// so a retry could not tell whether it was sent. It is never stale.
func TestTakeOverIdempotencyKey_ClaimFromBeforeTakeovers_NeverTakenOver(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "ses-1")
	var created time.Time
	if err := db.QueryRow(context.Background(), `INSERT INTO idempotency_keys (session_id, key, request_hash, created_at)
		VALUES ('ses-1', 'k', 'h', now() - interval '1 hour') RETURNING created_at`).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if k := idemGet(t, db, "k"); k.Stale {
		t.Fatal("a claim without claimed_at is stale")
	}
	if taken, _ := idemTakeOver(t, db, "k", "h", created, idemMessageID); taken {
		t.Fatal("a claim without claimed_at was taken over")
	}
}

// A claim names its replica: while the replica says it is alive the claim is not stale, however
// long its request runs below idempotencyStaleAfter; once the replica has not been seen for
// ReplicaGoneAfter (killed), or is gone (stopped), a retry takes the claim over at once, and
// then holds it for its own replica.
func TestTakeOverIdempotencyKey_ClaimOfAReplicaGone_TakenOverAtOnce(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "ses-1")
	ctx := context.Background()
	alive, killed, stopped, retry := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, r := range []string{alive, killed, stopped, retry} {
		if err := store.BeatReplica(ctx, db, r); err != nil {
			t.Fatal(err)
		}
	}
	created := map[string]time.Time{"alive": idemClaimBy(t, db, alive, "alive", "h"),
		"killed": idemClaimBy(t, db, killed, "killed", "h"), "stopped": idemClaimBy(t, db, stopped, "stopped", "h")}
	msgExec(t, db, `UPDATE gateway_replicas SET seen_at = now() - $2::interval WHERE id = $1`, killed, store.ReplicaGoneAfter+time.Second)
	if err := store.RemoveReplica(ctx, db, stopped); err != nil {
		t.Fatal(err)
	}

	for key, wantStale := range map[string]bool{"alive": false, "killed": true, "stopped": true} {
		if k := idemGet(t, db, key); k.Stale != wantStale {
			t.Errorf("claim of the %s replica: stale %v, want %v", key, k.Stale, wantStale)
		}
		took, err := store.TakeOverIdempotencyKey(ctx, db, "ses-1", key, "h", retry, created[key], idemStaleAfter, idemMessageID)
		taken := took.Taken
		if err != nil || taken != wantStale {
			t.Errorf("take over the claim of the %s replica: %v (%v), want %v", key, taken, err, wantStale)
		}
	}
	// Taken over, the claim is the retry's replica's, which is alive.
	if k := idemGet(t, db, "killed"); k.Stale {
		t.Error("a claim just taken over by a live replica is stale")
	}

	if n, err := store.PruneReplicas(ctx, db); err != nil || n != 0 {
		t.Errorf("pruned %d replicas (%v), want none seen within the hour", n, err)
	}
	msgExec(t, db, `UPDATE gateway_replicas SET seen_at = now() - interval '2 hours' WHERE id = $1`, killed)
	if n, err := store.PruneReplicas(ctx, db); err != nil || n != 1 {
		t.Errorf("pruned %d replicas (%v), want the one unseen for two hours", n, err)
	}
}

// What the request of a claim writes after its claim was taken over (its answer kept during
// a database outage, written once the database is back) changes nothing: the answer, the
// release and the abandonment each name their claim.
func TestIdempotencyKey_WritesOfAClaimTakenOverChangeNothing(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "ses-1")
	ctx := context.Background()
	claimed, first, err := store.ClaimIdempotencyKey(ctx, db, "ses-1", "k", "h", "", idemStaleAfter)
	if err != nil || !claimed || first.ClaimedAt.IsZero() {
		t.Fatalf("claim: claimed=%v claimedAt=%v err=%v", claimed, first.ClaimedAt, err)
	}
	if got := idemClaimedAt(t, db, "k"); !got.Equal(first.ClaimedAt) {
		t.Fatalf("claim names %v, the row says %v", first.ClaimedAt, got)
	}
	idemAge(t, db, "k", idemStaleAfter+time.Second)
	stale := idemClaimedAt(t, db, "k")
	took, err := store.TakeOverIdempotencyKey(ctx, db, "ses-1", "k", "h", "", first.CreatedAt, idemStaleAfter, idemMessageID)
	if err != nil || !took.Taken || !took.ClaimedAt.Equal(idemClaimedAt(t, db, "k")) {
		t.Fatalf("takeover: %+v err=%v, want taken, naming the new claim", took, err)
	}

	for name, write := range map[string]func() error{
		"answer":  func() error { return store.CompleteIdempotencyKey(ctx, db, "ses-1", "k", stale, 502, []byte(`{}`)) },
		"release": func() error { return store.ReleaseIdempotencyKey(ctx, db, "ses-1", "k", stale) },
		"abandon": func() error { return store.AbandonIdempotencyKey(ctx, db, "ses-1", "k", stale) },
	} {
		if err := write(); err != nil {
			t.Fatalf("%s of the old claim: %v", name, err)
		}
		k := idemGet(t, db, "k")
		if k.StatusCode != nil || k.Stale {
			t.Fatalf("%s of the old claim changed the new one: status %v, stale %v", name, k.StatusCode, k.Stale)
		}
	}
	if err := store.CompleteIdempotencyKey(ctx, db, "ses-1", "k", took.ClaimedAt, 200, []byte(`{"success":true}`)); err != nil {
		t.Fatal(err)
	}
	if k := idemGet(t, db, "k"); k.StatusCode == nil || *k.StatusCode != 200 {
		t.Fatalf("the takeover's answer was not stored: %v", k.StatusCode)
	}
	if err := store.AbandonIdempotencyKey(ctx, db, "ses-1", "k", took.ClaimedAt); err != nil {
		t.Fatal(err)
	}
	if k := idemGet(t, db, "k"); k.Stale || k.StatusCode == nil {
		t.Fatal("an answered claim was abandoned")
	}
}

// A claim is named by this replica's clock when it is within 30 s of the database's (so that
// the claim can be named before the INSERT's answer), and by the database's otherwise: the
// stale rules read claimed_at against the database's clock, and a replica minutes behind
// would make every claim of its stale at once, open to a takeover while its request runs.
func TestClaimIdempotencyKey_NamedByTheReplicasClockOnlyWhenItAgreesWithTheDatabase(t *testing.T) {
	t.Parallel()
	db := queueDB(t, "ses-1")
	ctx := context.Background()
	for _, tc := range []struct {
		key      string
		skew     time.Duration
		replicas bool // the claim is named by the replica's reading
	}{
		{"in-step", 0, true},
		{"a-second-behind", -time.Second, true},
		{"ten-minutes-behind", -10 * time.Minute, false},
		{"ten-minutes-ahead", 10 * time.Minute, false},
	} {
		reading := time.Now().Add(tc.skew)
		claimed, k, err := store.ClaimIdempotencyKeyAt(ctx, db, "ses-1", tc.key, "h", "", idemStaleAfter, reading)
		if err != nil || !claimed {
			t.Fatalf("%s: claimed %v, %v", tc.key, claimed, err)
		}
		if stored := idemClaimedAt(t, db, tc.key); !stored.Equal(k.ClaimedAt) {
			t.Errorf("%s: claim named %s, stored %s", tc.key, k.ClaimedAt, stored)
		}
		if named := k.ClaimedAt.Equal(reading.Truncate(time.Microsecond)); named != tc.replicas {
			t.Errorf("%s: named by the replica's clock %v, want %v (claimed_at %s, reading %s)", tc.key, named, tc.replicas, k.ClaimedAt, reading)
		}
		if idemGet(t, db, tc.key).Stale {
			t.Errorf("%s: a claim just made is stale", tc.key)
		}
	}
}
