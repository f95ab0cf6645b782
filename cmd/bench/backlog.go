package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wagateway/gateway/internal/bench"
	"github.com/wagateway/gateway/internal/store"
)

// The async queue under a backlog: every session of one simworker has a long queue, inserted
// with SQL, and the dispatcher works through it at the configured pacing (one message per
// session per SEND_MIN_INTERVAL_MS). Each backlog size is measured over a window after the
// dispatcher's first burst, so that the rate is the steady one.
const (
	backlogSessions, quickBacklogSessions = 1_000, 1_000
	backlogWindow, quickBacklogWindow     = 5 * time.Second, 2 * time.Second
	backlogSessionPrefix                  = "bench-backlog-s"
	backlogWorkerPrefix                   = "bench-backlog-w"
	backlogMessage                        = "Hello from the gateway benchmark (backlog)"
	// backlogStartDeadline bounds the wait for the dispatcher's first sends of a backlog.
	backlogStartDeadline = 30 * time.Second
)

var (
	backlogSizes      = []int{10_000, 30_000, 100_000}
	quickBacklogSizes = []int{5_000, 10_000}
)

func runQueueBacklog(ctx context.Context, e *env) (sc bench.Scenario, err error) {
	sessions, sizes, window := backlogSessions, backlogSizes, backlogWindow
	if e.opts.quick {
		sessions, sizes, window = quickBacklogSessions, quickBacklogSizes, quickBacklogWindow
	}
	interval := e.cfg.SendMinInterval
	paced := float64(sessions) / interval.Seconds()
	sc.Description = fmt.Sprintf("%s CONNECTED sessions on one in-process simworker (fast, receipts off), each with a queue of "+
		"backlog/%s async text messages inserted with SQL (generate_series) as QUEUED and due. The gateway runs with its "+
		"default pacing, SEND_MIN_INTERVAL_MS=%d: at most one send per session per %s, so the paced rate is %s msg/s. For each "+
		"backlog size, smallest first (what is left of the previous one is cancelled), the rate is the simworker's sends over "+
		"a %s window that starts one pacing interval after the dispatcher's first send (after its first burst). Peak heap "+
		"and goroutines are sampled over the window; the live heap is measured after a GC at its end (the process also holds "+
		"the simworker, which remembers up to 10,000 clientMessageIds, about 2 MiB, to deduplicate retries). Flat figures "+
		"across sizes mean the dispatcher's memory does not grow with the backlog; a rate at the paced rate means it keeps up "+
		"(each session's interval runs from the worker's answer to its next send, so a few percent below it is the attempt's own time).",
		bench.FormatNumber(float64(sessions)), bench.FormatNumber(float64(sessions)), interval.Milliseconds(), interval,
		bench.FormatNumber(paced), window)
	sim, err := e.startSimWorker(ctx, fixtureWorker(backlogWorkerPrefix, 1), sessions)
	if err != nil {
		return sc, err
	}
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = fixtureSession(backlogSessionPrefix, i+1)
	}
	defer func() {
		err = errors.Join(err, sim.close())
		e.app.Router.Clear(context.WithoutCancel(ctx), ids...)
		err = errors.Join(err, e.deleteFixtures(ctx, backlogSessionPrefix, backlogWorkerPrefix))
	}()
	if err := e.insertSessions(ctx, backlogSessionPrefix, sessions, backlogWorkerPrefix, 1, "CONNECTED"); err != nil {
		return sc, err
	}
	// The simulated engine takes them as sessions whose credentials it kept: connected at once.
	for _, id := range ids {
		if err := sim.engine.Resume(ctx, id, e.fixtureUserID, "Bench backlog"); err != nil {
			return sc, fmt.Errorf("resume %s on the simworker: %w", id, err)
		}
	}

	var live []bench.Fact
	for _, size := range sizes {
		row, fp, err := measureBacklog(ctx, e, sim, sessions, size, window)
		sc.Rows = append(sc.Rows, row)
		if err != nil {
			return sc, err
		}
		live = append(live, bench.Fact{Name: fmt.Sprintf("Live heap after a GC, backlog %s (goroutines)", bench.FormatNumber(float64(size))),
			Value: float64(fp.HeapBytes), Unit: "bytes", Text: fmt.Sprintf("%s (%d goroutines)", bench.FormatBytes(fp.HeapBytes), fp.Goroutines)})
	}
	sc.Facts = append(sc.Facts, bench.Fact{Name: "Paced rate (sessions / SEND_MIN_INTERVAL_MS)", Value: paced, Unit: "msg/s"})
	sc.Facts = append(sc.Facts, live...)
	if _, err := cancelBacklog(ctx, e); err != nil {
		return sc, err
	}
	first, last := sc.Rows[0], sc.Rows[len(sc.Rows)-1]
	sc.Headline = fmt.Sprintf("drains %s msg/s at a backlog of %s and %s msg/s at %s (paced rate %s msg/s); peak heap %s → %s, goroutines %d → %d",
		bench.FormatNumber(first.Throughput), bench.FormatNumber(float64(sizes[0])), bench.FormatNumber(last.Throughput),
		bench.FormatNumber(float64(sizes[len(sizes)-1])), bench.FormatNumber(paced),
		bench.FormatBytes(first.Usage.PeakHeapBytes), bench.FormatBytes(last.Usage.PeakHeapBytes),
		first.Usage.PeakGoroutines, last.Usage.PeakGoroutines)
	return sc, nil
}

