//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed transition survives a crash of the process or the machine. One
//! connection writes (transactions are `BEGIN IMMEDIATE`, serialised by a mutex);
//! another serves reads for the API and CLI without waiting for writers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::*;
use crate::ids::{BucType, CaseId, DocumentId, InstitutionId, Role, SedType, SedVersion};

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// Classify SQLite's errors: a constraint is a conflict, a busy or locked database
/// is transient, the rest is a plain error.
fn sq(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::ConstraintViolation) => StoreError::Conflict(e.to_string()),
        Some(C::DatabaseBusy | C::DatabaseLocked | C::CannotOpen | C::SystemIoFailure) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Db(e.to_string()),
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn connect(path: &Path) -> Result<Connection> {
    let c = Connection::open(path).map_err(db)?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
    c.pragma_update(None, "synchronous", "FULL").map_err(db)?;
    c.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
    c.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db)?;
    Ok(c)
}

/// Lock a connection even if a thread panicked while holding it: a panic is one
/// message's problem, not the store's. The transaction it had open was rolled back
/// by `SqliteTx::drop` during unwinding; should anything be left open (a panic
/// outside a `SqliteTx`), it is rolled back here before the connection is reused.
fn unpoisoned(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    let guard = m.lock().unwrap_or_else(|poisoned| {
        m.clear_poison();
        poisoned.into_inner()
    });
    if !guard.is_autocommit() {
        let _ = guard.execute_batch("ROLLBACK");
    }
    guard
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(db)?;
        }
        let mut writer = connect(path)?;
        super::migrate::sqlite(&mut writer)?;
        let reader = connect(path)?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    fn read(&self) -> Result<MutexGuard<'_, Connection>> {
        Ok(unpoisoned(&self.reader))
    }
}

struct SqliteTx<'a> {
    conn: MutexGuard<'a, Connection>,
    done: bool,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a failed rollback leaves SQLite to roll back on close.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

type CaseRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

fn case_from(r: &Row) -> rusqlite::Result<CaseRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn to_case(t: CaseRow) -> Result<CaseRecord> {
    Ok(CaseRecord {
        case_id: CaseId::parse(&t.0).map_err(corrupt)?,
        buc: BucType::parse(&t.1).map_err(corrupt)?,
        sed_version: SedVersion::parse(&t.2).map_err(corrupt)?,
        state: t.3,
        status: stored(&t.4)?,
        created_at: t.5,
        updated_at: t.6,
        previous_state: t.7,
    })
}

const CASE_COLS: &str =
    "case_id, buc, sed_version, state, status, created_at, updated_at, previous_state";
const DOC_COLS: &str = "document_id, case_id, sed, sender, receiver, direction, status, latest_version, related, created_at";
const OUT_COLS: &str = "id, message_id, kind, exchange, routing_key, headers, timestamp, body, status, attempts, next_attempt_ms, first_attempt_ms, last_error, case_id, document_id, created_at, updated_at";
/// The same without the body (an empty blob in its place): for listings.
const OUT_COLS_NO_BODY: &str = "id, message_id, kind, exchange, routing_key, headers, timestamp, X'' AS body, status, attempts, next_attempt_ms, first_attempt_ms, last_error, case_id, document_id, created_at, updated_at";

type DocRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    u32,
    Option<String>,
    String,
);

fn doc_row(r: &Row) -> rusqlite::Result<DocRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn to_doc(t: DocRow) -> Result<DocumentRecord> {
    Ok(DocumentRecord {
        document_id: DocumentId::parse(&t.0).map_err(corrupt)?,
        case_id: CaseId::parse(&t.1).map_err(corrupt)?,
        sed: SedType::parse(&t.2).map_err(corrupt)?,
        sender: InstitutionId::parse(&t.3).map_err(corrupt)?,
        receiver: InstitutionId::parse(&t.4).map_err(corrupt)?,
        direction: stored(&t.5)?,
        status: stored(&t.6)?,
        latest_version: t.7,
        related: t
            .8
            .map(|r| DocumentId::parse(&r))
            .transpose()
            .map_err(corrupt)?,
        created_at: t.9,
    })
}

type OutRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    Vec<u8>,
    String,
    u32,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
);

fn out_row(r: &Row) -> rusqlite::Result<OutRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
        r.get(15)?,
        r.get(16)?,
    ))
}

fn to_out(t: OutRow) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: t.0,
        message_id: t.1,
        kind: stored(&t.2)?,
        exchange: t.3,
        routing_key: t.4,
        headers: serde_json::from_str(&t.5).map_err(corrupt)?,
        timestamp: t.6,
        body: t.7,
        status: stored(&t.8)?,
        attempts: t.9,
        next_attempt_ms: t.10,
        first_attempt_ms: t.11,
        last_error: t.12,
        case_id: t
            .13
            .map(|c| CaseId::parse(&c))
            .transpose()
            .map_err(corrupt)?,
        document_id: t
            .14
            .map(|d| DocumentId::parse(&d))
            .transpose()
            .map_err(corrupt)?,
        created_at: t.15,
        updated_at: t.16,
    })
}

