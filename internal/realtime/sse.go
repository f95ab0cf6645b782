package realtime

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wagateway/gateway/internal/auth"
)

// stream is one open SSE response.
type stream struct {
	frames chan []byte
	gone   chan struct{}
	once   sync.Once
}

// offer queues a frame without waiting; false when the stream is full.
func (s *stream) offer(frame []byte) bool {
	select {
	case s.frames <- frame:
		return true
	default:
		return false
	}
}

func (s *stream) end() { s.once.Do(func() { close(s.gone) }) }

// sseFrame is an event as an SSE message: its ID, its type as the event name, and its
// payload on one data line (JSON has no raw newlines).
func sseFrame(ev *Event) []byte {
	var b bytes.Buffer
	b.Grow(len(ev.Data) + len(ev.ID) + len(ev.Type) + 24)
	b.WriteString("id: ")
	b.WriteString(ev.ID)
	b.WriteString("\nevent: ")
	b.WriteString(ev.Type)
	b.WriteString("\ndata: ")
	b.Write(ev.Data)
	b.WriteString("\n\n")
	return b.Bytes()
}

// subscribe opens a stream of a session's events, with the frames after lastEventID that the
// ring still holds.
func (h *Hub) subscribe(sessionID, lastEventID string) (*stream, [][]byte, error) {
	s := &stream{frames: make(chan []byte, clientBuffer), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, ErrClosed
	}
	var replay [][]byte
	if r := h.rings[sessionID]; r != nil && lastEventID != "" {
		replay = r.since(lastEventID)
	}
	if h.streams[sessionID] == nil {
		h.streams[sessionID] = map[*stream]struct{}{}
	}
	h.streams[sessionID][s] = struct{}{}
	h.cfg.Metrics.SSEClients.Inc()
	return s, replay, nil
}

func (h *Hub) closeStream(sessionID string, s *stream) {
	h.mu.Lock()
	if set := h.streams[sessionID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.streams, sessionID)
		}
	}
	h.mu.Unlock()
	s.end()
	h.cfg.Metrics.SSEClients.Dec()
}

// ServeSessionEvents streams a session's events as Server-Sent Events until the client goes,
// falls too far behind, or the hub closes. The caller has checked that the client may see the
// session. A client that reconnects with Last-Event-ID (header, or lastEventId in the query for
// clients that cannot set headers) first gets the events it missed that are still buffered.
func (h *Hub) ServeSessionEvents(w http.ResponseWriter, r *http.Request, sessionID string) error {
	lastEventID := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if lastEventID == "" {
		lastEventID = strings.TrimSpace(r.URL.Query().Get("lastEventId"))
	}
	s, replay, err := h.subscribe(sessionID, lastEventID)
	if err != nil {
		return err
	}
	defer h.closeStream(sessionID, s)

	// A stream lives longer than the server's write timeout allows any response; each write
	// gets a deadline of its own instead, so that a client that stopped reading cannot hold
	// the stream (and its goroutine) forever.
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache, no-store")
	hdr.Set("Connection", "keep-alive")
	hdr.Set("X-Accel-Buffering", "no") // tells nginx not to buffer the stream
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	w.WriteHeader(http.StatusOK)

	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		if _, err := w.Write(b); err != nil { //nolint:gosec // text/event-stream of JSON payloads, never rendered as HTML
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 3000\n: connected\n\n")) {
		return nil
	}
	for _, frame := range replay {
		if !write(frame) {
			return nil
		}
	}
	heartbeat := time.NewTicker(h.cfg.Heartbeat)
	defer heartbeat.Stop()
	watch := h.newAuthWatch(auth.PrincipalFrom(r.Context()), bearerToken(r))
	defer watch.stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.gone:
			return nil
		case why := <-watch.ended:
			// The stream's JWT is no longer valid: say so, and end the stream.
			data, _ := json.Marshal(map[string]string{"type": "unauthorized", "message": why})
			write([]byte("event: error\ndata: " + string(data) + "\n\n"))
			return nil
		case frame := <-s.frames:
			if !write(frame) {
				return nil
			}
		case <-heartbeat.C:
			if !write([]byte(": heartbeat\n\n")) {
				return nil
			}
		}
	}
}

// bearerToken is the JWT of an Authorization: Bearer header (the SSE stream's credentials).
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
