package workers_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/workers"
)

func TestLoadScore_FollowsTheProtocolFormula(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		load workers.Load
		want float64
	}{
		{"empty fresh idle worker", workers.Load{MaxSessions: 50}, 0},
		{"capacity: used/max·100", workers.Load{MaxSessions: 50, Used: 10}, 20},
		{"full worker", workers.Load{MaxSessions: 4, Used: 4}, 100},
		{"health: (error+reconnecting)/used·50", workers.Load{MaxSessions: 10, Used: 4, Unhealthy: 2}, 40 + 25},
		{"health without sessions adds nothing", workers.Load{MaxSessions: 10, Unhealthy: 3}, 0},
		{"resources: (cpu+mem)/4", workers.Load{MaxSessions: 10, CPUUsage: 40, MemoryUsage: 60}, 25},
		{"staleness: heartbeat age in minutes", workers.Load{MaxSessions: 10, HeartbeatAge: 90 * time.Second}, 1.5},
		{"staleness is capped at 25", workers.Load{MaxSessions: 10, HeartbeatAge: 3 * time.Hour}, 25},
		{"staleness exactly at the cap", workers.Load{MaxSessions: 10, HeartbeatAge: 25 * time.Minute}, 25},
		{"QR waiting: 2 per session", workers.Load{MaxSessions: 100, Used: 3, WaitingForQR: 3}, 3 + 6},
		{"maxSessions 0 does not divide by zero", workers.Load{MaxSessions: 0, Used: 2}, 0},
		{"everything together", workers.Load{MaxSessions: 20, Used: 10, Unhealthy: 1, WaitingForQR: 2,
			CPUUsage: 20, MemoryUsage: 20, HeartbeatAge: 2 * time.Minute}, 50 + 5 + 10 + 2 + 4},
	}
	for _, tt := range tests {
		got := tt.load.Score()
		if math.IsNaN(got) || math.IsInf(got, 0) || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Score() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLoadFree_IsMaxMinusUsed(t *testing.T) {
	t.Parallel()
	if got := (workers.Load{MaxSessions: 7, Used: 3}).Free(); got != 4 {
		t.Fatalf("Free() = %d, want 4", got)
	}
}

func TestRankByScore_DropsFullWorkersAndOrdersBestFirstWithTiesByID(t *testing.T) {
	t.Parallel()
	loads := []workers.Load{
		{WorkerID: "busy", MaxSessions: 10, Used: 8},                      // 80
		{WorkerID: "full", MaxSessions: 2, Used: 2},                       // dropped
		{WorkerID: "overfull", MaxSessions: 2, Used: 3},                   // dropped
		{WorkerID: "zeta", MaxSessions: 10, Used: 1},                      // 10
		{WorkerID: "alpha", MaxSessions: 10, Used: 1},                     // 10, wins the tie with zeta
		{WorkerID: "idle", MaxSessions: 10},                               // 0
		{WorkerID: "hot", MaxSessions: 10, CPUUsage: 90, MemoryUsage: 90}, // 45
	}
	ranked := workers.RankByScore(loads)
	var ids []string
	for _, l := range ranked {
		ids = append(ids, l.WorkerID)
	}
	want := []string{"idle", "alpha", "zeta", "hot", "busy"}
	if !slices.Equal(ids, want) {
		t.Fatalf("RankByScore = %v, want %v", ids, want)
	}
	if loads[0].WorkerID != "busy" || len(loads) != 7 {
		t.Fatalf("RankByScore changed its input: %v", loads)
	}
	if got := workers.RankByScore(nil); len(got) != 0 {
		t.Fatalf("RankByScore(nil) = %v, want empty", got)
	}
}
