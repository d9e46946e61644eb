-- Idempotency-Key (IETF httpapi draft): per caller, a key names one submission. The
-- row commits in the submission's own transaction, so a retry after a lost answer
-- finds it and gets the same ids; a key reused with another request is refused.
CREATE TABLE idempotency (
  scope TEXT NOT NULL, idem_key TEXT NOT NULL, request_sha256 TEXT NOT NULL,
  case_id TEXT NOT NULL, document_id TEXT NOT NULL, document_version INTEGER NOT NULL,
  message_id TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (scope, idem_key));
CREATE INDEX idempotency_created ON idempotency(created_at);
