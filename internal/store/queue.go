package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
)

// QueueChannel is the LISTEN/NOTIFY channel that wakes dispatchers when async sends arrive.
// The payload is when the earliest of them is due, in Unix milliseconds (0: now), so that
// sends scheduled for later do not wake a dispatcher that will look before they are due.
const QueueChannel = "wagw_send_queue"

// QueueDue reads a QueueChannel payload: the time it announces, now for any payload that is
// not one (a notifier that does not say), which wakes every dispatcher as before.
func QueueDue(payload string, now time.Time) time.Time {
	ms, err := strconv.ParseInt(payload, 10, 64)
	if err != nil || ms <= 0 {
		return now
	}
	return time.UnixMilli(ms)
}

// QueuedMessage is an async send to record.
type QueuedMessage struct {
	OutboundMessage
	ScheduledAt *time.Time
}

// QueuedOutbound is the outcome of queueing an async send.
type QueuedOutbound struct {
	CreatedAt time.Time
	// Err is ErrNotFound for an unknown session, ErrMessageExists for an ID already taken.
	Err error
}

// queueSendsSQL is QueueBatch's statement.
const queueSendsSQL = `
	WITH input AS (
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::message_type[], $5::text[], $6::text[],
		                     $7::text[], $8::text[], $9::jsonb[], $10::timestamptz[])
		       AS t(id, session_id, to_number, message_type, content, media_url, filename, caption, payload, scheduled_at)
	), sess AS (
		-- The sessions' reference (migration 00009): none is deleted until this commits; locked
		-- in ID order, as DeleteUser locks a user's sessions.
		SELECT id FROM sessions WHERE id = ANY ($2::text[]) ORDER BY id FOR KEY SHARE
	), ins AS (
		INSERT INTO messages (id, session_id, direction, to_number, message_type, content, media_url, filename,
		                      caption, payload, status, async, scheduled_at, next_attempt_at)
		SELECT i.id, i.session_id, 'OUTBOUND', i.to_number, i.message_type, i.content, i.media_url, i.filename,
		       i.caption, i.payload, 'QUEUED', true, i.scheduled_at, coalesce(i.scheduled_at, now())
		FROM input i JOIN sess s ON s.id = i.session_id
		ON CONFLICT (id) DO NOTHING
		RETURNING id, created_at
	)
	SELECT i.id::text, ins.created_at, s.id IS NOT NULL
	FROM input i LEFT JOIN ins ON ins.id = i.id LEFT JOIN sess s ON s.id = i.session_id` + queueWake

// queueWake is the part of queueSendsSQL that announces the batch on QueueChannel.
const queueWake = `
	     CROSS JOIN (SELECT pg_notify($11, $12)) AS wake`

// EarliestDue is when the earliest send of rows is due: the zero time when one is due now.
func EarliestDue(rows []QueuedMessage) time.Time {
	var due time.Time
	for _, r := range rows {
		switch {
		case r.ScheduledAt == nil:
			return time.Time{}
		case due.IsZero() || r.ScheduledAt.Before(due):
			due = *r.ScheduledAt
		}
	}
	return due
}

