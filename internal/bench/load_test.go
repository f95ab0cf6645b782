package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunLoad_MeasuresOnlyTheWindow(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	// A warm-up and window long enough that a loaded CI machine still completes ops in both.
	res, err := RunLoad(context.Background(), LoadConfig{Workers: 4, Warmup: 200 * time.Millisecond, Duration: 300 * time.Millisecond},
		func(ctx context.Context, worker int) error {
			if worker < 0 || worker >= 4 {
				return fmt.Errorf("worker %d out of range", worker)
			}
			calls.Add(1)
			time.Sleep(time.Millisecond)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.WarmupOps == 0 || res.Errors != 0 {
		t.Fatalf("ops %d, warm-up ops %d, errors %d", res.Ops, res.WarmupOps, res.Errors)
	}
	if res.AllOps != calls.Load() || res.AllOps < res.Ops+res.WarmupOps {
		t.Errorf("AllOps %d, calls %d, window %d + warm-up %d", res.AllOps, calls.Load(), res.Ops, res.WarmupOps)
	}
	if res.Latency.Count() != uint64(res.Ops) {
		t.Errorf("latencies %d for %d ops", res.Latency.Count(), res.Ops)
	}
	if res.Window < 300*time.Millisecond {
		t.Errorf("window %v, shorter than the configured duration", res.Window)
	}
	if want := float64(res.Ops) / res.Window.Seconds(); res.Throughput() != want {
		t.Errorf("throughput %v, want %v", res.Throughput(), want)
	}
	if res.Latency.Percentile(50) < time.Millisecond {
		t.Errorf("p50 %v below the op's own sleep", res.Latency.Percentile(50))
	}
	if res.Usage.WallSeconds < 0.3 || res.Usage.PeakGoroutines < 4 {
		t.Errorf("usage %+v", res.Usage)
	}
}

func TestRunLoad_FailedRequests_AreCountedWithDistinctExamples(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	// Every other op fails; a window long enough that a loaded machine still runs many.
	res, err := RunLoad(context.Background(), LoadConfig{Workers: 2, Duration: 300 * time.Millisecond},
		func(context.Context, int) error {
			i := n.Add(1)
			time.Sleep(100 * time.Microsecond)
			if i%2 == 0 {
				return fmt.Errorf("failure %d", i%14)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Errors >= res.Ops || res.AllErrors < res.Errors {
		t.Fatalf("errors %d of %d (all %d)", res.Errors, res.Ops, res.AllErrors)
	}
	if len(res.ErrorExamples) == 0 || len(res.ErrorExamples) > maxErrorExamples {
		t.Fatalf("examples %q", res.ErrorExamples)
	}
	seen := map[string]bool{}
	for _, e := range res.ErrorExamples {
		if seen[e] {
			t.Errorf("example %q twice", e)
		}
		seen[e] = true
	}
	if want := float64(res.Ops-res.Errors) / res.Window.Seconds(); res.Throughput() != want {
		t.Errorf("throughput %v counts failures; want %v", res.Throughput(), want)
	}
}

func TestRunLoad_CancelledDuringWarmup_ReturnsTheContextError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	res, err := RunLoad(ctx, LoadConfig{Workers: 2, Warmup: time.Minute, Duration: time.Minute},
		func(context.Context, int) error {
			if n.Add(1) == 3 {
				cancel() // during the warm-up, after some ops
			}
			return nil
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if res.Ops != 0 || res.AllOps == 0 {
		t.Errorf("ops %d all %d", res.Ops, res.AllOps)
	}
}

func TestRunLoad_CancelledDuringWindow_KeepsWhatItMeasured(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel) // ops of 1 ms: many complete before, even on a loaded machine
	res, err := RunLoad(ctx, LoadConfig{Workers: 2, Duration: time.Minute},
		func(context.Context, int) error { time.Sleep(time.Millisecond); return nil })
	if !errors.Is(err, context.Canceled) || res.Ops == 0 || res.Window >= time.Minute {
		t.Fatalf("err %v, ops %d, window %v", err, res.Ops, res.Window)
	}
}

func TestRunLoad_BadConfig_IsRefused(t *testing.T) {
	t.Parallel()
	for _, cfg := range []LoadConfig{{Workers: 0, Duration: time.Second}, {Workers: 1}} {
		if _, err := RunLoad(context.Background(), cfg, func(context.Context, int) error { return nil }); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if (LoadResult{}).Throughput() != 0 || (BatchResult{}).Throughput() != 0 {
		t.Error("empty results have a throughput")
	}
}

func TestRunBatch_RunsEveryJobOnce(t *testing.T) {
	t.Parallel()
	const n = 1000
	var runs [n]atomic.Int32
	res, err := RunBatch(context.Background(), 8, n, MeterOptions{Interval: time.Millisecond}, func(_ context.Context, i int) error {
		runs[i].Add(1)
		if i%100 == 0 {
			return errors.New("every hundredth fails")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		if got := runs[i].Load(); got != 1 {
			t.Fatalf("job %d ran %d times", i, got)
		}
	}
	if res.Jobs != n || res.Errors != n/100 || res.Latency.Count() != n || len(res.ErrorExamples) != 1 {
		t.Errorf("jobs %d errors %d latencies %d examples %q", res.Jobs, res.Errors, res.Latency.Count(), res.ErrorExamples)
	}
	if want := float64(n-n/100) / res.Elapsed.Seconds(); res.Throughput() != want {
		t.Errorf("throughput %v, want %v", res.Throughput(), want)
	}
}

func TestRunBatch_Cancelled_StopsAndSaysSo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	res, err := RunBatch(ctx, 2, 1_000_000, MeterOptions{}, func(context.Context, int) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.Jobs == 0 || res.Jobs > 2 {
		t.Errorf("err %v after %d jobs", err, res.Jobs)
	}
	if _, err := RunBatch(context.Background(), 0, 1, MeterOptions{}, nil); err == nil {
		t.Error("a batch without goroutines was accepted")
	}
}
