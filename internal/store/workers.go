package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
)

// WorkerCapacity summarises the fleet for health and dashboards.
type WorkerCapacity struct {
	Online      int `json:"online"`
	Offline     int `json:"offline"`
	Maintenance int `json:"maintenance"`
	// Capacity is the sum of max_sessions of ONLINE workers.
	Capacity int `json:"capacity"`
	// Used counts sessions placed on any worker.
	Used int `json:"used"`
}

// GetWorkerCapacity counts workers by status and the sessions placed on them.
func GetWorkerCapacity(ctx context.Context, db DBTX) (WorkerCapacity, error) {
	var c WorkerCapacity
	err := db.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE status = 'ONLINE'),
		       count(*) FILTER (WHERE status = 'OFFLINE'),
		       count(*) FILTER (WHERE status = 'MAINTENANCE'),
		       coalesce(sum(max_sessions) FILTER (WHERE status = 'ONLINE'), 0),
		       (SELECT count(*) FROM sessions WHERE worker_id IS NOT NULL)
		FROM workers`).Scan(&c.Online, &c.Offline, &c.Maintenance, &c.Capacity, &c.Used)
	if err != nil {
		return c, fmt.Errorf("count workers: %w", err)
	}
	return c, nil
}

// workerSelect reads workers with their session counts derived from the sessions table.
const workerSelect = `
	SELECT w.id, w.endpoint, w.status, w.max_sessions, w.cpu_usage, w.memory_usage, w.version, w.environment,
	       w.description, w.token_hash, w.last_heartbeat, w.consecutive_failures, w.created_at, w.updated_at,
	       (SELECT count(*) FROM sessions s WHERE s.worker_id = w.id) AS session_count,
	       (SELECT count(*) FROM sessions s WHERE s.worker_id = w.id AND s.status = 'CONNECTED') AS active_session_count
	FROM workers w`

func scanWorker(row pgx.Row) (model.Worker, error) {
	var w model.Worker
	err := row.Scan(&w.ID, &w.Endpoint, &w.Status, &w.MaxSessions, &w.CPUUsage, &w.MemoryUsage, &w.Version,
		&w.Environment, &w.Description, &w.TokenHash, &w.LastHeartbeat, &w.ConsecutiveFailures, &w.CreatedAt,
		&w.UpdatedAt, &w.SessionCount, &w.ActiveSessionCount)
	return w, mapError(err)
}

// GetWorker loads a worker by ID.
func GetWorker(ctx context.Context, db DBTX, id string) (model.Worker, error) {
	w, err := scanWorker(db.QueryRow(ctx, workerSelect+` WHERE w.id = $1`, id))
	if err != nil {
		return w, fmt.Errorf("get worker %s: %w", id, err)
	}
	return w, nil
}

// GetWorkerByEndpoint loads the worker registered at endpoint.
func GetWorkerByEndpoint(ctx context.Context, db DBTX, endpoint string) (model.Worker, error) {
	w, err := scanWorker(db.QueryRow(ctx, workerSelect+` WHERE w.endpoint = $1`, endpoint))
	if err != nil {
		return w, fmt.Errorf("get worker at %s: %w", endpoint, err)
	}
	return w, nil
}

// GetWorkerByTokenHash finds the worker whose own token hashes to tokenHash.
func GetWorkerByTokenHash(ctx context.Context, db DBTX, tokenHash string) (model.Worker, error) {
	w, err := scanWorker(db.QueryRow(ctx, workerSelect+` WHERE w.token_hash = $1`, tokenHash))
	if err != nil {
		return w, fmt.Errorf("get worker by token: %w", err)
	}
	return w, nil
}

// WorkerFilter selects workers for a list.
type WorkerFilter struct {
	Status *model.WorkerStatus
	Limit  int
	Offset int
}

// ListWorkers returns a page of workers by ID and the total count.
func ListWorkers(ctx context.Context, db DBTX, f WorkerFilter) ([]model.Worker, int, error) {
	var total int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM workers WHERE ($1::worker_status IS NULL OR status = $1)`,
		f.Status).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count workers: %w", err)
	}
	rows, err := db.Query(ctx, workerSelect+` WHERE ($1::worker_status IS NULL OR w.status = $1)
		ORDER BY w.id LIMIT $2 OFFSET $3`, f.Status, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list workers: %w", err)
	}
	workers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.Worker, error) { return scanWorker(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("list workers: %w", err)
	}
	return workers, total, nil
}

