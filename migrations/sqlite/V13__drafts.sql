-- Drafts of the SEDs case handlers write on the case page (issue 12, item 4): the
-- form's values as JSON (field path -> value, `sed::form`), kept until the SED is
-- sent or the draft discarded. One per case, sender, SED, receiver and chased
-- document ('' for none); `token` names this draft's submission (its idempotency
-- key), so sending the same draft twice sends one SED. Personal data: never logged.
CREATE TABLE drafts (
  case_id TEXT NOT NULL REFERENCES cases(case_id),
  sender TEXT NOT NULL, sed TEXT NOT NULL, receiver TEXT NOT NULL, related TEXT NOT NULL,
  token TEXT NOT NULL, field_values TEXT NOT NULL,
  updated_at TEXT NOT NULL, updated_by TEXT NOT NULL,
  PRIMARY KEY (case_id, sender, sed, receiver, related));
