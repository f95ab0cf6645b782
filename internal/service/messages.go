package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/webhooks"
	"github.com/wagateway/gateway/internal/workers"
)

// MessagingDeps are what messaging needs.
type MessagingDeps struct {
	DB *pgxpool.Pool
	// Batches runs the group-committed batch statements (store.OpenBatchWriter); nil: DB.
	Batches *pgxpool.Pool
	Router  *router.Router
	Client  *workers.Client
	Bus     *events.Bus
	Quotas  *Quotas
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// LateWrites keeps the worker's answer to a send when PostgreSQL went away while the
	// worker sent it (none: the send answers 503).
	LateWrites *store.LateWrites
	// WebhooksQueued, when set, is called after webhook deliveries were stored (it wakes the
	// deliverer, which otherwise finds them at its next poll).
	WebhooksQueued func()
	// Dispatcher, when set, is this replica's dispatcher. While it runs, async sends queued
	// here wake it in-process, and the other replicas are told of new work (NOTIFY) at most
	// every AnnounceEvery: any dispatcher delivers any session, so the one woken here suffices,
	// and the others poll anyway. A NOTIFY takes a database-wide lock at commit and wakes
	// every replica's listener: announcing each batch cost the accept path 3-6 % of its
	// throughput (the benchmark's async acceptance alone, windows of the two alternated).
	// Without a running dispatcher every batch is announced.
	Dispatcher *Dispatcher
}

// AnnounceEvery is how often at most async sends queued by a replica whose dispatcher runs are
// announced to the other replicas.
const AnnounceEvery = 100 * time.Millisecond

// Messaging sends messages through workers and records every one of them.
type Messaging struct {
	MessagingDeps

	// The two writes of a synchronous send, its record and the worker's answer, are
	// group-committed together: each batch writes the records and the answers waiting, of
	// many sends, in one transaction (store.WriteSends), where two batches (one of each) cost
	// two commits and two round trips. Measured with the sync-send benchmark (AMD EPYC, 2
	// cores, windows alternated): 8,984 / 9,127 -> 9,711 / 9,454 msg/s, machine CPU per send
	// 192-195 -> 172-178 us, Postgres 0.44-0.45 -> 0.37-0.38 cores.
	writes store.GroupCommit[sendWrite, store.RecordedOutbound]
	queued store.GroupCommit[store.QueuedMessage, store.QueuedOutbound]
	// announced is when queued sends were last announced to every replica (Unix ns).
	announced atomic.Int64
}

// NewMessaging returns a messaging service; Run must run for sends to be recorded.
func NewMessaging(deps MessagingDeps) *Messaging {
	svc := &Messaging{MessagingDeps: deps}
	if svc.Batches == nil {
		svc.Batches = svc.DB
	}
	svc.writes = store.GroupCommit[sendWrite, store.RecordedOutbound]{Flush: svc.writeSends}
	svc.queued = store.GroupCommit[store.QueuedMessage, store.QueuedOutbound]{
		Flush: svc.queue,
	}
	return svc
}

// Run runs the group-commit writers until ctx ends and what was queued is written.
func (m *Messaging) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { m.queued.Run(ctx) })
	m.writes.Run(ctx)
	wg.Wait()
}

// Outgoing is a validated send: what to record and what to hand the worker.
type Outgoing struct {
	Type    model.MessageType
	Request protocol.SendRequest
	// Content, MediaURL, Filename and Caption are what the record shows.
	Content  *string
	MediaURL *string
	Filename *string
	Caption  *string
}

// SendResult is the answer of every send.
type SendResult struct {
	MessageID string              `json:"messageId"`
	ID        string              `json:"id"`
	To        string              `json:"to"`
	Type      string              `json:"type"`
	Status    model.MessageStatus `json:"status"`
	Timestamp time.Time           `json:"timestamp"`
}

// Send records the message (PENDING) before anything else, forwards it to the session's
// worker with our ID as clientMessageId, and records the worker's answer. A session that is
// not CONNECTED is 409; an unreachable worker 503, a worker error 502 — the message stays
// recorded as FAILED with the reason in every case. An answer that cannot be recorded
// because PostgreSQL went away meanwhile is recorded once it is back (LateWrites): the send
// answers what the worker did.
func (m *Messaging) Send(ctx context.Context, p *auth.Principal, sessionID string, out Outgoing) (SendResult, error) {
	start := time.Now()
	res, err := m.send(ctx, p, sessionID, out)
	outcome := "sent"
	if err != nil {
		outcome = string(model.KindOf(err))
	}
	m.Metrics.SendDuration.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return res, err
}