// QueueBatch records async sends as QUEUED (the history reads that off the row) in one
// statement; with announce, the statement also wakes the dispatchers of every replica
// (QueueChannel, with when the earliest send is due). A send is queued whatever the session's
// state: the dispatcher waits for it. A send whose ID is taken is not recorded again
// (ErrMessageExists), and fails no other row of the batch.
func QueueBatch(ctx context.Context, db *pgxpool.Pool, rows []QueuedMessage, announce bool) ([]QueuedOutbound, error) {
	out := make([]QueuedOutbound, len(rows))
	c := newSendColumns(len(rows))
	scheduled := make([]*time.Time, 0, len(rows))
	for i, r := range rows {
		if err := c.add(i, r.OutboundMessage); err != nil {
			out[i].Err = fmt.Errorf("queue send %s: %w", r.ID, err)
			continue
		}
		scheduled = append(scheduled, r.ScheduledAt)
	}
	args := []any{c.ids, c.sessions, c.tos, c.types, c.contents, c.media, c.files, c.captions, c.payloads, scheduled}
	sql := c.statement(queueQuietSQL, queueNewQuietSQL)
	if announce {
		var due int64 // Unix ms; 0: now
		if at := EarliestDue(rows); !at.IsZero() {
			due = at.UnixMilli()
		}
		args = append(args, QueueChannel, strconv.FormatInt(due, 10))
		sql = c.statement(queueSendsSQL, queueNewSendsSQL)
	}
	// One statement, so one implicit transaction and one round trip; a NOTIFY is delivered
	// when it commits.
	err := func() error {
		rs, err := db.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var id string
			var at *time.Time
			var sessionFound bool
			if err := rs.Scan(&id, &at, &sessionFound); err != nil {
				return err
			}
			i := c.index[id]
			switch {
			case !sessionFound:
				out[i].Err = fmt.Errorf("queue send: session %s: %w", rows[i].SessionID, model.ErrNotFound)
			case at == nil:
				out[i].Err = fmt.Errorf("queue send %s: %w", id, ErrMessageExists)
			default:
				out[i].CreatedAt = *at
			}
		}
		return rs.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("queue sends: %w", mapError(err))
	}
	return out, nil
}

