-- The dispatcher finds the head of each session's queue with one index probe, and the sessions
-- that have a queue by skipping through the same index (a loose index scan), so that a round
-- costs the same whatever the backlog. The index follows the dispatch order: scheduled time (or
-- creation), then creation, then ID. It replaces the two partial indexes the dispatcher used to
-- aggregate over every queued message each round.

-- +goose Up
CREATE INDEX messages_queue_head_idx ON messages (session_id, (coalesce(scheduled_at, created_at)), created_at, id)
    INCLUDE (next_attempt_at) WHERE status = 'QUEUED';
DROP INDEX IF EXISTS messages_queued_session_id_created_at_idx;
DROP INDEX IF EXISTS messages_queued_next_attempt_at_idx;

-- +goose Down
CREATE INDEX IF NOT EXISTS messages_queued_session_id_created_at_idx ON messages (session_id, created_at) WHERE status = 'QUEUED';
CREATE INDEX IF NOT EXISTS messages_queued_next_attempt_at_idx ON messages (next_attempt_at) WHERE status = 'QUEUED';
DROP INDEX IF EXISTS messages_queue_head_idx;
