package workerkit

import (
	"context"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagateway/gateway/internal/protocol"
)

// eventLanes is how many events are delivered at once. Each session always maps to the same
// lane, and a lane delivers one event at a time, so a session's events arrive in order.
const eventLanes = 4

// Routes of the events.
const (
	sessionStatusPath = "/webhooks/session-status"
	messageStatusPath = "/webhooks/message-status"
	incomingPath      = "/webhooks/message"
)

// pendingEvent is an event waiting for the backend.
type pendingEvent struct {
	path      string
	sessionID string
	body      any
}

// reporter is the Events sink the kit gives its engine: bounded in-memory lanes, each drained
// by one goroutine that retries with backoff until the backend takes the event, so a short
// backend outage loses nothing and keeps each session's order.
type reporter struct {
	client      *backendClient
	logger      *slog.Logger
	backoff     backoff
	lanes       [eventLanes]*lane
	delivered   atomic.Int64
	dropped     atomic.Int64
	undelivered atomic.Int64
}

type lane struct {
	mu      sync.Mutex
	waiting []pendingEvent
	limit   int
	wake    chan struct{}
}

func newReporter(client *backendClient, logger *slog.Logger, queueSize int, b backoff) *reporter {
	r := &reporter{client: client, logger: logger, backoff: b}
	for i := range r.lanes {
		r.lanes[i] = &lane{limit: max(1, queueSize/eventLanes), wake: make(chan struct{}, 1)}
	}
	return r
}

// SessionStatus implements Events.
func (r *reporter) SessionStatus(ev protocol.SessionEvent) {
	if ev.Timestamp == nil {
		ev.Timestamp = protocol.At(time.Now())
	}
	r.push(pendingEvent{path: sessionStatusPath, sessionID: ev.SessionID, body: ev})
}

// MessageStatus implements Events.
func (r *reporter) MessageStatus(ev protocol.MessageStatusEvent) {
	if ev.Timestamp == nil {
		ev.Timestamp = protocol.At(time.Now())
	}
	r.push(pendingEvent{path: messageStatusPath, sessionID: ev.SessionID, body: ev})
}

// IncomingMessage implements Events.
func (r *reporter) IncomingMessage(msg protocol.IncomingMessage) {
	if msg.Timestamp == nil {
		msg.Timestamp = protocol.At(time.Now())
	}
	r.push(pendingEvent{path: incomingPath, sessionID: msg.SessionID, body: msg})
}

func (r *reporter) push(ev pendingEvent) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(ev.sessionID))
	l := r.lanes[h.Sum32()%eventLanes]
	l.mu.Lock()
	if len(l.waiting) >= l.limit {
		// The backend has been away too long: the oldest event goes. Heartbeats carry every
		// session's status anyway, so statuses recover; receipts are the ones at risk.
		l.waiting = l.waiting[1:]
		r.dropped.Add(1)
		r.logger.Warn("event queue full, dropped the oldest event", slog.String("session_id", ev.sessionID))
	}
	l.waiting = append(l.waiting, ev)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// pending counts the events not yet delivered.
func (r *reporter) pending() int {
	n := 0
	for _, l := range r.lanes {
		l.mu.Lock()
		n += len(l.waiting)
		l.mu.Unlock()
	}
	return n
}

func (l *lane) next() (pendingEvent, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiting) == 0 {
		return pendingEvent{}, false
	}
	ev := l.waiting[0]
	l.waiting[0] = pendingEvent{}
	l.waiting = l.waiting[1:]
	return ev, true
}

// run delivers the lane's events until ctx is done, or until closing is closed and the
// lane is empty.
func (r *reporter) run(ctx context.Context, l *lane, closing <-chan struct{}) {
	for {
		ev, ok := l.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-closing:
				if _, more := l.peek(); !more {
					return
				}
			case <-l.wake:
			}
			continue
		}
		r.deliver(ctx, ev)
	}
}

func (l *lane) peek() (pendingEvent, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiting) == 0 {
		return pendingEvent{}, false
	}
	return l.waiting[0], true
}

// deliver posts one event until the backend takes it, refuses it for good, or ctx is done.
func (r *reporter) deliver(ctx context.Context, ev pendingEvent) {
	if se, ok := ev.body.(protocol.SessionEvent); ok && se.WorkerID == nil {
		// Filled at delivery: before the first registration the backend's spelling of our ID
		// is not known yet.
		id := r.client.currentWorkerID()
		se.WorkerID = &id
		ev.body = se
	}
	for attempt := 0; ; attempt++ {
		err := r.client.postEvent(ctx, ev.path, ev.body)
		if err == nil {
			r.delivered.Add(1)
			return
		}
		if !retryableEvent(statusOf(err)) {
			// 404 unknown session, 409 placed on another worker, 400...: retrying cannot help.
			r.dropped.Add(1)
			r.logger.Info("backend refused an event", slog.String("session_id", ev.sessionID),
				slog.String("path", ev.path), slog.Any("err", err))
			return
		}
		if attempt == 0 || attempt%10 == 0 {
			r.logger.Warn("event delivery failed, retrying", slog.String("session_id", ev.sessionID),
				slog.String("path", ev.path), slog.Int("attempt", attempt+1), slog.Any("err", err))
		}
		if !sleep(ctx, r.backoff.delay(attempt)) {
			r.undelivered.Add(1)
			return
		}
	}
}

// retryableEvent: no answer, a server error, throttling, or a token the next registration
// may replace.
func retryableEvent(status int) bool {
	switch {
	case status == 0, status >= 500:
		return true
	case status == http.StatusUnauthorized, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return true
	default:
		return false
	}
}

// backoff doubles from min to max.
type backoff struct {
	min, max time.Duration
}

func (b backoff) delay(attempt int) time.Duration {
	d := b.min
	for range min(attempt, 30) {
		d *= 2
		if d >= b.max {
			return b.max
		}
	}
	return d
}

// sleep waits d, and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
