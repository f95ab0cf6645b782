// Package events is the gateway's internal event bus: session, message and worker events are
// published here once, and every consumer (Socket.IO, SSE, customer webhooks, metrics)
// subscribes. Publishing never blocks the caller: a subscriber that falls behind loses
// events (counted), never the request that raised them.
package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event types, named as the real-time events of api.md.
const (
	SessionStatusChanged = "session_status_changed"
	QRCodeUpdated        = "qr_code_updated"
	MessageStatusUpdated = "message_status_updated"
	MessageReceived      = "message_received"
	WorkerStatusUpdated  = "worker_status_updated"
)

// Event is one thing that happened.
type Event struct {
	Type      string
	SessionID string // empty for worker events
	UserID    string // the session's owner, for routing to their clients
	WorkerID  string
	At        time.Time
	// Payload is the event's JSON body as clients receive it.
	Payload any
	// WebhooksStored says the event's customer webhook deliveries were stored in the
	// transaction of the change that raised it, so that neither is ever without the other:
	// the webhook recorder skips it.
	WebhooksStored bool
}

// MessageStatus is the payload of MessageStatusUpdated: a message's new status. Sends raise
// one per answer, so it is a struct (encoded without a map's sorting and reflection).
type MessageStatus struct {
	SessionID string `json:"sessionId"`
	// MessageID is WhatsApp's ID of the message (empty when it has none: a send that failed);
	// ID is the gateway's.
	MessageID string    `json:"messageId"`
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
}

// Bus fans events out to subscribers.
type Bus struct {
	mu      sync.RWMutex
	subs    map[int]chan Event
	next    int
	dropped atomic.Int64
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[int]chan Event{}} }

// Publish hands e to every subscriber that has room.
func (b *Bus) Publish(e Event) {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, ch := range b.subs {
		select {
		case ch <- e:
		default:
			b.dropped.Add(1)
		}
	}
}

// Subscribe returns a channel of events with room for buffer of them, and a function that
// unsubscribes and closes the channel.
func (b *Bus) Subscribe(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = ch
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
			close(ch)
		})
	}
}

// Dropped counts events lost to slow subscribers.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }
