// Package realtime delivers the gateway's events to dashboards as they happen, over Socket.IO
// (v4 protocol) and Server-Sent Events, on every replica.
//
// Each replica subscribes to the internal event bus, stamps each event with an ID and its own
// origin, delivers it to its own clients, and publishes it once to a Redis channel; every
// replica delivers what it receives from that channel to its clients, except its own events,
// which it has already delivered. A short ring buffer per session lets an SSE client that
// reconnects with Last-Event-ID catch up.
package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
)

// Defaults of a Hub.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultRingSize     = 100
	DefaultRingTTL      = 5 * time.Minute
	DefaultAuthRecheck  = time.Minute
	// busBuffer is the room the hub has on the bus, which drops events for a full subscriber.
	busBuffer = 8192
	// clientBuffer is the room of one SSE client; a client that falls this far behind is
	// disconnected and resumes with Last-Event-ID.
	clientBuffer = 256
	// maxFanoutBatch bounds the events published in one Redis message; fanoutLinger is how long
	// the publisher waits for more events after the first before it publishes: under load one
	// PUBLISH (one command, one message for every replica to read) carries many events.
	maxFanoutBatch = 256
	fanoutLinger   = time.Millisecond
)

// ErrClosed says the hub is shutting down.
var ErrClosed = errors.New("realtime: shutting down")

// Config is what a Hub needs.
type Config struct {
	Bus *events.Bus
	// Redis carries events between replicas on Channel; nil keeps them on this replica.
	Redis   redis.UniversalClient
	Channel string
	// Authenticate turns a Socket.IO handshake's auth.token (a dashboard JWT) into a principal.
	Authenticate func(ctx context.Context, token string) (*auth.Principal, error)
	// CanSee returns nil when the principal may see the session (its owner, or an admin).
	CanSee func(ctx context.Context, p *auth.Principal, sessionID string) error
	// Heartbeat is the interval of SSE comments that keep idle streams open; WriteTimeout
	// bounds each write to a stream, so a client that stops reading is let go.
	Heartbeat    time.Duration
	WriteTimeout time.Duration
	// AuthRecheck is how often a Socket.IO connection's JWT is checked again: a token revoked
	// (logout, password change, deactivation) ends the connection within this interval, an
	// expired one when it expires.
	AuthRecheck time.Duration
	// RingSize events per session are kept for Last-Event-ID, for RingTTL after the last one.
	RingSize int
	RingTTL  time.Duration
	Metrics  *metrics.Events
	Logger   *slog.Logger
}

// Event is an event as the hub delivers and exchanges it.
type Event struct {
	// ID is unique and set by the replica that raised the event; it is the SSE event id.
	ID        string          `json:"id"`
	Origin    string          `json:"origin"`
	Type      string          `json:"type"`
	SessionID string          `json:"sessionId,omitempty"`
	UserID    string          `json:"userId,omitempty"`
	WorkerID  string          `json:"workerId,omitempty"`
	At        time.Time       `json:"at"`
	Data      json.RawMessage `json:"data"`
}

// Hub is this replica's real-time hub.
type Hub struct {
	cfg    Config
	origin string
	// originField is how origin reads in an encoded Event, closing quote included.
	originField string
	seq         atomic.Uint64

	ctx    context.Context //nolint:containedctx // the hub's lifetime, for Socket.IO callbacks that have no request context
	cancel context.CancelFunc

	io *socket.Server

	busEvents  <-chan events.Event
	leaveBus   func()
	outbox     chan *Event // this replica's events, for the other replicas
	subscribed chan struct{}

	mu      sync.Mutex
	closed  bool
	rings   map[string]*ring
	streams map[string]map[*stream]struct{}

	closeOnce sync.Once
}

// New builds a hub and subscribes it to the bus at once (so no event raised after New returns
// is missed); Run moves the events. ctx bounds the hub's own calls (authentication, access
// checks); Close ends its clients.
func New(ctx context.Context, cfg Config) *Hub {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.RingSize <= 0 {
		cfg.RingSize = DefaultRingSize
	}
	if cfg.RingTTL <= 0 {
		cfg.RingTTL = DefaultRingTTL
	}
	if cfg.AuthRecheck <= 0 {
		cfg.AuthRecheck = DefaultAuthRecheck
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	h := &Hub{
		cfg:        cfg,
		origin:     hex.EncodeToString(b[:]),
		subscribed: make(chan struct{}),
		outbox:     make(chan *Event, busBuffer),
		rings:      map[string]*ring{},
		streams:    map[string]map[*stream]struct{}{},
	}
	h.originField = `"origin":"` + h.origin + `"`
	h.ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	h.busEvents, h.leaveBus = cfg.Bus.Subscribe(busBuffer)
	h.io = h.newSocketServer()
	if cfg.Redis == nil {
		close(h.subscribed)
	}
	return h
}

// Origin identifies this replica in the events it raises.
func (h *Hub) Origin() string { return h.origin }

// Subscribed is closed once this replica listens to the other replicas' events.
func (h *Hub) Subscribed() <-chan struct{} { return h.subscribed }

// Run moves events until ctx ends: from the bus to this replica's clients and to Redis, and
// from Redis to this replica's clients.
func (h *Hub) Run(ctx context.Context) {
	defer h.leaveBus()
	var wg sync.WaitGroup
	if h.cfg.Redis != nil {
		wg.Go(func() { h.listen(ctx) })
		wg.Go(func() { h.publish(ctx) })
	}
	wg.Go(func() { h.sweepRings(ctx) })
	h.pump(ctx)
	wg.Wait()
}

// Close disconnects every client, Socket.IO and SSE, so that the HTTP server can shut down
// without waiting for streams that never end. It is safe to call more than once.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		for _, set := range h.streams {
			for s := range set {
				s.end()
			}
		}
		h.streams = map[string]map[*stream]struct{}{}
		h.mu.Unlock()
		h.io.Close(nil)
		h.cancel()
	})
}

