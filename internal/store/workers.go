package store

import (
	"context"
	"fmt"
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
