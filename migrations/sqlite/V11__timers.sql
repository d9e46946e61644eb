-- Durable timers (issue 12, item 5): what a deadline of a case will do and when.
-- One row per case, what (remind, offer, close, close_local), subject (the awaited
-- document's id for remind and offer; '' for a closure) and due time. Written in the
-- transaction that changes the case (switch::record recomputes a case's pending
-- timers from its deadlines), claimed by the timer task with a compare-and-set
-- (pending -> firing, guarded by the status and due_ms <= now; a firing row whose
-- lease ended is claimed again), settled fired | failed (with the outcome), or
-- cancelled when the deadline goes away.
CREATE TABLE timers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  case_id TEXT NOT NULL, what TEXT NOT NULL, subject TEXT NOT NULL,
  due_ms INTEGER NOT NULL, status TEXT NOT NULL, outcome TEXT,
  lease_until_ms INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE UNIQUE INDEX timers_key ON timers (case_id, what, subject, due_ms);
CREATE INDEX timers_due ON timers (status, due_ms);
