package service

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workers"
)

// Dispatcher delivers async sends: per session in strict order, paced by SEND_MIN_INTERVAL_MS,
// retried with exponential backoff and jitter while the session or its worker cannot take
// them, FAILED after SEND_MAX_ATTEMPTS. All state is in Postgres, so it survives restarts; a
// per-session advisory lock lets every replica run a dispatcher without double delivery; and
// LISTEN/NOTIFY wakes it as soon as work arrives. It reads the queue in bounded pages, so its
// memory does not grow with the backlog.
type Dispatcher struct {
	Pool        *pgxpool.Pool
	Messaging   *Messaging
	MinInterval time.Duration
	RetryBase   time.Duration
	RetryMax    time.Duration
	MaxAttempts int
	// Concurrency bounds the batches (transactions, up to dispatchBatch sessions of one
	// worker each) sent at once by this replica.
	Concurrency int
	Logger      *slog.Logger
	// UnansweredAfter is how old a synchronous send still PENDING must be before it is handed
	// to the dispatcher (default UnansweredAfter): older than any request can run.
	UnansweredAfter time.Duration

	// planned is when Run means to look at the queue next (Unix ms); notified is the earliest
	// due time announced since Run last planned (Unix ms, 0: none).
	planned, notified atomic.Int64
	running           atomic.Bool
	wakeOnce          sync.Once
	wake              chan struct{} // wakes Run; see wakeUp
}

const (
	dispatchPage = 256
	// dispatchBatch bounds the sessions of one worker sent in one transaction: a transaction
	// per send cost PostgreSQL more than the send itself.
	dispatchBatch = 16
	// dispatchPoll is the longest the dispatcher sleeps without looking at the queue.
	dispatchPoll = time.Second
	// dispatchMinWait keeps a clock skew between Go and Postgres from turning into a busy loop.
	dispatchMinWait = 2 * time.Millisecond
)

// Unanswered sends: a synchronous send whose gateway stopped between its record and the
// worker's answer stays PENDING. Every replica looks, every unansweredScan, at the sends
// created since its last look that are older than UnansweredAfter, and hands those still
// PENDING to the dispatcher (store.RequeueUnanswered); at start it looks back
// unansweredLookback.
const (
	// UnansweredAfter bounds a request: requestTimeout (30 s), the worker's send included,
	// with room to spare; the Idempotency-Key takeover waits as long.
	UnansweredAfter    = 2 * time.Minute
	unansweredScan     = 30 * time.Second
	unansweredLookback = time.Hour
)

// attemptTimeout bounds one dispatch: the worker's send and the transaction around it. An
// attempt under way when the dispatcher stops is allowed to finish within it: cut short, the
// worker may have sent the message while its record stays QUEUED, and the next dispatcher
// would hand it over again.
const attemptTimeout = workers.CommandTimeout + 5*time.Second

// Run dispatches until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	d.running.Store(true)
	defer d.running.Store(false)
	wake := d.wakeUp()
	var background sync.WaitGroup
	background.Go(func() { d.listen(ctx, wake) })
	background.Go(func() { d.requeueUnanswered(ctx, time.Now().Add(-unansweredLookback), unansweredScan) })
	defer background.Wait()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		attempted, next := d.round(ctx)
		if ctx.Err() != nil {
			return
		}
		if attempted > 0 {
			continue
		}
		// Nothing to send now: sleep until the next head is due or the next paced session may
		// send, so that pacing and schedules are kept to the millisecond; new work wakes us
		// through NOTIFY, and the poll covers what changes without one.
		wait := dispatchPoll
		if !next.IsZero() {
			wait = min(wait, max(time.Until(next), dispatchMinWait))
		}
		// Plan first, then take what was announced meanwhile: a NOTIFY is either seen here or
		// compared by the listener with this plan (see notice).
		d.planned.Store(time.Now().Add(wait).UnixMilli())
		if n := d.notified.Swap(0); n != 0 {
			wait = min(wait, max(time.Until(time.UnixMilli(n)), dispatchMinWait))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
	}
}

