package redisdb

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests need a real Redis; they cannot use testenv (which imports this package), so they
// open it the same way under a key prefix of their own.
func testRedis(t *testing.T) (redis.UniversalClient, Keys) {
	t.Helper()
	url := "redis://127.0.0.1:6379/0"
	if v := os.Getenv("TEST_REDIS_URL"); v != "" {
		url = v
	}
	rdb, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open test redis: %v", err)
	}
	keys := NewKeys("test:autopipeline:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":")
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, keys.Prefix()+"*", 500).Iterator()
		for iter.Next(ctx) {
			rdb.Unlink(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, keys
}

// pipelineCounter counts the pipelines of INCRs sent and can hold the first one until a condition.
type pipelineCounter struct {
	pipelines atomic.Int64
	commands  atomic.Int64
	holdFirst func()
}

func (h *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || cmds[0].Name() != "incr" {
			return next(ctx, cmds) // the client's own (a new connection's handshake)
		}
		if h.pipelines.Add(1) == 1 && h.holdFirst != nil {
			h.holdFirst()
		}
		h.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestAutoPipeline_ConcurrentCallersShareRoundTripsAndGetTheirOwnAnswers(t *testing.T) {
	t.Parallel()
	rdb, keys := testRedis(t)
	const callers = 200
	ap := NewAutoPipeline(rdb)
	counter := &pipelineCounter{}
	// The first pipeline (the first caller's alone) waits until every other caller is queued,
	// so that the rest must travel together in the next one: no timing luck.
	counter.holdFirst = func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			ap.mu.Lock()
			n := len(ap.pending)
			ap.mu.Unlock()
			if n == callers-1 {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Error("the other callers never queued")
	}
	rdb.AddHook(counter)

	shared := keys.Key("shared")
	got := make([]int64, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	first := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			if i > 0 {
				<-first
			}
			<-start
			var own, all *redis.IntCmd
			if i == 0 {
				close(first) // the first caller leads; the others follow once it is in flight
			}
			ap.Do(context.Background(), func(p redis.Pipeliner) {
				own = p.Incr(context.Background(), keys.Key("own", strconv.Itoa(i)))
				all = p.Incr(context.Background(), shared)
			})
			if own.Val() != 1 || own.Err() != nil {
				t.Errorf("caller %d: own counter = %d, %v; want 1", i, own.Val(), own.Err())
			}
			got[i] = all.Val()
		})
	}
	close(start)
	wg.Wait()

	slices.Sort(got)
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("shared counter answers = %v, want each of 1..%d once", got, callers)
		}
	}
	if n := counter.pipelines.Load(); n != 2 {
		t.Errorf("%d callers sent %d pipelines, want 2 (the first caller's, then everyone queued behind it)", callers, n)
	}
	if n := counter.commands.Load(); n != 2*callers {
		t.Errorf("%d commands sent, want %d", n, 2*callers)
	}
}

func TestAutoPipeline_OneCallsErrorIsItsOwn(t *testing.T) {
	t.Parallel()
	rdb, keys := testRedis(t)
	ap := NewAutoPipeline(rdb)
	text := keys.Key("text")
	if err := rdb.Set(context.Background(), text, "not a number", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var bad, good *redis.IntCmd
	ap.Do(context.Background(), func(p redis.Pipeliner) {
		bad = p.Incr(context.Background(), text)
		good = p.Incr(context.Background(), keys.Key("counter"))
	})
	if bad.Err() == nil {
		t.Error("INCR of a string succeeded")
	}
	if good.Err() != nil || good.Val() != 1 {
		t.Errorf("the other command = %d, %v; want 1, nil", good.Val(), good.Err())
	}
}

func TestAutoPipeline_AnswersACallerWhoseContextEnded(t *testing.T) {
	t.Parallel()
	rdb, keys := testRedis(t)
	ap := NewAutoPipeline(rdb)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var cmd *redis.IntCmd
	ap.Do(ctx, func(p redis.Pipeliner) { cmd = p.Incr(ctx, keys.Key("n")) })
	// The pipeline runs without the caller's cancellation, so the command's outcome is known
	// (and the counter consistent with it) even for a caller that has gone.
	if cmd.Err() != nil || cmd.Val() != 1 {
		t.Errorf("INCR = %d, %v; want 1, nil", cmd.Val(), cmd.Err())
	}
	if v, err := rdb.Get(context.Background(), keys.Key("n")).Int(); err != nil || v != 1 {
		t.Errorf("counter = %d, %v; want 1", v, err)
	}
}
