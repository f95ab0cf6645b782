package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
)

// OutboundMessage is a send to record before it is forwarded.
type OutboundMessage struct {
	ID string
	// NewID says ID was generated for this send and no other message has it (a UUID v7, not
	// the ID an Idempotency-Key derives, which a retry shares). A batch of new IDs only is
	// written without a conflict check (noConflictCheck); a new ID that was taken after all
	// fails its whole batch instead of being recorded twice.
	NewID     bool
	SessionID string
	To        string
	Type      model.MessageType
	Content   *string
	MediaURL  *string
	Filename  *string
	Caption   *string
	Payload   json.RawMessage
}

// RecordedOutbound is the outcome of recording a send.
type RecordedOutbound struct {
	CreatedAt time.Time
	// SessionStatus is the session's status when the send was recorded; a send to a session
	// that is not CONNECTED is recorded FAILED at once.
	SessionStatus model.SessionStatus
	// WorkerID and WorkerEndpoint are where the session ran when the send was recorded (nil
	// when it was placed nowhere): the route, read from the truth in the same statement.
	WorkerID       *string
	WorkerEndpoint *string
	// StatusWebhook says an active webhook of the session subscribed to message.status when
	// the send was recorded: only then is the answer's delivery built (SendOutcome.Webhook).
	StatusWebhook bool
	Err           error
}

// ErrMessageExists is a send recorded under an ID that is already taken: the retry of a send
// whose ID derives from its Idempotency-Key.
var ErrMessageExists = fmt.Errorf("message already recorded: %w", model.ErrConflict)

// sendColumns are a batch of sends as the columns of an unnest, one entry per distinct ID.
type sendColumns struct {
	// ids are pgtype.UUIDs, which pgx writes as a binary uuid[] directly (see uuidParam).
	ids                              []pgtype.UUID
	sessions, tos, types             []string
	contents, media, files, captions []*string
	payloads                         [][]byte
	index                            map[string]int // ID → the row of the batch that has it
	// allNew says every ID of the batch is new (OutboundMessage.NewID).
	allNew bool
}

func newSendColumns(n int) *sendColumns {
	return &sendColumns{
		ids: make([]pgtype.UUID, 0, n), sessions: make([]string, 0, n), tos: make([]string, 0, n), types: make([]string, 0, n),
		contents: make([]*string, 0, n), media: make([]*string, 0, n), files: make([]*string, 0, n), captions: make([]*string, 0, n),
		payloads: make([][]byte, 0, n), index: make(map[string]int, n), allNew: true,
	}
}

// add takes row i of the batch. It refuses an ID that is already in the batch
// (ErrMessageExists: the first is recorded, the others exist) or is not a UUID.
func (c *sendColumns) add(i int, m OutboundMessage) error {
	if _, dup := c.index[m.ID]; dup {
		return ErrMessageExists
	}
	id, err := uuidParam(m.ID)
	if err != nil {
		return fmt.Errorf("message ID: %w", err)
	}
	c.index[m.ID] = i
	c.allNew = c.allNew && m.NewID
	c.ids, c.sessions, c.tos, c.types = append(c.ids, id), append(c.sessions, m.SessionID), append(c.tos, m.To), append(c.types, string(m.Type))
	c.contents, c.media, c.files, c.captions = append(c.contents, m.Content), append(c.media, m.MediaURL), append(c.files, m.Filename), append(c.captions, m.Caption)
	c.payloads = append(c.payloads, m.Payload)
	return nil
}

// uuidParam is id as a uuid parameter pgx encodes cheaply. Of the ways to pass a batch's 26
// IDs as a uuid[] (pgx v5.12, per statement): []pgtype.UUID 1.5 µs and 28 allocations; a
// []string 3.9 µs as text, after a failed binary attempt that builds an error with
// fmt.Errorf; []uuid.UUID 37 µs and 522 allocations (each one goes through its
// driver.Valuer, a string, and is parsed back).
func uuidParam(id string) (pgtype.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return pgtype.UUID{}, err
	}
	return pgtype.UUID{Bytes: u, Valid: true}, nil
}

// statement is the batch's statement: checked, or unchecked (the same without its conflict
// check) when every ID of the batch is new. ON CONFLICT makes each row a speculative insertion
// (the primary key probed first, the insertion confirmed after: a WAL record more per row);
// without it the sync-send statement took 20 % less Postgres time per 15-row batch (0.52 /
// 0.60 ms vs 0.66 / 0.74 ms).
func (c *sendColumns) statement(checked, unchecked string) string {
	if c.allNew {
		return unchecked
	}
	return checked
}