// measureBacklog queues size messages over the sessions and measures the drain over window.
func measureBacklog(ctx context.Context, e *env, sim *simWorker, sessions, size int, window time.Duration) (bench.Row, bench.Footprint, error) {
	name := fmt.Sprintf("backlog %s (%s per session): sends per second", bench.FormatNumber(float64(size)), bench.FormatNumber(float64(size/sessions)))
	row := bench.Row{Name: name, Unit: "msg/s"}
	if _, err := cancelBacklog(ctx, e); err != nil {
		return row, bench.Footprint{}, err
	}
	before := sim.engine.SentTotal()
	// Within each session, created_at follows g: the queue order is the insertion order.
	_, err := e.app.DB.Exec(ctx, `
		INSERT INTO messages (id, session_id, direction, to_number, message_type, content, payload, status, async, next_attempt_at, created_at)
		SELECT id, $1 || lpad(((g - 1) % $2::int + 1)::text, 6, '0'), 'OUTBOUND', $3, 'TEXT', $4,
		       jsonb_build_object('to', $3::text, 'type', 'text', 'message', $4::text, 'clientMessageId', id), 'QUEUED',
		       true, now(), clock_timestamp() + g * interval '1 microsecond'
		FROM (SELECT g, gen_random_uuid() AS id FROM generate_series(1, $5::int) g) x`,
		backlogSessionPrefix, sessions, sendTo+"@s.whatsapp.net", backlogMessage, size)
	if err != nil {
		return row, bench.Footprint{}, fmt.Errorf("insert a backlog of %d: %w", size, err)
	}
	if _, err := e.app.DB.Exec(ctx, `SELECT pg_notify($1, '')`, store.QueueChannel); err != nil {
		return row, bench.Footprint{}, fmt.Errorf("wake the dispatcher: %w", err)
	}
	if err := waitFor(ctx, backlogStartDeadline, "the dispatcher's first send of the backlog", func() (bool, error) {
		return sim.engine.SentTotal() > before, nil
	}); err != nil {
		return row, bench.Footprint{}, err
	}
	// Past the first burst (every session due at once): the window sees the steady rate.
	select {
	case <-ctx.Done():
		return row, bench.Footprint{}, ctx.Err()
	case <-time.After(e.cfg.SendMinInterval):
	}
	meter := bench.StartMeter(e.meter(0))
	start, sentAtStart := time.Now(), sim.engine.SentTotal()
	select {
	case <-ctx.Done():
		meter.Stop()
		return row, bench.Footprint{}, ctx.Err()
	case <-time.After(window):
	}
	sent, elapsed := sim.engine.SentTotal()-sentAtStart, time.Since(start)
	usage := meter.Stop()
	usage.SetOps(int64(sent))
	row.Ops, row.WindowSeconds, row.Throughput, row.Usage = int64(sent), elapsed.Seconds(), float64(sent)/elapsed.Seconds(), &usage
	fp := bench.TakeFootprint(true)
	if sent == 0 {
		return row, fp, fmt.Errorf("backlog %d: nothing sent in %s", size, window)
	}
	var failed int64
	if err := e.app.DB.QueryRow(ctx, `SELECT count(*) FROM messages WHERE starts_with(session_id, $1) AND status = 'FAILED'`,
		backlogSessionPrefix).Scan(&failed); err != nil {
		return row, fp, fmt.Errorf("count failed sends: %w", err)
	}
	row.Errors = failed
	return row, fp, nil
}

// cancelBacklog cancels what is still queued for the backlog's sessions.
func cancelBacklog(ctx context.Context, e *env) (int64, error) {
	tag, err := e.app.DB.Exec(ctx, `UPDATE messages SET status = 'CANCELLED', next_attempt_at = NULL, updated_at = now()
		WHERE starts_with(session_id, $1) AND status = 'QUEUED'`, backlogSessionPrefix)
	if err != nil {
		return 0, fmt.Errorf("cancel the backlog: %w", err)
	}
	return tag.RowsAffected(), nil
}
