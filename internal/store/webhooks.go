package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
)

// Webhook is a session's customer webhook. Secret is as stored: sealed, never in clear.
type Webhook struct {
	ID             string
	SessionID      string
	URL            string
	Events         []string
	Secret         string
	IsActive       bool
	FailureCount   int
	LastDelivery   *time.Time
	DisabledReason *string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const webhookColumns = `w.id::text, w.session_id, w.url, w.events, w.secret, w.is_active, w.failure_count,
	w.last_delivery, w.disabled_reason, w.created_at, w.updated_at`

func scanWebhook(row pgx.Row) (Webhook, error) {
	var w Webhook
	err := row.Scan(&w.ID, &w.SessionID, &w.URL, &w.Events, &w.Secret, &w.IsActive, &w.FailureCount,
		&w.LastDelivery, &w.DisabledReason, &w.CreatedAt, &w.UpdatedAt)
	return w, mapError(err)
}

// GetWebhook loads the webhook of a session.
func GetWebhook(ctx context.Context, db DBTX, sessionID string) (Webhook, error) {
	w, err := scanWebhook(db.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks w WHERE w.session_id = $1`, sessionID))
	if err != nil {
		return w, fmt.Errorf("get webhook of session %s: %w", sessionID, err)
	}
	return w, nil
}

// WebhookUpsert creates or changes a session's webhook.
type WebhookUpsert struct {
	SessionID string
	URL       string
	Events    []string
	// SealedSecret is stored when the webhook is created, or replaces the old one when
	// RotateSecret; otherwise the stored secret is kept.
	SealedSecret string
	RotateSecret bool
}

// UpsertWebhook creates the session's webhook or updates it in one statement. Saving also
// re-enables a webhook that was disabled after failures, with a clean failure count. created
// tells whether the webhook is new.
func UpsertWebhook(ctx context.Context, db DBTX, u WebhookUpsert) (w Webhook, created bool, err error) {
	row := db.QueryRow(ctx, `
		INSERT INTO webhooks AS w (session_id, url, events, secret)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (session_id) DO UPDATE SET
			url = excluded.url, events = excluded.events,
			secret = CASE WHEN $5 THEN excluded.secret ELSE w.secret END,
			is_active = true, failure_count = 0, disabled_reason = NULL, updated_at = now()
		RETURNING `+webhookColumns+`, (xmax = 0)`,
		u.SessionID, u.URL, u.Events, u.SealedSecret, u.RotateSecret)
	err = row.Scan(&w.ID, &w.SessionID, &w.URL, &w.Events, &w.Secret, &w.IsActive, &w.FailureCount,
		&w.LastDelivery, &w.DisabledReason, &w.CreatedAt, &w.UpdatedAt, &created)
	if err != nil {
		return w, false, fmt.Errorf("save webhook of session %s: %w", u.SessionID, mapError(err))
	}
	return w, created, nil
}

// DeleteWebhook deletes the session's webhook and, by cascade, its delivery log. ErrNotFound
// when the session has none.
func DeleteWebhook(ctx context.Context, db DBTX, sessionID string) error {
	tag, err := db.Exec(ctx, `DELETE FROM webhooks WHERE session_id = $1`, sessionID)
	if err != nil {
		return fmt.Errorf("delete webhook of session %s: %w", sessionID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete webhook of session %s: %w", sessionID, model.ErrNotFound)
	}
	return nil
}

// NewWebhookDelivery is an event to deliver to the webhook of its session, if the session has
// an active one subscribed to the event.
type NewWebhookDelivery struct {
	SessionID string
	Event     string
	// Payload is the JSON body sent to the receiver.
	Payload []byte
}

// InsertWebhookDeliveries stores, in one statement, a PENDING delivery for each event whose
// session has an active webhook subscribed to it (the others are dropped here), due now. It
// returns how many deliveries it stored.
func InsertWebhookDeliveries(ctx context.Context, db DBTX, batch []NewWebhookDelivery) (int64, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	sessionIDs := make([]string, len(batch))
	names := make([]string, len(batch))
	payloads := make([]string, len(batch))
	for i, d := range batch {
		sessionIDs[i], names[i], payloads[i] = d.SessionID, d.Event, string(d.Payload)
	}
	tag, err := db.Exec(ctx, `
		INSERT INTO webhook_deliveries (webhook_id, event, payload, status, next_retry)
		SELECT w.id, x.event, x.payload::jsonb, 'PENDING', now()
		FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(session_id, event, payload, n)
		JOIN webhooks w ON w.session_id = x.session_id AND w.is_active
			AND (x.event = ANY (w.events) OR '*' = ANY (w.events))
		ORDER BY x.n`, sessionIDs, names, payloads)
	if err != nil {
		return 0, fmt.Errorf("store %d webhook deliveries: %w", len(batch), err)
	}
	return tag.RowsAffected(), nil
}

// WebhookDelivery is one row of a webhook's delivery log.
type WebhookDelivery struct {
	ID           string
	WebhookID    string
	Event        string
	Payload      []byte
	Status       model.WebhookStatus
	ResponseCode *int
	ResponseBody *string
	Attempts     int
	NextRetry    *time.Time
	LastError    *string
	CreatedAt    time.Time
	DeliveredAt  *time.Time
}

const deliveryColumns = `d.id::text, d.webhook_id::text, d.event, d.payload, d.status, d.response_code, d.response_body,
	d.attempts, d.next_retry, d.last_error, d.created_at, d.delivered_at`

func scanDelivery(row pgx.Row) (WebhookDelivery, error) {
	var d WebhookDelivery
	err := row.Scan(&d.ID, &d.WebhookID, &d.Event, &d.Payload, &d.Status, &d.ResponseCode, &d.ResponseBody,
		&d.Attempts, &d.NextRetry, &d.LastError, &d.CreatedAt, &d.DeliveredAt)
	return d, mapError(err)
}

// DeliveryFilter selects a page of a session's delivery log, newest first.
type DeliveryFilter struct {
	SessionID string
	// BeforeAt and BeforeID are the keyset cursor: deliveries strictly older than these.
	BeforeAt *time.Time
	BeforeID *string
	Limit    int
}

// ListWebhookDeliveries returns a page of the delivery log of a session's webhook, newest
// first (keyset paging on created_at, id).
func ListWebhookDeliveries(ctx context.Context, db DBTX, f DeliveryFilter) ([]WebhookDelivery, error) {
	rows, err := db.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		JOIN webhooks w ON w.id = d.webhook_id
		WHERE w.session_id = $1
		  AND ($2::timestamptz IS NULL OR (d.created_at, d.id) < ($2, $3::uuid))
		ORDER BY d.created_at DESC, d.id DESC
		LIMIT $4`, f.SessionID, f.BeforeAt, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries of session %s: %w", f.SessionID, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookDelivery, error) { return scanDelivery(row) })
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries of session %s: %w", f.SessionID, err)
	}
	return list, nil
}

// RequeueWebhookDelivery queues the payload of one of the session's deliveries again, as a
// new PENDING delivery due now; the payload, and so its webhook-id, is unchanged, so that
// receivers that deduplicate by webhook-id can tell. ErrNotFound when the delivery is not one
// of this session's.
func RequeueWebhookDelivery(ctx context.Context, db DBTX, sessionID, deliveryID string) (WebhookDelivery, error) {
	d, err := scanDelivery(db.QueryRow(ctx, `
		INSERT INTO webhook_deliveries AS d (webhook_id, event, payload, status, next_retry)
		SELECT o.webhook_id, o.event, o.payload, 'PENDING', now()
		FROM webhook_deliveries o JOIN webhooks w ON w.id = o.webhook_id
		WHERE o.id = $2 AND w.session_id = $1
		RETURNING `+deliveryColumns, sessionID, deliveryID))
	if err != nil {
		return d, fmt.Errorf("redeliver webhook delivery %s: %w", deliveryID, err)
	}
	return d, nil
}

// ClaimedDelivery is a due delivery leased to this replica, with what sending it needs.
type ClaimedDelivery struct {
	ID         string
	SessionID  string
	URL        string
	Secret     string // sealed
	Event      string
	Payload    []byte
	Attempts   int // attempts made before this one
	CreatedAt  time.Time
	LeaseToken string
}

// ClaimWebhookDeliveries leases up to limit due deliveries of active webhooks, oldest due
// first. Rows locked by another replica's claim are skipped; claimed rows get a new lease
// token and are not due again before lease has passed, so no other replica takes them
// while this one delivers them.
func ClaimWebhookDeliveries(ctx context.Context, db DBTX, limit int, lease time.Duration) ([]ClaimedDelivery, error) {
	rows, err := db.Query(ctx, `
		WITH due AS (
			SELECT d.id FROM webhook_deliveries d
			JOIN webhooks w ON w.id = d.webhook_id AND w.is_active
			WHERE d.status IN ('PENDING', 'RETRYING') AND d.next_retry <= now()
			ORDER BY d.next_retry
			LIMIT $1
			FOR UPDATE OF d SKIP LOCKED
		)
		UPDATE webhook_deliveries d
		SET next_retry = now() + make_interval(secs => $2), lease_token = gen_random_uuid()
		FROM due, webhooks w
		WHERE d.id = due.id AND w.id = d.webhook_id
		RETURNING d.id::text, w.session_id, w.url, w.secret, d.event, d.payload, d.attempts, d.created_at,
			d.lease_token::text`, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ClaimedDelivery, error) {
		var c ClaimedDelivery
		err := row.Scan(&c.ID, &c.SessionID, &c.URL, &c.Secret, &c.Event, &c.Payload, &c.Attempts, &c.CreatedAt, &c.LeaseToken)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	return claimed, nil
}

// DeliveryAttempt is the outcome of one attempt of a claimed delivery.
type DeliveryAttempt struct {
	ID         string
	LeaseToken string
	// Status is DELIVERED, RETRYING (NextRetry set) or FAILED (no more attempts).
	Status       model.WebhookStatus
	ResponseCode *int
	ResponseBody *string
	Error        *string
	NextRetry    *time.Time
	// MaxFailures consecutive FAILED deliveries disable the webhook, with DisabledReason.
	MaxFailures    int
	DisabledReason string
}

// RecordWebhookAttempt stores the outcome of an attempt, if the caller still holds the
// delivery's lease, and keeps the webhook's counters: a delivery resets its consecutive
// failures, a FAILED delivery adds one, and the MaxFailures-th disables it. recorded is false
// when the lease was lost (or the webhook deleted meanwhile); disabled is true when this
// attempt disabled the webhook.
//
// Locks are taken in the order of a cascade from sessions (webhook, then its deliveries): the
// webhook's row is share-locked before the delivery is updated. Updating the delivery first
// deadlocked with a session or webhook being deleted at the same moment.
func RecordWebhookAttempt(ctx context.Context, db DBTX, a DeliveryAttempt) (recorded, disabled bool, err error) {
	err = db.QueryRow(ctx, `
		WITH o AS (
			SELECT $3::webhook_delivery_status AS status, $8::int AS max_failures, $9::text AS reason
		), hook AS (
			SELECT h.id FROM webhooks h
			WHERE h.id = (SELECT webhook_id FROM webhook_deliveries WHERE id = $1)
			FOR KEY SHARE
		), d AS (
			UPDATE webhook_deliveries dl SET status = o.status, attempts = dl.attempts + 1, response_code = $4,
				response_body = $5, last_error = $6, next_retry = $7, lease_token = NULL,
				delivered_at = CASE WHEN o.status = 'DELIVERED' THEN now() ELSE dl.delivered_at END
			FROM o, hook
			WHERE dl.id = $1 AND dl.lease_token = $2 AND dl.webhook_id = hook.id
			RETURNING dl.webhook_id
		), w AS (
			UPDATE webhooks w SET
				failure_count = CASE o.status WHEN 'DELIVERED' THEN 0
					WHEN 'FAILED' THEN w.failure_count + 1 ELSE w.failure_count END,
				is_active = w.is_active AND NOT (o.status = 'FAILED' AND w.failure_count + 1 >= o.max_failures),
				disabled_reason = CASE WHEN w.is_active AND o.status = 'FAILED' AND w.failure_count + 1 >= o.max_failures
					THEN o.reason ELSE w.disabled_reason END,
				last_delivery = now()
			FROM d, o
			WHERE w.id = d.webhook_id
			  -- Fast receivers see many deliveries a second: touch the webhook row only when
			  -- something changes, or to refresh last_delivery once a second.
			  AND (o.status = 'FAILED' OR (o.status = 'DELIVERED' AND w.failure_count <> 0)
			       OR w.last_delivery IS NULL OR w.last_delivery < now() - interval '1 second')
			-- The failure that reaches max_failures is the one that disables the webhook.
			RETURNING NOT w.is_active AND o.status = 'FAILED' AND w.failure_count = o.max_failures AS disabled_now
		)
		SELECT EXISTS (SELECT 1 FROM d), coalesce((SELECT disabled_now FROM w), false)`,
		a.ID, a.LeaseToken, a.Status, a.ResponseCode, a.ResponseBody, a.Error, a.NextRetry,
		a.MaxFailures, a.DisabledReason).Scan(&recorded, &disabled)
	if err != nil {
		return false, false, fmt.Errorf("record attempt of webhook delivery %s: %w", a.ID, err)
	}
	return recorded, disabled, nil
}

// ReleaseWebhookDelivery gives a claimed delivery back without an attempt (at shutdown): it is
// due again at once, for any replica.
func ReleaseWebhookDelivery(ctx context.Context, db DBTX, id, leaseToken string) error {
	_, err := db.Exec(ctx, `UPDATE webhook_deliveries SET next_retry = now(), lease_token = NULL
		WHERE id = $1 AND lease_token = $2`, id, leaseToken)
	if err != nil {
		return fmt.Errorf("release webhook delivery %s: %w", id, err)
	}
	return nil
}

// pruneBatch bounds the rows one pruning statement deletes, so that a large delivery log is
// pruned in short transactions.
const pruneBatch = 10_000

// PruneWebhookDeliveries deletes the finished deliveries (DELIVERED, or FAILED for good) stored
// longer ago than retention, a batch at a time, and returns how many. A delivery still waiting
// for an attempt is owed to its receiver and is kept, however old.
func PruneWebhookDeliveries(ctx context.Context, db DBTX, retention time.Duration) (int64, error) {
	var total int64
	for {
		tag, err := db.Exec(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries
			WHERE created_at < now() - $1::interval AND status IN ('DELIVERED', 'FAILED')
			LIMIT $2)`, retention, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune webhook deliveries: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}

// CountPendingWebhookDeliveries counts deliveries still to be attempted, and the age of the
// oldest in seconds.
func CountPendingWebhookDeliveries(ctx context.Context, db DBTX) (count int64, oldestAgeSec float64, err error) {
	err = db.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM webhook_deliveries WHERE status IN ('PENDING', 'RETRYING')`).Scan(&count, &oldestAgeSec)
	if err != nil {
		return 0, 0, fmt.Errorf("count pending webhook deliveries: %w", err)
	}
	return count, oldestAgeSec, nil
}
