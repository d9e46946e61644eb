CREATE TABLE parked (
  message_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, parked_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL, properties TEXT NOT NULL, body BLOB NOT NULL);
CREATE INDEX parked_case ON parked(case_id, parked_at_ms);
CREATE INDEX parked_expiry ON parked(expires_at_ms);
CREATE TABLE dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT, queue TEXT NOT NULL, properties TEXT NOT NULL,
  body BLOB NOT NULL, dead_at TEXT NOT NULL, reinjected_at TEXT);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, subject TEXT NOT NULL, institution TEXT,
  action TEXT NOT NULL, target TEXT NOT NULL, remote TEXT);
CREATE INDEX audit_institution ON audit(institution, seq);
-- The audit log is append-only: updates and deletes are refused by the database itself.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
