//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// soakSample is the gateway's footprint at one moment of the soak.
type soakSample struct {
	at         time.Duration
	goroutines float64
	heap       float64 // bytes in use by the Go heap
	rss        float64
}

func mean(samples []soakSample, f func(soakSample) float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	sum := 0.0
	for _, s := range samples {
		sum += f(s)
	}
	return sum / float64(len(samples))
}

// TestSoak_SteadyLoadKeepsMemoryAndGoroutinesFlat runs a steady mixed load (queued and
// synchronous sends with receipts coming back, readiness probes) for 10 minutes (1 minute in
// the short form) and samples the gateway's goroutines and heap: after a warm-up, the last
// third of the run must not sit above the first third beyond a small margin.
func TestSoak_SteadyLoadKeepsMemoryAndGoroutinesFlat(t *testing.T) {
	sc := newScenario(t, "load", "soak at a steady rate")
	ctx := context.Background()
	gw, _, u, tenants := sc.fleet(t, nil, "soak-a", workerOptions{ReceiptDelay: 100 * time.Millisecond}, 4)
	sc.startWorker(t, gw.URL, "soak-b", workerOptions{ReceiptDelay: 100 * time.Millisecond})
	more := sc.api.createSessions(t, gw.URL, u, "soak-b", 4)
	sc.connectAll(t, gw.URL, u, more)
	tenants = append(tenants, more...)

	duration := durations(time.Minute, 10*time.Minute)
	every := durations(5*time.Second, 15*time.Second)
	lanes := append(lanesFor(tenants, []string{gw.URL}, true, 200*time.Millisecond),
		lanesFor(tenants[:4], []string{gw.URL}, false, 250*time.Millisecond)...)
	load := sc.startLoad(lanes)
	readiness := &probe{name: "readiness", tally: newTally(), check: func(ctx context.Context) (reply, error) {
		return sc.api.do(ctx, "GET", gw.URL+"/health/detailed", nil)
	}}
	stopProbe, probeDone := make(chan struct{}), make(chan struct{})
	go func() { runProbes(stopProbe, []*probe{readiness}); close(probeDone) }()

	var samples []soakSample
	start := time.Now()
	tick := time.NewTicker(every)
	for time.Since(start) < duration {
		<-tick.C
		m, err := gw.metrics(ctx, "go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes")
		if err != nil {
			t.Errorf("metrics: %v", err)
			continue
		}
		samples = append(samples, soakSample{at: time.Since(start), goroutines: m["go_goroutines"],
			heap: m["go_memstats_heap_inuse_bytes"], rss: m["process_resident_memory_bytes"]})
	}
	tick.Stop()
	tl := load.Stop()
	close(stopProbe)
	<-probeDone
	sc.countRequests(tl)
	sc.countRequests(readiness.tally)
	sc.fact(t, "Load", "%s over %s (%.0f requests/s)", tl, duration, float64(tl.requests)/duration.Seconds())
	sc.fact(t, "Readiness probes", "%s", readiness.tally)
	if n := tl.failed(400); n > 0 {
		t.Errorf("%d requests failed during the soak", n)
	}

	mib := func(b float64) float64 { return b / (1 << 20) }
	for i, s := range samples {
		if i%max(1, len(samples)/10) == 0 || i == len(samples)-1 {
			sc.fact(t, fmt.Sprintf("At %s", s.at.Round(time.Second)), "goroutines %.0f, heap in use %.1f MiB, RSS %.1f MiB (race detector on)",
				s.goroutines, mib(s.heap), mib(s.rss))
		}
	}
	// The first fifth warms up (pools fill, caches settle); compare the thirds of the rest.
	steady := samples[len(samples)/5:]
	third := max(1, len(steady)/3)
	first, last := steady[:third], steady[len(steady)-third:]
	g0, g1 := mean(first, func(s soakSample) float64 { return s.goroutines }), mean(last, func(s soakSample) float64 { return s.goroutines })
	h0, h1 := mean(first, func(s soakSample) float64 { return s.heap }), mean(last, func(s soakSample) float64 { return s.heap })
	sc.fact(t, "Goroutines, first → last third (mean)", "%.0f → %.0f", g0, g1)
	sc.fact(t, "Heap in use, first → last third (mean)", "%.1f → %.1f MiB", mib(h0), mib(h1))
	if g1 > g0*1.1+10 {
		t.Errorf("goroutines grew from %.0f to %.0f", g0, g1)
	}
	if h1 > h0*1.25+4<<20 {
		t.Errorf("heap in use grew from %.1f to %.1f MiB", mib(h0), mib(h1))
	}
	sc.verify(t, 60*time.Second)
}