const onConflictID = "ON CONFLICT (id) DO NOTHING"

// noConflictCheck is sql without its ON CONFLICT (id) DO NOTHING; it panics when sql has none
// (the statements are constants: a start-up failure, never a batch recorded unchecked).
func noConflictCheck(sql string) string {
	if !strings.Contains(sql, onConflictID) {
		panic("store: statement without " + onConflictID)
	}
	return strings.Replace(sql, onConflictID, "", 1)
}

// The batch statements for batches of new IDs only, and the queue's without its announcement.
var (
	recordNewSendsSQL = noConflictCheck(recordSendsSQL)
	queueNewSendsSQL  = noConflictCheck(queueSendsSQL)
	queueQuietSQL     = strings.TrimSuffix(queueSendsSQL, queueWake)
	queueNewQuietSQL  = noConflictCheck(queueQuietSQL)
)

// recordSendsSQL is RecordOutboundBatch's statement. Each session of the batch is read once
// (sess), with its worker and whether an active webhook of it subscribes to message.status.
const recordSendsSQL = `
	WITH input AS (
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::message_type[], $5::text[], $6::text[],
		                     $7::text[], $8::text[], $9::jsonb[])
		       AS t(id, session_id, to_number, message_type, content, media_url, filename, caption, payload)
	), sess AS (
		SELECT s.id, s.status, s.worker_id, w.endpoint,
		       EXISTS (SELECT 1 FROM webhooks h WHERE h.session_id = s.id AND h.is_active
		               AND ('` + model.WebhookMessageStatus + `' = ANY (h.events) OR '*' = ANY (h.events))) AS status_webhook
		FROM sessions s LEFT JOIN workers w ON w.id = s.worker_id
		WHERE s.id = ANY ($2::text[])
		-- The sessions' reference (migration 00009): none is deleted until this commits. They
		-- are locked in ID order, as DeleteUser locks a user's sessions: no deadlock between them.
		ORDER BY s.id
		FOR KEY SHARE OF s
	), ins AS (
		INSERT INTO messages (id, session_id, direction, to_number, message_type, content, media_url, filename,
		                      caption, payload, status, error_message, attempts)
		SELECT i.id, i.session_id, 'OUTBOUND', i.to_number, i.message_type, i.content, i.media_url, i.filename,
		       i.caption, i.payload,
		       CASE WHEN s.status = 'CONNECTED' THEN 'PENDING'::message_status ELSE 'FAILED'::message_status END,
		       CASE WHEN s.status = 'CONNECTED' THEN NULL ELSE 'session not connected: ' || s.status END,
		       CASE WHEN s.status = 'CONNECTED' THEN 1 ELSE 0 END
		FROM input i JOIN sess s ON s.id = i.session_id
		ON CONFLICT (id) DO NOTHING
		RETURNING id, status, error_message, created_at
	), history AS (
		INSERT INTO message_events (message_id, status, at, detail)
		SELECT id, status, created_at, error_message FROM ins WHERE status = 'FAILED'
	)
	SELECT i.id::text, ins.created_at, s.status, s.worker_id, s.endpoint, coalesce(s.status_webhook, false)
	FROM input i LEFT JOIN ins ON ins.id = i.id
	     LEFT JOIN sess s ON s.id = i.session_id`

// RecordOutboundBatch records sends in one statement: PENDING when the session is CONNECTED,
// else FAILED with the reason (and that history entry; PENDING is read off created_at). The
// session's status and worker are read in the same statement, so a send is never forwarded to
// a session that was not connected when it was recorded, and needs no other lookup to find its
// worker. A send whose ID is taken is not recorded again (ErrMessageExists), and fails no other
// row of the batch.
func RecordOutboundBatch(ctx context.Context, db *pgxpool.Pool, rows []OutboundMessage) ([]RecordedOutbound, error) {
	w, err := WriteSends(ctx, db, rows, nil)
	return w.Recorded, err
}

// SendsWritten is what WriteSends wrote.
type SendsWritten struct {
	// Recorded has one entry per send to record, in order.
	Recorded []RecordedOutbound
	// WebhookDeliveries counts the customer webhook deliveries stored with the answers.
	WebhookDeliveries int64
}

// WriteSends writes both writes of synchronous sends in one transaction and one round trip:
// sends to record (RecordOutboundBatch) and workers' answers to sends recorded before
// (RecordSendOutcomeBatch). Written together, the two cost one commit and one round trip
// where they cost two; written alone, either is its one statement. All or nothing: an error
// writes neither.
func WriteSends(ctx context.Context, db *pgxpool.Pool, records []OutboundMessage, outcomes []SendOutcome) (SendsWritten, error) {
	var w SendsWritten
	if len(records) == 0 && len(outcomes) == 0 {
		return w, nil
	}
	var c *sendColumns
	var recordArgs []any
	if len(records) > 0 {
		w.Recorded = make([]RecordedOutbound, len(records))
		c = newSendColumns(len(records))
		for i, r := range records {
			if err := c.add(i, r); err != nil {
				w.Recorded[i].Err = fmt.Errorf("record send %s: %w", r.ID, err)
			}
		}
		recordArgs = []any{c.ids, c.sessions, c.tos, c.types, c.contents, c.media, c.files, c.captions, c.payloads}
	}
	readRecorded := func(rs pgx.Rows) error {
		defer rs.Close()
		for rs.Next() {
			var id string
			var createdAt *time.Time
			var status *model.SessionStatus
			var r RecordedOutbound
			if err := rs.Scan(&id, &createdAt, &status, &r.WorkerID, &r.WorkerEndpoint, &r.StatusWebhook); err != nil {
				return err
			}
			i := c.index[id]
			switch {
			case status == nil:
				r.Err = fmt.Errorf("record send: session %s: %w", records[i].SessionID, model.ErrNotFound)
			case createdAt == nil:
				r.Err = fmt.Errorf("record send %s: %w", id, ErrMessageExists)
			default:
				r.CreatedAt, r.SessionStatus = *createdAt, *status
			}
			w.Recorded[i] = r
		}
		return rs.Err()
	}
	// A statement alone is its own implicit transaction; a batch of the two is one too.
	var err error
	switch {
	case len(outcomes) == 0:
		var rs pgx.Rows
		if rs, err = db.Query(ctx, c.statement(recordSendsSQL, recordNewSendsSQL), recordArgs...); err == nil {
			err = readRecorded(rs)
		}
	case len(records) == 0:
		err = db.QueryRow(ctx, recordSendOutcomesSQL, outcomeArgs(outcomes)...).Scan(&w.WebhookDeliveries)
	default:
		b := &pgx.Batch{}
		b.Queue(c.statement(recordSendsSQL, recordNewSendsSQL), recordArgs...)
		b.Queue(recordSendOutcomesSQL, outcomeArgs(outcomes)...)
		br := db.SendBatch(ctx, b)
		var rs pgx.Rows
		if rs, err = br.Query(); err == nil {
			err = readRecorded(rs)
		}
		if err == nil {
			err = br.QueryRow().Scan(&w.WebhookDeliveries)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return SendsWritten{}, fmt.Errorf("write sends: %w", mapError(err))
	}
	return w, nil
}

// SendOutcome is what the worker made of a send.
type SendOutcome struct {
	ID          string
	Status      model.MessageStatus // SENT or FAILED
	WAMessageID *string
	Error       *string
	At          time.Time
	// Webhook, when set, is the customer event of a SENT answer: stored with the answer, for
	// every webhook of the session that subscribes to it, the first time the answer is
	// written (its WhatsApp ID is then new to message_wa_ids). Its SessionID is not read:
	// the message's is.
	Webhook *NewWebhookDelivery
}

// recordSendOutcomesSQL is RecordSendOutcomeBatch's statement.
const recordSendOutcomesSQL = `
	WITH input AS (
		SELECT * FROM unnest($1::uuid[], $2::message_status[], $3::text[], $4::text[], $5::timestamptz[],
		                     $6::text[], $7::text[]) WITH ORDINALITY
		       AS t(id, status, wa_message_id, error_message, at, hook_event, hook_payload, n)
	), upd AS (
		UPDATE messages m SET
			status = CASE WHEN m.status = 'PENDING' OR (m.status = 'QUEUED' AND i.status = 'SENT') THEN i.status ELSE m.status END,
			next_attempt_at = CASE WHEN m.status = 'QUEUED' AND i.status = 'SENT' THEN NULL ELSE m.next_attempt_at END,
			wa_message_id = coalesce(i.wa_message_id, m.wa_message_id),
			error_message = coalesce(i.error_message, m.error_message),
			sent_at = CASE WHEN i.status = 'SENT' THEN coalesce(m.sent_at, i.at) ELSE m.sent_at END,
			updated_at = now()
		FROM input i WHERE m.id = i.id AND m.id = ANY ($1::uuid[]) -- the primary key, one probe per answer
		RETURNING m.id, m.session_id, m.status, i.wa_message_id, i.at, i.error_message, i.hook_event, i.hook_payload, i.n
	), wa AS (
		INSERT INTO message_wa_ids (session_id, wa_message_id, message_id)
		SELECT session_id, wa_message_id, id FROM upd WHERE wa_message_id IS NOT NULL
		ON CONFLICT DO NOTHING
		RETURNING message_id
	), hooks AS (
		-- Only with a WhatsApp ID this statement recorded: an answer written again (a late
		-- write) finds it taken and stores no second delivery.
		INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_retry)
		SELECT w.id, upd.hook_event, upd.hook_payload::jsonb, 'PENDING', now()
		FROM upd JOIN wa ON wa.message_id = upd.id
		JOIN webhooks w ON w.session_id = upd.session_id AND w.is_active
			AND (upd.hook_event = ANY (w.events) OR '*' = ANY (w.events))
		WHERE upd.hook_payload IS NOT NULL
		ORDER BY upd.n
		RETURNING 1
	), history AS (
		INSERT INTO message_events (message_id, status, at, detail)
		SELECT id, status, at, error_message FROM upd WHERE status = 'FAILED' AND error_message IS NOT NULL
		-- An answer written again (a late write whose first commit's acknowledgement was lost,
		-- even one running at the same time as the first) has its entry already (migration 00010).
		ON CONFLICT DO NOTHING
	)
	SELECT count(*) FROM hooks`

// RecordSendOutcomeBatch writes workers' answers in one statement: the status, WhatsApp's ID
// (also in message_wa_ids, where receipts look it up) and sent_at, whose SENT the history reads
// off the row; a FAILED answer gets its history entry with the reason. A message only moves
// forward: a receipt that arrived first is not overwritten; an answer written again changes
// nothing. A message queued meanwhile (its answer came so late that the send was handed to the
// dispatcher) takes a SENT answer, which ends its queueing, but not a FAILED one: the queue
// retries it. The update changes no indexed
// column, so PostgreSQL can write it as a HOT update: no new index entries. The customer
// webhook deliveries of the answers are stored in the same statement (SendOutcome.Webhook).
func RecordSendOutcomeBatch(ctx context.Context, db DBTX, rows []SendOutcome) (webhookDeliveries int64, err error) {
	// The answers' rows are found by their primary key; the gateway runs this on the batch
	// writer's pool (OpenBatchWriter), whose generic plans cannot fall back to a sequential scan.
	err = db.QueryRow(ctx, recordSendOutcomesSQL, outcomeArgs(rows)...).Scan(&webhookDeliveries)
	if err != nil {
		return 0, fmt.Errorf("record send outcomes: %w", mapError(err))
	}
	return webhookDeliveries, nil
}

// outcomeArgs are the arguments of recordSendOutcomesSQL for rows.
func outcomeArgs(rows []SendOutcome) []any {
	n := len(rows)
	ids, statuses, waIDs, errs, ats := make([]pgtype.UUID, n), make([]string, n), make([]*string, n), make([]*string, n), make([]time.Time, n)
	hookEvents, hookPayloads := make([]*string, n), make([]*string, n)
	for i, r := range rows {
		// An ID that is not a UUID (none is: answers are to recorded sends) is NULL, which
		// matches no row.
		ids[i], _ = uuidParam(r.ID)
		statuses[i], waIDs[i], errs[i], ats[i] = string(r.Status), r.WAMessageID, r.Error, r.At
		if r.Webhook != nil {
			payload := string(r.Webhook.Payload)
			hookEvents[i], hookPayloads[i] = &r.Webhook.Event, &payload
		}
	}
	return []any{ids, statuses, waIDs, errs, ats, hookEvents, hookPayloads}
}

const messageColumns = `id::text, session_id, direction, wa_message_id, from_number, to_number, message_type, content,
	media_url, filename, caption, payload, status, error_message, attempts, scheduled_at, sent_at, delivered_at, read_at,
	created_at`

func scanMessage(row pgx.Row) (model.Message, error) {
	var m model.Message
	err := row.Scan(&m.ID, &m.SessionID, &m.Direction, &m.WAMessageID, &m.From, &m.To, &m.Type, &m.Content,
		&m.MediaURL, &m.Filename, &m.Caption, &m.Payload, &m.Status, &m.ErrorMessage, &m.Attempts, &m.ScheduledAt,
		&m.SentAt, &m.DeliveredAt, &m.ReadAt, &m.CreatedAt)
	return m, mapError(err)
}

// GetSessionMessage loads a message of a session; another session's message is ErrNotFound.
func GetSessionMessage(ctx context.Context, db DBTX, sessionID, id string) (model.Message, error) {
	m, err := scanMessage(db.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1 AND session_id = $2`, id, sessionID))
	if err != nil {
		return m, fmt.Errorf("get message %s: %w", id, err)
	}
	return m, nil
}

// StatusChange is one entry of a message's status history.
type StatusChange struct {
	Status model.MessageStatus `json:"status"`
	At     time.Time           `json:"at"`
	Detail *string             `json:"detail,omitempty"`
}

// ListMessageEvents returns a message's status history, oldest first. An outbound message's
// first entry (QUEUED for an async send, else PENDING, at created_at; first whatever the times
// a worker reported later) and SENT (at sent_at) are read off the message; the other entries
// are stored in message_events.
func ListMessageEvents(ctx context.Context, db DBTX, messageID string) ([]StatusChange, error) {
	rows, err := db.Query(ctx, `
		SELECT status, at, detail FROM (
			SELECT CASE WHEN async THEN 'QUEUED'::message_status ELSE 'PENDING'::message_status END AS status,
			       created_at AS at, NULL::text AS detail, 0 AS rank, 0::bigint AS id
			FROM messages WHERE id = $1 AND direction = 'OUTBOUND'
			UNION ALL
			SELECT 'SENT', sent_at, NULL, 1, 0 FROM messages WHERE id = $1 AND direction = 'OUTBOUND' AND sent_at IS NOT NULL
			UNION ALL
			SELECT status, at, detail, 2, id FROM message_events WHERE message_id = $1
		) history ORDER BY rank > 0, at, rank, id`, messageID)
	if err != nil {
		return nil, fmt.Errorf("message history: %w", err)
	}
	events, err := pgx.CollectRows(rows, pgx.RowToStructByPos[StatusChange])
	if err != nil {
		return nil, fmt.Errorf("message history: %w", err)
	}
	return events, nil
}

// MessageFilter selects a page of a session's history, newest first.
type MessageFilter struct {
	SessionID string
	Direction *model.MessageDirection
	Status    *model.MessageStatus
	Type      *model.MessageType
	// Before is the keyset cursor: messages strictly older than this (created_at, id).
	BeforeAt *time.Time
	BeforeID *string
	Limit    int
}

// ListMessages returns a page of a session's messages, newest first (keyset paging).
func ListMessages(ctx context.Context, db DBTX, f MessageFilter) ([]model.Message, error) {
	rows, err := db.Query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE session_id = $1
		  AND ($2::message_direction IS NULL OR direction = $2)
		  AND ($3::message_status IS NULL OR status = $3)
		  AND ($4::message_type IS NULL OR message_type = $4)
		  AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6::uuid))
		ORDER BY created_at DESC, id DESC
		LIMIT $7`, f.SessionID, f.Direction, f.Status, f.Type, f.BeforeAt, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.Message, error) { return scanMessage(row) })
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return msgs, nil
}

