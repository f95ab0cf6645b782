-- A send's answer rewrites its row (status, WhatsApp ID, sent_at): a HOT update, with no new
-- index entries, only when the new version fits on the row's own page. At fillfactor 80 a
-- page filled by inserts had room for about a quarter of its rows' new versions (rows of
-- ~360 bytes): on the sync-send benchmark 53 % of the answers were HOT, the others wrote a
-- new entry into each of the table's indexes and moved the row to another page. At 50 %
-- every answer was HOT (31,315 of 31,315), for a heap about twice the size of a packed one.
-- Applies to pages written from now on.

-- +goose Up
ALTER TABLE messages SET (fillfactor = 50);

-- +goose Down
ALTER TABLE messages SET (fillfactor = 80);
