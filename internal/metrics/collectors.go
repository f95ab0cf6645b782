package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// poolCollector reads the pgx pool's statistics at scrape time.
type poolCollector struct {
	pool                                          *pgxpool.Pool
	total, idle, acquired, maxConns, acquireCount *prometheus.Desc
	acquireWait, emptyAcquire, canceledAcquire    *prometheus.Desc
}

// RegisterDBPool exports a pool's statistics as gateway_db_pool_*, labelled pool=name.
func (m *Metrics) RegisterDBPool(pool *pgxpool.Pool, name string) {
	d := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc("gateway_db_pool_"+metric, help, nil, prometheus.Labels{"pool": name})
	}
	m.Registry.MustRegister(&poolCollector{
		pool:            pool,
		total:           d("connections", "Open connections."),
		idle:            d("idle_connections", "Idle connections."),
		acquired:        d("acquired_connections", "Connections in use."),
		maxConns:        d("max_connections", "Configured maximum connections."),
		acquireCount:    d("acquires_total", "Successful acquires."),
		acquireWait:     d("acquire_wait_seconds_total", "Time spent waiting for a connection."),
		emptyAcquire:    d("empty_acquires_total", "Acquires that had to wait for a connection."),
		canceledAcquire: d("canceled_acquires_total", "Acquires cancelled by their context."),
	})
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.maxConns, c.acquireCount, c.acquireWait, c.emptyAcquire, c.canceledAcquire} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(c.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(c.maxConns, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquireCount, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.acquireWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(c.emptyAcquire, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.canceledAcquire, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
}

// redisCollector reads the go-redis pool's statistics at scrape time.
type redisCollector struct {
	rdb                              redis.UniversalClient
	total, idle, hits, misses, stale *prometheus.Desc
	timeouts                         *prometheus.Desc
}

// RegisterRedisPool exports the Redis pool's statistics as gateway_redis_pool_*.
func (m *Metrics) RegisterRedisPool(rdb redis.UniversalClient) {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("gateway_redis_pool_"+name, help, nil, nil)
	}
	m.Registry.MustRegister(&redisCollector{
		rdb:      rdb,
		total:    d("connections", "Open connections."),
		idle:     d("idle_connections", "Idle connections."),
		hits:     d("hits_total", "Times a free connection was found in the pool."),
		misses:   d("misses_total", "Times a connection had to be dialled."),
		stale:    d("stale_connections_total", "Stale connections removed."),
		timeouts: d("timeouts_total", "Times waiting for a connection timed out."),
	})
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.hits, c.misses, c.stale, c.timeouts} {
		ch <- d
	}
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	pooler, ok := c.rdb.(interface{ PoolStats() *redis.PoolStats })
	if !ok {
		return
	}
	s := pooler.PoolStats()
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(s.TotalConns))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.IdleConns))
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.CounterValue, float64(s.StaleConns))
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.Timeouts))
}

// fleetCollector counts workers and sessions by status at scrape time, from Postgres (the
// truth), so every replica reports the same figures.
type fleetCollector struct {
	pool     *pgxpool.Pool
	logger   *slog.Logger
	workers  *prometheus.Desc
	sessions *prometheus.Desc
}

// RegisterFleet exports gateway_workers{status} and gateway_sessions{status}.
func (m *Metrics) RegisterFleet(pool *pgxpool.Pool, logger *slog.Logger) {
	m.Registry.MustRegister(&fleetCollector{
		pool:     pool,
		logger:   logger,
		workers:  prometheus.NewDesc("gateway_workers", "Workers by status.", []string{"status"}, nil),
		sessions: prometheus.NewDesc("gateway_sessions", "Sessions by status.", []string{"status"}, nil),
	})
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.workers
	ch <- c.sessions
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, q := range []struct {
		desc     *prometheus.Desc
		sql      string
		statuses []string
	}{
		{c.workers, `SELECT status::text, count(*) FROM workers GROUP BY status`, []string{"ONLINE", "OFFLINE", "MAINTENANCE"}},
		{c.sessions, `SELECT status::text, count(*) FROM sessions GROUP BY status`,
			[]string{"INIT", "QR_REQUIRED", "CONNECTED", "DISCONNECTED", "RECONNECTING", "ERROR"}},
	} {
		counts := map[string]float64{}
		rows, err := c.pool.Query(ctx, q.sql)
		if err != nil {
			c.logger.Warn("metrics: count by status", slog.Any("err", err))
			continue
		}
		for rows.Next() {
			var status string
			var n float64
			if rows.Scan(&status, &n) == nil {
				counts[status] = n
			}
		}
		rows.Close()
		for _, st := range q.statuses {
			ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, counts[st], st)
		}
	}
}

// queueCollector reports the async send queue at scrape time.
type queueCollector struct {
	read          func(ctx context.Context) (depth, oldestAge float64, err error)
	logger        *slog.Logger
	depth, oldest *prometheus.Desc
}

// RegisterQueue exports gateway_send_queue_depth and gateway_send_queue_oldest_age_seconds,
// read at scrape time by read.
func (m *Metrics) RegisterQueue(read func(ctx context.Context) (depth, oldestAge float64, err error), logger *slog.Logger) {
	m.Registry.MustRegister(&queueCollector{read: read, logger: logger,
		depth:  prometheus.NewDesc("gateway_send_queue_depth", "Async sends waiting in the queue.", nil, nil),
		oldest: prometheus.NewDesc("gateway_send_queue_oldest_age_seconds", "Age of the oldest queued send.", nil, nil),
	})
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depth, oldest, err := c.read(ctx)
	if err != nil {
		c.logger.Warn("metrics: queue depth", slog.Any("err", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, depth)
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest)
}
