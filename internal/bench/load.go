package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one request of a load: worker is the index of the goroutine making it (each has its
// own connection, session or worker identity when the caller wants that). A non-nil error
// counts the request as failed.
type Op func(ctx context.Context, worker int) error

// LoadConfig shapes a closed-loop load.
type LoadConfig struct {
	// Workers is the number of goroutines, each doing request → response in a loop.
	Workers int
	// Warmup runs before the measured window; its requests are not measured.
	Warmup time.Duration
	// Duration is the measured (steady-state) window.
	Duration time.Duration
	// Meter shapes the meter of the window.
	Meter MeterOptions
}

// LoadResult is what a closed-loop load measured. Counts and latencies cover the requests
// that completed inside the window; those still in flight when it closed are let finish but
// not counted.
type LoadResult struct {
	Ops          int64
	Errors       int64
	WarmupOps    int64
	WarmupErrors int64
	// AllOps and AllErrors count every request of the run, warm-up and the requests that
	// finished after the window closed included: what the target actually served.
	AllOps        int64
	AllErrors     int64
	Window        time.Duration
	Latency       *Histogram
	ErrorExamples []string
	Usage         Usage
}

// Throughput is the completed requests per second of the window, failed ones excluded.
func (r LoadResult) Throughput() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Ops-r.Errors) / r.Window.Seconds()
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// maxErrorExamples bounds the distinct error messages a result keeps.
const maxErrorExamples = 5

// errorBook keeps the first few distinct error messages.
type errorBook struct {
	mu       sync.Mutex
	examples []string
}

func (b *errorBook) add(err error) {
	msg := err.Error()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.examples) >= maxErrorExamples {
		return
	}
	for _, e := range b.examples {
		if e == msg {
			return
		}
	}
	b.examples = append(b.examples, msg)
}

func (b *errorBook) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.examples...)
}

// RunLoad runs op in a closed loop on cfg.Workers goroutines: a warm-up, then the measured
// window, during which the meter runs. Each goroutine records into its own histogram, merged
// at the end, so measuring adds no contention. It returns when every goroutine has finished
// its last request; ctx cancellation cuts the load short and is returned as the error.
func RunLoad(ctx context.Context, cfg LoadConfig, op Op) (LoadResult, error) {
	if cfg.Workers <= 0 || cfg.Duration <= 0 {
		return LoadResult{}, errors.New("load needs at least one worker and a positive duration")
	}
	var phase atomic.Int32
	var ops, errs, warmOps, warmErrs, allOps, allErrs atomic.Int64
	book := &errorBook{}
	hists := make([]*Histogram, cfg.Workers)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		h := NewHistogram()
		hists[w] = h
		wg.Go(func() {
			for phase.Load() != phaseDone && ctx.Err() == nil {
				start := time.Now()
				err := op(ctx, w)
				elapsed := time.Since(start)
				allOps.Add(1)
				if err != nil {
					allErrs.Add(1)
				}
				switch phase.Load() {
				case phaseWarmup:
					warmOps.Add(1)
					if err != nil {
						warmErrs.Add(1)
						book.add(err)
					}
				case phaseMeasure:
					ops.Add(1)
					h.Record(elapsed)
					if err != nil {
						errs.Add(1)
						book.add(err)
					}
				}
			}
		})
	}

	res := LoadResult{}
	stopped := func() (LoadResult, error) {
		phase.Store(phaseDone)
		wg.Wait()
		res.AllOps, res.AllErrors = allOps.Load(), allErrs.Load()
		return res, ctx.Err()
	}
	if !sleep(ctx, cfg.Warmup) {
		return stopped()
	}
	meter := StartMeter(cfg.Meter)
	start := time.Now()
	phase.Store(phaseMeasure)
	completed := sleep(ctx, cfg.Duration)
	phase.Store(phaseDone)
	res.Window = time.Since(start)
	res.Usage = meter.Stop()
	wg.Wait()

	res.Ops, res.Errors = ops.Load(), errs.Load()
	res.WarmupOps, res.WarmupErrors = warmOps.Load(), warmErrs.Load()
	res.AllOps, res.AllErrors = allOps.Load(), allErrs.Load()
	res.Latency = NewHistogram()
	for _, h := range hists {
		res.Latency.Merge(h)
	}
	res.ErrorExamples = book.list()
	res.Usage.SetOps(res.Ops)
	if !completed {
		return res, ctx.Err()
	}
	return res, nil
}

// sleep waits d or until ctx ends; it reports whether the whole d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// BatchResult is what a batch measured: every job, start to finish.
type BatchResult struct {
	Jobs          int64
	Errors        int64
	Elapsed       time.Duration
	Latency       *Histogram
	ErrorExamples []string
	Usage         Usage
}

// Throughput is the jobs done per second, failed ones excluded.
func (r BatchResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Jobs-r.Errors) / r.Elapsed.Seconds()
}

// RunBatch runs job for i in [0, n) on concurrency goroutines and measures the whole batch.
// Jobs not started when ctx ends are skipped and ctx's error is returned.
func RunBatch(ctx context.Context, concurrency, n int, meterOpts MeterOptions, job func(ctx context.Context, i int) error) (BatchResult, error) {
	if concurrency <= 0 || n < 0 {
		return BatchResult{}, fmt.Errorf("batch of %d jobs needs a positive concurrency, got %d", n, concurrency)
	}
	var next, jobs, errs atomic.Int64
	book := &errorBook{}
	hists := make([]*Histogram, concurrency)
	meter := StartMeter(meterOpts)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		h := NewHistogram()
		hists[w] = h
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				err := job(ctx, i)
				h.Record(time.Since(t))
				jobs.Add(1)
				if err != nil {
					errs.Add(1)
					book.add(err)
				}
			}
		})
	}
	wg.Wait()
	res := BatchResult{Elapsed: time.Since(start), Usage: meter.Stop(), Jobs: jobs.Load(), Errors: errs.Load(),
		Latency: NewHistogram(), ErrorExamples: book.list()}
	for _, h := range hists {
		res.Latency.Merge(h)
	}
	res.Usage.SetOps(res.Jobs)
	return res, ctx.Err()
}