func (m *Messaging) send(ctx context.Context, p *auth.Principal, sessionID string, out Outgoing) (SendResult, error) {
	if _, err := m.Quotas.Charge(ctx, p, QuotaMessages); err != nil {
		return SendResult{}, err
	}
	id, isNew := outboundMessageID(ctx)
	out.Request.ClientMessageID = id
	payload, err := json.Marshal(out.Request)
	if err != nil {
		return SendResult{}, fmt.Errorf("encode send: %w", err)
	}
	recorded, err := m.writes.Do(ctx, sendWrite{record: &store.OutboundMessage{ID: id, NewID: isNew, SessionID: sessionID,
		To: out.Request.To, Type: out.Type, Content: out.Content, MediaURL: out.MediaURL, Filename: out.Filename,
		Caption: out.Caption, Payload: payload}})
	if err == nil {
		err = recorded.Err
	}
	if err != nil {
		return SendResult{}, err
	}
	m.count(out.Type, recorded.SessionStatus == model.SessionConnected)
	if recorded.SessionStatus != model.SessionConnected {
		// Recorded FAILED, never sent: it does not count against the message quota.
		m.Quotas.Refund(ctx, p, QuotaMessages)
		return SendResult{}, model.Errorf(model.KindConflict, "Session is not connected. Current status: %s", recorded.SessionStatus)
	}

	// The route came with the record, from Postgres, in the same statement.
	if recorded.WorkerID == nil || recorded.WorkerEndpoint == nil {
		return SendResult{}, m.fail(ctx, sessionID, id, out.Type,
			model.Errorf(model.KindConnectivity, "The session is not running on any worker"))
	}
	// From here the send is the worker's: it is not given up when the client hangs up, so that
	// what the worker did is recorded, and a retry with the same Idempotency-Key replays it
	// instead of sending again. The worker client's own timeouts bound it.
	ctx = context.WithoutCancel(ctx)
	answer, err := m.Client.SendEncoded(ctx, workers.Target{ID: *recorded.WorkerID, Endpoint: *recorded.WorkerEndpoint}, sessionID, payload)
	if err != nil {
		return SendResult{}, m.fail(ctx, sessionID, id, out.Type, err)
	}
	now := time.Now().UTC()
	waID := answer.MessageID
	sent := statusEvent(sessionID, p.UserID, id, waID, model.MessageSent, now)
	// The customer's webhook deliveries of the answer are committed with it: a crash after
	// the commit cannot lose them, and the recorder has no statement of its own to run. A
	// session that had no webhook for it when the send was recorded gets none (nothing to
	// build); either way the event's deliveries are settled here.
	var hook *store.NewWebhookDelivery
	if recorded.StatusWebhook {
		hook = m.webhookOf(ctx, &sent)
	}
	sent.WebhooksStored = true
	outcome := store.SendOutcome{ID: id, Status: model.MessageSent, WAMessageID: &waID, At: now, Webhook: hook}
	if err := m.recordOutcome(ctx, outcome); err != nil {
		return SendResult{}, err
	}
	m.Metrics.Messages.WithLabelValues(string(out.Type), string(model.DirectionOutbound), string(model.MessageSent)).Inc()
	m.Bus.Publish(sent)
	return SendResult{MessageID: waID, ID: id, To: out.Request.To, Type: out.Request.Type, Status: model.MessageSent, Timestamp: now}, nil
}

// fail records a send the worker did not take as FAILED with the reason, then returns cause.
func (m *Messaging) fail(ctx context.Context, sessionID, id string, kind model.MessageType, cause error) error {
	reason := "send failed"
	var e *model.Error
	if errors.As(cause, &e) && e.Message != "" {
		reason = e.Message
	}
	if err := m.recordOutcome(ctx, store.SendOutcome{ID: id, Status: model.MessageFailed, Error: &reason, At: time.Now().UTC()}); err != nil {
		m.Logger.ErrorContext(ctx, "record failed send", slog.String("message_id", id), slog.Any("err", err))
	}
	m.Metrics.Messages.WithLabelValues(string(kind), string(model.DirectionOutbound), string(model.MessageFailed)).Inc()
	m.Logger.WarnContext(ctx, "send failed", slog.String("session_id", sessionID), slog.String("message_id", id), slog.Any("err", cause))
	return cause
}

