-- A claim of an Idempotency-Key that never got its answer (its gateway was killed, or lost
-- PostgreSQL, mid-request) is taken over by a retry once claimed_at is older than any request
-- can run. The retry answers from the message the first attempt recorded, whose ID derives
-- from the key, or sends it if there is none; taking over sets claimed_at again. There is no
-- default on purpose: claims made by a gateway from before this migration (during a rolling
-- upgrade too) recorded their message under a random ID, so a retry could not find it; they
-- stay NULL and are never taken over, until they are pruned after 24 h.

-- +goose Up
ALTER TABLE idempotency_keys ADD COLUMN claimed_at timestamptz;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS claimed_at;
