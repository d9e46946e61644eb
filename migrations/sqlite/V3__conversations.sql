CREATE TABLE conversations (
  case_id TEXT NOT NULL REFERENCES cases(case_id), counterparty TEXT NOT NULL, state TEXT NOT NULL,
  previous_state TEXT, PRIMARY KEY (case_id, counterparty));