fn participants_of(conn: &Connection, case_id: &CaseId) -> Result<Vec<Participant>> {
    let mut st = conn
        .prepare_cached(
            "SELECT institution, role FROM participants WHERE case_id = ?1 ORDER BY rowid",
        )
        .map_err(db)?;
    let rows = st
        .query_map(params![case_id.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(db)?;
    rows.map(|r| {
        let (i, role) = r.map_err(db)?;
        Ok(Participant {
            institution: InstitutionId::parse(&i).map_err(corrupt)?,
            role: Role::parse(&role).map_err(corrupt)?,
        })
    })
    .collect()
}

fn conversations_of(conn: &Connection, case_id: &CaseId) -> Result<Vec<Conversation>> {
    let mut st = conn.prepare_cached("SELECT counterparty, state, previous_state FROM conversations WHERE case_id = ?1 ORDER BY rowid").map_err(db)?;
    let rows = st
        .query_map(params![case_id.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .map_err(db)?;
    rows.map(|r| {
        let (c, state, previous_state) = r.map_err(db)?;
        Ok(Conversation {
            counterparty: InstitutionId::parse(&c).map_err(corrupt)?,
            state,
            previous_state,
        })
    })
    .collect()
}

fn documents_of(conn: &Connection, case_id: &CaseId) -> Result<Vec<DocumentRecord>> {
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {DOC_COLS} FROM documents WHERE case_id = ?1 ORDER BY created_at, rowid"
        ))
        .map_err(db)?;
    let rows = st
        .query_map(params![case_id.as_str()], doc_row)
        .map_err(db)?;
    rows.map(|r| to_doc(r.map_err(db)?)).collect()
}

impl Tx for SqliteTx<'_> {
    fn inbox_get(&mut self, message_id: &str) -> Result<Option<InboxEntry>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT message_id, body_sha256, received_at, case_id, answer_kind, answer_message_id, answer_routing_key, answer_headers, answer_timestamp, answer_body, error_code FROM inbox WHERE message_id = ?1")
            .map_err(db)?;
        let row = st
            .query_row(params![message_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, Vec<u8>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ))
            })
            .optional()
            .map_err(db)?;
        row.map(|t| {
            Ok(InboxEntry {
                message_id: t.0,
                body_sha256: t.1,
                received_at: t.2,
                case_id: t
                    .3
                    .map(|c| CaseId::parse(&c))
                    .transpose()
                    .map_err(corrupt)?,
                answer_kind: stored(&t.4)?,
                answer_message_id: t.5,
                answer_routing_key: t.6,
                answer_headers: serde_json::from_str(&t.7).map_err(corrupt)?,
                answer_timestamp: t.8,
                answer_body: t.9,
                error_code: t.10,
            })
        })
        .transpose()
    }

    fn inbox_put(&mut self, e: &InboxEntry) -> Result<()> {
        let headers = serde_json::to_string(&e.answer_headers).map_err(db)?;
        // A plain insert: a second answer to one message id is a `Conflict` (sq).
        self.conn
            .prepare_cached("INSERT INTO inbox (message_id, body_sha256, received_at, case_id, answer_kind, answer_message_id, answer_routing_key, answer_headers, answer_timestamp, answer_body, error_code) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)")
            .map_err(db)?
            .execute(params![
                e.message_id, e.body_sha256, e.received_at, e.case_id.as_ref().map(|c| c.as_str()), e.answer_kind.as_str(),
                e.answer_message_id, e.answer_routing_key, headers, e.answer_timestamp, e.answer_body, e.error_code
            ])
            .map_err(sq)?;
        Ok(())
    }

    fn inbox_refuse_parked(&mut self, e: &InboxEntry) -> Result<bool> {
        let headers = serde_json::to_string(&e.answer_headers).map_err(db)?;
        let n = self.conn
            .prepare_cached("UPDATE inbox SET answer_kind = ?2, answer_message_id = ?3, answer_routing_key = ?4, answer_headers = ?5, answer_timestamp = ?6, answer_body = ?7, error_code = ?8 WHERE message_id = ?1 AND answer_kind = 'receipt'")
            .map_err(db)?
            .execute(params![
                e.message_id, e.answer_kind.as_str(), e.answer_message_id, e.answer_routing_key, headers, e.answer_timestamp, e.answer_body, e.error_code
            ])
            .map_err(sq)?;
        Ok(n == 1)
    }

    fn case_get(&mut self, case_id: &CaseId) -> Result<Option<CaseRecord>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {CASE_COLS} FROM cases WHERE case_id = ?1"))
            .map_err(db)?;
        st.query_row(params![case_id.as_str()], case_from)
            .optional()
            .map_err(db)?
            .map(to_case)
            .transpose()
    }

    fn case_lock(&mut self, case_id: &CaseId) -> Result<Option<CaseRecord>> {
        // `BEGIN IMMEDIATE` already excludes every other writer.
        self.case_get(case_id)
    }

    fn case_insert(&mut self, c: &CaseRecord) -> Result<()> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO cases ({CASE_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"
            ))
            .map_err(db)?
            .execute(params![
                c.case_id.as_str(),
                c.buc.as_str(),
                c.sed_version.as_str(),
                c.state,
                c.status.as_str(),
                c.created_at,
                c.updated_at,
                c.previous_state
            ])
            .map_err(db)?;
        Ok(())
    }

    fn case_set_state(
        &mut self,
        case_id: &CaseId,
        from_state: &str,
        state: &str,
        status: CaseStatus,
        previous_state: Option<&str>,
    ) -> Result<()> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE cases SET state = ?2, status = ?3, updated_at = ?4, previous_state = COALESCE(?5, previous_state) WHERE case_id = ?1 AND state = ?6",
            )
            .map_err(db)?
            .execute(params![case_id.as_str(), state, status.as_str(), now_rfc3339(), previous_state, from_state])
            .map_err(sq)?;
        if n == 1 {
            return Ok(());
        }
        let now: Option<String> = self
            .conn
            .prepare_cached("SELECT state FROM cases WHERE case_id = ?1")
            .map_err(db)?
            .query_row(params![case_id.as_str()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        Err(moved_on("case", case_id.as_str(), from_state, now))
    }

    fn participants(&mut self, case_id: &CaseId) -> Result<Vec<Participant>> {
        participants_of(&self.conn, case_id)
    }

    fn participant_add(&mut self, case_id: &CaseId, p: &Participant) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO participants (case_id, institution, role) VALUES (?1,?2,?3)",
            )
            .map_err(db)?
            .execute(params![
                case_id.as_str(),
                p.institution.as_str(),
                p.role.as_str()
            ])
            .map_err(db)?;
        Ok(())
    }

    fn participant_remove(&mut self, case_id: &CaseId, institution: &InstitutionId) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM participants WHERE case_id = ?1 AND institution = ?2")
            .map_err(db)?
            .execute(params![case_id.as_str(), institution.as_str()])
            .map_err(db)?;
        Ok(())
    }

    fn document_set_status(
        &mut self,
        document_id: &DocumentId,
        from: &[DocumentStatus],
        status: DocumentStatus,
    ) -> Result<()> {
        let now: Option<String> = self
            .conn
            .prepare_cached("SELECT status FROM documents WHERE document_id = ?1")
            .map_err(db)?
            .query_row(params![document_id.as_str()], |r| r.get(0))
            .optional()
            .map_err(db)?;
        // One writer at a time: the read above and this write are one step.
        match &now {
            Some(s) if from.iter().any(|f| f.as_str() == s) => {
                self.conn
                    .prepare_cached(
                        "UPDATE documents SET status = ?2 WHERE document_id = ?1 AND status = ?3",
                    )
                    .map_err(db)?
                    .execute(params![document_id.as_str(), status.as_str(), s])
                    .map_err(sq)?;
                Ok(())
            }
            _ => Err(moved_on(
                "document",
                document_id.as_str(),
                &from
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join("|"),
                now,
            )),
        }
    }

    fn conversations(&mut self, case_id: &CaseId) -> Result<Vec<Conversation>> {
        conversations_of(&self.conn, case_id)
    }

    fn conversation_put(&mut self, case_id: &CaseId, c: &Conversation) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO conversations (case_id, counterparty, state, previous_state) VALUES (?1,?2,?3,?4) ON CONFLICT(case_id, counterparty) DO UPDATE SET state = excluded.state, previous_state = excluded.previous_state")
            .map_err(db)?
            .execute(params![case_id.as_str(), c.counterparty.as_str(), c.state, c.previous_state])
            .map_err(sq)?;
        Ok(())
    }

    fn documents(&mut self, case_id: &CaseId) -> Result<Vec<DocumentRecord>> {
        documents_of(&self.conn, case_id)
    }

    fn document_get(&mut self, document_id: &DocumentId) -> Result<Option<DocumentRecord>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DOC_COLS} FROM documents WHERE document_id = ?1"
            ))
            .map_err(db)?;
        st.query_row(params![document_id.as_str()], doc_row)
            .optional()
            .map_err(db)?
            .map(to_doc)
            .transpose()
    }

    fn document_insert(&mut self, d: &DocumentRecord) -> Result<()> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO documents ({DOC_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
            ))
            .map_err(db)?
            .execute(params![
                d.document_id.as_str(),
                d.case_id.as_str(),
                d.sed.as_str(),
                d.sender.as_str(),
                d.receiver.as_str(),
                d.direction.as_str(),
                d.status.as_str(),
                d.latest_version,
                d.related.as_ref().map(|r| r.as_str()),
                d.created_at
            ])
            .map_err(db)?;
        Ok(())
    }

    fn document_set_version(&mut self, document_id: &DocumentId, version: u32) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE documents SET latest_version = ?2 WHERE document_id = ?1")
            .map_err(db)?
            .execute(params![document_id.as_str(), version])
            .map_err(db)?;
        Ok(())
    }

    fn version_get(
        &mut self,
        document_id: &DocumentId,
        version: u32,
    ) -> Result<Option<DocumentVersion>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT message_id, content_sha256, envelope, created_at FROM document_versions WHERE document_id = ?1 AND version = ?2")
            .map_err(db)?;
        let row = st
            .query_row(params![document_id.as_str(), version], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()
            .map_err(db)?;
        Ok(row.map(
            |(message_id, content_sha256, envelope, created_at)| DocumentVersion {
                document_id: document_id.clone(),
                version,
                message_id,
                content_sha256,
                envelope,
                created_at,
            },
        ))
    }

    fn version_insert(&mut self, v: &DocumentVersion) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO document_versions (document_id, version, message_id, content_sha256, envelope, created_at) VALUES (?1,?2,?3,?4,?5,?6)")
            .map_err(db)?
            .execute(params![v.document_id.as_str(), v.version, v.message_id, v.content_sha256, v.envelope, v.created_at])
            .map_err(db)?;
        Ok(())
    }

    fn history_append(&mut self, case_id: &CaseId, e: &HistoryEntry) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO history (case_id, at, event, detail, from_state, to_state, message_id, document_id) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")
            .map_err(db)?
            .execute(params![case_id.as_str(), e.at, e.event, e.detail, e.from_state, e.to_state, e.message_id, e.document_id])
            .map_err(db)?;
        Ok(())
    }

    fn outbox_enqueue(&mut self, m: &OutboxMessage) -> Result<i64> {
        let headers = serde_json::to_string(&m.headers).map_err(db)?;
        self.conn
            .prepare_cached("INSERT INTO outbox (message_id, kind, exchange, routing_key, headers, timestamp, body, status, attempts, next_attempt_ms, first_attempt_ms, last_error, case_id, document_id, created_at, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)")
            .map_err(db)?
            .execute(params![
                m.message_id, m.kind.as_str(), m.exchange, m.routing_key, headers, m.timestamp, m.body, m.status.as_str(), m.attempts, m.next_attempt_ms,
                m.first_attempt_ms, m.last_error, m.case_id.as_ref().map(|c| c.as_str()), m.document_id.as_ref().map(|d| d.as_str()),
                m.created_at, m.updated_at
            ])
            .map_err(db)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn outbox_by_message_id(
        &mut self,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {OUT_COLS} FROM outbox WHERE message_id = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1"))
            .map_err(db)?;
        st.query_row(params![message_id, kind.as_str()], out_row)
            .optional()
            .map_err(db)?
            .map(to_out)
            .transpose()
    }

    fn outbox_lock_by_message_id(
        &mut self,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>> {
        // `BEGIN IMMEDIATE` already excludes every other writer.
        self.outbox_by_message_id(message_id, kind)
    }

    fn outbox_transition(&mut self, id: i64, kind: OutboxKind, c: &Change) -> Result<bool> {
        let from = allowed_from(kind, c.to);
        if from.is_empty() {
            return Ok(false);
        }
        // The IN list is built from the status table's own names (no input), so
        // each (kind, to) pair is one cached statement.
        let list = from
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        let now = now_ms();
        let (set_error, error) = match &c.last_error {
            LastError::Keep => (false, None),
            LastError::Set(e) => (true, Some(e.as_str())),
        };
        let n = self
            .conn
            .prepare_cached(&format!(
                "UPDATE outbox SET status = ?3, attempts = attempts + ?4, \
                 first_attempt_ms = CASE WHEN ?4 = 1 THEN COALESCE(first_attempt_ms, ?5) ELSE first_attempt_ms END, \
                 next_attempt_ms = COALESCE(?6, next_attempt_ms), \
                 last_error = CASE WHEN ?7 THEN ?8 ELSE last_error END, updated_at = ?9 \
                 WHERE id = ?1 AND kind = ?2 AND status IN ({list})"
            ))
            .map_err(db)?
            .execute(params![
                id,
                kind.as_str(),
                c.to.as_str(),
                i64::from(c.attempt),
                now,
                c.due_in_ms.map(|d| now + d),
                set_error,
                error,
                now_rfc3339()
            ])
            .map_err(sq)?;
        Ok(n == 1)
    }

    fn parked_put(&mut self, p: &ParkedMessage) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO parked (message_id, case_id, parked_at_ms, expires_at_ms, properties, body, sender_country, waits_document, waits_version) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)")
            .map_err(db)?
            .execute(params![p.message_id, p.case_id.as_str(), p.parked_at_ms, p.expires_at_ms, p.properties, p.body, p.sender_country, p.waits_document.as_ref().map(|d| d.as_str()), p.waits_version])
            .map_err(sq)?;
        Ok(())
    }

    fn parked_for_case(&mut self, case_id: &CaseId) -> Result<Vec<ParkedMessage>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT p.message_id, p.case_id, p.parked_at_ms, p.expires_at_ms, p.properties, p.body, p.sender_country, p.waits_document, p.waits_version FROM parked p WHERE p.case_id = ?1 ORDER BY p.parked_at_ms, p.rowid")
            .map_err(db)?;
        let rows = st
            .query_map(params![case_id.as_str()], parked_row)
            .map_err(db)?;
        rows.map(|r| to_parked(r.map_err(db)?)).collect()
    }

    fn parked_delete(&mut self, message_id: &str) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM parked WHERE message_id = ?1")
            .map_err(db)?
            .execute(params![message_id])
            .map_err(sq)?;
        Ok(())
    }

    fn parked_ready_for_case(&mut self, case_id: &CaseId) -> Result<Vec<ParkedMessage>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT p.message_id, p.case_id, p.parked_at_ms, p.expires_at_ms, p.properties, p.body, p.sender_country, p.waits_document, p.waits_version FROM parked p WHERE p.case_id = ?1 AND EXISTS (SELECT 1 FROM cases c WHERE c.case_id = p.case_id) AND (p.waits_document IS NULL OR (p.waits_version IS NULL AND EXISTS (SELECT 1 FROM documents d WHERE d.document_id = p.waits_document)) OR EXISTS (SELECT 1 FROM document_versions v WHERE v.document_id = p.waits_document AND v.version = p.waits_version)) ORDER BY p.parked_at_ms, p.rowid")
            .map_err(db)?;
        let rows = st
            .query_map(params![case_id.as_str()], parked_row)
            .map_err(db)?;
        rows.map(|r| to_parked(r.map_err(db)?)).collect()
    }

    fn parked_counts(&mut self, case_id: &CaseId, sender_country: &str) -> Result<ParkedCounts> {
        let mut st = self
            .conn
            .prepare_cached("SELECT (SELECT COUNT(*) FROM parked WHERE case_id = ?1), COUNT(*), COALESCE(SUM(length(body)), 0) FROM parked WHERE sender_country = ?2")
            .map_err(db)?;
        st.query_row(params![case_id.as_str(), sender_country], |r| {
            Ok(ParkedCounts {
                per_case: r.get::<_, i64>(0)? as u64,
                per_access_point: r.get::<_, i64>(1)? as u64,
                per_access_point_bytes: r.get::<_, i64>(2)? as u64,
            })
        })
        .map_err(db)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(sq)?;
        self.done = true;
        Ok(())
    }
}

