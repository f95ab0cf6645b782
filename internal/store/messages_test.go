package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// msgDB is a database with one user and the sessions live (CONNECTED) and idle (QR_REQUIRED).
func msgDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	db := testenv.NewDB(t)
	u := acctCreateUser(t, db, "Messenger", "messenger@example.com")
	msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES ('live', $1, 'L', 'CONNECTED'), ('idle', $1, 'I', 'QR_REQUIRED')`, u.ID)
	return db
}

func msgExec(t *testing.T, db store.DBTX, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func msgHistoryOf(t *testing.T, db store.DBTX, id string) []model.MessageStatus {
	t.Helper()
	events, err := store.ListMessageEvents(context.Background(), db, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []model.MessageStatus
	for _, e := range events {
		out = append(out, e.Status)
	}
	return out
}

func msgOutbound(sessionID, text string) store.OutboundMessage {
	return store.OutboundMessage{ID: uuid.NewString(), SessionID: sessionID, To: "6281234567890@s.whatsapp.net",
		Type: model.MessageText, Content: &text, Payload: json.RawMessage(`{"type":"text"}`)}
}

func TestRecordOutboundBatch_PendingWhenConnectedFailedOtherwiseInOneStatement(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	rows := []store.OutboundMessage{msgOutbound("live", "a"), msgOutbound("idle", "b"), msgOutbound("gone", "c"), msgOutbound("live", "d")}
	out, err := store.RecordOutboundBatch(ctx, db, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(rows) {
		t.Fatalf("%d results for %d rows", len(out), len(rows))
	}
	for i, want := range []model.SessionStatus{model.SessionConnected, model.SessionQRRequired, "", model.SessionConnected} {
		if want == "" {
			if !errors.Is(out[i].Err, model.ErrNotFound) {
				t.Errorf("row %d (unknown session): %+v, want ErrNotFound", i, out[i])
			}
			continue
		}
		if out[i].Err != nil || out[i].SessionStatus != want || out[i].CreatedAt.IsZero() {
			t.Errorf("row %d: %+v, want session status %s", i, out[i], want)
		}
	}
	for i, want := range map[int]model.MessageStatus{0: model.MessagePending, 1: model.MessageFailed, 3: model.MessagePending} {
		msg, err := store.GetSessionMessage(ctx, db, rows[i].SessionID, rows[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Status != want || msg.Direction != model.DirectionOutbound || *msg.Content != *rows[i].Content {
			t.Errorf("row %d stored %+v, want %s", i, msg, want)
		}
		if want == model.MessageFailed && (msg.ErrorMessage == nil || *msg.ErrorMessage != "session not connected: QR_REQUIRED") {
			t.Errorf("row %d reason %v", i, msg.ErrorMessage)
		}
		// A refused send was recorded, then failed at once.
		wantHistory := []model.MessageStatus{model.MessagePending}
		if want == model.MessageFailed {
			wantHistory = append(wantHistory, model.MessageFailed)
		}
		if h := msgHistoryOf(t, db, rows[i].ID); !slices.Equal(h, wantHistory) {
			t.Errorf("row %d history %v, want %v", i, h, wantHistory)
		}
	}
	if _, err := store.GetSessionMessage(ctx, db, "gone", rows[2].ID); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("a send to an unknown session was stored: %v", err)
	}
}

func TestRecordSendOutcomeBatch_NeverOverwritesAReceiptThatCameFirst(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	fast, slow, failed := msgOutbound("live", "fast"), msgOutbound("live", "slow"), msgOutbound("live", "failed")
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{fast, slow, failed}); err != nil {
		t.Fatal(err)
	}
	// The receipt for "fast" overtakes the worker's answer.
	msgExec(t, db, `WITH m AS (UPDATE messages SET status = 'DELIVERED', wa_message_id = '3EB0FAST' WHERE id = $1 RETURNING id, session_id)
		INSERT INTO message_wa_ids (session_id, wa_message_id, message_id) SELECT session_id, '3EB0FAST', id FROM m`, fast.ID)

	now := time.Now().UTC()
	waFast, waSlow, reason := "3EB0FAST", "3EB0SLOW", "worker said no"
	_, err := store.RecordSendOutcomeBatch(ctx, db, []store.SendOutcome{
		{ID: fast.ID, Status: model.MessageSent, WAMessageID: &waFast, At: now},
		{ID: slow.ID, Status: model.MessageSent, WAMessageID: &waSlow, At: now},
		{ID: failed.ID, Status: model.MessageFailed, Error: &reason, At: now},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id     string
		status model.MessageStatus
	}{{fast.ID, model.MessageDelivered}, {slow.ID, model.MessageSent}, {failed.ID, model.MessageFailed}} {
		msg, err := store.GetSessionMessage(ctx, db, "live", tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Status != tc.status {
			t.Errorf("%s: status %s, want %s", *msg.Content, msg.Status, tc.status)
		}
	}
	msg, _ := store.GetSessionMessage(ctx, db, "live", slow.ID)
	if msg.WAMessageID == nil || *msg.WAMessageID != waSlow || msg.SentAt == nil {
		t.Errorf("slow: %+v, want its WhatsApp ID and sentAt", msg)
	}
	msg, _ = store.GetSessionMessage(ctx, db, "live", failed.ID)
	if msg.ErrorMessage == nil || *msg.ErrorMessage != reason {
		t.Errorf("failed: reason %v", msg.ErrorMessage)
	}
}

func TestApplyReceipt_ForwardOnly_UnknownIsNotFoundAndFailedIsFinal(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	var id string
	if err := db.QueryRow(ctx, `WITH m AS (
			INSERT INTO messages (session_id, direction, wa_message_id, message_type, status)
			VALUES ('live', 'OUTBOUND', '3EB0R', 'TEXT', 'SENT') RETURNING id
		), wa AS (INSERT INTO message_wa_ids (session_id, wa_message_id, message_id) SELECT 'live', '3EB0R', id FROM m)
		SELECT id::text FROM m`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	apply := func(status model.MessageStatus) (model.Message, bool, bool) {
		t.Helper()
		msg, found, applied, err := store.ApplyReceipt(ctx, db, store.ReceiptUpdate{SessionID: "live", WAMessageID: "3EB0R", Status: status, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return msg, found, applied
	}
	for _, step := range []struct {
		status  model.MessageStatus
		applied bool
		want    model.MessageStatus
	}{
		{model.MessageRead, true, model.MessageRead},
		{model.MessageDelivered, false, model.MessageRead},
		{model.MessageSent, false, model.MessageRead},
		{model.MessageFailed, false, model.MessageRead},
	} {
		msg, found, applied := apply(step.status)
		if !found || applied != step.applied || msg.Status != step.want {
			t.Errorf("%s: found %v applied %v status %s; want applied %v and %s", step.status, found, applied, msg.Status, step.applied, step.want)
		}
	}
	msg, _, _ := apply(model.MessageRead)
	if msg.ReadAt == nil || !msg.ReadAt.Equal(at) || msg.DeliveredAt == nil || !msg.DeliveredAt.Equal(at) {
		t.Errorf("READ first: readAt %v deliveredAt %v, want both at the receipt's time", msg.ReadAt, msg.DeliveredAt)
	}
	// PENDING (created_at) and SENT (sent_at, which READ implies) are read off the row; the
	// only entry stored is the applied READ.
	if h := msgHistoryOf(t, db, id); !slices.Equal(h, []model.MessageStatus{model.MessagePending, model.MessageSent, model.MessageRead}) {
		t.Errorf("history %v, want PENDING, SENT and the applied READ", h)
	}
	var stored int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM message_events WHERE message_id = $1`, id).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("%d history entries stored (%v), want the READ only", stored, err)
	}

	msgExec(t, db, `UPDATE messages SET status = 'FAILED' WHERE id = $1`, id)
	for _, s := range []model.MessageStatus{model.MessageSent, model.MessageDelivered, model.MessageRead} {
		if msg, _, applied := apply(s); applied || msg.Status != model.MessageFailed {
			t.Errorf("%s after FAILED: applied %v, status %s; FAILED is final", s, applied, msg.Status)
		}
	}
	if _, found, applied, err := store.ApplyReceipt(ctx, db, store.ReceiptUpdate{SessionID: "live", WAMessageID: "3EB0NONE",
		Status: model.MessageRead, At: at}); err != nil || found || applied {
		t.Errorf("unknown ID: found %v applied %v err %v; want not found, no error", found, applied, err)
	}
	if _, found, _, err := store.ApplyReceipt(ctx, db, store.ReceiptUpdate{SessionID: "idle", WAMessageID: "3EB0R",
		Status: model.MessageRead, At: at}); err != nil || found {
		t.Errorf("another session's ID: found %v err %v; want not found", found, err)
	}
}