// requeueUnanswered hands to the dispatcher, every interval until ctx ends, the synchronous
// sends created since the previous look (from since at first) that are older than
// UnansweredAfter and still PENDING.
func (d *Dispatcher) requeueUnanswered(ctx context.Context, since time.Time, interval time.Duration) {
	after := d.UnansweredAfter
	if after <= 0 {
		after = UnansweredAfter
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		before := time.Now().Add(-after)
		if before.After(since) {
			n, err := store.RequeueUnanswered(ctx, d.Pool, since, before)
			switch {
			case err != nil && ctx.Err() == nil:
				d.Logger.WarnContext(ctx, "requeue unanswered sends", slog.Any("err", err))
			case err == nil:
				since = before
				if n > 0 {
					d.Logger.WarnContext(ctx, "sends left without the worker's answer handed to the dispatcher",
						slog.Int64("count", n))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Dispatcher) wakeUp() chan struct{} {
	d.wakeOnce.Do(func() { d.wake = make(chan struct{}, 1) })
	return d.wake
}

// Running says whether Run is dispatching.
func (d *Dispatcher) Running() bool { return d.running.Load() }

// Notice tells the dispatcher of sends queued by this replica, the earliest due at due: the
// in-process equivalent of a NOTIFY on the queue channel.
func (d *Dispatcher) Notice(due time.Time) { d.notice(due, d.wakeUp()) }

// listen turns NOTIFY on the queue channel into wake-ups, reconnecting when the connection
// drops; polling covers the gaps.
func (d *Dispatcher) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		d.Logger.WarnContext(ctx, "queue listener lost; polling until it is back", slog.Any("err", err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *Dispatcher) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	conn, err := d.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+store.QueueChannel); err != nil {
		return err
	}
	defer func() {
		// Leave the pooled connection clean; a failed UNLISTEN destroys it instead.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *"); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		d.notice(store.QueueDue(n.Payload, time.Now()), wake)
	}
}

// notice takes a NOTIFY announcing work due at due. It wakes Run when that is before Run
// means to look anyway (or now); otherwise Run finds it when it plans its next look. Sends
// scheduled for later thus cost no round, however many arrive.
func (d *Dispatcher) notice(due time.Time, wake chan<- struct{}) {
	ms := due.UnixMilli()
	for {
		cur := d.notified.Load()
		if (cur != 0 && cur <= ms) || d.notified.CompareAndSwap(cur, ms) {
			break
		}
	}
	if ms <= time.Now().UnixMilli() || ms < d.planned.Load() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// round sends what is due now across sessions: the due sessions of each worker in batches
// of at most dispatchBatch, each batch one transaction, at most Concurrency batches at once.
// It returns how many sessions it made an attempt for, and when the next session not due yet
// will be.
func (d *Dispatcher) round(ctx context.Context) (attempted int, next time.Time) {
	due, next, err := store.DueSessions(ctx, d.Pool, d.MinInterval, dispatchPage)
	if err != nil {
		if ctx.Err() == nil {
			d.Logger.WarnContext(ctx, "list due sessions", slog.Any("err", err))
		}
		return 0, time.Time{}
	}
	var count atomic.Int64
	sem := make(chan struct{}, max(d.Concurrency, 1))
	var wg sync.WaitGroup
batches:
	for _, batch := range batchByWorker(due, dispatchBatch) {
		select {
		case <-ctx.Done():
			break batches // no new attempt; those under way finish
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			attemptCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
			defer cancel()
			n, err := d.dispatchBatch(attemptCtx, batch)
			if err != nil {
				d.Logger.WarnContext(ctx, "dispatch", slog.Any("session_ids", batch), slog.Any("err", err))
			}
			count.Add(int64(n))
		})
	}
	wg.Wait()
	return int(count.Load()), next
}

// batchByWorker splits the due sessions into batches of at most size sessions of one worker,
// in the order the workers first appear: a worker slow to answer holds up only its own.
func batchByWorker(due []store.DueSession, size int) [][]string {
	var batches [][]string
	open := map[string]int{} // worker → index of its batch still filling
	for _, s := range due {
		i, ok := open[s.WorkerID]
		if !ok || len(batches[i]) >= size {
			i = len(batches)
			open[s.WorkerID] = i
			batches = append(batches, make([]string, 0, size))
		}
		batches[i] = append(batches[i], s.ID)
	}
	return batches
}

// dispatchBatch sends the heads of the sessions' queues that are due and that pacing allows,
// all at once, in one transaction that holds the sessions and records every outcome; attempted
// says for how many sessions it did (another dispatcher may have taken some meanwhile).
func (d *Dispatcher) dispatchBatch(ctx context.Context, sessionIDs []string) (attempted int, err error) {
	var settled func()
	err = store.WithTx(ctx, d.Pool, func(tx pgx.Tx) error {
		heads, err := store.LockQueueHeads(ctx, tx, sessionIDs)
		if err != nil {
			return err
		}
		now := time.Now()
		heads = slices.DeleteFunc(heads, func(h store.QueueHead) bool {
			// A head that waits (scheduled or backing off) holds the queue behind it.
			return h.NextAttemptAt.After(now) || (h.LastDispatchedAt != nil && now.Sub(*h.LastDispatchedAt) < d.MinInterval)
		})
		if len(heads) == 0 {
			return nil
		}
		attempted = len(heads)
		outcomes := make([]sendOutcome, len(heads))
		var wg sync.WaitGroup
		for i := range heads {
			wg.Go(func() { outcomes[i] = d.send(ctx, heads[i]) })
		}
		wg.Wait()
		settled, err = d.record(ctx, tx, heads, outcomes, now)
		return err
	})
	if err != nil {
		return 0, err
	}
	if settled != nil {
		settled()
	}
	return attempted, nil
}

// sendOutcome is what became of the send of a queue head.
type sendOutcome struct {
	answer protocol.SendResult
	at     time.Time // when the worker answered
	err    error
	// unreadable: the stored request could not be read back, and is not sent.
	unreadable bool
}

// send hands the head to the session's worker.
func (d *Dispatcher) send(ctx context.Context, head store.QueueHead) sendOutcome {
	m := d.Messaging
	var req protocol.SendRequest
	if err := jsonUnmarshal(head.Payload, &req); err != nil {
		return sendOutcome{unreadable: true}
	}
	req.ClientMessageID = head.ID // the same ID on every attempt: the worker can deduplicate

	if head.SessionStatus != model.SessionConnected {
		return sendOutcome{err: model.Errorf(model.KindConflict, "session not connected: %s", head.SessionStatus)}
	}
	route, err := m.Router.Lookup(ctx, head.SessionID)
	if err != nil {
		if errors.Is(err, router.ErrNotPlaced) {
			err = model.Errorf(model.KindConnectivity, "the session is not running on any worker")
		}
		return sendOutcome{err: err}
	}
	answer, err := m.Client.Send(ctx, workers.Target{ID: route.WorkerID, Endpoint: route.Endpoint}, head.SessionID, req)
	return sendOutcome{answer: answer, at: time.Now().UTC(), err: err}
}

// record writes the outcomes of the heads' sends in tx: the sends the workers took in one
// statement, the others one by one (retried, deferred or failed for good). A deadlock with
// another writer of the same sessions, which would roll back the record of sends already
// made, only rolls back to a savepoint, and the record is written again. settled publishes
// what was recorded, once it is committed.
func (d *Dispatcher) record(ctx context.Context, tx pgx.Tx, heads []store.QueueHead, outcomes []sendOutcome, now time.Time) (settled func(), err error) {
	m := d.Messaging
	var sent []store.Dispatched
	var sentHeads []store.QueueHead
	var sentEvents []events.Event
	for i, o := range outcomes {
		if o.err == nil && !o.unreadable {
			h := heads[i]
			e := statusEvent(h.SessionID, h.UserID, h.ID, o.answer.MessageID, model.MessageSent, o.at)
			sent = append(sent, store.Dispatched{ID: h.ID, SessionID: h.SessionID, WAMessageID: o.answer.MessageID,
				At: o.at, Hook: m.webhookOf(ctx, &e)})
			sentHeads, sentEvents = append(sentHeads, h), append(sentEvents, e)
		}
	}
	var stored int64
	var failed []events.Event
	var counted []string // the attempts' outcomes, for the metrics once committed
	write := func(tx pgx.Tx) error {
		stored, failed, counted = 0, failed[:0], counted[:0]
		if len(sent) > 0 {
			n, err := store.MarkDispatched(ctx, tx, sent)
			if err != nil {
				return err
			}
			stored = n
		}
		for i, o := range outcomes {
			if o.err == nil && !o.unreadable {
				continue
			}
			outcome, e, err := d.recordFailure(ctx, tx, heads[i], o, now)
			if err != nil {
				return err
			}
			counted = append(counted, outcome)
			if e != nil {
				failed = append(failed, *e)
			}
		}
		return nil
	}
	for try := 0; ; try++ {
		err = store.WithTxOn(ctx, tx, write)
		if err == nil || !store.IsDeadlock(err) || try == store.DeadlockRetries {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return func() {
		for i, e := range sentEvents {
			h := sentHeads[i]
			m.Metrics.DispatchAttempts.WithLabelValues("sent").Inc()
			m.Metrics.DispatchLatency.Observe(sent[i].At.Sub(h.NextAttemptAt).Seconds())
			m.Metrics.Messages.WithLabelValues(string(h.Type), string(model.DirectionOutbound), string(model.MessageSent)).Inc()
			m.Bus.Publish(e)
		}
		for _, outcome := range counted {
			if outcome != "" {
				m.Metrics.DispatchAttempts.WithLabelValues(outcome).Inc()
			}
		}
		for _, e := range failed {
			m.raise(e)
		}
		if stored > 0 && m.WebhooksQueued != nil {
			m.WebhooksQueued()
		}
	}, nil
}

// recordFailure records in tx a send the worker did not take: retried later with backoff,
// deferred as long as the worker's pacing says (without spending an attempt), or FAILED once
// the attempts are spent, which raises an event (returned). outcome names it for the metrics.
func (d *Dispatcher) recordFailure(ctx context.Context, tx pgx.Tx, head store.QueueHead, o sendOutcome, now time.Time) (outcome string, raised *events.Event, err error) {
	if o.unreadable {
		return "", nil, store.MarkAttemptFailed(ctx, tx, head.ID, "unreadable stored request", nil)
	}
	reason := errorMessage(o.err)
	var paced *model.Error
	if errors.As(o.err, &paced) && paced.Kind == model.KindRateLimited {
		// The worker paces sends to this recipient (anti-ban): wait as long as it says,
		// without spending an attempt.
		return "paced", nil, store.DeferQueued(ctx, tx, head.ID, reason, now.Add(max(paced.RetryAfter, time.Second)))
	}
	attempts := head.Attempts + 1
	if attempts >= d.MaxAttempts {
		if err := store.MarkAttemptFailed(ctx, tx, head.ID, reason, nil); err != nil {
			return "", nil, err
		}
		failed := statusEvent(head.SessionID, head.UserID, head.ID, "", model.MessageFailed, now)
		if err := d.Messaging.storeWebhooks(ctx, tx, &failed); err != nil {
			return "", nil, err
		}
		return "failed", &failed, nil
	}
	next := now.Add(d.backoff(attempts))
	return "retry", nil, store.MarkAttemptFailed(ctx, tx, head.ID, reason, &next)
}

// backoff is exponential from RetryBase, capped at RetryMax, with full jitter on its upper half.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	delay := d.RetryBase
	for i := 1; i < attempt && delay < d.RetryMax; i++ {
		delay *= 2
	}
	delay = min(delay, d.RetryMax)
	return delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1)) //nolint:gosec // jitter, not a secret
}

func errorMessage(err error) string {
	var e *model.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "send failed"
}
