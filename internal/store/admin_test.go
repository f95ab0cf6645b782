package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// TestPruneOld_OldMessagesGoWithTheirWhatsAppIDs_QueuedAndRecentStay deletes what is past
// retention: an old answered message and its WhatsApp ID (a receipt for it then finds
// nothing), never a queued or recent one; a zero retention keeps everything.
func TestPruneOld_OldMessagesGoWithTheirWhatsAppIDs_QueuedAndRecentStay(t *testing.T) {
	t.Parallel()
	db := msgDB(t)
	ctx := context.Background()
	old, recent := msgOutbound("live", "old"), msgOutbound("live", "recent")
	queued := store.QueuedMessage{OutboundMessage: msgOutbound("live", "queued")}
	if _, err := store.RecordOutboundBatch(ctx, db, []store.OutboundMessage{old, recent}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.QueueBatch(ctx, db, []store.QueuedMessage{queued}, true); err != nil {
		t.Fatal(err)
	}
	waOld, waRecent := "3EB0OLD", "3EB0RECENT"
	if _, err := store.RecordSendOutcomeBatch(ctx, db, []store.SendOutcome{
		{ID: old.ID, Status: model.MessageSent, WAMessageID: &waOld, At: time.Now()},
		{ID: recent.ID, Status: model.MessageSent, WAMessageID: &waRecent, At: time.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	msgExec(t, db, `UPDATE messages SET created_at = now() - interval '40 days' WHERE id = ANY($1)`, []string{old.ID, queued.ID})

	if n, err := store.PruneOld(ctx, db, 0, 0, 0); err != nil || n != 0 {
		t.Fatalf("no retention set: pruned %d (%v), want nothing", n, err)
	}
	n, err := store.PruneOld(ctx, db, 0, 0, 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the old sent message only", n, err)
	}
	for id, want := range map[string]bool{old.ID: false, recent.ID: true, queued.ID: true} {
		var exists bool
		if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1)`, id).Scan(&exists); err != nil || exists != want {
			t.Errorf("message %s exists = %v (%v), want %v", id, exists, err, want)
		}
	}
	var ids []string
	if err := db.QueryRow(ctx, `SELECT array_agg(wa_message_id ORDER BY wa_message_id) FROM message_wa_ids`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != waRecent {
		t.Errorf("WhatsApp IDs left %v, want only %s", ids, waRecent)
	}
	if _, found, _, err := store.ApplyReceipt(ctx, db, store.ReceiptUpdate{SessionID: "live", WAMessageID: waOld,
		Status: model.MessageDelivered, At: time.Now()}); err != nil || found {
		t.Errorf("receipt for a pruned message: found %v (%v), want not found", found, err)
	}
	if _, found, _, err := store.ApplyReceipt(ctx, db, store.ReceiptUpdate{SessionID: "live", WAMessageID: waRecent,
		Status: model.MessageDelivered, At: time.Now()}); err != nil || !found {
		t.Errorf("receipt for a kept message: found %v (%v), want found", found, err)
	}
}