// waMessageLookup finds the message of a WhatsApp ID ($2) within a session ($1).
const waMessageLookup = `SELECT message_id FROM message_wa_ids WHERE session_id = $1 AND wa_message_id = $2`

// ReceiptUpdate is a delivery receipt to apply.
type ReceiptUpdate struct {
	SessionID    string
	WAMessageID  string
	Status       model.MessageStatus
	At           time.Time
	DeliveredAt  *time.Time
	ReadAt       *time.Time
	ErrorMessage *string
}

// ApplyReceipt moves a message forward to the receipt's status (PENDING < SENT < DELIVERED <
// READ; FAILED only from PENDING or SENT) and records it in the history. found is false for
// an unknown WhatsApp ID; applied is false when the receipt would move the message backwards.
func ApplyReceipt(ctx context.Context, db DBTX, r ReceiptUpdate) (msg model.Message, found, applied bool, err error) {
	err = WithTxOn(ctx, db, func(tx pgx.Tx) error {
		var e error
		msg, e = scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE id = (`+waMessageLookup+`) FOR UPDATE`, r.SessionID, r.WAMessageID))
		if e != nil {
			return e
		}
		found = true
		// FAILED (and CANCELLED) rank below everything but are final: nothing moves a message
		// out of them.
		forward := model.StatusRank(msg.Status) >= 0 && model.StatusRank(r.Status) > model.StatusRank(msg.Status)
		if r.Status == model.MessageFailed {
			forward = msg.Status == model.MessagePending || msg.Status == model.MessageSent
		}
		if !forward {
			return nil
		}
		msg, e = scanMessage(tx.QueryRow(ctx, `UPDATE messages SET status = $2::message_status,
				sent_at = CASE WHEN $2::message_status IN ('SENT', 'DELIVERED', 'READ') THEN coalesce(sent_at, $3) ELSE sent_at END,
				delivered_at = CASE WHEN $2::message_status IN ('DELIVERED', 'READ') THEN coalesce(delivered_at, $4, $3) ELSE delivered_at END,
				read_at = CASE WHEN $2::message_status = 'READ' THEN coalesce(read_at, $5, $3) ELSE read_at END,
				error_message = CASE WHEN $2::message_status = 'FAILED' THEN coalesce($6, error_message) ELSE error_message END,
				updated_at = now()
			WHERE id = $1 RETURNING `+messageColumns, msg.ID, r.Status, r.At, r.DeliveredAt, r.ReadAt, r.ErrorMessage))
		if e != nil {
			return e
		}
		applied = true
		if r.Status == model.MessageSent {
			return nil // the history reads SENT off sent_at
		}
		// A FAILED entry is there once (migration 00010).
		_, e = tx.Exec(ctx, `INSERT INTO message_events (message_id, status, at, detail) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, msg.ID, r.Status, r.At, r.ErrorMessage)
		return e
	})
	if err != nil {
		if found || !isNotFound(err) {
			return msg, found, applied, fmt.Errorf("apply receipt: %w", mapError(err))
		}
		return msg, false, false, nil
	}
	return msg, found, applied, nil
}

