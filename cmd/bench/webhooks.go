package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wagateway/gateway/internal/bench"
	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/webhooks"
)

// Customer webhooks: sessions of one tenant with a webhook each, all pointing at a receiver
// in this process that answers 204 at once.
const (
	webhookSessions = 10
	// webhookBacklog is delivered as fast as the deliverer goes; quickWebhookBacklog in quick runs.
	webhookBacklog, quickWebhookBacklog = 20_000, 3_000
	// webhookEventRate is the pace of bus events in the end-to-end phase.
	webhookEventRate, quickWebhookEventRate = 500, 200
	webhookLatencyWindow                    = 5 * time.Second
	// webhookDownWindow is how long the deliverer works against a receiver that is down.
	webhookDownWindow, quickWebhookDownWindow = 10 * time.Second, 2 * time.Second
	webhookDrainDeadline                      = 60 * time.Second
)

// hookReceiver is the fast local receiver: it counts deliveries by webhook-id and, for
// payloads that carry benchAt, the time from the bus event to the POST's arrival.
type hookReceiver struct {
	url       string
	srv       *http.Server
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	ids     map[string]int
	latency *bench.Histogram
}

func startHookReceiver(ctx context.Context) (*hookReceiver, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	rc := &hookReceiver{url: "http://" + ln.Addr().String(), done: make(chan struct{}), ids: map[string]int{}, latency: bench.NewHistogram()}
	rc.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(rc.serve)}
	go func() {
		defer close(rc.done)
		_ = rc.srv.Serve(ln)
	}()
	return rc, nil
}

