-- A message's failure is in its history once. An answer written again (a late write whose
-- first commit's acknowledgement was lost) must not add its FAILED entry a second time; the
-- statement's own check (NOT EXISTS) could not see an identical statement running at the
-- same time, and both added theirs. The unique index decides, and the writers of FAILED
-- entries do nothing on a conflict. Entries doubled before are merged first (the oldest kept).

-- +goose Up
DELETE FROM message_events a USING message_events b
WHERE a.status = 'FAILED' AND b.status = 'FAILED' AND a.message_id = b.message_id AND a.at = b.at AND a.id > b.id;
CREATE UNIQUE INDEX message_events_failed_once_idx ON message_events (message_id, at) WHERE status = 'FAILED';

-- +goose Down
DROP INDEX message_events_failed_once_idx;
