// Package metrics defines the gateway's Prometheus collectors on a registry of its own, so
// that tests and several servers in one process never collide on the global registry.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector of the gateway.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests        *prometheus.CounterVec
	HTTPRequestDuration *prometheus.HistogramVec
	RateLimitRejections *prometheus.CounterVec

	WorkerCalls        *prometheus.CounterVec
	WorkerCallDuration *prometheus.HistogramVec
	WorkerCallErrors   *prometheus.CounterVec
	WorkerBreakerState *prometheus.GaugeVec

	Placements *prometheus.CounterVec
	// HealthMonitor counts health rounds, leadership and failovers.
	HealthMonitor *HealthMonitor

	Messages        *prometheus.CounterVec
	SendDuration    *prometheus.HistogramVec
	QuotaRejections *prometheus.CounterVec

	DispatchAttempts *prometheus.CounterVec
	DispatchLatency  prometheus.Histogram

	// LateWrites is how many writes wait for PostgreSQL to come back (store.LateWrites).
	LateWrites prometheus.Gauge

	// Events counts real-time clients and events, and customer webhook deliveries.
	Events *Events
}

// New registers the Go runtime and process collectors and the gateway's own.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		HTTPRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		RateLimitRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_rate_limit_rejections_total",
			Help: "Requests refused with 429, by limit.",
		}, []string{"limit"}),
		WorkerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_worker_calls_total",
			Help: "Calls from the backend to workers, by call and outcome.",
		}, []string{"call", "outcome"}),
		WorkerCallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_worker_call_duration_seconds",
			Help:    "Latency of calls to workers, by call.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"call"}),
		WorkerCallErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_worker_call_errors_total",
			Help: "Failed calls to workers, by worker, call and kind (connectivity, worker, breaker_open).",
		}, []string{"worker", "call", "kind"}),
		WorkerBreakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_worker_circuit_open",
			Help: "1 while a worker's circuit breaker is open, else 0.",
		}, []string{"worker"}),
		Placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_session_placements_total",
			Help: "Placement decisions, by outcome (placed, no_capacity, worker_failed).",
		}, []string{"outcome"}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_messages_total",
			Help: "Messages by type, direction and status reached.",
		}, []string{"type", "direction", "status"}),
		SendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_message_send_duration_seconds",
			Help:    "Time to send a message synchronously (record, forward, record the answer), by outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		QuotaRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_quota_rejections_total",
			Help: "Requests refused for an exhausted hourly quota, by quota and tier.",
		}, []string{"quota", "tier"}),
		DispatchAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_dispatch_attempts_total",
			Help: "Async send attempts, by outcome (sent, retry, failed, paced: the worker asked to wait).",
		}, []string{"outcome"}),
		DispatchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_dispatch_latency_seconds",
			Help:    "Time from an async send's due time to its hand-off to the worker.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
		LateWrites: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_db_late_writes",
			Help: "Writes kept during a database outage (answers of sends the workers performed, Idempotency-Key answers), waiting for PostgreSQL.",
		}),
	}
	m.HealthMonitor = newHealthMonitor()
	reg.MustRegister(m.HealthMonitor.collectors()...)
	m.Events = newEvents()
	reg.MustRegister(m.Events.collectors()...)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPRequestDuration, m.RateLimitRejections,
		m.WorkerCalls, m.WorkerCallDuration, m.WorkerCallErrors, m.WorkerBreakerState, m.Placements,
		m.Messages, m.SendDuration, m.QuotaRejections, m.DispatchAttempts, m.DispatchLatency, m.LateWrites,
	)
	return m
}