// sendWrite is one write of a synchronous send: its record, or the worker's answer.
type sendWrite struct {
	record  *store.OutboundMessage
	outcome *store.SendOutcome
}

// writeSends writes a batch of sends' records and answers in one transaction
// (store.WriteSends), with the answers' webhook deliveries, and wakes the deliverer when there
// are some. A record's result is its RecordedOutbound; an answer's has only Err. Should the
// transaction fail otherwise than as a deadlock's victim (which GroupCommit writes again
// whole), the records and the answers are written apart, so that what fails one kind (a
// taken new ID fails its records' statement) fails no row of the other: a worker's answer is
// never lost to a record that could not be written.
func (m *Messaging) writeSends(ctx context.Context, rows []sendWrite) ([]store.RecordedOutbound, error) {
	var records []store.OutboundMessage
	var outcomes []store.SendOutcome
	for _, r := range rows {
		if r.record != nil {
			records = append(records, *r.record)
		} else {
			outcomes = append(outcomes, *r.outcome)
		}
	}
	w, err := store.WriteSends(ctx, m.Batches, records, outcomes)
	recordsErr, outcomesErr := err, err
	switch {
	case err == nil:
		if w.WebhookDeliveries > 0 {
			m.webhooksQueued()
		}
	case store.IsDeadlock(err):
		return nil, err // written again whole
	case len(records) > 0 && len(outcomes) > 0:
		w, recordsErr = store.WriteSends(ctx, m.Batches, records, nil)
		outcomesErr = m.recordOutcomes(ctx, outcomes)
	}
	out := make([]store.RecordedOutbound, len(rows))
	next := 0
	for i, r := range rows {
		switch {
		case r.outcome != nil:
			out[i].Err = outcomesErr
		case recordsErr != nil:
			out[i].Err = recordsErr
		default:
			out[i] = w.Recorded[next]
			next++
		}
	}
	return out, nil
}

// recordOutcomes writes workers' answers with their webhook deliveries, and wakes the
// deliverer when there are some.
func (m *Messaging) recordOutcomes(ctx context.Context, rows []store.SendOutcome) error {
	deliveries, err := store.RecordSendOutcomeBatch(ctx, m.Batches, rows)
	if deliveries > 0 {
		m.webhooksQueued()
	}
	return err
}

func (m *Messaging) webhooksQueued() {
	if m.WebhooksQueued != nil {
		m.WebhooksQueued()
	}
}

func (m *Messaging) recordOutcome(ctx context.Context, o store.SendOutcome) error {
	r, err := m.writes.Do(context.WithoutCancel(ctx), sendWrite{outcome: &o})
	if err == nil {
		err = r.Err
	}
	if m.LateWrites.Keep(err, "record the answer of send "+o.ID, func(ctx context.Context) error {
		return m.recordOutcomes(ctx, []store.SendOutcome{o})
	}) {
		m.Logger.WarnContext(ctx, "database unavailable: the answer of a send is recorded once it is back",
			slog.String("message_id", o.ID), slog.String("status", string(o.Status)), slog.Any("err", err))
		return nil
	}
	return err
}

func (m *Messaging) count(kind model.MessageType, accepted bool) {
	status := model.MessagePending
	if !accepted {
		status = model.MessageFailed
	}
	m.Metrics.Messages.WithLabelValues(string(kind), string(model.DirectionOutbound), string(status)).Inc()
}

// Forward hands the worker a command that is not a message (seen, typing): nothing is recorded.
func (m *Messaging) Forward(ctx context.Context, sessionID string, req protocol.SendRequest) (protocol.SendResult, error) {
	target, err := m.target(ctx, sessionID)
	if err != nil {
		return protocol.SendResult{}, err
	}
	req.ClientMessageID = uuid.NewString()
	return m.Client.Send(ctx, target, sessionID, req)
}