func TestRecordInbound_StoresOncePerSessionAndWhatsAppID(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	text := "hello"
	in := store.InboundMessage{SessionID: "live", WAMessageID: "3EB0IN", From: "6281@s.whatsapp.net", Type: model.MessageText,
		Content: &text, At: time.Now().UTC().Truncate(time.Microsecond)}
	first, created, err := store.RecordInbound(ctx, db, in)
	if err != nil || !created || first.Status != model.MessageDelivered || first.Direction != model.DirectionInbound ||
		!first.CreatedAt.Equal(in.At) {
		t.Fatalf("first: %+v, created %v, %v", first, created, err)
	}
	again, created, err := store.RecordInbound(ctx, db, in)
	if err != nil || created || again.ID != first.ID {
		t.Errorf("duplicate: %+v, created %v, %v; want the stored one", again, created, err)
	}
	// The same WhatsApp ID on another session is another message.
	in.SessionID = "idle"
	if other, created, err := store.RecordInbound(ctx, db, in); err != nil || !created || other.ID == first.ID {
		t.Errorf("same ID on another session: %+v, created %v, %v", other, created, err)
	}
	in.SessionID = "nobody"
	if _, _, err := store.RecordInbound(ctx, db, in); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("an inbound message for an unknown session: %v, want ErrNotFound and nothing stored", err)
	}
}

