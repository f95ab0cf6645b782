package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// orphans counts the messages and WhatsApp IDs whose session does not exist.
func orphans(t *testing.T, db *pgxpool.Pool) (messages, waIDs int) {
	t.Helper()
	err := db.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = m.session_id)),
		       (SELECT count(*) FROM message_wa_ids w WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = w.session_id))`,
	).Scan(&messages, &waIDs)
	if err != nil {
		t.Fatal(err)
	}
	return messages, waIDs
}

func TestSessionDelete_CascadesToMessagesAndWhatsAppIDs(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	sent := msgOutbound("live", "a")
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{sent, msgOutbound("idle", "b")}); err != nil {
		t.Fatal(err)
	}
	waID := "3EB0CASCADE"
	if _, err := store.RecordSendOutcomeBatch(ctx, db, []store.SendOutcome{{ID: sent.ID, Status: model.MessageSent,
		WAMessageID: &waID, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.RecordInbound(ctx, db, store.InboundMessage{SessionID: "live", WAMessageID: "3EB0INBOUND",
		From: "6281@s.whatsapp.net", Type: model.MessageText, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	msgExec(t, db, `DELETE FROM sessions WHERE id = 'live'`)
	var messages, waIDs int
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages WHERE session_id = 'live'),
		(SELECT count(*) FROM message_wa_ids WHERE session_id = 'live')`).Scan(&messages, &waIDs); err != nil {
		t.Fatal(err)
	}
	if messages != 0 || waIDs != 0 {
		t.Errorf("after the session's delete: %d messages, %d WhatsApp IDs of it remain", messages, waIDs)
	}
	if page, err := store.ListMessages(ctx, db, store.MessageFilter{SessionID: "idle", Limit: 10}); err != nil || len(page) != 1 {
		t.Errorf("the other session's messages: %d, %v; want its one message kept", len(page), err)
	}
}

// Sessions are deleted while their sends are being recorded, queued, answered and received,
// each writer going on until it is told its session is gone: no message or WhatsApp ID may be
// left behind for a missing session, whichever committed first.
func TestSessionDelete_RacingSendsLeavesNoOrphans(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx := context.Background()
	u := acctCreateUser(t, db, "Racer", "racer@example.com")
	const sessions = 4
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("race-%d", i)
		msgExec(t, db, `INSERT INTO sessions (id, user_id, name, status) VALUES ($1, $2, 'R', 'CONNECTED')`, ids[i], u.ID)
	}

	// A writer writes one row (and says so) or finds its session gone.
	writers := map[string]func(sessionID string, n int) (bool, error){
		"record and answer": func(sessionID string, n int) (bool, error) {
			send := msgOutbound(sessionID, "sync")
			out, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{send})
			if err != nil {
				return false, err
			}
			if errors.Is(out[0].Err, model.ErrNotFound) {
				return false, nil
			}
			waID := fmt.Sprintf("3EB0S%d", n)
			_, err = store.RecordSendOutcomeBatch(ctx, db, []store.SendOutcome{{ID: send.ID, Status: model.MessageSent,
				WAMessageID: &waID, At: time.Now()}})
			return true, err
		},
		"queue": func(sessionID string, _ int) (bool, error) {
			row := store.QueuedMessage{OutboundMessage: msgOutbound(sessionID, "async")}
			row.NewID = true
			out, err := store.QueueBatch(ctx, db, []store.QueuedMessage{row}, false)
			if err != nil {
				return false, err
			}
			if errors.Is(out[0].Err, model.ErrNotFound) {
				return false, nil
			}
			return true, out[0].Err
		},
		"receive": func(sessionID string, n int) (bool, error) {
			_, _, err := store.RecordInbound(ctx, db, store.InboundMessage{SessionID: sessionID,
				WAMessageID: fmt.Sprintf("3EB0I%d-%s", n, uuid.NewString()[:8]), From: "6281@s.whatsapp.net",
				Type: model.MessageText, At: time.Now()})
			if errors.Is(err, model.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		},
	}

	var wg sync.WaitGroup
	errs := make(chan error, sessions*(len(writers)+1))
	for _, sessionID := range ids {
		started := make(chan struct{}, len(writers))
		for name, write := range writers {
			wg.Go(func() {
				var once sync.Once
				ready := func() { once.Do(func() { started <- struct{}{} }) }
				defer ready() // however it ends, the delete is not kept waiting
				for n := 0; ; n++ {
					wrote, err := write(sessionID, n)
					if err != nil {
						errs <- fmt.Errorf("%s on %s: %w", name, sessionID, err)
						return
					}
					if !wrote {
						return // the session is gone
					}
					if n == 10 {
						ready()
					}
				}
			})
		}
		// The session is deleted once every writer is well under way, and while they go on.
		wg.Go(func() {
			for range writers {
				<-started
			}
			if _, err := db.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, sessionID); err != nil {
				errs <- fmt.Errorf("delete %s: %w", sessionID, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if messages, waIDs := orphans(t, db); messages != 0 || waIDs != 0 {
		t.Errorf("%d messages and %d WhatsApp IDs left of deleted sessions", messages, waIDs)
	}
}
