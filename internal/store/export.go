package store

import (
	"context"
	"fmt"
	"time"
)

// exports are the report queries; each selects plain text-friendly columns in a stable order.
var exports = map[string]string{
	"users": `SELECT id::text, name, email, role::text, tier::text, is_active, last_login_at, created_at
		FROM users WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)
		ORDER BY created_at, id`,
	"sessions": `SELECT id, user_id::text, name, status::text, worker_id, phone_number, last_seen_at, created_at
		FROM sessions WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)
		ORDER BY created_at, id`,
	"messages": `SELECT id::text, session_id, direction::text, message_type::text, status::text, to_number, from_number,
		wa_message_id, error_message, created_at, sent_at, delivered_at, read_at
		FROM messages WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)
		ORDER BY created_at, id`,
	"usage": `SELECT user_id::text, session_id, kind, bucket, count
		FROM usage_records WHERE ($1::timestamptz IS NULL OR bucket >= $1) AND ($2::timestamptz IS NULL OR bucket < $2)
		ORDER BY bucket, user_id`,
}

// ExportTypes lists the report types.
var ExportTypes = []string{"users", "sessions", "messages", "usage"}

// StreamExport runs a report query and hands each row to emit as it arrives, so memory stays
// constant however many rows there are. columns is called once with the column names first.
func StreamExport(ctx context.Context, db DBTX, kind string, from, to *time.Time,
	columns func([]string) error, emit func([]any) error) error {
	sql, ok := exports[kind]
	if !ok {
		return fmt.Errorf("unknown export %q", kind)
	}
	rows, err := db.Query(ctx, sql, from, to)
	if err != nil {
		return fmt.Errorf("export %s: %w", kind, err)
	}
	defer rows.Close()
	names := make([]string, 0, len(rows.FieldDescriptions()))
	for _, f := range rows.FieldDescriptions() {
		names = append(names, f.Name)
	}
	if err := columns(names); err != nil {
		return err
	}
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			return fmt.Errorf("export %s: %w", kind, err)
		}
		if err := emit(values); err != nil {
			return err
		}
	}
	return rows.Err()
}