// pump takes the bus's events, delivers them here and hands them to the publisher. It never
// waits for Redis: a slow or unreachable Redis delays nobody's events on this replica.
func (h *Hub) pump(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-h.busEvents:
			ev := h.stamp(e)
			h.cfg.Metrics.Published.WithLabelValues(ev.Type).Inc()
			h.deliver(ev)
			if h.cfg.Redis == nil {
				continue
			}
			select {
			case h.outbox <- ev:
			default:
				h.cfg.Metrics.Fanout.WithLabelValues("publish_dropped").Inc()
			}
		}
	}
}

// stamp gives a bus event its ID and origin.
func (h *Hub) stamp(e events.Event) *Event {
	data, err := json.Marshal(e.Payload)
	if err != nil {
		h.cfg.Logger.Error("realtime: event payload", slog.String("type", e.Type), slog.Any("err", err))
		data = []byte("null")
	}
	return &Event{
		ID:     strconv.FormatInt(e.At.UnixMilli(), 10) + "-" + h.origin + "-" + strconv.FormatUint(h.seq.Add(1), 10),
		Origin: h.origin, Type: e.Type, SessionID: e.SessionID, UserID: e.UserID, WorkerID: e.WorkerID, At: e.At, Data: data,
	}
}

// publish sends this replica's events to the others, a batch per Redis message: the events
// that arrive within fanoutLinger of the first, up to maxFanoutBatch. A failure loses the
// batch for them only: this replica's clients have it already, and dashboards reload state
// when they reconnect.
func (h *Hub) publish(ctx context.Context) {
	batch := make([]*Event, 0, maxFanoutBatch)
	linger := time.NewTimer(fanoutLinger)
	linger.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-h.outbox:
			batch = append(batch[:0], ev)
		}
		linger.Reset(fanoutLinger)
	collect:
		for len(batch) < maxFanoutBatch {
			select {
			case ev := <-h.outbox:
				batch = append(batch, ev)
			case <-linger.C:
				break collect
			case <-ctx.Done():
				break collect
			}
		}
		linger.Stop()
		h.publishBatch(ctx, batch)
	}
}

// publishBatch publishes batch as one message: a JSON array of events, every one of this
// replica (so the first one's origin tells whose the message is).
func (h *Hub) publishBatch(ctx context.Context, batch []*Event) {
	msg := appendFanout(make([]byte, 0, 512*len(batch)), batch)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := h.cfg.Redis.Publish(ctx, h.cfg.Channel, msg).Err(); err != nil {
		h.cfg.Metrics.Fanout.WithLabelValues("publish_failed").Add(float64(len(batch)))
		if ctx.Err() == nil {
			h.cfg.Logger.Warn("realtime: publish events to the other replicas", slog.Int("count", len(batch)), slog.Any("err", err))
		}
		return
	}
	h.cfg.Metrics.Fanout.WithLabelValues("published").Add(float64(len(batch)))
}

// listen delivers the other replicas' events. go-redis resubscribes by itself after a
// connection loss.
func (h *Hub) listen(ctx context.Context) {
	sub := h.cfg.Redis.Subscribe(ctx)
	defer sub.Close()
	for {
		err := sub.Subscribe(ctx, h.cfg.Channel)
		if err == nil {
			if _, err = sub.Receive(ctx); err == nil { // the subscription's confirmation
				break
			}
		}
		h.cfg.Logger.Warn("realtime: subscribe to the other replicas' events", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	close(h.subscribed)
	ch := sub.Channel(redis.WithChannelSize(busBuffer))
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			if h.raisedHere(msg.Payload) {
				continue // delivered when they were raised here; not worth decoding
			}
			batch, err := decodeFanout(msg.Payload)
			if err != nil {
				h.cfg.Metrics.Fanout.WithLabelValues("dropped").Inc()
				continue
			}
			for _, ev := range batch {
				if ev == nil || ev.Origin == h.origin {
					continue // nothing, or delivered when it was raised here
				}
				h.cfg.Metrics.Fanout.WithLabelValues("received").Inc()
				h.deliver(ev)
			}
		}
	}
}

// decodeFanout reads a fan-out message: an array of events, or one event (as replicas of
// earlier versions publish them).
func decodeFanout(payload string) ([]*Event, error) {
	if strings.HasPrefix(payload, "[") {
		var batch []*Event
		err := json.Unmarshal([]byte(payload), &batch)
		return batch, err
	}
	var ev Event
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		return nil, err
	}
	return []*Event{&ev}, nil
}

// raisedHere tells this replica's own events without decoding them: an encoded Event starts
// with its ID (which holds no quote) and then its origin, so the first "origin" in it is the
// field, before any data; a message's events are all of one replica, so its first event's
// origin is every one's.
func (h *Hub) raisedHere(payload string) bool {
	i := strings.Index(payload, `"origin":"`)
	return i >= 0 && strings.HasPrefix(payload[i:], h.originField)
}

// deliver hands an event to this replica's clients: the session's SSE streams and Socket.IO
// room, and administrators for worker events.
func (h *Hub) deliver(ev *Event) {
	if ev.SessionID != "" {
		frame := sseFrame(ev)
		h.mu.Lock()
		if !h.closed {
			h.ringFor(ev.SessionID).add(ev.ID, ev.At, frame)
			for s := range h.streams[ev.SessionID] {
				if !s.offer(frame) {
					// Too far behind: drop the stream; the client resumes with Last-Event-ID.
					delete(h.streams[ev.SessionID], s)
					s.end()
				}
			}
		}
		h.mu.Unlock()
	}
	h.emitSocketIO(ev)
}
