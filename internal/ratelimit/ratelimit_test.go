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
