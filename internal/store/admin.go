package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
)

// Maintenance is the maintenance-mode flag shared by every replica.
type Maintenance struct {
	Enabled   bool      `json:"enabled"`
	Message   string    `json:"message"`
	UpdatedAt time.Time `json:"updatedAt"`
}

const maintenanceKey = "maintenance"

// GetMaintenance reads the flag; absent means off.
func GetMaintenance(ctx context.Context, db DBTX) (Maintenance, error) {
	var raw []byte
	err := db.QueryRow(ctx, `SELECT value FROM system_settings WHERE key = $1`, maintenanceKey).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return Maintenance{}, nil
	}
	if err != nil {
		return Maintenance{}, fmt.Errorf("read maintenance mode: %w", err)
	}
	var m Maintenance
	if err := json.Unmarshal(raw, &m); err != nil {
		return Maintenance{}, fmt.Errorf("read maintenance mode: %w", err)
	}
	return m, nil
}

// SetMaintenance writes the flag.
func SetMaintenance(ctx context.Context, db DBTX, m Maintenance) error {
	raw, _ := json.Marshal(m)
	_, err := db.Exec(ctx, `INSERT INTO system_settings (key, value, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()`, maintenanceKey, raw)
	if err != nil {
		return fmt.Errorf("write maintenance mode: %w", err)
	}
	return nil
}

// SystemLog is one stored system log entry.
type SystemLog struct {
	ID        int64           `json:"id"`
	Level     model.LogLevel  `json:"level"`
	Service   string          `json:"service"`
	Message   string          `json:"message"`
	Details   json.RawMessage `json:"details"`
	UserID    *string         `json:"userId"`
	SessionID *string         `json:"sessionId"`
	WorkerID  *string         `json:"workerId"`
	CreatedAt time.Time       `json:"createdAt"`
}

// SystemLogFilter selects a page of the system log, newest first.
type SystemLogFilter struct {
	Level     *model.LogLevel
	Service   *string
	SessionID *string
	WorkerID  *string
	From, To  *time.Time
	BeforeID  *int64 // keyset cursor
	Limit     int
}

// ListSystemLogs returns a page of the system log.
func ListSystemLogs(ctx context.Context, db DBTX, f SystemLogFilter) ([]SystemLog, error) {
	rows, err := db.Query(ctx, `SELECT id, level, service, message, details, user_id::text, session_id, worker_id, created_at
		FROM system_logs
		WHERE ($1::log_level IS NULL OR level = $1) AND ($2::text IS NULL OR service = $2)
		  AND ($3::text IS NULL OR session_id = $3) AND ($4::text IS NULL OR worker_id = $4)
		  AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at < $6)
		  AND ($7::bigint IS NULL OR id < $7)
		ORDER BY id DESC LIMIT $8`, f.Level, f.Service, f.SessionID, f.WorkerID, f.From, f.To, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list system logs: %w", err)
	}
	logs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SystemLog])
	if err != nil {
		return nil, fmt.Errorf("list system logs: %w", err)
	}
	return logs, nil
}

// PruneOld deletes system log entries, worker metrics samples and (when retention is set)
// messages older than their retention periods.
func PruneOld(ctx context.Context, db DBTX, systemLogs, metrics, messages time.Duration) (int64, error) {
	var total int64
	queries := []struct {
		sql string
		age time.Duration
	}{
		{`WITH gone AS (DELETE FROM system_logs WHERE created_at < now() - $1::interval RETURNING 1)
			SELECT count(*) FROM gone`, systemLogs},
		{`WITH gone AS (DELETE FROM worker_metrics WHERE recorded_at < now() - $1::interval RETURNING 1)
			SELECT count(*) FROM gone`, metrics},
		// A message's WhatsApp ID goes with it.
		{`WITH gone AS (
				DELETE FROM messages WHERE created_at < now() - $1::interval AND status NOT IN ('QUEUED', 'PENDING')
				RETURNING id, session_id, wa_message_id
			), ids AS (
				DELETE FROM message_wa_ids w USING gone g
				WHERE w.session_id = g.session_id AND w.wa_message_id = g.wa_message_id AND w.message_id = g.id
			)
			SELECT count(*) FROM gone`, messages},
	}
	for _, q := range queries {
		if q.age <= 0 {
			continue
		}
		var n int64
		if err := db.QueryRow(ctx, q.sql, q.age).Scan(&n); err != nil {
			return total, fmt.Errorf("prune old rows: %w", err)
		}
		total += n
	}
	return total, nil
}