func TestListMessages_KeysetPagesNewestFirstAcrossTies(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 9 {
		created := at.Add(time.Duration(i/3) * time.Minute) // three messages per instant
		direction := "OUTBOUND"
		if i%2 == 1 {
			direction = "INBOUND"
		}
		msgExec(t, db, `INSERT INTO messages (session_id, direction, message_type, status, content, created_at)
			VALUES ('live', $1, 'TEXT', 'SENT', $2, $3)`, direction, fmt.Sprint(i), created)
	}
	msgExec(t, db, `INSERT INTO messages (session_id, direction, message_type, status, created_at) VALUES ('idle', 'OUTBOUND', 'TEXT', 'SENT', $1)`, at)

	all, err := store.ListMessages(ctx, db, store.MessageFilter{SessionID: "live", Limit: 100})
	if err != nil || len(all) != 9 {
		t.Fatalf("all: %d, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		prev, cur := all[i-1], all[i]
		if cur.CreatedAt.After(prev.CreatedAt) || (cur.CreatedAt.Equal(prev.CreatedAt) && cur.ID > prev.ID) {
			t.Fatalf("not newest first by (created_at, id): %v then %v", prev, cur)
		}
	}
	var paged []string
	f := store.MessageFilter{SessionID: "live", Limit: 2}
	for range 10 {
		page, err := store.ListMessages(ctx, db, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			paged = append(paged, m.ID)
		}
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.BeforeAt, f.BeforeID = &last.CreatedAt, &last.ID
	}
	var want []string
	for _, m := range all {
		want = append(want, m.ID)
	}
	if !slices.Equal(paged, want) {
		t.Errorf("pages of 2 = %v, want %v", paged, want)
	}
	inbound := model.DirectionInbound
	in, err := store.ListMessages(ctx, db, store.MessageFilter{SessionID: "live", Direction: &inbound, Limit: 100})
	if err != nil || len(in) != 4 {
		t.Errorf("inbound filter: %d, %v; want 4", len(in), err)
	}
}

func TestRecordOutboundBatch_ReturnsTheRouteFromTheSessionRow(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	msgExec(t, db, `INSERT INTO workers (id, endpoint, status, max_sessions) VALUES ('w-1', 'http://10.0.0.7:8001', 'ONLINE', 10)`)
	msgExec(t, db, `UPDATE sessions SET worker_id = 'w-1' WHERE id = 'live'`)

	out, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{msgOutbound("live", "a"), msgOutbound("idle", "b")})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].WorkerID == nil || *out[0].WorkerID != "w-1" || out[0].WorkerEndpoint == nil || *out[0].WorkerEndpoint != "http://10.0.0.7:8001" {
		t.Errorf("placed session: worker %v endpoint %v, want w-1 at http://10.0.0.7:8001", out[0].WorkerID, out[0].WorkerEndpoint)
	}
	if out[1].Err != nil || out[1].WorkerID != nil || out[1].WorkerEndpoint != nil {
		t.Errorf("session placed nowhere: %+v, want no route", out[1])
	}
}

// A recorded send says whether its session had an active webhook subscribed to message.status,
// for every row of the batch, however many rows share a session.
func TestRecordOutboundBatch_SaysWhetherTheSessionHasAStatusWebhook(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	u := acctCreateUser(t, db, "Hooked", "hooked@example.com")
	msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES
		('status-hook', $1, 'A', 'CONNECTED'), ('any-hook', $1, 'B', 'CONNECTED'),
		('received-hook', $1, 'C', 'CONNECTED'), ('inactive-hook', $1, 'D', 'CONNECTED')`, u.ID)
	msgExec(t, db, `INSERT INTO webhooks (session_id, url, events, secret, is_active) VALUES
		('status-hook', 'https://example.com/a', '{message.received,message.status}', 'whsec_a', true),
		('any-hook', 'https://example.com/b', '{*}', 'whsec_b', true),
		('received-hook', 'https://example.com/c', '{message.received}', 'whsec_c', true),
		('inactive-hook', 'https://example.com/d', '{*}', 'whsec_d', false)`)

	want := map[string]bool{"status-hook": true, "any-hook": true, "received-hook": false, "inactive-hook": false, "live": false}
	var rows []store.OutboundMessage
	for _, session := range []string{"status-hook", "any-hook", "received-hook", "inactive-hook", "live", "status-hook", "live"} {
		rows = append(rows, msgOutbound(session, "hello"))
	}
	out, err := store.RecordOutboundBatch(ctx, db, rows)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out {
		if r.Err != nil || r.StatusWebhook != want[rows[i].SessionID] {
			t.Errorf("row %d (%s): %+v, want StatusWebhook %v", i, rows[i].SessionID, r, want[rows[i].SessionID])
		}
	}
}

func TestRecordOutboundBatch_ATakenIDFailsOnlyItsOwnRow(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	first := msgOutbound("live", "first")
	if out, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{first}); err != nil || out[0].Err != nil {
		t.Fatalf("first record: %+v, %v", out, err)
	}
	again, other := first, msgOutbound("live", "other")
	retry := "retry"
	again.Content = &retry
	twice := msgOutbound("live", "twice")
	out, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{again, other, twice, twice})
	if err != nil {
		t.Fatalf("a taken ID failed the whole batch: %v", err)
	}
	for i, wantExists := range []bool{true, false, false, true} {
		if got := errors.Is(out[i].Err, store.ErrMessageExists); got != wantExists {
			t.Errorf("row %d: %+v, want ErrMessageExists %v", i, out[i], wantExists)
		}
	}
	if out[1].Err != nil || out[2].Err != nil || out[1].CreatedAt.IsZero() || out[2].CreatedAt.IsZero() {
		t.Errorf("the other rows were not recorded: %+v", out)
	}
	msg, err := store.GetSessionMessage(ctx, db, "live", first.ID)
	if err != nil || *msg.Content != "first" {
		t.Errorf("the first record was changed: %+v, %v", msg, err)
	}
}

// A batch of sends holds its sessions' reference (FOR KEY SHARE, in ID order) while it
// writes. A transaction that deletes sessions in another order (DeleteUser does not; an
// operator's script may) can deadlock with it: the batch holds one session and waits for the
// other, which the deletion holds while it waits for the first. PostgreSQL aborts the batch;
// the group commit writes it again, so that the other tenant's send in the same batch is
// recorded and the deleted sessions' sends are refused as sends to a session that no longer
// exists, rather than every caller of the batch being told that a deadlock happened.
func TestGroupCommit_ABatchThatDeadlocksWithADeletionIsWrittenAgain(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx := context.Background()
	leaving := acctCreateUser(t, db, "Leaving", "leaving@example.com")
	staying := acctCreateUser(t, db, "Staying", "staying@example.com")
	msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES
		('leaving-a', $1, 'A', 'CONNECTED'), ('leaving-b', $1, 'B', 'CONNECTED'), ('staying', $2, 'S', 'CONNECTED')`,
		leaving.ID, staying.ID)

	// One Do is one batch: the three sends are flushed together.
	g := &store.GroupCommit[[]store.OutboundMessage, []store.RecordedOutbound]{
		Flush: func(ctx context.Context, in [][]store.OutboundMessage) ([][]store.RecordedOutbound, error) {
			outs := make([][]store.RecordedOutbound, len(in))
			for i, rows := range in {
				out, err := store.RecordOutboundBatch(ctx, db, rows)
				if err != nil {
					return nil, err
				}
				outs[i] = out
			}
			return outs, nil
		},
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { g.Run(runCtx); close(ran) }()
	defer func() { stop(); <-ran }()

	deletion, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer deletion.Rollback(ctx) //nolint:errcheck // a no-op after commit
	msgExec(t, deletion, `DELETE FROM sessions WHERE id = 'leaving-b'`)

	rows := []store.OutboundMessage{msgOutbound("leaving-a", "a"), msgOutbound("leaving-b", "b"), msgOutbound("staying", "s")}
	type answer struct {
		out []store.RecordedOutbound
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		out, err := g.Do(ctx, rows)
		answered <- answer{out, err}
	}()
	// The batch has taken leaving-a and waits for leaving-b. The deletion waits for leaving-a
	// next: PostgreSQL looks for a deadlock in the connection that has waited
	// deadlock_timeout (1 s) first, the batch's, and aborts it.
	msgWaitForLockWaiters(t, db, 1)
	deleted := make(chan error, 1)
	go func() {
		_, err := deletion.Exec(ctx, `DELETE FROM sessions WHERE id = 'leaving-a'`)
		deleted <- err
	}()
	if err := <-deleted; err != nil {
		t.Fatalf("the deletion lost the deadlock: %v", err)
	}
	if err := deletion.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	a := <-answered
	if a.err != nil {
		t.Fatalf("the batch failed: %v", a.err)
	}
	for i, r := range a.out[:2] {
		if !errors.Is(r.Err, model.ErrNotFound) {
			t.Errorf("send to the deleted session %s: %+v, want ErrNotFound", rows[i].SessionID, r)
		}
	}
	if r := a.out[2]; r.Err != nil || r.SessionStatus != model.SessionConnected {
		t.Errorf("the other tenant's send: %+v, want recorded", r)
	}
	if msg, err := store.GetSessionMessage(ctx, db, "staying", rows[2].ID); err != nil || msg.Status != model.MessagePending {
		t.Errorf("the other tenant's send is %+v, %v; want PENDING", msg, err)
	}
	var left int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE session_id LIKE 'leaving-%'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d messages of the deleted sessions (%v), want none", left, err)
	}
}

