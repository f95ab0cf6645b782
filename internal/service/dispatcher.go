package service

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
	// Concurrency bounds the sessions sent at once by this replica.
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

// round sends what is due now across sessions, with bounded concurrency. It returns how many
// sessions it made an attempt for, and when the next session not due yet will be.
func (d *Dispatcher) round(ctx context.Context) (attempted int, next time.Time) {
	ids, next, err := store.DueSessions(ctx, d.Pool, d.MinInterval, dispatchPage)
	if err != nil {
		if ctx.Err() == nil {
			d.Logger.WarnContext(ctx, "list due sessions", slog.Any("err", err))
		}
		return 0, time.Time{}
	}
	var count atomic.Int64
	sem := make(chan struct{}, max(d.Concurrency, 1))
	var wg sync.WaitGroup
sessions:
	for _, id := range ids {
		select {
		case <-ctx.Done():
			break sessions // no new attempt; those under way finish
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			attemptCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
			defer cancel()
			ok, err := d.dispatchOne(attemptCtx, id)
			if err != nil {
				d.Logger.WarnContext(ctx, "dispatch", slog.String("session_id", id), slog.Any("err", err))
			}
			if ok {
				count.Add(1)
			}
		})
	}
	wg.Wait()
	return int(count.Load()), next
}

// dispatchOne sends the head of a session's queue, if it is due and pacing allows; attempted
// says whether it did (the session may have been taken by another dispatcher meanwhile).
func (d *Dispatcher) dispatchOne(ctx context.Context, sessionID string) (attempted bool, err error) {
	var published func()
	err = store.WithTx(ctx, d.Pool, func(tx pgx.Tx) error {
		head, err := store.LockQueueHead(ctx, tx, sessionID)
		if errors.Is(err, model.ErrNotFound) {
			return nil // nothing queued, or another dispatcher has this session
		}
		if err != nil {
			return err
		}
		now := time.Now()
		if head.NextAttemptAt.After(now) {
			return nil // the head waits (scheduled or backing off), and so does the queue behind it
		}
		if head.LastDispatchedAt != nil && now.Sub(*head.LastDispatchedAt) < d.MinInterval {
			return nil
		}
		attempted = true
		published, err = d.attempt(ctx, tx, head, now)
		return err
	})
	if err == nil && published != nil {
		published()
	}
	return attempted && err == nil, err
}

// attempt hands the message to the session's worker and records the outcome in tx.
func (d *Dispatcher) attempt(ctx context.Context, tx pgx.Tx, head store.QueueHead, now time.Time) (func(), error) {
	m := d.Messaging
	var req protocol.SendRequest
	if err := jsonUnmarshal(head.Payload, &req); err != nil {
		return nil, store.MarkAttemptFailed(ctx, tx, head.ID, "unreadable stored request", nil)
	}
	req.ClientMessageID = head.ID // the same ID on every attempt: the worker can deduplicate

	var sendErr error
	var answer protocol.SendResult
	if head.SessionStatus != model.SessionConnected {
		sendErr = model.Errorf(model.KindConflict, "session not connected: %s", head.SessionStatus)
	} else if route, err := m.Router.Lookup(ctx, head.SessionID); err != nil {
		sendErr = model.Errorf(model.KindConnectivity, "the session is not running on any worker")
		if !errors.Is(err, router.ErrNotPlaced) {
			sendErr = err
		}
	} else {
		answer, sendErr = m.Client.Send(ctx, workers.Target{ID: route.WorkerID, Endpoint: route.Endpoint}, head.SessionID, req)
	}

	if sendErr == nil {
		at := time.Now().UTC()
		sent := statusEvent(head.SessionID, head.UserID, head.ID, answer.MessageID, model.MessageSent, at)
		stored, err := store.MarkDispatched(ctx, tx, head.ID, head.SessionID, answer.MessageID, at, m.webhookOf(ctx, &sent))
		if err != nil {
			return nil, err
		}
		m.Metrics.DispatchAttempts.WithLabelValues("sent").Inc()
		m.Metrics.DispatchLatency.Observe(at.Sub(head.NextAttemptAt).Seconds())
		m.Metrics.Messages.WithLabelValues(string(head.Type), string(model.DirectionOutbound), string(model.MessageSent)).Inc()
		return func() {
			m.Bus.Publish(sent)
			if stored > 0 && m.WebhooksQueued != nil {
				m.WebhooksQueued()
			}
		}, nil
	}

	reason := errorMessage(sendErr)
	var paced *model.Error
	if errors.As(sendErr, &paced) && paced.Kind == model.KindRateLimited {
		// The worker paces sends to this recipient (anti-ban): wait as long as it says,
		// without spending an attempt.
		m.Metrics.DispatchAttempts.WithLabelValues("paced").Inc()
		return nil, store.DeferQueued(ctx, tx, head.ID, reason, now.Add(max(paced.RetryAfter, time.Second)))
	}
	attempts := head.Attempts + 1
	if attempts >= d.MaxAttempts {
		if err := store.MarkAttemptFailed(ctx, tx, head.ID, reason, nil); err != nil {
			return nil, err
		}
		failed := statusEvent(head.SessionID, head.UserID, head.ID, "", model.MessageFailed, now)
		if err := m.storeWebhooks(ctx, tx, &failed); err != nil {
			return nil, err
		}
		m.Metrics.DispatchAttempts.WithLabelValues("failed").Inc()
		return func() { m.raise(failed) }, nil
	}
	next := now.Add(d.backoff(attempts))
	m.Metrics.DispatchAttempts.WithLabelValues("retry").Inc()
	return nil, store.MarkAttemptFailed(ctx, tx, head.ID, reason, &next)
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