// Dashboard are the figures of GET /admin/dashboard.
type Dashboard struct {
	TotalUsers        int
	TotalSessions     int
	TotalWorkers      int
	TotalMessages     int64
	WorkersOnline     int
	WorkersOffline    int
	WorkersMaint      int
	AvgCPU, AvgMemory float64
	TotalCapacity     int
	UsedCapacity      int
	SessionsByStatus  map[string]int
	Messages24h       int
	Delivered24h      int
	Failed24h         int
	AvgSendSeconds    float64
}

// GetDashboard computes the dashboard with aggregate queries. Message figures use the
// created_at index over the last 24 hours; the all-time total is the planner's row estimate,
// which never scans the table.
func GetDashboard(ctx context.Context, db DBTX) (Dashboard, error) {
	d := Dashboard{SessionsByStatus: map[string]int{}}
	err := db.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM users), (SELECT count(*) FROM sessions), (SELECT count(*) FROM workers),
			(SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'messages'::regclass),
			(SELECT count(*) FROM workers WHERE status = 'ONLINE'), (SELECT count(*) FROM workers WHERE status = 'OFFLINE'),
			(SELECT count(*) FROM workers WHERE status = 'MAINTENANCE'),
			(SELECT coalesce(avg(cpu_usage), 0) FROM workers WHERE status = 'ONLINE'),
			(SELECT coalesce(avg(memory_usage), 0) FROM workers WHERE status = 'ONLINE'),
			(SELECT coalesce(sum(max_sessions), 0) FROM workers WHERE status = 'ONLINE'),
			(SELECT count(*) FROM sessions WHERE worker_id IS NOT NULL)`).
		Scan(&d.TotalUsers, &d.TotalSessions, &d.TotalWorkers, &d.TotalMessages, &d.WorkersOnline, &d.WorkersOffline,
			&d.WorkersMaint, &d.AvgCPU, &d.AvgMemory, &d.TotalCapacity, &d.UsedCapacity)
	if err != nil {
		return d, fmt.Errorf("dashboard totals: %w", err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*),
			count(*) FILTER (WHERE status IN ('SENT', 'DELIVERED', 'READ')),
			count(*) FILTER (WHERE status = 'FAILED'),
			coalesce(avg(extract(epoch FROM sent_at - created_at)) FILTER (WHERE sent_at IS NOT NULL), 0)
		FROM messages WHERE created_at >= now() - interval '24 hours' AND direction = 'OUTBOUND'`).
		Scan(&d.Messages24h, &d.Delivered24h, &d.Failed24h, &d.AvgSendSeconds); err != nil {
		return d, fmt.Errorf("dashboard messages: %w", err)
	}
	rows, err := db.Query(ctx, `SELECT status::text, count(*) FROM sessions GROUP BY status`)
	if err != nil {
		return d, fmt.Errorf("dashboard sessions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return d, fmt.Errorf("dashboard sessions: %w", err)
		}
		d.SessionsByStatus[status] = n
	}
	return d, rows.Err()
}

// Analytics are the figures of GET /admin/analytics over a period.
type Analytics struct {
	UsersTotal, UsersActive, UsersNew int
	UsersByTier                       map[string]int
	SessionsTotal, SessionsCreated    int
	SessionsByStatus                  map[string]int
	MessagesTotal, Sent, Failed       int
	MessagesByType                    map[string]int
	WorkersTotal, WorkersOnline       int
	AvgLoad                           float64
	WorkerMessages                    int64
}

