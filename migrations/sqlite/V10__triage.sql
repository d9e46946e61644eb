-- The triage queue: a received SED that no routing rule placed (or that a rule sends
-- to an operator) is accepted and kept here, in the transaction that applies it to
-- its case, until an operator names the institution; then it is enqueued to that
-- institution's national queue and marked delivered (compare-and-set from waiting).
-- Its body is the document version's envelope, stored once in document_versions.
CREATE TABLE triage (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  case_id TEXT NOT NULL, document_id TEXT NOT NULL, document_version INTEGER NOT NULL,
  buc TEXT NOT NULL, sed TEXT NOT NULL, sender TEXT NOT NULL, addressed TEXT NOT NULL,
  message_id TEXT NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL,
  created_at TEXT NOT NULL, assigned_to TEXT, assigned_by TEXT, settled_at TEXT);
CREATE UNIQUE INDEX triage_document ON triage (document_id, document_version);
CREATE INDEX triage_status ON triage (status, id);
