ALTER TABLE parked ADD COLUMN sender_country TEXT NOT NULL DEFAULT '';
ALTER TABLE parked ADD COLUMN waits_document TEXT;
ALTER TABLE parked ADD COLUMN waits_version INTEGER;
CREATE INDEX parked_sender ON parked(sender_country);
