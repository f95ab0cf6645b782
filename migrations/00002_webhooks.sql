-- Customer webhook delivery: a lease on each claimed delivery, so that several replicas can
-- deliver from webhook_deliveries without ever sending one attempt twice.
--
-- A delivery worker claims due rows with FOR UPDATE SKIP LOCKED and, in the same statement,
-- sets a fresh lease_token and pushes next_retry past the attempt (the lease): the row is not
-- due again until the lease runs out, so a replica that dies mid-attempt only delays it. The
-- outcome is recorded only by the holder of the current lease_token, so a worker whose lease
-- ran out cannot overwrite the outcome of the replica that took over.

-- +goose Up
ALTER TABLE webhook_deliveries ADD COLUMN lease_token uuid;

-- +goose Down
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS lease_token;