type ParkedRow = (
    String,
    String,
    i64,
    i64,
    String,
    Vec<u8>,
    String,
    Option<String>,
    Option<u32>,
);

fn parked_row(r: &Row) -> rusqlite::Result<ParkedRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn to_parked(t: ParkedRow) -> Result<ParkedMessage> {
    Ok(ParkedMessage {
        message_id: t.0,
        case_id: CaseId::parse(&t.1).map_err(corrupt)?,
        parked_at_ms: t.2,
        expires_at_ms: t.3,
        properties: t.4,
        body: t.5,
        sender_country: t.6,
        waits_document: t
            .7
            .map(|d| DocumentId::parse(&d))
            .transpose()
            .map_err(corrupt)?,
        waits_version: t.8,
    })
}

fn dead_row(r: &Row) -> rusqlite::Result<DeadLetter> {
    Ok(DeadLetter {
        id: r.get(0)?,
        message_id: r.get(1)?,
        queue: r.get(2)?,
        properties: r.get(3)?,
        body: r.get(4)?,
        dead_at: r.get(5)?,
        reinjected_at: r.get(6)?,
    })
}

impl SqliteStore {
    fn write(&self) -> Result<MutexGuard<'_, Connection>> {
        Ok(unpoisoned(&self.writer))
    }
}

