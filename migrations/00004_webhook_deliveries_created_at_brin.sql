-- Retention of the webhook delivery log: finished deliveries older than
-- WEBHOOK_DELIVERY_RETENTION_DAYS are deleted hourly, a batch at a time. Deliveries are stored in
-- time order, so a BRIN index on created_at finds the old ones for a few pages of index, and
-- costs the hot insert path next to nothing.

-- +goose Up
CREATE INDEX webhook_deliveries_created_at_brin_idx ON webhook_deliveries USING brin (created_at);

-- +goose Down
DROP INDEX IF EXISTS webhook_deliveries_created_at_brin_idx;