// Manage performs a message action (delete, unsend, reaction, edit, read, star, unstar).
func (m *Messaging) Manage(ctx context.Context, sessionID string, req protocol.ManageRequest) (protocol.ManageResult, error) {
	target, err := m.target(ctx, sessionID)
	if err != nil {
		return protocol.ManageResult{}, err
	}
	return m.Client.Manage(ctx, target, sessionID, req)
}

// CheckNumber asks the session's worker whether a phone number is on WhatsApp.
func (m *Messaging) CheckNumber(ctx context.Context, sessionID, phone string) (protocol.CheckNumberResult, error) {
	target, err := m.target(ctx, sessionID)
	if err != nil {
		return protocol.CheckNumberResult{}, err
	}
	return m.Client.CheckNumber(ctx, target, sessionID, phone)
}

// target requires a CONNECTED session and returns its worker.
func (m *Messaging) target(ctx context.Context, sessionID string) (workers.Target, error) {
	sess, err := store.GetSession(ctx, m.DB, sessionID)
	if err != nil {
		return workers.Target{}, notFound(err, "Session not found")
	}
	if sess.Status != model.SessionConnected {
		return workers.Target{}, model.Errorf(model.KindConflict, "Session is not connected. Current status: %s", sess.Status)
	}
	route, err := m.Router.Lookup(ctx, sessionID)
	if err != nil {
		return workers.Target{}, model.Errorf(model.KindConnectivity, "The session is not running on any worker")
	}
	return workers.Target{ID: route.WorkerID, Endpoint: route.Endpoint}, nil
}

// MessageView is a message with its status history.
type MessageView struct {
	model.Message
	StatusHistory []store.StatusChange `json:"statusHistory"`
}

// Get returns a message of the session with its status history.
func (m *Messaging) Get(ctx context.Context, sessionID, id string) (MessageView, error) {
	msg, err := store.GetSessionMessage(ctx, m.DB, sessionID, id)
	if err != nil {
		return MessageView{}, notFound(err, "Message not found")
	}
	history, err := store.ListMessageEvents(ctx, m.DB, id)
	if err != nil {
		return MessageView{}, err
	}
	return MessageView{Message: msg, StatusHistory: history}, nil
}

// Receipt applies a worker's delivery receipt. An unknown WhatsApp ID is not an error (a
// receipt can arrive before the send's answer): recorded=false.
func (m *Messaging) Receipt(ctx context.Context, src EventSource, ev protocol.MessageStatusEvent) (bool, error) {
	status := model.MessageStatus(ev.Status)
	switch status {
	case model.MessagePending, model.MessageSent, model.MessageDelivered, model.MessageRead, model.MessageFailed:
	default:
		return false, model.ValidationError(model.FieldError{Field: "status", Message: "must be one of PENDING, SENT, DELIVERED, READ, FAILED"})
	}
	if ev.SessionID == "" || ev.MessageID == "" {
		var bad []model.FieldError
		if ev.SessionID == "" {
			bad = append(bad, model.FieldError{Field: "sessionId", Message: "is required"})
		}
		if ev.MessageID == "" {
			bad = append(bad, model.FieldError{Field: "messageId", Message: "is required"})
		}
		return false, model.ValidationError(bad...)
	}
	sess, err := store.GetSession(ctx, m.DB, ev.SessionID)
	if err != nil {
		return false, notFound(err, "Session %s not found", ev.SessionID)
	}
	if src.WorkerID != "" && (sess.WorkerID == nil || *sess.WorkerID != src.WorkerID) {
		return false, model.Errorf(model.KindConflict, "Session %s is not placed on worker %s", ev.SessionID, src.WorkerID)
	}
	at := protocol.TimeOrZero(ev.Timestamp)
	if at.IsZero() {
		at = time.Now().UTC()
	}
	upd := store.ReceiptUpdate{SessionID: ev.SessionID, WAMessageID: ev.MessageID, Status: status, At: at, ErrorMessage: ev.ErrorMessage}
	if t := protocol.TimeOrZero(ev.DeliveredAt); !t.IsZero() {
		upd.DeliveredAt = &t
	}
	if t := protocol.TimeOrZero(ev.ReadAt); !t.IsZero() {
		upd.ReadAt = &t
	}
	var msg model.Message
	var found, applied bool
	var raised events.Event
	err = store.WithTx(ctx, m.DB, func(tx pgx.Tx) error {
		var err error
		if msg, found, applied, err = store.ApplyReceipt(ctx, tx, upd); err != nil || !applied {
			return err
		}
		raised = events.Event{Type: events.MessageStatusUpdated, SessionID: ev.SessionID, UserID: sess.UserID, At: at,
			Payload: events.MessageStatus{SessionID: ev.SessionID, MessageID: ev.MessageID, ID: msg.ID, Status: string(status), Timestamp: at}}
		return m.storeWebhooks(ctx, tx, &raised)
	})
	if err != nil || !found {
		return false, err
	}
	if applied {
		m.Metrics.Messages.WithLabelValues(string(msg.Type), string(model.DirectionOutbound), string(status)).Inc()
		m.raise(raised)
	}
	return true, nil
}

