package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/ratelimit"
	"github.com/wagateway/gateway/internal/testenv"
)

func TestAllow_CountsUpToTheLimitThenRefuses(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	limiter := ratelimit.New(rdb)
	ctx := context.Background()
	key := keys.Key("ratelimit", "test", "1.2.3.4")
	const limit, window = 3, time.Minute

	for i := 1; i <= limit; i++ {
		res, err := limiter.Allow(ctx, key, limit, window)
		if err != nil {
			t.Fatalf("hit %d: %v", i, err)
		}
		if !res.Allowed || res.Limit != limit || res.Remaining != limit-i {
			t.Errorf("hit %d = %+v, want allowed with %d remaining", i, res, limit-i)
		}
		if res.ResetIn <= 0 || res.ResetIn > window {
			t.Errorf("hit %d: ResetIn = %v, want within (0, %v]", i, res.ResetIn, window)
		}
	}
	for i := limit + 1; i <= limit+2; i++ {
		res, err := limiter.Allow(ctx, key, limit, window)
		if err != nil {
			t.Fatalf("hit %d: %v", i, err)
		}
		if res.Allowed || res.Remaining != 0 {
			t.Errorf("hit %d = %+v, want refused with 0 remaining", i, res)
		}
		if res.ResetIn <= 0 || res.ResetIn > window {
			t.Errorf("hit %d: ResetIn = %v, want within (0, %v]", i, res.ResetIn, window)
		}
	}
}

func TestAllow_WindowStartsAtTheFirstHitAndLaterHitsDoNotExtendIt(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	limiter := ratelimit.New(rdb)
	ctx := context.Background()
	key := keys.Key("ratelimit", "window")
	const window = 10 * time.Second

	if n := rdb.Exists(ctx, key).Val(); n != 0 {
		t.Fatalf("key exists before the first hit")
	}
	first, err := limiter.Allow(ctx, key, 100, window)
	if err != nil {
		t.Fatal(err)
	}
	if first.ResetIn < window-time.Second {
		t.Errorf("first hit: ResetIn = %v, want about the whole window %v", first.ResetIn, window)
	}
	// Later hits report the same window, never a renewed one.
	for range 5 {
		res, err := limiter.Allow(ctx, key, 100, window)
		if err != nil {
			t.Fatal(err)
		}
		if res.ResetIn > first.ResetIn {
			t.Fatalf("a later hit extended the window: ResetIn %v > first %v", res.ResetIn, first.ResetIn)
		}
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > window {
		t.Errorf("PTTL = %v, want within (0, %v]", ttl, window)
	}
}

func TestAllow_AfterTheWindowExpires_StartsANewWindow(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	limiter := ratelimit.New(rdb)
	ctx := context.Background()
	key := keys.Key("ratelimit", "expiry")
	const window = 200 * time.Millisecond

	if res, _ := limiter.Allow(ctx, key, 1, window); !res.Allowed {
		t.Fatalf("first hit refused: %+v", res)
	}
	if res, _ := limiter.Allow(ctx, key, 1, window); res.Allowed {
		t.Fatalf("second hit within the window allowed: %+v", res)
	}

	// Wait for Redis to expire the window, polling rather than guessing a sleep.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for rdb.Exists(ctx, key).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("window did not expire within 5s (PTTL %v)", rdb.PTTL(ctx, key).Val())
		}
		<-tick.C
	}

	res, err := limiter.Allow(ctx, key, 1, window)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Allowed || res.Remaining != 0 {
		t.Errorf("first hit of the new window = %+v, want allowed", res)
	}
}

