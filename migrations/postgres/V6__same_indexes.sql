-- The index set of both backends made the same: PostgreSQL has had these three
-- since V1 (nothing to do here), SQLite gets them in its V6.
CREATE INDEX IF NOT EXISTS cases_updated ON cases(updated_at);
CREATE INDEX IF NOT EXISTS participants_institution ON participants(institution);
CREATE INDEX IF NOT EXISTS outbox_message ON outbox(message_id);
