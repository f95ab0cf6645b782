package workers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workers"
)

// fakeFleet serves a fixed list of workers and records what the monitor records.
type fakeFleet struct {
	workers []workers.Monitored

	mu       sync.Mutex
	recorded map[string]bool // worker ID → healthy
	causes   map[string]string
	onRecord func(id string)
}

func newFakeFleet(n int) *fakeFleet {
	f := &fakeFleet{recorded: map[string]bool{}, causes: map[string]string{}}
	for i := range n {
		f.workers = append(f.workers, workers.Monitored{ID: fmt.Sprintf("worker-%04d", i),
			Endpoint: fmt.Sprintf("http://10.0.%d.%d:8001", i/250, i%250), Status: model.WorkerOnline, HeartbeatAge: time.Second})
	}
	return f
}

func (f *fakeFleet) MonitoredWorkers(context.Context) ([]workers.Monitored, error) {
	return f.workers, nil
}

func (f *fakeFleet) RecordCheck(_ context.Context, w workers.Monitored, healthy bool, cause string) (workers.Recorded, error) {
	f.mu.Lock()
	f.recorded[w.ID], f.causes[w.ID] = healthy, cause
	onRecord := f.onRecord
	f.mu.Unlock()
	if onRecord != nil {
		onRecord(w.ID)
	}
	return workers.Recorded{Status: w.Status}, nil
}

func (f *fakeFleet) FailOverStranded(context.Context) (int, error) { return 0, nil }

func (f *fakeFleet) outcome(id string) (healthy, ok bool, cause string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	healthy, ok = f.recorded[id]
	return healthy, ok, f.causes[id]
}

// checkerFunc adapts a function to workers.HealthChecker.
type checkerFunc func(ctx context.Context, workerID string) error

func (c checkerFunc) CheckHealth(ctx context.Context, workerID, _ string) (protocol.WorkerHealth, error) {
	return protocol.WorkerHealth{}, c(ctx, workerID)
}

func newTestMonitor(fleet workers.Fleet, checker workers.HealthChecker, concurrency int) *workers.Monitor {
	return workers.NewMonitor(workers.MonitorConfig{Fleet: fleet, Checker: checker, Interval: time.Second,
		HeartbeatTimeout: 90 * time.Second, Concurrency: concurrency, Metrics: metrics.New().HealthMonitor,
		Logger: slog.New(slog.DiscardHandler)})
}

func TestRound_NeverRunsMoreChecksAtOnceThanItsBound(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 8, workers.DefaultCheckConcurrency} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			fleet := newFakeFleet(300)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var inFlight, most atomic.Int64
			full := make(chan struct{}) // closed once limit checks run together
			var once sync.Once
			checker := checkerFunc(func(context.Context, string) error {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				if n >= int64(limit) {
					once.Do(func() { close(full) })
				}
				// Hold the slot until the bound is reached, so that an unbounded round would
				// run far more than limit checks at once.
				select {
				case <-full:
				case <-ctx.Done():
				}
				return nil
			})

			report, err := newTestMonitor(fleet, checker, limit).Round(ctx)

			if err != nil {
				t.Fatal(err)
			}
			if got := most.Load(); got != int64(limit) {
				t.Fatalf("at most %d checks ran at once, want exactly the bound %d", got, limit)
			}
			if s := report.Summary; s.Total != 300 || s.Healthy != 300 || s.Failed != 0 || s.Pending != 0 {
				t.Fatalf("summary = %+v, want 300 healthy", s)
			}
		})
	}
}

func TestRound_HungWorker_DoesNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	fleet := newFakeFleet(40)
	hung := fleet.workers[0].ID
	release := make(chan struct{})
	recordedOthers := make(chan struct{})
	var others atomic.Int64
	fleet.onRecord = func(id string) {
		if id != hung && others.Add(1) == int64(len(fleet.workers)-1) {
			close(recordedOthers)
		}
	}
	checker := checkerFunc(func(ctx context.Context, id string) error {
		if id == hung {
			select { // a worker that never answers, until its timeout (here: the test's release)
			case <-release:
				return &model.Error{Kind: model.KindConnectivity, Message: "Worker did not answer in time (timeout)"}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	monitor := newTestMonitor(fleet, checker, 4)

	done := make(chan workers.RoundReport, 1)
	go func() {
		report, _ := monitor.Round(t.Context())
		done <- report
	}()
	select {
	case <-recordedOthers: // every other worker was checked and recorded while one hangs
	case <-time.After(5 * time.Second):
		t.Fatalf("only %d of %d other workers were recorded while one hung", others.Load(), len(fleet.workers)-1)
	}
	close(release)
	report := <-done
	if healthy, ok, cause := fleet.outcome(hung); !ok || healthy || cause == "" {
		t.Fatalf("hung worker recorded = %v/%v (%q), want a failure with its cause", ok, healthy, cause)
	}
	if s := report.Summary; s.Healthy != 39 || s.Failed != 1 {
		t.Fatalf("summary = %+v, want 39 healthy and 1 failed", s)
	}
}

func TestRound_StaleHeartbeat_FailsWithoutCallingTheWorker(t *testing.T) {
	t.Parallel()
	fleet := newFakeFleet(2)
	fleet.workers[1].HeartbeatAge = 91 * time.Second
	var called []string
	var mu sync.Mutex
	checker := checkerFunc(func(_ context.Context, id string) error {
		mu.Lock()
		called = append(called, id)
		mu.Unlock()
		return nil
	})

	report, err := newTestMonitor(fleet, checker, 2).Round(t.Context())

	if err != nil {
		t.Fatal(err)
	}
	if len(called) != 1 || called[0] != fleet.workers[0].ID {
		t.Fatalf("called %v, want only the worker with a fresh heartbeat", called)
	}
	healthy, ok, cause := fleet.outcome(fleet.workers[1].ID)
	if !ok || healthy || cause == "" {
		t.Fatalf("stale worker recorded %v/%v (%q), want a failure naming the old heartbeat", ok, healthy, cause)
	}
	if r := report.Results[1]; r.Healthy || r.ResponseTimeMs != nil || r.Error == "" {
		t.Fatalf("stale worker's result = %+v, want a failure without a response time", r)
	}
}

func TestRound_CancelledChecks_AreNotRecordedAsFailures(t *testing.T) {
	t.Parallel()
	fleet := newFakeFleet(10)
	ctx, cancel := context.WithCancel(t.Context())
	var started atomic.Int64
	checker := checkerFunc(func(ctx context.Context, _ string) error {
		if started.Add(1) == 2 {
			cancel() // the replica shuts down mid-round
		}
		<-ctx.Done()
		return errors.New("connection aborted")
	})

	_, err := newTestMonitor(fleet, checker, 2).Round(ctx)

	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, w := range fleet.workers {
		if _, ok, _ := fleet.outcome(w.ID); ok {
			t.Fatalf("%s was recorded although its check was cut short", w.ID)
		}
	}
}
