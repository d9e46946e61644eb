-- Times are RFC 3339 text in one format: compared byte-wise (COLLATE "C"), whatever
-- the database's collation, they sort as time.
ALTER TABLE outbox ADD COLUMN body_pruned_at TEXT;
CREATE INDEX outbox_unpruned ON outbox (updated_at COLLATE "C") WHERE body_pruned_at IS NULL;
CREATE INDEX inbox_received ON inbox (received_at COLLATE "C");
CREATE INDEX history_at ON history (at COLLATE "C");