func (rc *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	var body struct {
		Data struct {
			BenchAt int64 `json:"benchAt"`
		} `json:"data"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	_ = json.Unmarshal(raw, &body)
	rc.mu.Lock()
	rc.ids[r.Header.Get("webhook-id")]++
	if body.Data.BenchAt > 0 {
		rc.latency.Record(arrived.Sub(time.Unix(0, body.Data.BenchAt)))
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// counts returns how many distinct deliveries arrived and how many arrived more than once.
func (rc *hookReceiver) counts() (distinct, duplicated int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.ids {
		if n > 1 {
			duplicated++
		}
	}
	return len(rc.ids), duplicated
}

// takeLatency returns the latencies recorded so far and starts a new histogram.
func (rc *hookReceiver) takeLatency() *bench.Histogram {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	h := rc.latency
	rc.latency = bench.NewHistogram()
	return h
}

// close stops the receiver: connections to it are refused from then on.
func (rc *hookReceiver) close(ctx context.Context) error {
	rc.closeOnce.Do(func() {
		rc.closeErr = rc.srv.Shutdown(ctx)
		<-rc.done
	})
	return rc.closeErr
}

func runWebhooks(ctx context.Context, e *env) (sc bench.Scenario, err error) {
	backlog, rate, downWindow := webhookBacklog, webhookEventRate, webhookDownWindow
	if e.opts.quick {
		backlog, rate, downWindow = quickWebhookBacklog, quickWebhookEventRate, quickWebhookDownWindow
	}
	latencyWindow := min(e.opts.duration, webhookLatencyWindow)
	sc.Description = fmt.Sprintf("%d sessions of one tenant, each with a webhook (all events) set through the API, all pointing at "+
		"a receiver in this process that answers 204 at once; the gateway restarted with WEBHOOK_ALLOW_PRIVATE=true for this "+
		"scenario (the receiver is on loopback). The deliverer runs as configured: a pool of %d workers, deliveries claimed with "+
		"a lease (FOR UPDATE SKIP LOCKED), each attempt signed and recorded. Three phases: (1) a backlog of %s deliveries "+
		"inserted with SQL is delivered (rate: deliveries received per second until the last; every one must arrive exactly "+
		"once and be recorded DELIVERED); (2) for %s, bus events at %d/s become deliveries through the recorder (latency: from "+
		"the event's publication to the signed POST's arrival); (3) the receiver goes down (connection refused) with a backlog "+
		"of %s deliveries for %s: peak and live heap and goroutines while every attempt fails, and every delivery must still "+
		"be stored, waiting for its retry. The receiver in the same process keeps one map entry per delivery (about 100 bytes).",
		webhookSessions, webhooks.DefaultConcurrency, bench.FormatNumber(float64(backlog)), latencyWindow, rate, bench.FormatNumber(float64(backlog)), downWindow)
	if err := e.restartGateway(ctx, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}); err != nil {
		return sc, err
	}
	defer func() {
		if ctx.Err() == nil {
			err = errors.Join(err, e.restartGateway(ctx, nil))
		}
	}()
	rc, err := startHookReceiver(ctx)
	if err != nil {
		return sc, err
	}
	defer func() { err = errors.Join(err, rc.close(context.WithoutCancel(ctx))) }()
	sessions, err := e.hookedSessions(ctx, rc.url)
	if err != nil {
		return sc, err
	}
	defer func() {
		_, delErr := e.app.DB.Exec(context.WithoutCancel(ctx), `DELETE FROM sessions WHERE id = ANY($1)`, sessions)
		err = errors.Join(err, delErr)
	}()

	row, err := deliverBacklog(ctx, e, rc, backlog)
	sc.Rows = append(sc.Rows, row)
	if err != nil {
		return sc, err
	}
	endToEnd, err := deliverEvents(ctx, e, rc, sessions, rate, latencyWindow)
	sc.Rows = append(sc.Rows, endToEnd)
	if err != nil {
		return sc, err
	}
	down, facts, err := receiverDown(ctx, e, rc, backlog, downWindow)
	sc.Rows = append(sc.Rows, down)
	sc.Facts = append(sc.Facts, facts...)
	if err != nil {
		return sc, err
	}
	sc.Headline = fmt.Sprintf("delivers %s/s to a fast local receiver (peak %d goroutines, heap %s); end to end %s p50 / %s p99 at %d events/s; "+
		"receiver down: %s deliveries kept, peak heap %s, %d goroutines",
		bench.FormatNumber(row.Throughput), row.Usage.PeakGoroutines, bench.FormatBytes(row.Usage.PeakHeapBytes),
		bench.FormatMillis(endToEnd.Latency.P50), bench.FormatMillis(endToEnd.Latency.P99), rate,
		bench.FormatNumber(float64(backlog)), bench.FormatBytes(down.Usage.PeakHeapBytes), down.Usage.PeakGoroutines)
	return sc, nil
}

// hookedSessions creates the sessions through the API, with a webhook each to receiverURL,
// and returns their IDs.
func (e *env) hookedSessions(ctx context.Context, receiverURL string) ([]string, error) {
	token, _, _, _, err := e.registerUser(ctx, "hooks")
	if err != nil {
		return nil, err
	}
	ids := make([]string, webhookSessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-hook-%02d", i+1)
		if err := e.call(ctx, http.MethodPost, "/api/v1/sessions", token, map[string]string{"name": "Bench hooks", "sessionId": ids[i]}, nil); err != nil {
			return ids[:i], err
		}
		if err := e.call(ctx, http.MethodPut, "/api/v1/sessions/"+ids[i]+"/webhook", token,
			map[string]any{"url": fmt.Sprintf("%s/hook/%d", receiverURL, i+1), "events": []string{"*"}}, nil); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

// insertDeliveries stores n deliveries due now, spread over the bench's webhooks.
func insertDeliveries(ctx context.Context, e *env, label string, n int) error {
	_, err := e.app.DB.Exec(ctx, `
		INSERT INTO webhook_deliveries (webhook_id, event, payload, next_retry)
		SELECT w.id, 'message.received', jsonb_build_object('id', 'evt_bench_' || $1::text || '_' || g, 'event', 'message.received',
			'timestamp', now(), 'sessionId', w.session_id, 'data', jsonb_build_object('n', g)), now()
		FROM generate_series(1, $2::int) g
		JOIN (SELECT id, session_id, row_number() OVER (ORDER BY session_id) - 1 AS k FROM webhooks
		      WHERE starts_with(session_id, 'bench-hook-')) w ON w.k = g % $3`, label, n, webhookSessions)
	if err != nil {
		return fmt.Errorf("insert %d webhook deliveries: %w", n, err)
	}
	e.app.WebhookDeliverer.Kick()
	return nil
}

// deliverBacklog measures the delivery of a backlog to the fast receiver.
func deliverBacklog(ctx context.Context, e *env, rc *hookReceiver, n int) (bench.Row, error) {
	row := bench.Row{Name: fmt.Sprintf("a backlog of %s to a fast local receiver", bench.FormatNumber(float64(n))), Unit: "deliveries/s"}
	before, _ := rc.counts() // events the setup raised
	meter := bench.StartMeter(e.meter(0))
	start := time.Now()
	if err := insertDeliveries(ctx, e, "backlog", n); err != nil {
		meter.Stop()
		return row, err
	}
	var got, dup int
	waitErr := waitFor(ctx, webhookDrainDeadline, "deliver the backlog", func() (bool, error) {
		got, dup = rc.counts()
		got -= before
		return got >= n, nil
	})
	if err := settleRow(&row, meter.Stop(), time.Since(start), got, n, dup, waitErr); err != nil {
		return row, err
	}
	var delivered int64
	err := waitFor(ctx, setupDeadline, "record every delivery as DELIVERED", func() (bool, error) {
		err := e.app.DB.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'DELIVERED' AND attempts = 1`).Scan(&delivered)
		return delivered >= int64(n), err
	})
	if err != nil {
		return row, fmt.Errorf("%d of %d recorded DELIVERED after one attempt: %w", delivered, n, err)
	}
	return row, nil
}

