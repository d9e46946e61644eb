-- A SED's outbox row and the document version it carries hold the same signed
-- envelope: with body_version set, the body is that version's envelope (document_id,
-- body_version) and has no outbox_bodies row, so it is written once, not twice.
ALTER TABLE outbox ADD COLUMN body_version INTEGER;
