-- The index set of both backends made the same: PostgreSQL had these three from V1,
-- SQLite did not.
CREATE INDEX IF NOT EXISTS cases_updated ON cases(updated_at);
CREATE INDEX IF NOT EXISTS participants_institution ON participants(institution);
CREATE INDEX IF NOT EXISTS outbox_message ON outbox(message_id);