// InboundMessage is a received message to store.
type InboundMessage struct {
	SessionID   string
	WAMessageID string
	From        string
	Type        model.MessageType
	Content     *string
	MediaURL    *string
	Caption     *string
	Payload     json.RawMessage
	At          time.Time
}

// RecordInbound stores a received message once per (session, WhatsApp ID); a duplicate
// returns the stored one with created=false, an unknown session model.ErrNotFound. The
// WhatsApp ID is claimed in message_wa_ids and the message stored in the same statement, only
// when the claim is new.
func RecordInbound(ctx context.Context, db DBTX, in InboundMessage) (model.Message, bool, error) {
	m, err := scanMessage(db.QueryRow(ctx, `
		WITH sess AS (
			SELECT id FROM sessions WHERE id = $1 FOR KEY SHARE -- the session's reference (migration 00009)
		), claim AS (
			INSERT INTO message_wa_ids (session_id, wa_message_id, message_id) SELECT id, $2, gen_random_uuid() FROM sess
			ON CONFLICT DO NOTHING
			RETURNING message_id
		)
		INSERT INTO messages (id, session_id, direction, wa_message_id, from_number, message_type, content, media_url,
		                      caption, payload, status, created_at, delivered_at)
		SELECT message_id, $1, 'INBOUND', $2, $3, $4, $5, $6, $7, $8, 'DELIVERED', $9, $9 FROM claim
		RETURNING `+messageColumns, in.SessionID, in.WAMessageID, in.From, in.Type, in.Content, in.MediaURL,
		in.Caption, in.Payload, in.At))
	if isNotFound(err) {
		m, err = scanMessage(db.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE id = (`+waMessageLookup+`)`, in.SessionID, in.WAMessageID))
		if isNotFound(err) { // no session, so nothing was claimed
			return m, false, fmt.Errorf("record inbound message: session %s: %w", in.SessionID, model.ErrNotFound)
		}
		if err != nil {
			return m, false, fmt.Errorf("load duplicate inbound message: %w", err)
		}
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("record inbound message: %w", err)
	}
	return m, true, nil
}
