CREATE TABLE cases (
  case_id TEXT PRIMARY KEY, buc TEXT NOT NULL, sed_version TEXT NOT NULL, state TEXT NOT NULL,
  status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, previous_state TEXT);
CREATE TABLE participants (
  case_id TEXT NOT NULL REFERENCES cases(case_id), institution TEXT NOT NULL, role TEXT NOT NULL,
  PRIMARY KEY (case_id, institution));
CREATE TABLE documents (
  document_id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(case_id), sed TEXT NOT NULL,
  sender TEXT NOT NULL, receiver TEXT NOT NULL, direction TEXT NOT NULL, status TEXT NOT NULL,
  latest_version INTEGER NOT NULL, related TEXT, created_at TEXT NOT NULL);
CREATE INDEX documents_case ON documents(case_id);
CREATE TABLE document_versions (
  document_id TEXT NOT NULL REFERENCES documents(document_id), version INTEGER NOT NULL,
  message_id TEXT NOT NULL, content_sha256 TEXT NOT NULL, envelope BLOB NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY (document_id, version));
CREATE TABLE history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL, at TEXT NOT NULL, event TEXT NOT NULL,
  detail TEXT NOT NULL, from_state TEXT, to_state TEXT, message_id TEXT, document_id TEXT);
CREATE INDEX history_case ON history(case_id, seq);
CREATE TABLE inbox (
  message_id TEXT PRIMARY KEY, body_sha256 TEXT NOT NULL, received_at TEXT NOT NULL, case_id TEXT,
  answer_kind TEXT NOT NULL, answer_message_id TEXT NOT NULL, answer_routing_key TEXT NOT NULL,
  answer_headers TEXT NOT NULL, answer_timestamp INTEGER NOT NULL, answer_body BLOB NOT NULL, error_code TEXT);
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, kind TEXT NOT NULL, exchange TEXT NOT NULL,
  routing_key TEXT NOT NULL, headers TEXT NOT NULL, timestamp INTEGER NOT NULL, body BLOB NOT NULL,
  status TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, first_attempt_ms INTEGER,
  last_error TEXT, case_id TEXT, document_id TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX outbox_due ON outbox(status, next_attempt_ms);
CREATE INDEX outbox_case ON outbox(case_id);
CREATE UNIQUE INDEX outbox_sed_message ON outbox(message_id) WHERE kind = 'sed';
