package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wagateway/gateway/internal/bench"
)

func runIdle(ctx context.Context, e *env) (bench.Scenario, error) {
	const sessionPrefix, workerPrefix = "idle-s-", "idle-w-"
	sessions, workers := idleSessions, idleWorkers
	if e.opts.quick {
		sessions, workers = quickIdleSessions, quickIdleWorkers
	}
	var sc bench.Scenario
	sc.Description = fmt.Sprintf("The process's resident memory (VmRSS), Go heap and goroutines right after the server started "+
		"(before any scenario), and again with %s sessions and %s workers in the database (SQL generate_series, then ANALYZE) "+
		"after one GET /health/detailed and one GET /api/v1/workers/statistics (as an administrator). Both footprints are "+
		"taken after two GCs (the second empties sync.Pool caches such as gzip writers) and debug.FreeOSMemory, with "+
		"keep-alive connections left by earlier scenarios closed, so that they compare live state. This scenario runs last: "+
		"the second footprint also holds what the server keeps from the load before (database and Redis pools grown to "+
		"their peak size, goroutine stacks), and the process holds the benchmark's own small state.", bench.FormatNumber(float64(sessions)), bench.FormatNumber(float64(workers)))
	start := e.startFootprint
	// The fixtures stay: this scenario runs last and the database is dropped right after.
	if err := e.insertWorkers(ctx, workerPrefix, "idle", workers, 1000); err != nil {
		return sc, err
	}
	if err := e.insertSessions(ctx, sessionPrefix, sessions, workerPrefix, workers, "CONNECTED"); err != nil {
		return sc, err
	}
	if _, err := e.app.DB.Exec(ctx, `ANALYZE sessions, workers`); err != nil {
		return sc, fmt.Errorf("analyze: %w", err)
	}
	token, err := e.adminToken(ctx)
	if err != nil {
		return sc, err
	}
	// Like at start: no keep-alive connections left over from earlier scenarios, and the
	// garbage they left collected, so that the peak below is the two requests' own.
	e.client.CloseIdleConnections()
	e.fleet.dropIdleConnections()
	settleGoroutines()
	bench.TakeFootprint(true)
	meter := bench.StartMeter(e.meter(0))
	detailed, detailedBytes, err := e.timedGet(ctx, "/health/detailed", "")
	if err != nil {
		meter.Stop()
		return sc, err
	}
	statistics, statisticsBytes, err := e.timedGet(ctx, "/api/v1/workers/statistics", token)
	usage := meter.Stop()
	if err != nil {
		return sc, err
	}
	e.client.CloseIdleConnections()
	settleGoroutines()
	loaded := bench.TakeFootprint(true)
	sc.Facts = append(sc.Facts,
		bench.Fact{Name: "RSS at start", Value: float64(start.RSSBytes), Unit: "bytes"},
		bench.Fact{Name: "Go heap at start", Value: float64(start.HeapBytes), Unit: "bytes"},
		bench.Fact{Name: "Goroutines at start", Value: float64(start.Goroutines)},
		bench.Fact{Name: fmt.Sprintf("RSS with %s sessions and %s workers", bench.FormatNumber(float64(sessions)), bench.FormatNumber(float64(workers))),
			Value: float64(loaded.RSSBytes), Unit: "bytes"},
		bench.Fact{Name: "Go heap with them", Value: float64(loaded.HeapBytes), Unit: "bytes"},
		bench.Fact{Name: "Goroutines with them", Value: float64(loaded.Goroutines)},
		bench.Fact{Name: "Peak RSS during the two requests", Value: float64(usage.PeakRSSBytes), Unit: "bytes"},
		bench.Fact{Name: "GET /health/detailed", Text: fmt.Sprintf("%s, %s", bench.FormatMillis(bench.Millis(detailed)), bench.FormatBytes(uint64(detailedBytes)))},
		bench.Fact{Name: "GET /api/v1/workers/statistics", Text: fmt.Sprintf("%s, %s", bench.FormatMillis(bench.Millis(statistics)), bench.FormatBytes(uint64(statisticsBytes)))},
	)
	sc.Headline = fmt.Sprintf("RSS %s, %d goroutines at start; RSS %s, %d goroutines with %s sessions and %s workers",
		bench.FormatBytes(start.RSSBytes), start.Goroutines, bench.FormatBytes(loaded.RSSBytes), loaded.Goroutines,
		bench.FormatNumber(float64(sessions)), bench.FormatNumber(float64(workers)))
	return sc, nil
}

// timedGet times one GET on the gateway that must answer 200, and returns the body's size.
func (e *env) timedGet(ctx context.Context, path, bearer string) (time.Duration, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.baseURL+path, nil) //nolint:gosec // the gateway under test, on loopback
	if err != nil {
		return 0, 0, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	start := time.Now()
	resp, err := e.client.Do(req) //nolint:gosec // the gateway under test, on loopback
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	took := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	return took, n, nil
}