// ListAvailableWorkers returns ONLINE workers with free capacity.
func ListAvailableWorkers(ctx context.Context, db DBTX) ([]model.Worker, error) {
	rows, err := db.Query(ctx, `SELECT * FROM (`+workerSelect+` WHERE w.status = 'ONLINE') available
		WHERE session_count < max_sessions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list available workers: %w", err)
	}
	workers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.Worker, error) { return scanWorker(row) })
	if err != nil {
		return nil, fmt.Errorf("list available workers: %w", err)
	}
	return workers, nil
}

// WorkerRegistration is what a worker registers (or an administrator adds) with.
type WorkerRegistration struct {
	ID          string
	Endpoint    string
	MaxSessions int
	Version     *string
	Environment model.WorkerEnvironment
	Description *string
	TokenHash   *string
}

// UpsertWorker registers a worker, or updates the one with the same ID and sets it ONLINE.
// Another worker at the same endpoint is ErrConflict (the endpoint is unique).
func UpsertWorker(ctx context.Context, db DBTX, r WorkerRegistration) (model.Worker, error) {
	var id string
	err := db.QueryRow(ctx, `
		INSERT INTO workers (id, endpoint, status, max_sessions, version, environment, description, token_hash,
		                     last_heartbeat, consecutive_failures)
		VALUES ($1, $2, 'ONLINE', $3, $4, $5, $6, $7, now(), 0)
		ON CONFLICT (id) DO UPDATE SET
			endpoint = excluded.endpoint, status = 'ONLINE', max_sessions = excluded.max_sessions,
			version = coalesce(excluded.version, workers.version), environment = excluded.environment,
			description = coalesce(excluded.description, workers.description),
			token_hash = coalesce(excluded.token_hash, workers.token_hash),
			last_heartbeat = now(), consecutive_failures = 0, updated_at = now()
		RETURNING id`, r.ID, r.Endpoint, r.MaxSessions, r.Version, r.Environment, r.Description, r.TokenHash).Scan(&id)
	if err != nil {
		return model.Worker{}, fmt.Errorf("register worker %s: %w", r.ID, mapError(err))
	}
	return GetWorker(ctx, db, id)
}

// WorkerChanges are what an administrator may change on a worker; nil keeps a field.
type WorkerChanges struct {
	MaxSessions *int
	Description *string
	Version     *string
	Environment *model.WorkerEnvironment
	Status      *model.WorkerStatus
}

// UpdateWorker applies an administrator's changes.
func UpdateWorker(ctx context.Context, db DBTX, id string, c WorkerChanges) (model.Worker, error) {
	tag, err := db.Exec(ctx, `UPDATE workers SET
			max_sessions = coalesce($2, max_sessions), description = coalesce($3, description),
			version = coalesce($4, version), environment = coalesce($5, environment),
			status = coalesce($6, status), updated_at = now()
		WHERE id = $1`, id, c.MaxSessions, c.Description, c.Version, c.Environment, c.Status)
	if err != nil {
		return model.Worker{}, fmt.Errorf("update worker %s: %w", id, mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return model.Worker{}, fmt.Errorf("update worker %s: %w", id, model.ErrNotFound)
	}
	return GetWorker(ctx, db, id)
}

// DeleteWorker removes a worker; its sessions lose their placement (ON DELETE SET NULL).
func DeleteWorker(ctx context.Context, db DBTX, id string) error {
	tag, err := db.Exec(ctx, `DELETE FROM workers WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete worker %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete worker %s: %w", id, model.ErrNotFound)
	}
	return nil
}

// WorkerSample is one heartbeat's metrics.
type WorkerSample struct {
	CPUUsage     *float64
	MemoryUsage  *float64
	SessionCount *int
	MessageCount *int64
	Uptime       *float64
}

