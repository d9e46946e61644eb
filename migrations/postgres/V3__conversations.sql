CREATE TABLE conversations (
  case_id TEXT NOT NULL REFERENCES cases(case_id), counterparty TEXT NOT NULL, state TEXT NOT NULL,
  previous_state TEXT, seq BIGINT GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (case_id, counterparty));
