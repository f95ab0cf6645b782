package waengine

import (
	"math/rand/v2"
	"time"
)

// Defaults of ReconnectPolicy.
const (
	DefaultReconnectMin         = 2 * time.Second
	DefaultReconnectMax         = 5 * time.Minute
	DefaultReconnectMaxAttempts = 20
)

// ReconnectPolicy decides when a dropped session tries again. whatsmeow's own policy waits
// 2 s more after each failure with no ceiling and never gives up, and all sessions dropped by
// one network blip retry in lockstep; this one doubles from Min to Max, spreads the waits
// with jitter, and gives up after MaxAttempts so a dead number stops costing anything.
type ReconnectPolicy struct {
	Min time.Duration // first wait; default 2 s
	Max time.Duration // ceiling of a wait; default 5 min
	// MaxAttempts failed reconnects in a row put the session in ERROR; default 20,
	// negative: never give up.
	MaxAttempts int
	// jitter returns a number in [0, 1); tests pin it.
	jitter func() float64
}

func (p ReconnectPolicy) withDefaults() ReconnectPolicy {
	if p.Min <= 0 {
		p.Min = DefaultReconnectMin
	}
	if p.Max <= 0 {
		p.Max = DefaultReconnectMax
	}
	p.Max = max(p.Max, p.Min)
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultReconnectMaxAttempts
	}
	if p.jitter == nil {
		p.jitter = rand.Float64
	}
	return p
}

// Delay is the wait before reconnect attempt n (0 is the first), and false once the policy
// gives up. The wait is drawn from the upper half of the doubled step ("equal jitter"), so it
// never collapses to zero and never exceeds Max.
func (p ReconnectPolicy) Delay(attempt int) (time.Duration, bool) {
	if p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
		return 0, false
	}
	step := p.Min
	for range min(attempt, 40) {
		step *= 2
		if step >= p.Max {
			step = p.Max
			break
		}
	}
	half := step / 2
	return half + time.Duration(p.jitter()*float64(step-half)), true
}
