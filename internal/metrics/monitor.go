package metrics

import "github.com/prometheus/client_golang/prometheus"

// HealthMonitor holds the collectors of the worker health monitor, its leader lease and
// session failover.
type HealthMonitor struct {
	Rounds        prometheus.Counter
	RoundDuration prometheus.Histogram
	CheckFailures prometheus.Counter
	Leader        prometheus.Gauge
	Failovers     *prometheus.CounterVec
}

func newHealthMonitor() *HealthMonitor {
	return &HealthMonitor{
		Rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_health_rounds_total",
			Help: "Worker health-check rounds run by this replica.",
		}),
		RoundDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_health_round_duration_seconds",
			Help:    "Duration of a worker health-check round, failover of stranded sessions included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30},
		}),
		CheckFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_health_check_failures_total",
			Help: "Worker health checks that failed: no answer, an error answer, or a heartbeat too old.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_leader",
			Help: "1 while this replica holds the health-monitor lease, else 0.",
		}),
		Failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_failovers_total",
			Help: "Sessions taken off a worker that went OFFLINE, unregistered or was drained, by outcome " +
				"(moved, no_capacity, start_failed, released, skipped).",
		}, []string{"outcome"}),
	}
}

func (h *HealthMonitor) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.Rounds, h.RoundDuration, h.CheckFailures, h.Leader, h.Failovers}
}
