CREATE TABLE parked (
  message_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, parked_at_ms BIGINT NOT NULL,
  expires_at_ms BIGINT NOT NULL, properties TEXT NOT NULL, body BYTEA NOT NULL,
  seq BIGINT GENERATED ALWAYS AS IDENTITY);
CREATE INDEX parked_case ON parked(case_id, parked_at_ms, seq);
CREATE INDEX parked_expiry ON parked(expires_at_ms);
CREATE TABLE dead_letters (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, message_id TEXT, queue TEXT NOT NULL,
  properties TEXT NOT NULL, body BYTEA NOT NULL, dead_at TEXT NOT NULL, reinjected_at TEXT);
CREATE TABLE audit (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TEXT NOT NULL, subject TEXT NOT NULL,
  institution TEXT, action TEXT NOT NULL, target TEXT NOT NULL, remote TEXT);
CREATE INDEX audit_institution ON audit(institution, seq);
-- The audit log is append-only: the database itself refuses updates and deletes.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
