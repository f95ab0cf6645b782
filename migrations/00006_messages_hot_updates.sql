-- A send is written twice: recorded before it is forwarded, then updated with the worker's
-- answer (status, WhatsApp ID, sent_at). That update could never be a HOT update (a new
-- version of the row on the same page, with no new index entries): it changed status, which the
-- queue index's predicate reads, and wa_message_id, which a unique index covered. So every
-- answer wrote a new entry into every index of the table. This migration moves both out of the
-- indexes, leaves room on each page for the new versions, and stops writing history rows that
-- the message row already says:
--
-- * The queue is the messages with next_attempt_at set. It is set while a message is QUEUED
--   and only then (a CHECK says so), so leaving the queue (sent, failed for good, cancelled)
--   clears it, and a synchronous send never has one.
-- * async says a message was accepted by an async send (202) and delivered by the dispatcher:
--   its history starts QUEUED, not PENDING.
-- * WhatsApp's IDs are looked up in message_wa_ids, one row per (session, WhatsApp ID), written
--   with the answer (an insert costs one index entry, where the old update wrote four) (receipts, and inbound messages stored once per WhatsApp ID, find their
--   message through it). messages.wa_message_id stays, for reading, without an index.
-- * The history (message_events) no longer stores the first entry (PENDING or QUEUED at
--   created_at) nor SENT (at sent_at): they are read off the message. Existing such entries are
--   deleted, so that none shows twice.
-- * created_at is indexed with BRIN, like webhook_deliveries: rows arrive in time order, and a
--   BRIN index costs an insert next to nothing.

-- +goose Up
ALTER TABLE messages ADD COLUMN async boolean NOT NULL DEFAULT false;
UPDATE messages SET async = true, next_attempt_at = CASE WHEN status = 'QUEUED' THEN next_attempt_at END
    WHERE next_attempt_at IS NOT NULL;
UPDATE messages SET async = true, next_attempt_at = coalesce(scheduled_at, created_at)
    WHERE status = 'QUEUED' AND next_attempt_at IS NULL;
ALTER TABLE messages ADD CONSTRAINT messages_queued_next_attempt_at_check
    CHECK ((status = 'QUEUED') = (next_attempt_at IS NOT NULL));

CREATE INDEX messages_queue_idx ON messages (session_id, (coalesce(scheduled_at, created_at)), created_at, id)
    INCLUDE (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
DROP INDEX IF EXISTS messages_queue_head_idx;

-- No foreign key to messages: its check would cost every answer a probe and a row lock of the
-- message. Deleting a message deletes its WhatsApp ID in the same statement (retention), and a
-- session's go with it.
CREATE TABLE message_wa_ids (
    session_id    text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    wa_message_id text NOT NULL,
    message_id    uuid NOT NULL,
    PRIMARY KEY (session_id, wa_message_id)
);
INSERT INTO message_wa_ids (session_id, wa_message_id, message_id)
    SELECT session_id, wa_message_id, id FROM messages WHERE wa_message_id IS NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_session_id_wa_message_id_key;

DELETE FROM message_events e USING messages m
    WHERE e.message_id = m.id AND m.direction = 'OUTBOUND'
      AND ((e.status IN ('PENDING', 'QUEUED') AND e.at = m.created_at) OR (e.status = 'SENT' AND e.at = m.sent_at));

CREATE INDEX messages_created_at_brin_idx ON messages USING brin (created_at);
DROP INDEX IF EXISTS messages_created_at_idx;

-- Room on each page for the answer's new version of a row (applies to pages written from now on).
ALTER TABLE messages SET (fillfactor = 80);

-- +goose Down
ALTER TABLE messages RESET (fillfactor);
CREATE INDEX IF NOT EXISTS messages_created_at_idx ON messages (created_at);
DROP INDEX IF EXISTS messages_created_at_brin_idx;

INSERT INTO message_events (message_id, status, at)
    SELECT id, CASE WHEN async THEN 'QUEUED'::message_status ELSE 'PENDING'::message_status END, created_at
    FROM messages WHERE direction = 'OUTBOUND';
INSERT INTO message_events (message_id, status, at)
    SELECT id, 'SENT', sent_at FROM messages WHERE direction = 'OUTBOUND' AND sent_at IS NOT NULL;

ALTER TABLE messages ADD CONSTRAINT messages_session_id_wa_message_id_key UNIQUE (session_id, wa_message_id);
DROP TABLE IF EXISTS message_wa_ids;

CREATE INDEX IF NOT EXISTS messages_queue_head_idx ON messages (session_id, (coalesce(scheduled_at, created_at)), created_at, id)
    INCLUDE (next_attempt_at) WHERE status = 'QUEUED';
DROP INDEX IF EXISTS messages_queue_idx;
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_queued_next_attempt_at_check;
ALTER TABLE messages DROP COLUMN IF EXISTS async;
