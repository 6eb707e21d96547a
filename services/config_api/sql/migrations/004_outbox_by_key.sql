-- A save publishes its workflow's pending outbox rows itself, right after its commit (read your
-- writes): it finds them by key, in order.
CREATE INDEX IF NOT EXISTS outbox_key_id ON outbox (key, id);