// statusEvent is the message_status_updated event of our message id (WhatsApp's waID).
func statusEvent(sessionID, userID, id, waID string, status model.MessageStatus, at time.Time) events.Event {
	return events.Event{Type: events.MessageStatusUpdated, SessionID: sessionID, UserID: userID, At: at,
		Payload: events.MessageStatus{SessionID: sessionID, MessageID: waID, ID: id, Status: string(status), Timestamp: at}}
}

// webhookOf is the customer webhook delivery of e, for the statement that records the change
// raising it to store; e is marked WebhooksStored (the recorder skips it). Nil when e is not
// for customers.
func (m *Messaging) webhookOf(ctx context.Context, e *events.Event) *store.NewWebhookDelivery {
	d, ok, err := webhooks.NewDelivery(*e)
	if err != nil {
		m.Logger.ErrorContext(ctx, "webhook payload", slog.String("event", e.Type), slog.Any("err", err))
	}
	if !ok {
		return nil
	}
	e.WebhooksStored = true
	return &d
}

// storeWebhooks stores the customer webhook deliveries of e in tx, the transaction of the
// change that raises it, and marks e so (WebhooksStored): committed together, the change is
// never without its deliveries, which a crash between the commit and the recorder, or the
// worker's retry of a report already stored (answered without raising anything), would lose.
func (m *Messaging) storeWebhooks(ctx context.Context, tx pgx.Tx, e *events.Event) error {
	raised := []events.Event{*e}
	_, err := storeWebhooks(ctx, tx, raised)
	*e = raised[0]
	return err
}

// raise publishes an event committed with its webhook deliveries, and wakes the deliverer.
func (m *Messaging) raise(e events.Event) {
	m.Bus.Publish(e)
	if e.WebhooksStored && m.WebhooksQueued != nil {
		m.WebhooksQueued()
	}
}

// Inbound stores a received message once and raises message_received.
func (m *Messaging) Inbound(ctx context.Context, src EventSource, in protocol.IncomingMessage) (model.Message, bool, error) {
	var bad []model.FieldError
	for field, v := range map[string]string{"sessionId": in.SessionID, "messageId": in.MessageID, "from": in.From} {
		if v == "" {
			bad = append(bad, model.FieldError{Field: field, Message: "is required"})
		}
	}
	if len(bad) > 0 {
		return model.Message{}, false, model.ValidationError(bad...)
	}
	sess, err := store.GetSession(ctx, m.DB, in.SessionID)
	if err != nil {
		return model.Message{}, false, notFound(err, "Session %s not found", in.SessionID)
	}
	if src.WorkerID != "" && (sess.WorkerID == nil || *sess.WorkerID != src.WorkerID) {
		return model.Message{}, false, model.Errorf(model.KindConflict, "Session %s is not placed on worker %s", in.SessionID, src.WorkerID)
	}
	at := protocol.TimeOrZero(in.Timestamp)
	if at.IsZero() {
		at = time.Now().UTC()
	}
	kind := inboundType(in.Type)
	var msg model.Message
	var created bool
	var raised events.Event
	err = store.WithTx(ctx, m.DB, func(tx pgx.Tx) error {
		var err error
		msg, created, err = store.RecordInbound(ctx, tx, store.InboundMessage{SessionID: in.SessionID, WAMessageID: in.MessageID,
			From: in.From, Type: kind, Content: in.Content, MediaURL: in.MediaURL, Caption: in.Caption, Payload: rawOrNil(in.Raw), At: at})
		if err != nil || !created {
			return err
		}
		raised = events.Event{Type: events.MessageReceived, SessionID: in.SessionID, UserID: sess.UserID, At: at,
			Payload: map[string]any{"sessionId": in.SessionID, "message": map[string]any{
				"id": msg.ID, "messageId": in.MessageID, "from": in.From, "fromName": in.FromName, "type": kind,
				"content": in.Content, "mediaUrl": in.MediaURL, "caption": in.Caption, "timestamp": at,
			}}}
		return m.storeWebhooks(ctx, tx, &raised)
	})
	if err != nil || !created {
		return msg, created, err
	}
	m.Metrics.Messages.WithLabelValues(string(kind), string(model.DirectionInbound), string(model.MessageDelivered)).Inc()
	m.raise(raised)
	return msg, true, nil
}