func TestAllow_ConcurrentHits_NeverAllowMoreThanTheLimit(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	limiter := ratelimit.New(rdb)
	key := keys.Key("ratelimit", "concurrent")
	const goroutines, limit = 50, 10

	var allowed, refused atomic.Int32
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			<-start
			res, err := limiter.Allow(context.Background(), key, limit, time.Minute)
			if err != nil {
				t.Errorf("Allow: %v", err)
				return
			}
			if res.Allowed {
				allowed.Add(1)
			} else {
				refused.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()

	if allowed.Load() != limit || refused.Load() != goroutines-limit {
		t.Errorf("allowed %d, refused %d; want %d and %d", allowed.Load(), refused.Load(), limit, goroutines-limit)
	}
}

func TestAllow_KeysAreIndependent(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	limiter := ratelimit.New(rdb)
	ctx := context.Background()

	if res, _ := limiter.Allow(ctx, keys.Key("a"), 1, time.Minute); !res.Allowed {
		t.Fatal("first hit on a refused")
	}
	if res, _ := limiter.Allow(ctx, keys.Key("b"), 1, time.Minute); !res.Allowed {
		t.Error("first hit on b refused after a hit on a")
	}
}

func TestAllow_RedisUnreachable_ReturnsErrorAndAllows(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()

	res, err := ratelimit.New(rdb).Allow(context.Background(), "k", 5, time.Minute)
	if err == nil {
		t.Fatal("Allow with Redis down returned no error")
	}
	if !res.Allowed || res.Limit != 5 || res.Remaining != 5 {
		t.Errorf("result with Redis down = %+v, want allowed so the caller may fail open", res)
	}
}

// countingHook counts the commands and pipelines a client sends to Redis.
type countingHook struct{ commands atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.commands.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestAllow_BusyKey_LeasesHitsInsteadOfARoundTripEach(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	hook := &countingHook{}
	rdb.AddHook(hook)
	limiter := ratelimit.New(rdb)
	ctx := context.Background()
	key := keys.Key("ratelimit", "busy")
	const hits, limit = 5000, 1_000_000

	for i := range hits {
		res, err := limiter.Allow(ctx, key, limit, time.Minute)
		if err != nil || !res.Allowed {
			t.Fatalf("hit %d = %+v, %v", i, res, err)
		}
		if res.Remaining != limit-i-1 {
			t.Fatalf("hit %d: Remaining = %d, want %d (exact while one replica counts)", i, res.Remaining, limit-i-1)
		}
	}
	if n := hook.commands.Load(); n > hits/10 {
		t.Errorf("%d hits cost %d Redis commands, want at most %d", hits, n, hits/10)
	}
	// Redis counts the hits and the leased units not used yet, never fewer.
	count, err := rdb.Get(ctx, key).Int()
	if err != nil {
		t.Fatal(err)
	}
	if unused := limiter.Unused(key); count != hits+unused || unused > 256 {
		t.Errorf("Redis count %d, unused %d: want count = %d hits + unused, unused ≤ 256", count, unused, hits)
	}
}

func TestAllow_TwoReplicas_TogetherAllowExactlyTheLimit(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	replicas := []*ratelimit.Limiter{ratelimit.New(rdb), ratelimit.New(rdb)}
	key := keys.Key("ratelimit", "replicas")
	const limit, goroutinesPerReplica = 2000, 8

	var allowed atomic.Int32
	var wg sync.WaitGroup
	for _, l := range replicas {
		for range goroutinesPerReplica {
			wg.Go(func() {
				for {
					res, err := l.Allow(context.Background(), key, limit, time.Minute)
					if err != nil {
						t.Errorf("Allow: %v", err)
						return
					}
					if !res.Allowed {
						return
					}
					allowed.Add(1)
				}
			})
		}
	}
	wg.Wait()
	// A goroutine stops at its replica's first refusal, which comes only once Redis is full
	// and the replica's own lease is used up: nothing is left unused anywhere.
	if allowed.Load() != limit {
		t.Errorf("allowed %d hits across two replicas, want exactly %d", allowed.Load(), limit)
	}
	for i, l := range replicas {
		if u := l.Unused(key); u != 0 {
			t.Errorf("replica %d holds %d unused hits after refusing", i, u)
		}
	}
}

func TestUndo_WithinALease_GivesTheHitBackLocally(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	hook := &countingHook{}
	rdb.AddHook(hook)
	limiter := ratelimit.New(rdb)
	ctx := context.Background()
	key := keys.Key("ratelimit", "undo")

	first, err := limiter.Allow(ctx, key, 10, time.Minute)
	if err != nil || !first.Allowed || first.Remaining != 9 {
		t.Fatalf("first hit = %+v, %v", first, err)
	}
	before := hook.commands.Load()
	if err := limiter.Undo(ctx, key); err != nil {
		t.Fatal(err)
	}
	if limiter.Unused(key) != 1 || hook.commands.Load() != before {
		t.Errorf("after Undo: unused %d, Redis commands %d → %d; want the hit back in the lease, no round trip",
			limiter.Unused(key), before, hook.commands.Load())
	}
	again, err := limiter.Allow(ctx, key, 10, time.Minute)
	if err != nil || !again.Allowed || again.Remaining != 9 || hook.commands.Load() != before {
		t.Errorf("hit after Undo = %+v, %v (Redis commands %d → %d); want 9 remaining from the lease",
			again, err, before, hook.commands.Load())
	}
}

func TestRun_GivesBackUnusedHitsOfIdleKeysAndAllOnStop(t *testing.T) {
	t.Parallel()
	rdb, keys := testenv.NewRedis(t)
	limiter := ratelimit.New(rdb)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { limiter.Run(ctx); close(done) }()
	idle, busy := keys.Key("ratelimit", "idle"), keys.Key("ratelimit", "busy")

	hit := func(key string, n int) {
		for range n {
			if res, err := limiter.Allow(context.Background(), key, 1_000_000, time.Minute); err != nil || !res.Allowed {
				t.Fatalf("hit on %s = %+v, %v", key, res, err)
			}
		}
	}
	count := func(key string) int { n, _ := rdb.Get(context.Background(), key).Int(); return n }
	hit(idle, 300)
	if count(idle) == 300 {
		t.Fatalf("no lease was taken beyond the hits (count %d): the test proves nothing", count(idle))
	}
	// The idle key's leftover goes back after about a second without hits.
	deadline := time.Now().Add(10 * time.Second)
	for count(idle) != 300 {
		if time.Now().After(deadline) {
			t.Fatalf("idle key: Redis count %d, want the 300 hits once the lease is given back", count(idle))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if limiter.Unused(idle) != 0 {
		t.Errorf("idle key: %d unused after giving back", limiter.Unused(idle))
	}
	// Stopping gives back whatever is held, idle or not.
	hit(busy, 300)
	stop()
	<-done
	if got := count(busy); got != 300 {
		t.Errorf("busy key after stop: Redis count %d, want 300", got)
	}
}
