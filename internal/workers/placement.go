package workers

import (
	"math"
	"sort"
	"time"
)

// Load is what placement knows about a worker.
type Load struct {
	WorkerID     string
	MaxSessions  int
	Used         int // sessions placed on it
	Unhealthy    int // of those, ERROR or RECONNECTING
	WaitingForQR int // of those, QR_REQUIRED
	CPUUsage     float64
	MemoryUsage  float64
	// HeartbeatAge is the time since the last heartbeat (or registration).
	HeartbeatAge time.Duration
}

// Free is the room left on the worker.
func (l Load) Free() int { return l.MaxSessions - l.Used }

// Score is the placement score of worker-protocol.md; lower is better:
// capacity used/max·100 + health (error+reconnecting)/used·50 + resources (cpu+mem)/4 +
// staleness min(heartbeat age in minutes, 25) + 2 per session waiting for a QR scan.
func (l Load) Score() float64 {
	score := 0.0
	if l.MaxSessions > 0 {
		score += float64(l.Used) / float64(l.MaxSessions) * 100
	}
	if l.Used > 0 {
		score += float64(l.Unhealthy) / float64(l.Used) * 50
	}
	score += (l.CPUUsage + l.MemoryUsage) / 4
	score += math.Min(l.HeartbeatAge.Seconds()/60, 25)
	score += 2 * float64(l.WaitingForQR)
	return score
}

// RankByScore orders workers with free capacity best first (ties by ID, so that the order is
// stable) and drops full ones.
func RankByScore(loads []Load) []Load {
	ranked := make([]Load, 0, len(loads))
	for _, l := range loads {
		if l.Free() > 0 {
			ranked = append(ranked, l)
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool {
		si, sj := ranked[i].Score(), ranked[j].Score()
		if si != sj {
			return si < sj
		}
		return ranked[i].WorkerID < ranked[j].WorkerID
	})
	return ranked
}