// DueSessions lists, most overdue first, up to limit sessions whose queue head is due and whose
// pacing allows a send now; next is when the first of the other sessions with a queue will be
// ready (its head scheduled, backing off or paced), zero when there is none. Only a session's
// head counts: one whose head backs off is not due, however many messages wait behind it.
//
// The sessions with a queue are found by skipping through the queue index (one probe per
// session, not one row per queued message) and each head with one more probe, so the cost of
// a round follows the sessions with a queue, not the backlog. Every probe orders by the whole
// queue index: the planner cannot then take the (session_id, created_at) index and filter
// next_attempt_at, which it would when it thinks most messages are queued (after a burst of
// scheduled sends, say) and which reads every sent message.
func DueSessions(ctx context.Context, db DBTX, minInterval time.Duration, limit int) (due []DueSession, next time.Time, err error) {
	rows, err := db.Query(ctx, `
		WITH RECURSIVE queued(session_id) AS (
			(SELECT session_id FROM messages WHERE next_attempt_at IS NOT NULL
			 ORDER BY session_id, coalesce(scheduled_at, created_at), created_at, id LIMIT 1)
			UNION ALL
			SELECT (SELECT m.session_id FROM messages m WHERE m.next_attempt_at IS NOT NULL AND m.session_id > q.session_id
			        ORDER BY m.session_id, coalesce(m.scheduled_at, m.created_at), m.created_at, m.id LIMIT 1)
			FROM queued q WHERE q.session_id IS NOT NULL
		), ready AS (
			SELECT q.session_id, s.worker_id, greatest(h.next_attempt_at, s.last_dispatched_at + $1::interval) AS ready_at
			FROM queued q
			JOIN sessions s ON s.id = q.session_id
			CROSS JOIN LATERAL (
				SELECT next_attempt_at FROM messages
				WHERE session_id = q.session_id AND next_attempt_at IS NOT NULL
				ORDER BY coalesce(scheduled_at, created_at), created_at, id
				LIMIT 1) h
		)
		(SELECT session_id, worker_id, ready_at FROM ready WHERE ready_at <= now() ORDER BY ready_at LIMIT $2)
		UNION ALL
		SELECT NULL, NULL, min(ready_at) FROM ready WHERE ready_at > now()`, minInterval, limit)
	if err != nil {
		return nil, next, fmt.Errorf("due sessions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, workerID *string
		var at *time.Time
		if err := rows.Scan(&id, &workerID, &at); err != nil {
			return nil, next, fmt.Errorf("due sessions: %w", err)
		}
		switch {
		case id != nil:
			d := DueSession{ID: *id}
			if workerID != nil {
				d.WorkerID = *workerID
			}
			due = append(due, d)
		case at != nil:
			next = *at
		}
	}
	if err := rows.Err(); err != nil {
		return nil, next, fmt.Errorf("due sessions: %w", err)
	}
	return due, next, nil
}

// DueSession is a session DueSessions found due, with the worker it is placed on ("" when none).
type DueSession struct {
	ID, WorkerID string
}

// QueueHead is the next message of a session's queue, in order.
type QueueHead struct {
	model.Message
	NextAttemptAt    time.Time
	SessionStatus    model.SessionStatus
	LastDispatchedAt *time.Time
	// UserID owns the session (the events of the send name it).
	UserID string
}

// LockQueueHeads takes, for the transaction, the dispatch lock of each of the sessions it can
// and locks the first queued message of each (by scheduled time, then creation), returned with
// the session's state and owner, in no particular order. A session without a queue, or held by
// another dispatcher on any replica, is left out, so that at most one sends a session's queue
// at a time. One statement, whatever the number of sessions.
//
// It never waits for a lock, so that a transaction holding several sessions cannot deadlock
// with another taking the same messages in another order (a cancel of many, a session's
// deletion): a head another transaction has locked leaves its session out of this batch, and
// the message behind it is never taken in its place.
//
// The transaction then commits without waiting for its WAL to reach the disk (synchronous_commit
// off, for it alone): a crash right after the commit may lose what it recorded, and the message
// is handed to the worker again with the same clientMessageId, which the worker deduplicates —
// what a crash between the send and the commit does anyway. Waiting for the flush would cost
// every batch of sends a disk round trip.
func LockQueueHeads(ctx context.Context, tx pgx.Tx, sessionIDs []string) ([]QueueHead, error) {
	rows, err := tx.Query(ctx, lockQueueHeadsSQL, sessionIDs)
	if err != nil {
		return nil, fmt.Errorf("queue heads: %w", err)
	}
	heads, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (QueueHead, error) {
		var h QueueHead
		m := &h.Message
		err := row.Scan(&m.ID, &m.SessionID, &m.Direction, &m.WAMessageID, &m.From, &m.To, &m.Type, &m.Content,
			&m.MediaURL, &m.Filename, &m.Caption, &m.Payload, &m.Status, &m.ErrorMessage, &m.Attempts, &m.ScheduledAt,
			&m.SentAt, &m.DeliveredAt, &m.ReadAt, &m.CreatedAt, &h.NextAttemptAt, &h.SessionStatus, &h.LastDispatchedAt, &h.UserID)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("queue heads: %w", err)
	}
	return heads, nil
}

// lockQueueHeadsSQL is LockQueueHeads' statement.
//
// The lease is a CTE of its own: with a volatile function, PostgreSQL evaluates it once per
// session, before the heads are looked at. The head is locked through the primary key: said
// as next_attempt_at IS NOT NULL, its condition would match the queue index's predicate, and
// with statistics taken while the queue was short the planner read that whole index for
// each head (7.5 ms a head under a backlog of 100,000, against 0.1 ms); status = 'QUEUED'
// says the same (a CHECK ties them) and is rechecked once the row is locked.
const lockQueueHeadsSQL = `
		WITH mode AS (
			SELECT set_config('synchronous_commit', 'off', true) AS commit_mode
		), lease AS (
			SELECT id FROM unnest($1::text[]) AS ids(id)
			WHERE pg_try_advisory_xact_lock(hashtextextended('wagw-dispatch:' || id, 0))
		)
		SELECT h.*, s.status, s.last_dispatched_at, s.user_id
		FROM lease
		JOIN sessions s ON s.id = lease.id
		CROSS JOIN LATERAL (
			SELECT id FROM messages
			WHERE session_id = lease.id AND next_attempt_at IS NOT NULL
			ORDER BY coalesce(scheduled_at, created_at), created_at, id
			LIMIT 1) first
		CROSS JOIN LATERAL (
			SELECT ` + messageColumns + `, next_attempt_at
			FROM messages WHERE id = first.id AND status = 'QUEUED'
			FOR UPDATE SKIP LOCKED) h
		WHERE (SELECT commit_mode = 'off' FROM mode)`

// Dispatched is a queued message the worker took: its WhatsApp ID, when, and Hook (when set),
// the customer event of the send, as a delivery to the session's active webhook subscribed to
// it.
type Dispatched struct {
	ID, SessionID, WAMessageID string
	At                         time.Time
	Hook                       *NewWebhookDelivery
}

// MarkDispatched records queued messages the worker took (one per session), in one statement:
// SENT with their WhatsApp IDs (the history reads SENT off sent_at), out of the queue, each
// session's pacing clock, and their webhook deliveries. It returns how many deliveries it
// stored.
func MarkDispatched(ctx context.Context, tx pgx.Tx, sent []Dispatched) (webhookDeliveries int64, err error) {
	ids, sessions, waIDs := make([]string, len(sent)), make([]string, len(sent)), make([]string, len(sent))
	ats, events, payloads := make([]time.Time, len(sent)), make([]*string, len(sent)), make([]*string, len(sent))
	for i, d := range sent {
		ids[i], sessions[i], waIDs[i], ats[i] = d.ID, d.SessionID, d.WAMessageID, d.At
		if d.Hook != nil {
			text := string(d.Hook.Payload)
			events[i], payloads[i] = &d.Hook.Event, &text
		}
	}
	if err := tx.QueryRow(ctx, `
		WITH input AS (
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
				AS i(id, session_id, wa_id, at, event, payload)
		), sent AS (
			UPDATE messages m SET status = 'SENT', next_attempt_at = NULL, wa_message_id = nullif(i.wa_id, ''), sent_at = i.at,
				attempts = m.attempts + 1, error_message = NULL, updated_at = now()
			FROM input i
			WHERE m.id = i.id RETURNING m.id, m.session_id, m.wa_message_id, i.event, i.payload
		), wa AS (
			INSERT INTO message_wa_ids (session_id, wa_message_id, message_id)
			SELECT session_id, wa_message_id, id FROM sent WHERE wa_message_id IS NOT NULL
			ON CONFLICT DO NOTHING
		), hook AS (
			INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_retry)
			SELECT w.id, sent.event, sent.payload::jsonb, 'PENDING', now()
			FROM sent JOIN webhooks w ON w.session_id = sent.session_id AND w.is_active
				AND (sent.event = ANY (w.events) OR '*' = ANY (w.events))
			WHERE sent.payload IS NOT NULL
			RETURNING 1
		), paced AS (
			UPDATE sessions s SET last_dispatched_at = i.at FROM input i WHERE s.id = i.session_id
		)
		SELECT count(*) FROM hook`, ids, sessions, waIDs, ats, events, payloads).Scan(&webhookDeliveries); err != nil {
		return 0, fmt.Errorf("mark dispatched: %w", mapError(err))
	}
	return webhookDeliveries, nil
}

// MarkAttemptFailed counts a failed attempt: retried at next, or FAILED for good when next is nil.
func MarkAttemptFailed(ctx context.Context, tx pgx.Tx, id, reason string, next *time.Time) error {
	status := model.MessageQueued
	if next == nil {
		status = model.MessageFailed
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET status = $2, attempts = attempts + 1, error_message = $3,
		next_attempt_at = $4, updated_at = now() WHERE id = $1`, id, status, reason, next); err != nil {
		return fmt.Errorf("record failed attempt: %w", err)
	}
	if next == nil {
		if _, err := tx.Exec(ctx, `INSERT INTO message_events (message_id, status, detail) VALUES ($1, 'FAILED', $2)`, id, reason); err != nil {
			return fmt.Errorf("record failed attempt: %w", err)
		}
	}
	return nil
}

// DeferQueued puts a queued message back until next without spending an attempt: the worker
// paced it (429), it did not fail.
func DeferQueued(ctx context.Context, tx pgx.Tx, id, reason string, next time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE messages SET error_message = $2, next_attempt_at = $3, updated_at = now()
		WHERE id = $1 AND status = 'QUEUED'`, id, reason, next); err != nil {
		return fmt.Errorf("defer queued message: %w", err)
	}
	return nil
}

// CancelQueued cancels a message still QUEUED. found is false when the session has no such
// message; cancelled is false when it is no longer queued.
func CancelQueued(ctx context.Context, db DBTX, sessionID, id string) (found, cancelled bool, status model.MessageStatus, err error) {
	err = db.QueryRow(ctx, `
		WITH target AS (SELECT id, status FROM messages WHERE id = $1 AND session_id = $2 FOR UPDATE),
		     upd AS (UPDATE messages m SET status = 'CANCELLED', next_attempt_at = NULL, updated_at = now() FROM target
		             WHERE m.id = target.id AND target.status = 'QUEUED' RETURNING m.id),
		     ev AS (INSERT INTO message_events (message_id, status) SELECT id, 'CANCELLED' FROM upd)
		SELECT (SELECT count(*) FROM target) > 0, (SELECT count(*) FROM upd) > 0,
		       coalesce((SELECT status FROM target), 'QUEUED')`, id, sessionID).Scan(&found, &cancelled, &status)
	if err != nil {
		return false, false, "", fmt.Errorf("cancel message %s: %w", id, err)
	}
	if cancelled {
		status = model.MessageCancelled
	}
	return found, cancelled, status, nil
}

// QueueStats are the figures of the async queue, for metrics.
type QueueStats struct {
	Depth        int64
	OldestAgeSec float64
}

// GetQueueStats measures the queue.
func GetQueueStats(ctx context.Context, db DBTX) (QueueStats, error) {
	var s QueueStats
	err := db.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)
		FROM messages WHERE next_attempt_at IS NOT NULL`).Scan(&s.Depth, &s.OldestAgeSec)
	if err != nil {
		return s, fmt.Errorf("queue stats: %w", err)
	}
	return s, nil
}

// RequeueDetail is the history entry of a send handed to the dispatcher because its worker's
// answer was never recorded.
const RequeueDetail = "the worker's answer was never recorded (the gateway stopped mid-request): " +
	"handed to the dispatcher, which sends it with the same clientMessageId"

// RequeueUnanswered hands to the dispatcher the synchronous sends created in [since, before)
// that are still PENDING: recorded, forwarded or about to be, but their gateway stopped before
// the worker's answer was recorded. They are QUEUED, due now, with a history entry, and the
// dispatchers are woken. The worker may have sent one already: the dispatcher hands it over
// with the same clientMessageId, which the worker answers from its memory. Rows another
// transaction holds are skipped: a late answer being recorded, or another replica requeueing.
// created_at is read through its BRIN index, so a scan costs the window, not the table.
func RequeueUnanswered(ctx context.Context, db DBTX, since, before time.Time) (int64, error) {
	return requeueUnanswered(ctx, db, `created_at >= $1 AND created_at < $2`, since, before)
}

// RequeueUnansweredMessage is RequeueUnanswered for one message of a session; it reports
// whether the message was PENDING and is now QUEUED.
func RequeueUnansweredMessage(ctx context.Context, db DBTX, sessionID, id string) (bool, error) {
	n, err := requeueUnanswered(ctx, db, `session_id = $1 AND id = $2::uuid`, sessionID, id)
	return n > 0, err
}

func requeueUnanswered(ctx context.Context, db DBTX, where string, a, b any) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `
		WITH stale AS (
			SELECT id FROM messages WHERE `+where+` AND status = 'PENDING' AND direction = 'OUTBOUND'
			FOR UPDATE SKIP LOCKED
		), requeued AS (
			UPDATE messages m SET status = 'QUEUED', next_attempt_at = now(), updated_at = now()
			FROM stale WHERE m.id = stale.id
			RETURNING m.id
		), history AS (
			INSERT INTO message_events (message_id, status, detail) SELECT id, 'QUEUED', $3 FROM requeued
		)
		SELECT n, CASE WHEN n > 0 THEN pg_notify($4, '0') END FROM (SELECT count(*) AS n FROM requeued) c`,
		a, b, RequeueDetail, QueueChannel).Scan(&n, nil)
	if err != nil {
		return 0, fmt.Errorf("requeue unanswered sends: %w", mapError(err))
	}
	return n, nil
}
