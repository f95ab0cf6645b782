-- A message belongs to a session, and a WhatsApp ID (message_wa_ids) too. Foreign keys said so,
-- and checked it once per inserted row: a trigger that runs a query and locks the session's
-- row for every message of a batch. On the benchmark's async acceptance (26-row batches of 8
-- sessions) that check was a quarter of the insert statement's time (0.10 of 0.42 ms), and it
-- runs inside the one statement that every accepted send waits for.
--
-- The reference is kept by the statements that insert instead, the way the foreign key kept
-- it, with one lock per session rather than one per row:
--
-- * every statement that inserts messages or WhatsApp IDs for a session reads the session
--   FOR KEY SHARE (the lock a foreign-key check takes) and inserts only for a session it
--   found. A session deleted meanwhile is not found (its delete holds the row), and a delete
--   that comes later waits for the inserting transaction to end. An answer's WhatsApp ID is
--   written with the update of its message, whose row lock a delete of the session's messages
--   waits for in the same way.
-- * deleting a session deletes its messages, then its WhatsApp IDs (the cascade of the old
--   foreign keys), in a trigger whose statements each see what committed before them.
--
-- store's TestSessionDelete_RacingSendsLeavesNoOrphans deletes sessions while sends are being
-- recorded, queued and answered, and finds no message or WhatsApp ID of a missing session.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION sessions_delete_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messages WHERE session_id = OLD.id;
    DELETE FROM message_wa_ids WHERE session_id = OLD.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER sessions_delete_messages AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_delete_messages();
ALTER TABLE messages DROP CONSTRAINT messages_session_id_fkey;
ALTER TABLE message_wa_ids DROP CONSTRAINT message_wa_ids_session_id_fkey;

-- +goose Down
DELETE FROM messages m WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = m.session_id);
DELETE FROM message_wa_ids w WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = w.session_id);
ALTER TABLE messages ADD CONSTRAINT messages_session_id_fkey
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
ALTER TABLE message_wa_ids ADD CONSTRAINT message_wa_ids_session_id_fkey
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
DROP TRIGGER sessions_delete_messages ON sessions;
DROP FUNCTION sessions_delete_messages();