impl Store for SqliteStore {
    fn outbox_claim(
        &self,
        at: Option<i64>,
        limit: u32,
        bytes_max: u64,
        lease_ms: i64,
    ) -> Result<Claim> {
        // One process owns an SQLite file: its clock is the store's clock.
        let now_ms = at.unwrap_or_else(now_ms);
        // One writer at a time already: the due rows' ids and sizes (no bodies), the
        // prefix within `bytes_max` read and leased, in one transaction.
        let conn = self.write()?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sq)?;
        let result = (|| {
            let ids = {
                let mut st = conn
                    .prepare_cached(
                        "SELECT id, length(body) FROM outbox WHERE status IN ('queued', 'retrying', 'sent') AND next_attempt_ms <= ?1 AND (status != 'sent' OR kind = 'sed') ORDER BY next_attempt_ms, id LIMIT ?2",
                    )
                    .map_err(db)?;
                let rows = st
                    .query_map(params![now_ms, limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                    .map_err(db)?;
                let due = rows
                    .collect::<rusqlite::Result<Vec<(i64, i64)>>>()
                    .map_err(db)?;
                let take = super::outbox::rows_within(due.iter().map(|d| d.1), bytes_max);
                due[..take].iter().map(|d| d.0).collect::<Vec<i64>>()
            };
            let mut read = conn
                .prepare_cached(&format!("SELECT {OUT_COLS} FROM outbox WHERE id = ?1"))
                .map_err(db)?;
            // A `sent` SED that is due has no receipt within its interval: `retrying`.
            let mut lease = conn
                .prepare_cached("UPDATE outbox SET next_attempt_ms = ?2, status = CASE WHEN status = 'sent' THEN 'retrying' ELSE status END WHERE id = ?1 AND status IN ('queued', 'retrying', 'sent')")
                .map_err(db)?;
            let mut messages = Vec::with_capacity(ids.len());
            for id in ids {
                let mut m = to_out(read.query_row(params![id], out_row).map_err(db)?)?;
                lease.execute(params![id, now_ms + lease_ms]).map_err(sq)?;
                if m.status == OutboxStatus::Sent {
                    m.status = OutboxStatus::Retrying;
                }
                messages.push(m);
            }
            Ok(messages)
        })();
        match result {
            Ok(messages) => {
                conn.execute_batch("COMMIT").map_err(sq)?;
                Ok(Claim { now_ms, messages })
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn parked_expired(&self, now_ms: i64, limit: u32) -> Result<Vec<ParkedMessage>> {
        let conn = self.read()?;
        let mut st = conn
            .prepare_cached("SELECT p.message_id, p.case_id, p.parked_at_ms, p.expires_at_ms, p.properties, p.body, p.sender_country, p.waits_document, p.waits_version FROM parked p WHERE p.expires_at_ms <= ?1 ORDER BY p.expires_at_ms LIMIT ?2")
            .map_err(db)?;
        let rows = st
            .query_map(params![now_ms, limit], parked_row)
            .map_err(db)?;
        rows.map(|r| to_parked(r.map_err(db)?)).collect()
    }

    fn parked_ready_cases(&self, limit: u32) -> Result<Vec<CaseId>> {
        let conn = self.read()?;
        let mut st = conn
            .prepare_cached("SELECT DISTINCT p.case_id FROM parked p WHERE EXISTS (SELECT 1 FROM cases c WHERE c.case_id = p.case_id) AND (p.waits_document IS NULL OR (p.waits_version IS NULL AND EXISTS (SELECT 1 FROM documents d WHERE d.document_id = p.waits_document)) OR EXISTS (SELECT 1 FROM document_versions v WHERE v.document_id = p.waits_document AND v.version = p.waits_version)) LIMIT ?1")
            .map_err(db)?;
        let rows = st
            .query_map(params![limit], |r| r.get::<_, String>(0))
            .map_err(db)?;
        rows.map(|r| CaseId::parse(&r.map_err(db)?).map_err(corrupt))
            .collect()
    }

    fn document_envelope(&self, document_id: &DocumentId, version: u32) -> Result<Option<Vec<u8>>> {
        self.read()?
            .prepare_cached(
                "SELECT envelope FROM document_versions WHERE document_id = ?1 AND version = ?2",
            )
            .map_err(db)?
            .query_row(params![document_id.as_str(), version], |r| r.get(0))
            .optional()
            .map_err(db)
    }

    fn parked_count(&self) -> Result<u64> {
        let conn = self.read()?;
        conn.query_row("SELECT COUNT(*) FROM parked", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db)
    }

    fn dead_letter_put(&self, d: &DeadLetter) -> Result<i64> {
        let conn = self.write()?;
        conn.prepare_cached("INSERT INTO dead_letters (message_id, queue, properties, body, dead_at, reinjected_at) VALUES (?1,?2,?3,?4,?5,?6)")
            .map_err(db)?
            .execute(params![d.message_id, d.queue, d.properties, d.body, d.dead_at, d.reinjected_at])
            .map_err(sq)?;
        Ok(conn.last_insert_rowid())
    }

    fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        let conn = self.read()?;
        let mut st = conn
            .prepare_cached("SELECT id, message_id, queue, properties, body, dead_at, reinjected_at FROM dead_letters ORDER BY id DESC LIMIT ?1")
            .map_err(db)?;
        let rows = st
            .query_map(params![limit.clamp(1, 1000)], dead_row)
            .map_err(db)?;
        rows.map(|r| r.map_err(db)).collect()
    }

    fn dead_letter_get(&self, id: i64) -> Result<Option<DeadLetter>> {
        let conn = self.read()?;
        let mut st = conn.prepare_cached("SELECT id, message_id, queue, properties, body, dead_at, reinjected_at FROM dead_letters WHERE id = ?1").map_err(db)?;
        st.query_row(params![id], dead_row).optional().map_err(db)
    }

    fn dead_letter_mark_reinjected(&self, id: i64) -> Result<()> {
        let conn = self.write()?;
        conn.prepare_cached("UPDATE dead_letters SET reinjected_at = ?2 WHERE id = ?1")
            .map_err(db)?
            .execute(params![id, now_rfc3339()])
            .map_err(sq)?;
        Ok(())
    }

    fn audit_append(&self, e: &AuditEntry) -> Result<()> {
        let conn = self.write()?;
        conn.prepare_cached("INSERT INTO audit (at, subject, institution, action, target, remote) VALUES (?1,?2,?3,?4,?5,?6)")
            .map_err(db)?
            .execute(params![e.at, e.subject, e.institution, e.action, e.target, e.remote])
            .map_err(sq)?;
        Ok(())
    }

    fn audit_list(&self, institution: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>> {
        let conn = self.read()?;
        let mut st = conn
            .prepare_cached("SELECT at, subject, institution, action, target, remote FROM audit WHERE (?1 IS NULL OR institution = ?1) ORDER BY seq DESC LIMIT ?2")
            .map_err(db)?;
        let rows = st
            .query_map(params![institution, limit.clamp(1, 1000)], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    subject: r.get(1)?,
                    institution: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    remote: r.get(5)?,
                })
            })
            .map_err(db)?;
        rows.map(|r| r.map_err(db)).collect()
    }

    fn ping(&self) -> Result<()> {
        self.read()?
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(sq)
    }

    fn begin(&self) -> Result<Box<dyn Tx + '_>> {
        let conn = self.write()?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sq)?;
        Ok(Box::new(SqliteTx { conn, done: false }))
    }

    fn case_detail(&self, case_id: &CaseId) -> Result<Option<CaseDetail>> {
        let conn = self.read()?;
        let case = {
            let mut st = conn
                .prepare_cached(&format!("SELECT {CASE_COLS} FROM cases WHERE case_id = ?1"))
                .map_err(db)?;
            match st
                .query_row(params![case_id.as_str()], case_from)
                .optional()
                .map_err(db)?
            {
                Some(t) => to_case(t)?,
                None => return Ok(None),
            }
        };
        let participants = participants_of(&conn, case_id)?;
        let conversations = conversations_of(&conn, case_id)?;
        let mut documents = Vec::new();
        for d in documents_of(&conn, case_id)? {
            let mut st = conn
                .prepare_cached("SELECT version, message_id, content_sha256, created_at FROM document_versions WHERE document_id = ?1 ORDER BY version")
                .map_err(db)?;
            let versions = st
                .query_map(params![d.document_id.as_str()], |r| {
                    Ok(DocumentVersion {
                        document_id: d.document_id.clone(),
                        version: r.get(0)?,
                        message_id: r.get(1)?,
                        content_sha256: r.get(2)?,
                        // Loaded only when asked for (`document_envelope`).
                        envelope: Vec::new(),
                        created_at: r.get(3)?,
                    })
                })
                .map_err(db)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db)?;
            documents.push((d, versions));
        }
        let history = {
            let mut st = conn
                .prepare_cached("SELECT at, event, detail, from_state, to_state, message_id, document_id FROM history WHERE case_id = ?1 ORDER BY seq")
                .map_err(db)?;
            st.query_map(params![case_id.as_str()], |r| {
                Ok(HistoryEntry {
                    at: r.get(0)?,
                    event: r.get(1)?,
                    detail: r.get(2)?,
                    from_state: r.get(3)?,
                    to_state: r.get(4)?,
                    message_id: r.get(5)?,
                    document_id: r.get(6)?,
                })
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?
        };
        let messages = {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {OUT_COLS_NO_BODY} FROM outbox WHERE case_id = ?1 ORDER BY id"
                ))
                .map_err(db)?;
            let rows = st
                .query_map(params![case_id.as_str()], out_row)
                .map_err(db)?;
            rows.map(|r| to_out(r.map_err(db)?))
                .collect::<Result<Vec<_>>>()?
        };
        Ok(Some(CaseDetail {
            case,
            participants,
            conversations,
            documents,
            history,
            messages,
        }))
    }

    fn cases(&self, f: &CaseFilter) -> Result<Vec<(CaseRecord, Vec<Participant>)>> {
        let conn = self.read()?;
        let limit = if f.limit == 0 { 100 } else { f.limit.min(1000) };
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {CASE_COLS} FROM cases c WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR EXISTS (SELECT 1 FROM participants p WHERE p.case_id = c.case_id AND p.institution = ?2)) ORDER BY updated_at DESC LIMIT ?3"
            ))
            .map_err(db)?;
        let rows = st
            .query_map(
                params![
                    f.status.map(CaseStatus::as_str),
                    f.institution.as_ref().map(|i| i.as_str()),
                    limit
                ],
                case_from,
            )
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        rows.into_iter()
            .map(|t| {
                let c = to_case(t)?;
                let p = participants_of(&conn, &c.case_id)?;
                Ok((c, p))
            })
            .collect()
    }

    fn messages(&self, status: Option<OutboxStatus>, limit: u32) -> Result<Vec<OutboxMessage>> {
        let conn = self.read()?;
        let mut st = conn
            .prepare_cached(&format!("SELECT {OUT_COLS} FROM outbox WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"))
            .map_err(db)?;
        let rows = st
            .query_map(
                params![status.map(OutboxStatus::as_str), limit.clamp(1, 1000)],
                out_row,
            )
            .map_err(db)?;
        rows.map(|r| to_out(r.map_err(db)?)).collect()
    }

    fn messages_page(
        &self,
        status: Option<OutboxStatus>,
        institution: Option<&InstitutionId>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let conn = self.read()?;
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {OUT_COLS} FROM outbox WHERE (?1 IS NULL OR status = ?1) \
                 AND (?2 IS NULL OR json_extract(headers, '$.\"eessi-from\"') = ?2 OR json_extract(headers, '$.\"eessi-to\"') = ?2) \
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            ))
            .map_err(db)?;
        let rows = st
            .query_map(
                params![
                    status.map(OutboxStatus::as_str),
                    institution.map(|i| i.as_str()),
                    before_id,
                    limit.clamp(1, 1000)
                ],
                out_row,
            )
            .map_err(db)?;
        rows.map(|r| to_out(r.map_err(db)?)).collect()
    }

    fn outbox_counts(&self) -> Result<BTreeMap<(OutboxKind, OutboxStatus), u64>> {
        let conn = self.read()?;
        let mut st = conn
            .prepare_cached("SELECT kind, status, COUNT(*) FROM outbox GROUP BY kind, status")
            .map_err(db)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(db)?;
        rows.map(|r| {
            let ((k, s), n) = r.map_err(db)?;
            Ok(((stored(&k)?, stored(&s)?), n))
        })
        .collect()
    }

    fn prune(&self, p: &Prune) -> Result<Pruned> {
        use super::retention::{final_pairs, late_pairs, rfc3339};
        // The IN lists are built from the status table's own names (no input).
        let list = |pairs: Vec<String>| {
            pairs
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let (finals, late) = (list(final_pairs()), list(late_pairs()));
        let limit = i64::from(p.limit);
        // Each statement commits on its own (autocommit): one short write each.
        let conn = self.write()?;
        let outbox_bodies = conn
            .prepare_cached(&format!(
                "UPDATE outbox SET body = x'', body_pruned_at = ?1 WHERE id IN (\
                 SELECT id FROM outbox WHERE body_pruned_at IS NULL AND updated_at < ?2 \
                 AND (kind || '/' || status IN ({finals}) \
                 OR (kind || '/' || status IN ({late}) AND updated_at < ?3)) \
                 ORDER BY updated_at LIMIT ?4)"
            ))
            .map_err(db)?
            .execute(params![
                rfc3339(p.now_ms),
                rfc3339(p.body_before_ms),
                rfc3339(p.inbox_before_ms),
                limit
            ])
            .map_err(sq)?;
        // A message still parked keeps the answer it will replace (inbox_refuse_parked).
        let inbox_rows = conn
            .prepare_cached(
                "DELETE FROM inbox WHERE message_id IN (SELECT i.message_id FROM inbox i \
                 WHERE i.received_at < ?1 AND NOT EXISTS (SELECT 1 FROM parked p WHERE p.message_id = i.message_id) \
                 ORDER BY i.received_at LIMIT ?2)",
            )
            .map_err(db)?
            .execute(params![rfc3339(p.inbox_before_ms), limit])
            .map_err(sq)?;
        let history_rows = if p.history_before.is_empty() {
            0
        } else {
            conn.prepare_cached(
                "DELETE FROM history WHERE seq IN (SELECT seq FROM history WHERE at < ?1 ORDER BY at LIMIT ?2)",
            )
            .map_err(db)?
            .execute(params![p.history_before, limit])
            .map_err(sq)?
        };
        Ok(Pruned {
            outbox_bodies: outbox_bodies as u64,
            inbox_rows: inbox_rows as u64,
            history_rows: history_rows as u64,
        })
    }
}

// Tested with the PostgreSQL store by the shared suite in `tests.rs`.