// RecordWorkerHeartbeat marks the worker alive (ONLINE unless an administrator set
// MAINTENANCE), stores its figures and a metrics sample, and returns the worker.
// A status of OFFLINE or MAINTENANCE reported by the worker itself is applied as is.
func RecordWorkerHeartbeat(ctx context.Context, db DBTX, id string, s WorkerSample, reported *model.WorkerStatus) (model.Worker, error) {
	tag, err := db.Exec(ctx, `
		UPDATE workers SET
			status = CASE WHEN $4::worker_status IS NOT NULL THEN $4
			              WHEN status = 'MAINTENANCE' THEN 'MAINTENANCE'::worker_status ELSE 'ONLINE' END,
			last_heartbeat = now(), consecutive_failures = 0,
			cpu_usage = coalesce($2, cpu_usage), memory_usage = coalesce($3, memory_usage), updated_at = now()
		WHERE id = $1`, id, s.CPUUsage, s.MemoryUsage, reported)
	if err != nil {
		return model.Worker{}, fmt.Errorf("record heartbeat of %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return model.Worker{}, fmt.Errorf("record heartbeat of %s: %w", id, model.ErrNotFound)
	}
	if _, err := db.Exec(ctx, `INSERT INTO worker_metrics (worker_id, cpu_usage, memory_usage, session_count, message_count, uptime)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, s.CPUUsage, s.MemoryUsage, s.SessionCount, s.MessageCount, s.Uptime); err != nil {
		return model.Worker{}, fmt.Errorf("store metrics sample of %s: %w", id, err)
	}
	return GetWorker(ctx, db, id)
}

// MetricsSample is a stored heartbeat sample.
type MetricsSample struct {
	CPUUsage     *float64  `json:"cpuUsage"`
	MemoryUsage  *float64  `json:"memoryUsage"`
	SessionCount *int      `json:"sessionCount"`
	MessageCount *int64    `json:"messageCount"`
	Uptime       *float64  `json:"uptime"`
	RecordedAt   time.Time `json:"recordedAt"`
}

// ListWorkerMetrics returns a worker's samples since since, oldest first, at most limit.
func ListWorkerMetrics(ctx context.Context, db DBTX, workerID string, since time.Time, limit int) ([]MetricsSample, error) {
	rows, err := db.Query(ctx, `SELECT cpu_usage, memory_usage, session_count, message_count, uptime, recorded_at
		FROM (SELECT * FROM worker_metrics WHERE worker_id = $1 AND recorded_at >= $2
		      ORDER BY recorded_at DESC LIMIT $3) recent ORDER BY recorded_at`, workerID, since, limit)
	if err != nil {
		return nil, fmt.Errorf("list metrics of %s: %w", workerID, err)
	}
	samples, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MetricsSample])
	if err != nil {
		return nil, fmt.Errorf("list metrics of %s: %w", workerID, err)
	}
	return samples, nil
}

// WorkerStatistics are the fleet figures of GET /workers/statistics.
type WorkerStatistics struct {
	Total            int            `json:"total"`
	Online           int            `json:"online"`
	Offline          int            `json:"offline"`
	Maintenance      int            `json:"maintenance"`
	Capacity         int            `json:"capacity"`
	Used             int            `json:"used"`
	Utilization      float64        `json:"utilization"`
	SessionsByStatus map[string]int `json:"sessionsByStatus"`
	AvgCPU           float64        `json:"avgCpu"`
	AvgMemory        float64        `json:"avgMemory"`
}

// GetWorkerStatistics computes the fleet figures.
func GetWorkerStatistics(ctx context.Context, db DBTX) (WorkerStatistics, error) {
	var s WorkerStatistics
	c, err := GetWorkerCapacity(ctx, db)
	if err != nil {
		return s, err
	}
	s.Online, s.Offline, s.Maintenance, s.Capacity, s.Used = c.Online, c.Offline, c.Maintenance, c.Capacity, c.Used
	s.Total = c.Online + c.Offline + c.Maintenance
	if s.Capacity > 0 {
		s.Utilization = float64(s.Used) / float64(s.Capacity) * 100
	}
	if err := db.QueryRow(ctx, `SELECT coalesce(avg(cpu_usage), 0), coalesce(avg(memory_usage), 0)
		FROM workers WHERE status = 'ONLINE'`).Scan(&s.AvgCPU, &s.AvgMemory); err != nil {
		return s, fmt.Errorf("worker averages: %w", err)
	}
	s.SessionsByStatus = map[string]int{}
	for _, st := range model.SessionStatuses {
		s.SessionsByStatus[string(st)] = 0
	}
	rows, err := db.Query(ctx, `SELECT status::text, count(*) FROM sessions WHERE worker_id IS NOT NULL GROUP BY status`)
	if err != nil {
		return s, fmt.Errorf("sessions by status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return s, fmt.Errorf("sessions by status: %w", err)
		}
		s.SessionsByStatus[status] = n
	}
	return s, rows.Err()
}

// CountWorkersByStatus counts workers per status, for metrics.
func CountWorkersByStatus(ctx context.Context, db DBTX) (map[model.WorkerStatus]int, error) {
	rows, err := db.Query(ctx, `SELECT status, count(*) FROM workers GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count workers by status: %w", err)
	}
	defer rows.Close()
	counts := map[model.WorkerStatus]int{}
	for rows.Next() {
		var st model.WorkerStatus
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count workers by status: %w", err)
		}
		counts[st] = n
	}
	return counts, rows.Err()
}

// WorkerLoad is a worker's load as placement scores it.
type WorkerLoad struct {
	WorkerID      string
	MaxSessions   int
	Used          int
	Unhealthy     int
	WaitingForQR  int
	CPUUsage      float64
	MemoryUsage   float64
	LastHeartbeat time.Time
}

// ListOnlineWorkerLoads returns the load of every ONLINE worker.
func ListOnlineWorkerLoads(ctx context.Context, db DBTX) ([]WorkerLoad, error) {
	rows, err := db.Query(ctx, `
		SELECT w.id, w.max_sessions,
		       count(s.id),
		       count(s.id) FILTER (WHERE s.status IN ('ERROR', 'RECONNECTING')),
		       count(s.id) FILTER (WHERE s.status = 'QR_REQUIRED'),
		       coalesce(w.cpu_usage, 0), coalesce(w.memory_usage, 0),
		       coalesce(w.last_heartbeat, w.updated_at)
		FROM workers w LEFT JOIN sessions s ON s.worker_id = w.id
		WHERE w.status = 'ONLINE'
		GROUP BY w.id
		ORDER BY w.id`)
	if err != nil {
		return nil, fmt.Errorf("list worker loads: %w", err)
	}
	loads, err := pgx.CollectRows(rows, pgx.RowToStructByPos[WorkerLoad])
	if err != nil {
		return nil, fmt.Errorf("list worker loads: %w", err)
	}
	return loads, nil
}