func inboundType(t string) model.MessageType {
	switch kind := model.MessageType(upper(t)); kind {
	case model.MessageText, model.MessageImage, model.MessageDocument, model.MessageAudio, model.MessageVideo,
		model.MessageSticker, model.MessageLocation, model.MessageContact, model.MessageLink, model.MessagePoll,
		model.MessageReaction:
		return kind
	default:
		return model.MessageText
	}
}

func rawOrNil(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// Queue records an async send as QUEUED and wakes the dispatchers; it answers once the
// message is durably stored.
func (m *Messaging) Queue(ctx context.Context, p *auth.Principal, sessionID string, out Outgoing, scheduledAt *time.Time) (SendResult, error) {
	if _, err := m.Quotas.Charge(ctx, p, QuotaMessages); err != nil {
		return SendResult{}, err
	}
	id, isNew := outboundMessageID(ctx)
	out.Request.ClientMessageID = id
	payload, err := json.Marshal(out.Request)
	if err != nil {
		return SendResult{}, fmt.Errorf("encode send: %w", err)
	}
	queued, err := m.queued.Do(ctx, store.QueuedMessage{OutboundMessage: store.OutboundMessage{ID: id, NewID: isNew, SessionID: sessionID,
		To: out.Request.To, Type: out.Type, Content: out.Content, MediaURL: out.MediaURL, Filename: out.Filename,
		Caption: out.Caption, Payload: payload}, ScheduledAt: scheduledAt})
	if err == nil {
		err = queued.Err
	}
	if errors.Is(err, model.ErrNotFound) {
		return SendResult{}, errSessionNotFound
	}
	if err != nil {
		return SendResult{}, err
	}
	at := queued.CreatedAt
	m.Metrics.Messages.WithLabelValues(string(out.Type), string(model.DirectionOutbound), string(model.MessageQueued)).Inc()
	return SendResult{ID: id, To: out.Request.To, Type: out.Request.Type, Status: model.MessageQueued, Timestamp: at}, nil
}

// queue writes a batch of async sends and wakes a dispatcher: this replica's in-process when it
// runs, every replica's through NOTIFY otherwise and every AnnounceEvery.
func (m *Messaging) queue(ctx context.Context, rows []store.QueuedMessage) ([]store.QueuedOutbound, error) {
	local := m.Dispatcher != nil && m.Dispatcher.Running()
	out, err := store.QueueBatch(ctx, m.Batches, rows, !local || m.announce(time.Now()))
	if err == nil && local {
		due := store.EarliestDue(rows)
		if due.IsZero() {
			due = time.Now()
		}
		// Should the dispatcher have stopped meanwhile, the sends wait for another's poll (or
		// for this replica's next start), as they would for a lost NOTIFY.
		m.Dispatcher.Notice(due)
	}
	return out, err
}

// announce says whether queued sends are to be announced to every replica at now: when the
// last announcement is AnnounceEvery old.
func (m *Messaging) announce(now time.Time) bool {
	last := m.announced.Load()
	return now.UnixNano()-last >= int64(AnnounceEvery) && m.announced.CompareAndSwap(last, now.UnixNano())
}

// Cancel cancels a message still QUEUED; one already handed to a worker is a conflict.
func (m *Messaging) Cancel(ctx context.Context, sessionID, id string) error {
	found, cancelled, status, err := store.CancelQueued(ctx, m.DB, sessionID, id)
	switch {
	case err != nil:
		return err
	case !found:
		return model.Errorf(model.KindNotFound, "Message not found")
	case !cancelled:
		return model.Errorf(model.KindConflict, "Only a queued message can be cancelled; this one is %s", status)
	}
	return nil
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }
