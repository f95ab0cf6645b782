package store

import (
	"context"
	"fmt"
	"time"
)

// MessageUsage counts a user's outbound messages in a period.
type MessageUsage struct {
	Total  int            `json:"total"`
	Sent   int            `json:"sent"`
	Failed int            `json:"failed"`
	ByType map[string]int `json:"byType"`
}

// DayUsage is one day of a user's usage.
type DayUsage struct {
	Date     string `json:"date"` // YYYY-MM-DD, UTC
	Messages int    `json:"messages"`
	APICalls int    `json:"apiCalls"`
}

// Usage is a user's usage over a period.
type Usage struct {
	Messages MessageUsage `json:"messages"`
	APICalls int          `json:"apiCalls"`
	ByDay    []DayUsage   `json:"byDay"`
}

// GetUsage sums a user's outbound messages (from the messages table) and API calls (from the
// hourly usage records) since since, optionally for one session.
func GetUsage(ctx context.Context, db DBTX, userID string, sessionID *string, since time.Time) (Usage, error) {
	u := Usage{Messages: MessageUsage{ByType: map[string]int{}}, ByDay: []DayUsage{}}
	rows, err := db.Query(ctx, `
		SELECT m.message_type::text, count(*),
		       count(*) FILTER (WHERE m.status IN ('SENT', 'DELIVERED', 'READ')),
		       count(*) FILTER (WHERE m.status = 'FAILED')
		FROM messages m JOIN sessions s ON s.id = m.session_id
		WHERE s.user_id = $1 AND ($2::text IS NULL OR m.session_id = $2)
		  AND m.direction = 'OUTBOUND' AND m.created_at >= $3
		GROUP BY m.message_type`, userID, sessionID, since)
	if err != nil {
		return u, fmt.Errorf("message usage: %w", err)
	}
	for rows.Next() {
		var kind string
		var total, sent, failed int
		if err := rows.Scan(&kind, &total, &sent, &failed); err != nil {
			rows.Close()
			return u, fmt.Errorf("message usage: %w", err)
		}
		u.Messages.ByType[kind] = total
		u.Messages.Total += total
		u.Messages.Sent += sent
		u.Messages.Failed += failed
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return u, fmt.Errorf("message usage: %w", err)
	}

	rows, err = db.Query(ctx, `
		WITH days AS (
			SELECT generate_series(date_trunc('day', $3::timestamptz AT TIME ZONE 'UTC'),
			                       date_trunc('day', now() AT TIME ZONE 'UTC'), interval '1 day') AS day
		)
		SELECT to_char(d.day, 'YYYY-MM-DD'),
		       (SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id
		         WHERE s.user_id = $1 AND ($2::text IS NULL OR m.session_id = $2) AND m.direction = 'OUTBOUND'
		           AND m.created_at >= greatest($3, d.day AT TIME ZONE 'UTC')
		           AND m.created_at < (d.day + interval '1 day') AT TIME ZONE 'UTC'),
		       (SELECT coalesce(sum(count), 0) FROM usage_records r
		         WHERE r.user_id = $1 AND ($2::text IS NULL OR r.session_id = $2) AND r.kind = 'api_call'
		           AND r.bucket >= date_trunc('hour', $3::timestamptz)
		           AND r.bucket < (d.day + interval '1 day') AT TIME ZONE 'UTC'
		           AND r.bucket >= d.day AT TIME ZONE 'UTC')
		FROM days d ORDER BY d.day`, userID, sessionID, since)
	if err != nil {
		return u, fmt.Errorf("daily usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d DayUsage
		if err := rows.Scan(&d.Date, &d.Messages, &d.APICalls); err != nil {
			return u, fmt.Errorf("daily usage: %w", err)
		}
		u.APICalls += d.APICalls
		u.ByDay = append(u.ByDay, d)
	}
	return u, rows.Err()
}

// UsageCount is a number of requests of one kind in one hour.
type UsageCount struct {
	UserID    string
	SessionID string
	APIKeyID  string
	Kind      string // message, api_call
	Bucket    time.Time
	Count     int64
}

// AddUsage adds counts to the hourly usage records in one statement.
func AddUsage(ctx context.Context, db DBTX, counts []UsageCount) error {
	if len(counts) == 0 {
		return nil
	}
	n := len(counts)
	users, sessions, keys, kinds := make([]string, n), make([]*string, n), make([]*string, n), make([]string, n)
	buckets, values := make([]time.Time, n), make([]int64, n)
	for i, c := range counts {
		users[i], kinds[i], buckets[i], values[i] = c.UserID, c.Kind, c.Bucket, c.Count
		if c.SessionID != "" {
			sessions[i] = &counts[i].SessionID
		}
		if c.APIKeyID != "" {
			keys[i] = &counts[i].APIKeyID
		}
	}
	_, err := db.Exec(ctx, `
		INSERT INTO usage_records (user_id, session_id, api_key_id, kind, bucket, count)
		SELECT u.user_id, u.session_id, u.api_key_id, u.kind, u.bucket, u.count
		FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[], $6::bigint[])
		     AS u(user_id, session_id, api_key_id, kind, bucket, count)
		WHERE EXISTS (SELECT 1 FROM users WHERE id = u.user_id)
		ON CONFLICT (user_id, session_id, kind, bucket) DO UPDATE SET count = usage_records.count + excluded.count`,
		users, sessions, keys, kinds, buckets, values)
	if err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}
