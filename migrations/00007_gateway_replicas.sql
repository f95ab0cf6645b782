-- An Idempotency-Key claim whose request died with its gateway used to wait 2 minutes (longer
-- than any request runs) before a retry could take it over, so that a live request is never
-- taken over. A claim now names its replica, and every replica says it is alive every 2 s
-- in gateway_replicas: a claim whose replica has not been seen for 8 s is taken over at
-- once. claimed_by has no foreign key: a replica's row goes when it stops, and its claims
-- must then be taken over, not deleted.

-- +goose Up
CREATE TABLE gateway_replicas (
    id         uuid        PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE idempotency_keys ADD COLUMN claimed_by uuid;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS claimed_by;
DROP TABLE IF EXISTS gateway_replicas;