// deliverEvents publishes message events on the bus at rate for window and measures, at the
// receiver, the time from each publication to its delivery.
func deliverEvents(ctx context.Context, e *env, rc *hookReceiver, sessions []string, rate int, window time.Duration) (bench.Row, error) {
	row := bench.Row{Name: fmt.Sprintf("end to end at %d events/s: bus event → signed POST received", rate), Unit: "deliveries/s"}
	before, _ := rc.counts()
	rc.takeLatency()
	meter := bench.StartMeter(e.meter(0))
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	published := 0
	for time.Since(start) < window && ctx.Err() == nil {
		<-tick.C
		session := sessions[published%len(sessions)]
		e.app.Bus.Publish(events.Event{Type: events.MessageReceived, SessionID: session, At: time.Now(), Payload: map[string]any{
			"sessionId": session, "benchAt": time.Now().UnixNano(),
			"message": map[string]any{"id": fmt.Sprintf("bench-%d", published), "from": "6281100000001@s.whatsapp.net", "content": "hi", "type": "TEXT"}}})
		published++
	}
	tick.Stop()
	waitErr := waitFor(ctx, webhookDrainDeadline, "deliver the events", func() (bool, error) {
		got, _ := rc.counts()
		return got-before >= published, nil
	})
	elapsed, usage := time.Since(start), meter.Stop()
	got, dup := rc.counts()
	latency := rc.takeLatency().Summary()
	row.Latency = &latency
	return row, settleRow(&row, usage, elapsed, got-before, published, dup, waitErr)
}

// settleRow fills the row of a delivery phase from what the receiver got over elapsed, and
// fails the phase when some of want did not arrive (waitErr) or some arrived twice.
func settleRow(row *bench.Row, usage bench.Usage, elapsed time.Duration, got, want, dup int, waitErr error) error {
	usage.SetOps(int64(got))
	row.Ops, row.WindowSeconds, row.Throughput, row.Usage = int64(got), elapsed.Seconds(), float64(got)/elapsed.Seconds(), &usage
	switch {
	case waitErr != nil:
		row.Errors = int64(want - got)
		return waitErr
	case dup > 0:
		row.Errors = int64(dup)
		return fmt.Errorf("%d deliveries arrived more than once", dup)
	}
	return nil
}

// receiverDown stops the receiver, stores a backlog and lets the deliverer fail at it for a
// window; every delivery must still be stored, waiting for a retry.
func receiverDown(ctx context.Context, e *env, rc *hookReceiver, n int, window time.Duration) (bench.Row, []bench.Fact, error) {
	row := bench.Row{Name: fmt.Sprintf("receiver down (connection refused), a backlog of %s: attempts per second", bench.FormatNumber(float64(n))),
		Unit: "attempts/s"}
	if err := rc.close(ctx); err != nil {
		return row, nil, fmt.Errorf("stop the receiver: %w", err)
	}
	if _, err := e.app.DB.Exec(ctx, `DELETE FROM webhook_deliveries`); err != nil {
		return row, nil, fmt.Errorf("forget the delivered: %w", err)
	}
	bench.TakeFootprint(true)
	meter := bench.StartMeter(e.meter(0))
	start := time.Now()
	if err := insertDeliveries(ctx, e, "down", n); err != nil {
		meter.Stop()
		return row, nil, err
	}
	select {
	case <-ctx.Done():
		meter.Stop()
		return row, nil, ctx.Err()
	case <-time.After(window):
	}
	elapsed := time.Since(start)
	usage := meter.Stop()
	live := bench.TakeFootprint(true)
	var stored, waiting, attempts, failed int64
	err := e.app.DB.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status IN ('PENDING', 'RETRYING')),
		coalesce(sum(attempts), 0), count(*) FILTER (WHERE status = 'FAILED') FROM webhook_deliveries`).Scan(&stored, &waiting, &attempts, &failed)
	if err != nil {
		return row, nil, fmt.Errorf("count deliveries: %w", err)
	}
	usage.SetOps(attempts)
	row.Ops, row.WindowSeconds, row.Throughput, row.Usage, row.Errors = attempts, elapsed.Seconds(), float64(attempts)/elapsed.Seconds(), &usage, failed
	facts := []bench.Fact{
		{Name: "Receiver down: deliveries stored, waiting for a retry", Text: fmt.Sprintf("%s of %s (%s FAILED)",
			bench.FormatNumber(float64(waiting)), bench.FormatNumber(float64(n)), bench.FormatNumber(float64(failed)))},
		{Name: "Receiver down: live heap after a GC (goroutines)", Value: float64(live.HeapBytes), Unit: "bytes",
			Text: fmt.Sprintf("%s (%d goroutines)", bench.FormatBytes(live.HeapBytes), live.Goroutines)},
	}
	if stored != int64(n) || waiting != int64(n) {
		return row, facts, fmt.Errorf("receiver down: %d deliveries stored and %d waiting for a retry, want all %d", stored, waiting, n)
	}
	return row, facts, nil
}
