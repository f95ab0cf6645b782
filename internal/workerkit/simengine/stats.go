package simengine

import (
	"maps"

	"github.com/wagateway/gateway/internal/model"
)

// Stats is what reached the engine, for tests, the benchmark and the demo.
type Stats struct {
	Sessions  int `json:"sessions"`
	Connected int `json:"connected"`
	// Starts counts start calls, new sessions or not.
	Starts int `json:"starts"`
	// Sent counts the messages sent, per session and type; a deduplicated retry is not
	// counted again.
	Sent         map[string]map[string]int `json:"sent"`
	SentTotal    int                       `json:"sentTotal"`
	Deduplicated int                       `json:"deduplicated"`
	FailedSends  int                       `json:"failedSends"`
	// Managed counts message actions by action.
	Managed      map[string]int `json:"managed"`
	NumberChecks int            `json:"numberChecks"`
	Receipts     int            `json:"receipts"`
	Incoming     int            `json:"incoming"`
}

// Stats returns a copy of the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Stats{
		Sessions:     len(e.sessions),
		Starts:       e.stats.starts,
		Sent:         make(map[string]map[string]int, len(e.stats.sent)),
		Deduplicated: e.stats.deduplicated,
		FailedSends:  e.stats.failedSends,
		Managed:      maps.Clone(e.stats.managed),
		NumberChecks: e.stats.checks,
		Receipts:     e.stats.receipts,
		Incoming:     e.stats.incoming,
	}
	for _, s := range e.sessions {
		if s.status == model.SessionConnected {
			st.Connected++
		}
	}
	for id, byType := range e.stats.sent {
		st.Sent[id] = maps.Clone(byType)
		for _, n := range byType {
			st.SentTotal += n
		}
	}
	return st
}

// Sent returns how many messages of each type the session sent.
func (e *Engine) Sent(sessionID string) map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := maps.Clone(e.stats.sent[sessionID])
	if out == nil {
		out = map[string]int{}
	}
	return out
}

// SentTotal returns how many messages were sent, all sessions and types together.
func (e *Engine) SentTotal() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	total := 0
	for _, byType := range e.stats.sent {
		for _, n := range byType {
			total += n
		}
	}
	return total
}
