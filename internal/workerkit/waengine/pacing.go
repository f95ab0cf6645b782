package waengine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wagateway/gateway/internal/workerkit"
)

// Defaults of Pacing.
const (
	DefaultSendInterval    = 1500 * time.Millisecond
	DefaultSendJitter      = 1500 * time.Millisecond
	DefaultIdenticalLimit  = 25
	DefaultIdenticalWindow = time.Hour
	// DefaultMaxSendWait is how long a send may queue behind the number's earlier sends
	// before it is refused (429) rather than held past the backend's patience.
	DefaultMaxSendWait = 8 * time.Second
)

// Pacing protects a number from WhatsApp's spam detection, which bans numbers that send
// machine-regular bursts or the same text to many people.
type Pacing struct {
	// Interval plus a random part of Jitter separates two sends of one number.
	// Defaults 1.5 s and 1.5 s; a negative Interval turns pacing off.
	Interval time.Duration
	Jitter   time.Duration
	// IdenticalLimit caps how many different recipients may get the same content from one
	// number within IdenticalWindow. Defaults 25 per hour; negative: no cap.
	IdenticalLimit  int
	IdenticalWindow time.Duration
	// MaxWait bounds the queueing of one send; default 8 s.
	MaxWait time.Duration
}

func (p Pacing) withDefaults() Pacing {
	if p.Interval == 0 {
		p.Interval = DefaultSendInterval
	}
	if p.Jitter == 0 {
		p.Jitter = DefaultSendJitter
	}
	if p.IdenticalLimit == 0 {
		p.IdenticalLimit = DefaultIdenticalLimit
	}
	if p.IdenticalWindow <= 0 {
		p.IdenticalWindow = DefaultIdenticalWindow
	}
	if p.MaxWait <= 0 {
		p.MaxWait = DefaultMaxSendWait
	}
	return p
}

// pacer holds one number's send slots and what it sent recently.
type pacer struct {
	cfg Pacing
	now func() time.Time

	mu       sync.Mutex
	nextSlot time.Time
	// recipients of each content hash, with when each got it last.
	identical map[[32]byte]map[string]time.Time
}

func newPacer(cfg Pacing) *pacer {
	return &pacer{cfg: cfg, now: time.Now, identical: map[[32]byte]map[string]time.Time{}}
}

// contentKey identifies what a send says, whoever it goes to.
func contentKey(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		_, _ = fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	return key
}

// admit checks the identical-content cap for a send of content to recipient and records it.
// A recipient already counted for the same content does not count twice (a retry, a
// follow-up).
func (p *pacer) admit(content [32]byte, recipient string) error {
	if p.cfg.IdenticalLimit < 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for key, seen := range p.identical {
		for r, at := range seen {
			if now.Sub(at) > p.cfg.IdenticalWindow {
				delete(seen, r)
			}
		}
		if len(seen) == 0 {
			delete(p.identical, key)
		}
	}
	seen := p.identical[content]
	if _, ok := seen[recipient]; !ok && len(seen) >= p.cfg.IdenticalLimit {
		return fmt.Errorf("%w: the same message already went to %d recipients in the last %s; vary the content or wait",
			workerkit.ErrRateLimited, len(seen), p.cfg.IdenticalWindow)
	}
	if seen == nil {
		seen = map[string]time.Time{}
		p.identical[content] = seen
	}
	seen[recipient] = now
	return nil
}

// wait takes the number's next send slot and sleeps until it comes. A slot further away than
// MaxWait is refused without being taken.
func (p *pacer) wait(ctx context.Context) error {
	if p.cfg.Interval < 0 {
		return nil
	}
	p.mu.Lock()
	now := p.now()
	slot := p.nextSlot
	if slot.Before(now) {
		slot = now
	}
	if delay := slot.Sub(now); delay > p.cfg.MaxWait {
		p.mu.Unlock()
		return fmt.Errorf("%w: this number has sends queued for the next %s", workerkit.ErrRateLimited, delay.Round(time.Second))
	}
	gap := p.cfg.Interval
	if p.cfg.Jitter > 0 {
		gap += rand.N(p.cfg.Jitter) //nolint:gosec // jitter hides a machine's rhythm; it protects no secret
	}
	p.nextSlot = slot.Add(gap)
	p.mu.Unlock()

	if delay := slot.Sub(now); delay > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	return nil
}
