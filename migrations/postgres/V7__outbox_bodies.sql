-- Outbox bodies move to a table of their own: a status change (claim, publish,
-- receipt) writes a new row version, and with the body inline SQLite rewrote the
-- signed envelope on every change; both backends keep the same schema.
-- body_bytes keeps the size, so a claim bounds its bytes without reading bodies.
-- Not a rolling upgrade: a build from before V7 fails loudly on this schema (its
-- insert names outbox.body); stop every older instance before starting this one.
CREATE TABLE outbox_bodies (id BIGINT PRIMARY KEY REFERENCES outbox(id), body BYTEA NOT NULL);
ALTER TABLE outbox ADD COLUMN body_bytes BIGINT NOT NULL DEFAULT 0;
INSERT INTO outbox_bodies (id, body) SELECT id, body FROM outbox WHERE body_pruned_at IS NULL;
UPDATE outbox SET body_bytes = length(body);
ALTER TABLE outbox DROP COLUMN body;
