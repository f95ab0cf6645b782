package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Events holds the collectors of the real-time transports (Socket.IO, SSE, the Redis fan-out)
// and of customer webhook delivery.
type Events struct {
	SocketIOClients prometheus.Gauge
	SSEClients      prometheus.Gauge
	// Published counts the events this replica raised, by type; Fanout counts Redis
	// publishes and receipts by outcome (published, publish_failed, publish_dropped,
	// received, dropped).
	Published *prometheus.CounterVec
	Fanout    *prometheus.CounterVec

	// WebhookDeliveries counts attempts by outcome (delivered, retry, failed, lease_lost);
	// WebhookStored counts deliveries stored for a first attempt.
	WebhookDeliveries *prometheus.CounterVec
	WebhookStored     prometheus.Counter
	// WebhookAttemptDuration is the time of one HTTP attempt; WebhookDeliveryLag the time
	// from an event to its successful delivery, retries included.
	WebhookAttemptDuration prometheus.Histogram
	WebhookDeliveryLag     prometheus.Histogram
}

func newEvents() *Events {
	return &Events{
		SocketIOClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_socketio_clients",
			Help: "Socket.IO clients connected to this replica.",
		}),
		SSEClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_sse_clients",
			Help: "Server-Sent Events streams open on this replica.",
		}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_events_published_total",
			Help: "Real-time events raised on this replica, by type.",
		}, []string{"type"}),
		Fanout: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_events_fanout_total",
			Help: "Events exchanged with the other replicas through Redis, by outcome (published, publish_failed, publish_dropped, received, dropped).",
		}, []string{"outcome"}),
		WebhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_webhook_deliveries_total",
			Help: "Webhook delivery attempts, by outcome (delivered, retry, failed, lease_lost).",
		}, []string{"outcome"}),
		WebhookStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_webhook_deliveries_stored_total",
			Help: "Webhook deliveries stored for delivery.",
		}),
		WebhookAttemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_webhook_attempt_duration_seconds",
			Help:    "Duration of one webhook delivery attempt (the HTTP request).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		WebhookDeliveryLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_webhook_delivery_latency_seconds",
			Help:    "Time from an event to its successful webhook delivery, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 12),
		}),
	}
}

func (e *Events) collectors() []prometheus.Collector {
	return []prometheus.Collector{e.SocketIOClients, e.SSEClients, e.Published, e.Fanout,
		e.WebhookDeliveries, e.WebhookStored, e.WebhookAttemptDuration, e.WebhookDeliveryLag}
}

// pendingWebhooksCollector reads the webhook backlog from Postgres at scrape time, so every
// replica reports the same figure.
type pendingWebhooksCollector struct {
	read           func(ctx context.Context) (count, oldestAge float64, err error)
	logger         *slog.Logger
	pending, adesc *prometheus.Desc
}

// RegisterBusDrops exports gateway_bus_events_dropped_total: events the in-process bus could
// not hand a subscriber whose buffer was full (a slow SSE client, or the webhook recorder
// waiting for PostgreSQL), read at scrape time from dropped.
func (m *Metrics) RegisterBusDrops(dropped func() int64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "gateway_bus_events_dropped_total",
		Help: "Events the in-process bus dropped for a subscriber whose buffer was full.",
	}, func() float64 { return float64(dropped()) }))
}

// RegisterWebhookBacklog exports gateway_webhook_deliveries_pending and
// gateway_webhook_deliveries_oldest_pending_seconds, read at scrape time by read.
func (m *Metrics) RegisterWebhookBacklog(read func(ctx context.Context) (count, oldestAge float64, err error), logger *slog.Logger) {
	m.Registry.MustRegister(&pendingWebhooksCollector{read: read, logger: logger,
		pending: prometheus.NewDesc("gateway_webhook_deliveries_pending", "Webhook deliveries waiting for an attempt.", nil, nil),
		adesc: prometheus.NewDesc("gateway_webhook_deliveries_oldest_pending_seconds",
			"Age of the oldest webhook delivery waiting for an attempt.", nil, nil),
	})
}

func (c *pendingWebhooksCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.adesc
}

func (c *pendingWebhooksCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	count, oldest, err := c.read(ctx)
	if err != nil {
		c.logger.Warn("metrics: pending webhook deliveries", slog.Any("err", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, count)
	ch <- prometheus.MustNewConstMetric(c.adesc, prometheus.GaugeValue, oldest)
}
