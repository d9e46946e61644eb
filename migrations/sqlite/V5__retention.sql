ALTER TABLE outbox ADD COLUMN body_pruned_at TEXT;
CREATE INDEX outbox_unpruned ON outbox(updated_at) WHERE body_pruned_at IS NULL;
CREATE INDEX inbox_received ON inbox(received_at);
CREATE INDEX history_at ON history(at);
