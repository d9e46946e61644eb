-- Finding any case among a million (issue 12, item 2): what the case list filters
-- on, kept on the case's own rows in the transaction that changes them, and an
-- index for each filter and sort so that a page costs the same at any size.
--
-- The BUC's sector (its name before the first '_': LA, P, S, UB, FB, H, AW, R, M),
-- written with the case.
ALTER TABLE cases ADD COLUMN sector TEXT NOT NULL DEFAULT '';
UPDATE cases SET sector = split_part(buc, '_', 1) WHERE position('_' IN buc) > 1;
-- The earliest due date (RFC 3339) of a reply the case still awaits, from the BUC
-- definition's reply deadlines; NULL when none (and on closure).
ALTER TABLE cases ADD COLUMN reply_due TEXT;
-- A participant's country, for the counterpart country filter.
ALTER TABLE participants ADD COLUMN country TEXT NOT NULL DEFAULT '';
UPDATE participants SET country = substr(institution, 1, 2);
-- The persons the case's SEDs name (PersonIdentification blocks), normalised for
-- search: names lower-case without accents, the birth date as written
-- (YYYY-MM-DD), each PIN without separators and upper-case with its country; ''
-- for what a block does not give. Personal data: never logged. Names are compared
-- bytewise (COLLATE "C"), so that a prefix is an index range whatever the
-- database's collation.
CREATE TABLE case_persons (
  case_id TEXT NOT NULL REFERENCES cases(case_id),
  family TEXT COLLATE "C" NOT NULL, forename TEXT COLLATE "C" NOT NULL, birth_date TEXT NOT NULL,
  pin_country TEXT NOT NULL, pin TEXT NOT NULL,
  PRIMARY KEY (case_id, family, forename, birth_date, pin_country, pin));
CREATE INDEX case_persons_family ON case_persons (family);
CREATE INDEX case_persons_forename ON case_persons (forename);
CREATE INDEX case_persons_birth ON case_persons (birth_date);
CREATE INDEX case_persons_pin ON case_persons (pin);
-- Keyset pagination: every sort key with the case id that breaks its ties.
DROP INDEX IF EXISTS cases_updated;
CREATE INDEX cases_updated_id ON cases (updated_at, case_id);
CREATE INDEX cases_created_id ON cases (created_at, case_id);
CREATE INDEX cases_status_updated ON cases (status, updated_at, case_id);
CREATE INDEX cases_buc_updated ON cases (buc, updated_at, case_id);
CREATE INDEX cases_sector_updated ON cases (sector, updated_at, case_id);
CREATE INDEX cases_state_updated ON cases (state, updated_at, case_id);
CREATE INDEX cases_reply_due ON cases (reply_due, case_id);
CREATE INDEX participants_country ON participants (country, case_id);
CREATE INDEX outbox_status_case ON outbox (status, case_id);
