package workerkit

import (
	"bufio"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
)

// resourceSampler measures the process for heartbeats: CPU as a share of the machine since
// the previous sample, memory as a share of the memory limit (GOMEMLIMIT, else the machine's
// memory). Both are percentages the backend's placement score adds up.
type resourceSampler struct {
	mu       sync.Mutex
	lastCPU  float64
	lastWall time.Time
}

var resourceMetrics = []metrics.Sample{
	{Name: "/cpu/classes/total:cpu-seconds"},
	{Name: "/memory/classes/total:bytes"},
}

func (s *resourceSampler) sample() (cpuPercent, memPercent float64) {
	samples := make([]metrics.Sample, len(resourceMetrics))
	copy(samples, resourceMetrics)
	metrics.Read(samples)
	cpuSeconds, memBytes := readFloat(samples[0].Value), readFloat(samples[1].Value)

	s.mu.Lock()
	now := time.Now()
	if !s.lastWall.IsZero() {
		if wall := now.Sub(s.lastWall).Seconds(); wall > 0 {
			cpuPercent = (cpuSeconds - s.lastCPU) / (wall * float64(runtime.GOMAXPROCS(0))) * 100
		}
	}
	s.lastCPU, s.lastWall = cpuSeconds, now
	s.mu.Unlock()

	if limit := memoryLimit(); limit > 0 {
		memPercent = memBytes / limit * 100
	}
	return clampPercent(cpuPercent), clampPercent(memPercent)
}

func readFloat(v metrics.Value) float64 {
	switch v.Kind() {
	case metrics.KindFloat64:
		return v.Float64()
	case metrics.KindUint64:
		return float64(v.Uint64())
	default:
		return 0
	}
}

func clampPercent(p float64) float64 {
	if math.IsNaN(p) || p < 0 {
		return 0
	}
	return math.Round(min(p, 100)*10) / 10
}

// memoryLimit is GOMEMLIMIT when set, else MemTotal of /proc/meminfo, else 0 (unknown).
func memoryLimit() float64 {
	if limit := debug.SetMemoryLimit(-1); limit > 0 && limit < math.MaxInt64 {
		return float64(limit)
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// MemTotal:       16318412 kB
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// metrics builds the heartbeat's figures.
func (w *worker) metrics(sessions []SessionSnapshot) *protocol.HeartbeatMetrics {
	cpu, mem := w.resources.sample()
	uptime := math.Floor(time.Since(w.started).Seconds())
	messages := float64(w.messagesSent.Load())
	total := float64(len(sessions))
	active := 0.0
	for _, s := range sessions {
		if s.Status == model.SessionConnected {
			active++
		}
	}
	return &protocol.HeartbeatMetrics{
		CPUUsage: &cpu, MemoryUsage: &mem, Uptime: &uptime, MessageCount: &messages,
		TotalSessions: &total, ActiveSessions: &active,
	}
}