// GetAnalytics computes the analytics of the period since since.
func GetAnalytics(ctx context.Context, db DBTX, since time.Time) (Analytics, error) {
	a := Analytics{UsersByTier: map[string]int{}, SessionsByStatus: map[string]int{}, MessagesByType: map[string]int{}}
	err := db.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM users),
			(SELECT count(*) FROM users WHERE last_login_at >= $1),
			(SELECT count(*) FROM users WHERE created_at >= $1),
			(SELECT count(*) FROM sessions),
			(SELECT count(*) FROM sessions WHERE created_at >= $1),
			(SELECT count(*) FROM workers), (SELECT count(*) FROM workers WHERE status = 'ONLINE'),
			(SELECT coalesce(avg(100.0 * (SELECT count(*) FROM sessions s WHERE s.worker_id = w.id) / w.max_sessions), 0)
			   FROM workers w WHERE w.status = 'ONLINE'),
			(SELECT coalesce(sum(message_count), 0) FROM (
			   SELECT DISTINCT ON (worker_id) message_count FROM worker_metrics
			   WHERE recorded_at >= $1 ORDER BY worker_id, recorded_at DESC) latest)`, since).
		Scan(&a.UsersTotal, &a.UsersActive, &a.UsersNew, &a.SessionsTotal, &a.SessionsCreated, &a.WorkersTotal,
			&a.WorkersOnline, &a.AvgLoad, &a.WorkerMessages)
	if err != nil {
		return a, fmt.Errorf("analytics totals: %w", err)
	}
	groups := []struct {
		sql  string
		args []any
		into map[string]int
	}{
		{`SELECT tier::text, count(*) FROM users GROUP BY tier`, nil, a.UsersByTier},
		{`SELECT status::text, count(*) FROM sessions GROUP BY status`, nil, a.SessionsByStatus},
		{`SELECT message_type::text, count(*) FROM messages WHERE created_at >= $1 GROUP BY message_type`,
			[]any{since}, a.MessagesByType},
	}
	for _, g := range groups {
		rows, err := db.Query(ctx, g.sql, g.args...)
		if err != nil {
			return a, fmt.Errorf("analytics groups: %w", err)
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return a, fmt.Errorf("analytics groups: %w", err)
			}
			g.into[k] = n
		}
		rows.Close()
	}
	err = db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status IN ('SENT', 'DELIVERED', 'READ')),
			count(*) FILTER (WHERE status = 'FAILED')
		FROM messages WHERE created_at >= $1`, since).Scan(&a.MessagesTotal, &a.Sent, &a.Failed)
	if err != nil {
		return a, fmt.Errorf("analytics messages: %w", err)
	}
	return a, nil
}

// Alert is something an operator should look at.
type Alert struct {
	Type      string    `json:"type"`
	Message   string    `json:"message"`
	Timestamp time.Time `json:"timestamp"`
}

// ListAlerts finds workers above 85% CPU or memory, OFFLINE workers and disabled webhooks.
func ListAlerts(ctx context.Context, db DBTX) ([]Alert, error) {
	rows, err := db.Query(ctx, `
		SELECT 'worker_resources', format('Worker %s is at %s%% CPU and %s%% memory', id,
		         round(coalesce(cpu_usage, 0)::numeric), round(coalesce(memory_usage, 0)::numeric)), updated_at
		FROM workers WHERE status <> 'OFFLINE' AND (cpu_usage > 85 OR memory_usage > 85)
		UNION ALL
		SELECT 'worker_offline', format('Worker %s is OFFLINE', id), updated_at FROM workers WHERE status = 'OFFLINE'
		UNION ALL
		SELECT 'webhook_disabled', format('The webhook of session %s is disabled: %s', session_id,
		         coalesce(disabled_reason, 'too many failures')), updated_at
		FROM webhooks WHERE NOT is_active
		ORDER BY 3 DESC LIMIT 100`)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	alerts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Alert])
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return alerts, nil
}
