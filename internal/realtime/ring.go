package realtime

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// ring keeps a session's last events, oldest first, for SSE clients that resume.
type ring struct {
	entries []ringEntry
	next    int // where the next entry goes once full
	full    bool
	touched time.Time
}

type ringEntry struct {
	id    string
	at    time.Time
	frame []byte
}

// ringFor returns the session's ring, creating it; the caller holds h.mu.
func (h *Hub) ringFor(sessionID string) *ring {
	r := h.rings[sessionID]
	if r == nil {
		r = &ring{entries: make([]ringEntry, 0, h.cfg.RingSize)}
		h.rings[sessionID] = r
	}
	return r
}

func (r *ring) add(id string, at time.Time, frame []byte) {
	r.touched = time.Now()
	e := ringEntry{id: id, at: at, frame: frame}
	if !r.full {
		r.entries = append(r.entries, e)
		r.full = len(r.entries) == cap(r.entries)
		return
	}
	r.entries[r.next] = e
	r.next = (r.next + 1) % len(r.entries)
}

// ordered returns the entries oldest first.
func (r *ring) ordered() []ringEntry {
	if !r.full {
		return r.entries
	}
	return append(append(make([]ringEntry, 0, len(r.entries)), r.entries[r.next:]...), r.entries[:r.next]...)
}

// since returns the frames after the event lastID. When lastID has left the ring (or was
// seen on a replica that ordered events differently), it returns the frames of events raised
// after it, by the time in its ID; an ID that is not ours gives nothing.
func (r *ring) since(lastID string) [][]byte {
	entries := r.ordered()
	for i, e := range entries {
		if e.id == lastID {
			return frames(entries[i+1:])
		}
	}
	millis, _, ok := strings.Cut(lastID, "-")
	ms, err := strconv.ParseInt(millis, 10, 64)
	if !ok || err != nil {
		return nil
	}
	var out [][]byte
	for _, e := range entries {
		if e.at.UnixMilli() > ms {
			out = append(out, e.frame)
		}
	}
	return out
}

func frames(entries []ringEntry) [][]byte {
	out := make([][]byte, len(entries))
	for i, e := range entries {
		out[i] = e.frame
	}
	return out
}

// sweepRings forgets the rings of sessions without events for RingTTL, so memory follows
// the sessions that are active, not every session ever seen.
func (h *Hub) sweepRings(ctx context.Context) {
	t := time.NewTicker(max(h.cfg.RingTTL/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-h.cfg.RingTTL)
		h.mu.Lock()
		for id, r := range h.rings {
			if r.touched.Before(cutoff) {
				delete(h.rings, id)
			}
		}
		h.mu.Unlock()
	}
}