// The batches of sends, recorded or queued, lock the sessions they reference in ID order, as
// DeleteUser does: while one waits for a session that a deletion holds, it holds none with a
// greater ID, which the deletion could be waiting for next.
func TestSendBatches_LockTheirSessionsInIDOrder(t *testing.T) {
	t.Parallel()
	for name, write := range map[string]func(ctx context.Context, db *pgxpool.Pool, rows []store.OutboundMessage) error{
		"recorded": func(ctx context.Context, db *pgxpool.Pool, rows []store.OutboundMessage) error {
			_, err := store.RecordOutboundBatch(ctx, db, rows)
			return err
		},
		"queued": func(ctx context.Context, db *pgxpool.Pool, rows []store.OutboundMessage) error {
			queued := make([]store.QueuedMessage, len(rows))
			for i, r := range rows {
				queued[i] = store.QueuedMessage{OutboundMessage: r}
			}
			_, err := store.QueueBatch(ctx, db, queued, false)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testenv.NewDB(t)
			ctx := context.Background()
			u := acctCreateUser(t, db, "Sender", "sender@example.com")
			msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES
				('leaving-a', $1, 'A', 'CONNECTED'), ('leaving-b', $1, 'B', 'CONNECTED'), ('staying', $1, 'S', 'CONNECTED')`, u.ID)

			deletion, err := db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer deletion.Rollback(ctx) //nolint:errcheck // a no-op after commit
			msgExec(t, deletion, `SELECT FROM sessions WHERE id = 'leaving-a' FOR UPDATE`)
			written := make(chan error, 1)
			go func() {
				written <- write(ctx, db, []store.OutboundMessage{
					msgOutbound("staying", "s"), msgOutbound("leaving-b", "b"), msgOutbound("leaving-a", "a")})
			}()
			msgWaitForLockWaiters(t, db, 1)
			for _, id := range []string{"leaving-b", "staying"} {
				probe, err := deletion.Begin(ctx) // a savepoint: a refused lock aborts only the probe
				if err != nil {
					t.Fatal(err)
				}
				if _, err := probe.Exec(ctx, `SELECT FROM sessions WHERE id = $1 FOR UPDATE NOWAIT`, id); err != nil {
					t.Errorf("the waiting batch holds %s: %v", id, err)
				}
				if err := probe.Rollback(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := deletion.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-written; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// msgWaitForLockWaiters waits until n of the database's connections wait for a lock.
func msgWaitForLockWaiters(t *testing.T, db *pgxpool.Pool, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := db.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections wait for a lock, want %d", waiting, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A batch whose IDs are all new is written without a conflict check: it records every row,
// and should a new ID be taken after all, the whole batch fails (each caller sees the error)
// rather than a row being recorded twice or silently dropped. Mixed with an ID that may be
// taken, the batch is checked row by row. The same holds for queued sends.
func TestSendBatches_NewIDsAreWrittenWithoutAConflictCheck(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	newSend := func(text string) store.OutboundMessage {
		m := msgOutbound("live", text)
		m.NewID = true
		return m
	}
	record := func(rows ...store.OutboundMessage) ([]store.RecordedOutbound, error) {
		return store.RecordOutboundBatch(ctx, db, rows)
	}
	calls := 0
	queue := func(rows ...store.OutboundMessage) ([]store.RecordedOutbound, error) {
		calls++
		queued := make([]store.QueuedMessage, len(rows))
		for i, r := range rows {
			queued[i] = store.QueuedMessage{OutboundMessage: r}
		}
		out, err := store.QueueBatch(ctx, db, queued, calls%2 == 0) // the quiet and the announced statements in turn
		recorded := make([]store.RecordedOutbound, len(out))
		for i, o := range out {
			recorded[i] = store.RecordedOutbound{CreatedAt: o.CreatedAt, Err: o.Err}
		}
		return recorded, err
	}
	for name, write := range map[string]func(...store.OutboundMessage) ([]store.RecordedOutbound, error){"record": record, "queue": queue} {
		first, second := newSend(name+" first"), newSend(name+" second")
		out, err := write(first, second)
		if err != nil || out[0].Err != nil || out[1].Err != nil {
			t.Fatalf("%s: new IDs: %+v, %v", name, out, err)
		}

		taken, other := first, newSend(name+" other")
		if out, err := write(taken, other); err == nil {
			t.Errorf("%s: a taken new ID: %+v, want the batch's error", name, out)
		}
		if _, err := store.GetSessionMessage(ctx, db, "live", other.ID); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("%s: the failed batch's other row was recorded: %v", name, err)
		}

		taken.NewID = false
		out, err = write(taken, other)
		if err != nil || !errors.Is(out[0].Err, store.ErrMessageExists) || out[1].Err != nil {
			t.Errorf("%s: an ID that may be taken, with a new one: %+v, %v; want ErrMessageExists then recorded", name, out, err)
		}
	}
}

// queuedOnce is a messages database with one message of session live queued.
func queuedOnce(t *testing.T) (*pgxpool.Pool, store.QueuedMessage) {
	t.Helper()
	db := msgDB(t)
	first := store.QueuedMessage{OutboundMessage: msgOutbound("live", "first")}
	if out, err := store.QueueBatch(context.Background(), db, []store.QueuedMessage{first}, true); err != nil || out[0].Err != nil {
		t.Fatalf("first queue: %+v, %v", out, err)
	}
	return db, first
}

func TestQueueBatch_ATakenIDOrUnknownSessionFailsOnlyItsOwnRow(t *testing.T) {
	t.Parallel()
	db, first := queuedOnce(t)
	ctx := context.Background()
	other := store.QueuedMessage{OutboundMessage: msgOutbound("idle", "other")}
	gone := store.QueuedMessage{OutboundMessage: msgOutbound("gone", "gone")}
	malformed := store.QueuedMessage{OutboundMessage: msgOutbound("idle", "malformed")}
	malformed.ID = "not-a-uuid"
	out, err := store.QueueBatch(ctx, db, []store.QueuedMessage{first, other, gone, other, malformed}, true)
	if err != nil {
		t.Fatalf("a taken ID failed the whole batch: %v", err)
	}
	if !errors.Is(out[0].Err, store.ErrMessageExists) || !errors.Is(out[3].Err, store.ErrMessageExists) {
		t.Errorf("taken IDs: %+v and %+v, want ErrMessageExists", out[0], out[3])
	}
	if out[1].Err != nil || out[1].CreatedAt.IsZero() {
		t.Errorf("the other row: %+v, want queued", out[1])
	}
	if !errors.Is(out[2].Err, model.ErrNotFound) {
		t.Errorf("unknown session: %+v, want ErrNotFound", out[2])
	}
	if out[4].Err == nil || !strings.Contains(out[4].Err.Error(), "message ID") {
		t.Errorf("an ID that is not a UUID: %+v, want its row refused", out[4])
	}
	if h := msgHistoryOf(t, db, first.ID); !slices.Equal(h, []model.MessageStatus{model.MessageQueued}) {
		t.Errorf("history of the first message %v, want one QUEUED", h)
	}
}

// A taken ID fails only its row; the others answer their records' created_at, and a
// scheduled send is due at its scheduledAt.
func TestQueueBatch_AllSessionsExist_ATakenIDFailsOnlyItsOwnRow(t *testing.T) {
	t.Parallel()
	db, first := queuedOnce(t)
	ctx := context.Background()
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	other := store.QueuedMessage{OutboundMessage: msgOutbound("idle", "other"), ScheduledAt: &later}
	out, err := store.QueueBatch(ctx, db, []store.QueuedMessage{other, first}, false)
	if err != nil {
		t.Fatalf("a taken ID failed the whole batch: %v", err)
	}
	if !errors.Is(out[1].Err, store.ErrMessageExists) {
		t.Errorf("taken ID: %+v, want ErrMessageExists", out[1])
	}
	var created, next time.Time
	var status model.MessageStatus
	if err := db.QueryRow(ctx, `SELECT created_at, next_attempt_at, status FROM messages WHERE id = $1`, other.ID).
		Scan(&created, &next, &status); err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || !out[0].CreatedAt.Equal(created) {
		t.Errorf("queued row: %+v, want created at %s", out[0], created)
	}
	if status != model.MessageQueued || !next.Equal(later) {
		t.Errorf("queued row is %s, next attempt %s; want QUEUED at its scheduledAt %s", status, next, later)
	}
}

func TestQueueBatch_NotifiesWhenTheEarliestSendIsDue(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := testenv.Listen(t, db, store.QueueChannel)
	scheduled := func(at *time.Time) store.QueuedMessage {
		return store.QueuedMessage{OutboundMessage: msgOutbound("live", "m"), ScheduledAt: at}
	}
	in1h, in2h := time.Now().Add(time.Hour).Truncate(time.Millisecond), time.Now().Add(2*time.Hour)
	for _, c := range []struct {
		name  string
		batch []store.QueuedMessage
		want  string
	}{
		{"scheduled only", []store.QueuedMessage{scheduled(&in2h), scheduled(&in1h)}, strconv.FormatInt(in1h.UnixMilli(), 10)},
		{"one due now", []store.QueuedMessage{scheduled(&in1h), scheduled(nil)}, "0"},
	} {
		// A quiet batch first: it is queued and announced nothing, so the first notification
		// (they arrive in commit order) is the announced batch's.
		quiet := []store.QueuedMessage{scheduled(nil)}
		if out, err := store.QueueBatch(ctx, db, quiet, false); err != nil || out[0].Err != nil {
			t.Fatalf("%s: quiet batch: %+v, %v", c.name, out, err)
		}
		if _, err := store.GetSessionMessage(ctx, db, "live", quiet[0].ID); err != nil {
			t.Fatalf("%s: the quiet batch's send is not queued: %v", c.name, err)
		}
		if _, err := store.QueueBatch(ctx, db, c.batch, true); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n.Payload != c.want {
			t.Errorf("%s: payload %q, want %q (the quiet batch's would be \"0\")", c.name, n.Payload, c.want)
		}
	}
}

func TestEarliestDue_IsTheEarliestScheduledAtOrZeroWhenOneIsDueNow(t *testing.T) {
	t.Parallel()
	in1h, in2h := time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
	at := func(t *time.Time) store.QueuedMessage { return store.QueuedMessage{ScheduledAt: t} }
	if got := store.EarliestDue([]store.QueuedMessage{at(&in2h), at(&in1h)}); !got.Equal(in1h) {
		t.Errorf("scheduled only: %v, want %v", got, in1h)
	}
	if got := store.EarliestDue([]store.QueuedMessage{at(&in1h), at(nil), at(&in2h)}); !got.IsZero() {
		t.Errorf("one due now: %v, want the zero time", got)
	}
}

// TestMessagesIndexes_LeaveTheAnswersColumnsOut keeps the worker's answer to a send a HOT
// update (a new row version on the same page, no new index entries): no index of messages may
// read a column the answer writes, in its keys, expressions or predicate.
func TestMessagesIndexes_LeaveTheAnswersColumnsOut(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	rows, err := db.Query(context.Background(), `
		SELECT i.indexrelid::regclass::text, a.attname
		FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum > 0
		WHERE i.indrelid = 'messages'::regclass
		  AND a.attname IN ('status', 'wa_message_id', 'error_message', 'sent_at', 'updated_at')
		  AND (a.attnum = ANY (i.indkey)
		       OR coalesce(pg_get_expr(i.indexprs, i.indrelid), '') ~ ('\m' || a.attname || '\M')
		       OR coalesce(pg_get_expr(i.indpred, i.indrelid), '') ~ ('\m' || a.attname || '\M'))`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var index, column string
		if err := rows.Scan(&index, &column); err != nil {
			t.Fatal(err)
		}
		t.Errorf("index %s reads %s, which the answer to a send writes: that answer can no longer be a HOT update", index, column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// An answer rewrites its message's row: with the table's fillfactor every new version fits on
// the row's page (a HOT update, no new index entries), even when every row of a page is
// answered.
func TestRecordSendOutcomeBatch_AnswersAreHOTUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// One connection: the statistics read below are its own, flushed when it asks.
	db, err := store.Open(ctx, testenv.NewDatabaseURL(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u := acctCreateUser(t, db, "Messenger", "messenger@example.com")
	msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES ('live', $1, 'L', 'CONNECTED')`, u.ID)

	const sends, batch = 300, 30
	text := strings.Repeat("a message of an ordinary length ", 4)
	for range sends / batch {
		rows := make([]store.OutboundMessage, batch)
		for i := range rows {
			rows[i] = msgOutbound("live", text)
			rows[i].Payload = json.RawMessage(`{"type":"text","to":"6281234567890","text":"` + text + `","clientMessageId":"` + rows[i].ID + `"}`)
		}
		if _, err := store.RecordOutboundBatch(ctx, db, rows); err != nil {
			t.Fatal(err)
		}
		answers := make([]store.SendOutcome, batch)
		for i, r := range rows {
			waID := "3EB0" + strings.ToUpper(strings.ReplaceAll(r.ID, "-", ""))
			answers[i] = store.SendOutcome{ID: r.ID, Status: model.MessageSent, WAMessageID: &waID, At: time.Now()}
		}
		if _, err := store.RecordSendOutcomeBatch(ctx, db, answers); err != nil {
			t.Fatal(err)
		}
	}
	msgExec(t, db, `SELECT pg_stat_force_next_flush()`)
	var updates, hot int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgExec(t, db, `SELECT pg_stat_clear_snapshot()`)
		if err := db.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'messages'`).Scan(&updates, &hot); err != nil {
			t.Fatal(err)
		}
		if updates >= sends || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if updates != sends || hot != updates {
		t.Errorf("%d of %d answers were HOT updates, want all %d", hot, updates, sends)
	}
}

// A synchronous send whose answer came so late that the send was queued meanwhile (the
// dispatcher's sweep, or a retry's takeover): a SENT answer ends its queueing; a FAILED one
// leaves it queued, without a FAILED history entry, since the queue retries it.
func TestRecordSendOutcomeBatch_LateAnswerOfAQueuedSend(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	sent, failed := msgOutbound("live", "sent late"), msgOutbound("live", "failed late")
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{sent, failed}); err != nil {
		t.Fatal(err)
	}
	msgExec(t, db, `UPDATE messages SET status = 'QUEUED', next_attempt_at = now() + interval '1 hour' WHERE id = ANY($1::uuid[])`,
		[]string{sent.ID, failed.ID})
	now := time.Now().UTC()
	waID, reason := "3EB0LATE", "worker unreachable"
	if _, err := store.RecordSendOutcomeBatch(ctx, db, []store.SendOutcome{
		{ID: sent.ID, Status: model.MessageSent, WAMessageID: &waID, At: now},
		{ID: failed.ID, Status: model.MessageFailed, Error: &reason, At: now},
	}); err != nil {
		t.Fatal(err)
	}
	var status string
	var queued bool
	for _, tc := range []struct {
		id, status string
		queued     bool
	}{{sent.ID, "SENT", false}, {failed.ID, "QUEUED", true}} {
		if err := db.QueryRow(ctx, `SELECT status::text, next_attempt_at IS NOT NULL FROM messages WHERE id = $1`, tc.id).
			Scan(&status, &queued); err != nil {
			t.Fatal(err)
		}
		if status != tc.status || queued != tc.queued {
			t.Errorf("%s: %s, queued %v; want %s, queued %v", tc.id, status, queued, tc.status, tc.queued)
		}
	}
	if history := msgHistoryOf(t, db, failed.ID); slices.Contains(history, model.MessageFailed) {
		t.Errorf("history of the send still queued: %v, want no FAILED", history)
	}
}

// An answer written twice (a late write retried after its first commit landed, its
// acknowledgement lost) leaves the message and its history as once.
func TestRecordSendOutcomeBatch_WrittenTwice_OneHistoryEntry(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	failed := msgOutbound("live", "failed twice")
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{failed}); err != nil {
		t.Fatal(err)
	}
	reason := "worker answered 500"
	outcome := []store.SendOutcome{{ID: failed.ID, Status: model.MessageFailed, Error: &reason, At: time.Now().UTC()}}
	for range 2 {
		if _, err := store.RecordSendOutcomeBatch(ctx, db, outcome); err != nil {
			t.Fatal(err)
		}
	}
	if history := msgHistoryOf(t, db, failed.ID); !slices.Equal(history, []model.MessageStatus{model.MessagePending, model.MessageFailed}) {
		t.Errorf("history: %v, want PENDING then one FAILED", history)
	}
}

// The same answer written twice at the same time (a late write while the first is still
// running): the second waits for the first's row lock, and its own check of the history ran
// on a snapshot without the first's entry. Still one FAILED entry (migration 00010).
func TestRecordSendOutcomeBatch_WrittenTwiceAtOnce_OneHistoryEntry(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	failed := msgOutbound("live", "failed twice at once")
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{failed}); err != nil {
		t.Fatal(err)
	}
	reason := "worker answered 500"
	outcome := []store.SendOutcome{{ID: failed.ID, Status: model.MessageFailed, Error: &reason, At: time.Now().UTC()}}
	first, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(ctx) //nolint:errcheck // a no-op after commit
	if _, err := store.RecordSendOutcomeBatch(ctx, first, outcome); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		_, err := store.RecordSendOutcomeBatch(ctx, db, outcome)
		second <- err
	}()
	msgWaitForLockWaiters(t, db, 1)
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if history := msgHistoryOf(t, db, failed.ID); !slices.Equal(history, []model.MessageStatus{model.MessagePending, model.MessageFailed}) {
		t.Errorf("history: %v, want PENDING then one FAILED", history)
	}
}

// Migration 00010 merges FAILED entries doubled before it (the oldest kept; other entries and
// FAILED ones at other times untouched), then refuses a double.
func TestMigration00010_MergesDoubledFailedEntriesThenRefusesThem(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	m := dbTestMigrator(t, db)
	if err := m.Down(ctx); err != nil { // to 00009
		t.Fatal(err)
	}
	failed := msgOutbound("live", "failed, recorded twice before")
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{failed}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	for _, detail := range []string{"first", "doubled", "tripled"} {
		msgExec(t, db, `INSERT INTO message_events (message_id, status, at, detail) VALUES ($1, 'FAILED', $2, $3)`, failed.ID, at, detail)
	}
	msgExec(t, db, `INSERT INTO message_events (message_id, status, at, detail) VALUES ($1, 'FAILED', $2, 'later')`, failed.ID, at.Add(time.Second))
	msgExec(t, db, `INSERT INTO message_events (message_id, status, at) VALUES ($1, 'DELIVERED', $2)`, failed.ID, at)
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}

	rows, err := db.Query(ctx, `SELECT status::text || ' ' || coalesce(detail, '') FROM message_events WHERE message_id = $1 ORDER BY at, id`, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"FAILED first", "DELIVERED ", "FAILED later"}; !slices.Equal(got, want) {
		t.Errorf("entries after the migration: %q, want %q", got, want)
	}
	_, err = db.Exec(ctx, `INSERT INTO message_events (message_id, status, at) VALUES ($1, 'FAILED', $2)`, failed.ID, at)
	if !strings.Contains(fmt.Sprint(err), "SQLSTATE 23505") {
		t.Errorf("a doubled FAILED entry: %v, want a unique violation", err)
	}
}

// The webhook deliveries of SENT answers are stored with them, for the message's session's
// active webhook when it subscribes to the event; an answer written again (a late write)
// stores none again.
func TestRecordSendOutcomeBatch_StoresTheAnswersWebhookDeliveriesOnce(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status)
		SELECT id, (SELECT user_id FROM sessions WHERE id = 'live'), id, 'CONNECTED' FROM unnest('{other,off}'::text[]) AS id`)
	msgExec(t, db, `INSERT INTO webhooks (session_id, url, events, secret, is_active) VALUES
		('live', 'https://example.com/live', '{message.status}', 'whsec_a', true),
		('other', 'https://example.com/other', '{message.received}', 'whsec_b', true),
		('off', 'https://example.com/off', '{*}', 'whsec_c', false)`)
	first, second, quiet := msgOutbound("live", "first"), msgOutbound("live", "second"), msgOutbound("live", "quiet")
	other, off := msgOutbound("other", "other"), msgOutbound("off", "off")
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{first, second, quiet, other, off}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	outcome := func(m store.OutboundMessage, waID string, hook bool) store.SendOutcome {
		o := store.SendOutcome{ID: m.ID, Status: model.MessageSent, WAMessageID: &waID, At: now}
		if hook {
			o.Webhook = &store.NewWebhookDelivery{SessionID: "ignored", Event: "message.status",
				Payload: []byte(`{"event":"message.status","data":{"id":"` + m.ID + `"}}`)}
		}
		return o
	}
	batch := []store.SendOutcome{outcome(second, "WA-2", true), outcome(first, "WA-1", true), outcome(quiet, "WA-3", false),
		outcome(other, "WA-4", true), outcome(off, "WA-5", true)}
	for i, want := range []int64{2, 0} {
		got, err := store.RecordSendOutcomeBatch(ctx, db, batch)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("write %d stored %d deliveries, want %d", i+1, got, want)
		}
	}
	rows, err := db.Query(ctx, `SELECT w.url || ' ' || (d.payload->'data'->>'id') || ' ' || d.event || ' ' || d.status
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"https://example.com/live " + first.ID + " message.status PENDING", "https://example.com/live " + second.ID + " message.status PENDING"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("deliveries %q, want %q", got, want)
	}
}

// WriteSends writes records and answers in one transaction: both land, or (a taken new ID
// fails the records' statement) neither does.
func TestWriteSends_RecordsAndAnswersCommitTogetherOrNotAtAll(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	answered, pending := msgOutbound("live", "answered"), msgOutbound("live", "still pending")
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{answered, pending}); err != nil {
		t.Fatal(err)
	}
	sent := func(m store.OutboundMessage, waID string) store.SendOutcome {
		return store.SendOutcome{ID: m.ID, Status: model.MessageSent, WAMessageID: &waID, At: time.Now()}
	}
	statusOf := func(id string) model.MessageStatus {
		t.Helper()
		m, err := store.GetSessionMessage(ctx, db, "live", id)
		if err != nil {
			t.Fatal(err)
		}
		return m.Status
	}

	fresh, idle := msgOutbound("live", "fresh"), msgOutbound("idle", "to an idle session")
	fresh.NewID = true
	w, err := store.WriteSends(ctx, db, []store.OutboundMessage{fresh, idle}, []store.SendOutcome{sent(answered, "wa-answered")})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Recorded) != 2 || w.Recorded[0].Err != nil || w.Recorded[0].SessionStatus != model.SessionConnected ||
		w.Recorded[1].Err != nil || w.Recorded[1].SessionStatus != model.SessionQRRequired {
		t.Fatalf("recorded %+v, want both, with their sessions' status", w.Recorded)
	}
	if got := statusOf(fresh.ID); got != model.MessagePending {
		t.Errorf("the new send is %s, want PENDING", got)
	}
	if got := statusOf(answered.ID); got != model.MessageSent {
		t.Errorf("the answered send is %s, want SENT", got)
	}

	// fresh again as a new ID: its statement fails, and the answer written with it is not
	// written either.
	if _, err := store.WriteSends(ctx, db, []store.OutboundMessage{fresh}, []store.SendOutcome{sent(pending, "wa-pending")}); err == nil {
		t.Fatal("a taken new ID was written")
	}
	if got := statusOf(pending.ID); got != model.MessagePending {
		t.Errorf("the answer of a failed transaction was written: %s, want PENDING", got)
	}
	if w, err := store.WriteSends(ctx, db, nil, nil); err != nil || w.Recorded != nil {
		t.Errorf("nothing to write: %+v, %v", w, err)
	}
}
