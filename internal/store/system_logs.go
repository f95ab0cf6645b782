package store

import (
	"context"
	"fmt"

	"github.com/wagateway/gateway/internal/model"
)

// SystemLogEntry is one important event of the system log (not an access log line).
type SystemLogEntry struct {
	Level     model.LogLevel
	Service   string
	Message   string
	Details   map[string]any
	UserID    *string
	SessionID *string
	WorkerID  *string
}

// InsertSystemLog appends an entry to the system log.
func InsertSystemLog(ctx context.Context, db DBTX, e SystemLogEntry) error {
	_, err := db.Exec(ctx, `
		INSERT INTO system_logs (level, service, message, details, user_id, session_id, worker_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.Level, e.Service, e.Message, e.Details, e.UserID, e.SessionID, e.WorkerID)
	if err != nil {
		return fmt.Errorf("write system log: %w", err)
	}
	return nil
}
