//! The one implementation of `Store` and `Tx` over both backends: every statement
//! is written once, here, and each backend (`sqlite.rs`, `postgres.rs`) only
//! provides connections through the small `Conn` and `Backend` traits below.
//!
//! The dialect layer is `render`: a statement is written with `?1, ?2…`
//! placeholders and a few markers, and each backend renders it once per statement
//! text (cached with its prepared statement):
//!
//! | marker | SQLite | PostgreSQL |
//! |---|---|---|
//! | `?N` | `?N` | `$N` |
//! | `{lock: FOR UPDATE …}` | nothing: `BEGIN IMMEDIATE` already excludes every other writer | the locking clause |
//! | `{now_ms}` | the database's clock in ms (`julianday('now')`) | `clock_timestamp()` in ms: leases and retransmission times come from the server, never an instance |
//! | `{bytewise}` | nothing (`BINARY` is byte order) | ` COLLATE "C"` |
//! | `{seq}` | `rowid` | `seq` (an identity column) |
//! | `{json:col}` | `col` | `CAST(col AS JSONB)`, for `->>` |
//! | `{in_text:?N}` / `{in_int:?N}` | `IN (SELECT value FROM json_each(?N))` | the same over `json_array_elements_text` |
//! | `{empty_blob}` | `x''` | `''::bytea` |
//! | `{noindex:col}` | `+col`: no index drives from this term (the sort's index does) | `col` (PostgreSQL plans with its statistics) |
//!
//! `{seq}` orders rows by insertion among the rows present (participants,
//! conversations, documents, parked messages): PostgreSQL's identity `seq`, and
//! SQLite's `rowid`, which a table without an `INTEGER PRIMARY KEY` assigns as one
//! more than the largest present. Lists (status names, ids) are one JSON text
//! parameter, so that every statement text is static and prepared once.
//!
//! Identity columns: `INSERT … RETURNING id` on both. Errors are classified by each
//! backend (`Conflict` on a unique key, serialization failure or deadlock;
//! `Unavailable` when the database cannot be reached; `Db` otherwise); a stored
//! value of the wrong type or an unknown name is `Corrupt` (`Row`).

use std::cell::Cell as Counter;
use std::collections::{BTreeMap, HashMap};
use std::ops::DerefMut;

use super::*;
use crate::ids::{BucType, CaseId, DocumentId, InstitutionId, Role, SedType, SedVersion};

/// Which SQL a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement parameter, the same for both backends.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    I64(i64),
    Bool(bool),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<u32> for Value<'_> {
    fn from(v: u32) -> Self {
        Value::I64(i64::from(v))
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().into()
    }
}

/// `[Value; n]` from anything `Into<Value>`.
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$(Value::from($v)),*] };
}

/// One column of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    I64(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A result row, decoded the same for both backends. Getters take the value out
/// (no copy of a body); a value of another type than asked is `Corrupt`.
#[derive(Debug)]
pub struct Row(pub Vec<Cell>);

impl Row {
    fn take(&mut self, i: usize) -> Result<Cell> {
        self.0
            .get_mut(i)
            .map(|c| std::mem::replace(c, Cell::Null))
            .ok_or_else(|| StoreError::Corrupt(format!("no column {i}")))
    }

    fn wrong(i: usize, want: &str, got: &Cell) -> StoreError {
        StoreError::Corrupt(format!("column {i} holds {got:?}, not {want}"))
    }

    pub fn opt_i64(&mut self, i: usize) -> Result<Option<i64>> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::I64(v) => Ok(Some(v)),
            c => Err(Row::wrong(i, "an integer", &c)),
        }
    }

    pub fn i64(&mut self, i: usize) -> Result<i64> {
        self.opt_i64(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub fn opt_u32(&mut self, i: usize) -> Result<Option<u32>> {
        self.opt_i64(i)?
            .map(|v| {
                u32::try_from(v).map_err(|_| corrupt(format!("column {i} holds {v}, not a u32")))
            })
            .transpose()
    }

    pub fn u32(&mut self, i: usize) -> Result<u32> {
        self.opt_u32(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub fn opt_text(&mut self, i: usize) -> Result<Option<String>> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::Text(v) => Ok(Some(v)),
            c => Err(Row::wrong(i, "text", &c)),
        }
    }

    pub fn text(&mut self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub fn blob(&mut self, i: usize) -> Result<Vec<u8>> {
        match self.take(i)? {
            Cell::Blob(v) => Ok(v),
            c => Err(Row::wrong(i, "bytes", &c)),
        }
    }

    /// A text column parsed (an identifier): one that does not parse is `Corrupt`.
    pub fn parse<T, E: std::fmt::Display>(
        &mut self,
        i: usize,
        parse: impl Fn(&str) -> std::result::Result<T, E>,
    ) -> Result<T> {
        parse(&self.text(i)?).map_err(corrupt)
    }

    pub fn parse_opt<T, E: std::fmt::Display>(
        &mut self,
        i: usize,
        parse: impl Fn(&str) -> std::result::Result<T, E>,
    ) -> Result<Option<T>> {
        self.opt_text(i)?
            .map(|s| parse(&s))
            .transpose()
            .map_err(corrupt)
    }

    /// A stored enum name (`OutboxKind`, `CaseStatus`, ...).
    pub fn stored<T: std::str::FromStr<Err = UnknownName>>(&mut self, i: usize) -> Result<T> {
        stored(&self.text(i)?)
    }

    /// A JSON map of headers.
    pub fn headers(&mut self, i: usize) -> Result<BTreeMap<String, String>> {
        serde_json::from_str(&self.text(i)?).map_err(corrupt)
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// How a transaction begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// A write transaction: SQLite `BEGIN IMMEDIATE`, PostgreSQL READ COMMITTED.
    Write,
    /// A read-only view of one moment: SQLite `BEGIN` (WAL), PostgreSQL REPEATABLE READ.
    Snapshot,
}

/// One connection of a backend: statements rendered for its dialect, run with
/// uniform parameters, rows decoded to `Row`, errors classified.
pub trait Conn {
    fn query(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Vec<Row>>;
    /// Rows changed.
    fn execute(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<u64>;
    fn begin(&mut self, mode: Begin) -> Result<()>;
    fn commit(&mut self) -> Result<()>;
    /// Best effort; a connection whose rollback failed is not reused.
    fn rollback(&mut self);

    /// A statement built at run time (the case list's filters), rendered on each
    /// call: SQLite keeps it in its bounded statement cache, PostgreSQL plans it
    /// with the values given (an unnamed statement), so a selective filter gets
    /// its index.
    fn query_text(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>>;

    fn query_opt(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn query_one(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| StoreError::Corrupt("the statement returned no row".into()))
    }
}

/// A backend: where its connections come from. `Store` is implemented once for
/// every backend (below).
pub trait Backend: Send + Sync {
    type Conn: Conn;
    type Guard<'a>: DerefMut<Target = Self::Conn>
    where
        Self: 'a;
    /// The connection write transactions run on (SQLite: the one writer).
    fn writer(&self) -> Result<Self::Guard<'_>>;
    /// A connection for reads outside a transaction.
    fn reader(&self) -> Result<Self::Guard<'_>>;
}

/// Render a statement for a dialect (see the table at the top). Hand-written:
/// the markers are ours, a handful, and a SQL-rewriting crate would bring a parser
/// for a job that is a scan of a static string.
pub fn render(sql: &str, dialect: Dialect) -> String {
    let pg = dialect == Dialect::Postgres;
    let mut out = String::with_capacity(sql.len() + 32);
    let mut rest = sql;
    let mut quoted = false;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && c == '?' && pg {
            out.push('$');
            rest = &rest[1..];
            continue;
        }
        if !quoted && c == '{' {
            let end = rest.find('}').expect("a marker ends with }");
            let marker = &rest[1..end];
            rest = &rest[end + 1..];
            let (name, arg) = marker.split_once(':').unwrap_or((marker, ""));
            let param = || render(arg.trim(), dialect);
            match (name, pg) {
                ("lock", true) => out.push_str(arg),
                ("lock", false) => {}
                ("now_ms", true) => {
                    out.push_str("(extract(epoch FROM clock_timestamp()) * 1000)::bigint")
                }
                ("now_ms", false) => {
                    out.push_str("CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)")
                }
                ("bytewise", true) => out.push_str(" COLLATE \"C\""),
                ("bytewise", false) => {}
                ("seq", true) => out.push_str("seq"),
                ("seq", false) => out.push_str("rowid"),
                ("noindex", true) => out.push_str(arg),
                ("noindex", false) => out.push_str(&format!("+{arg}")),
                ("json", true) => out.push_str(&format!("CAST({arg} AS JSONB)")),
                ("json", false) => out.push_str(arg),
                ("in_text", true) => out.push_str(&format!(
                    "IN (SELECT value FROM json_array_elements_text(CAST(CAST({} AS TEXT) AS JSON)))",
                    param()
                )),
                ("in_int", true) => out.push_str(&format!(
                    "IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST(CAST({} AS TEXT) AS JSON)))",
                    param()
                )),
                ("in_text" | "in_int", false) => {
                    out.push_str(&format!("IN (SELECT value FROM json_each({}))", param()))
                }
                ("empty_blob", true) => out.push_str("''::bytea"),
                ("empty_blob", false) => out.push_str("x''"),
                _ => panic!("unknown SQL marker {{{marker}}}"),
            }
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A list as the one JSON parameter of `{in_text:…}` / `{in_int:…}`.
fn json_list<T: serde::Serialize>(items: &[T]) -> Result<String> {
    serde_json::to_string(items).map_err(|e| StoreError::Db(e.to_string()))
}

// ----- the current thread's write transactions -----

thread_local! {
    static OPEN_WRITES: Counter<u32> = const { Counter::new(0) };
}

/// True while the current thread holds an open write transaction of any store
/// (from `Store::begin` until its `Tx` is committed or dropped; also a relay's
/// claim). For assertions such as "no XML or RSA work inside a transaction":
/// XML and signing entry points may `debug_assert!(!store::in_transaction())`.
pub fn in_transaction() -> bool {
    OPEN_WRITES.with(|n| n.get() > 0)
}

/// Counts one open write transaction on this thread while it lives.
struct Marked;

impl Marked {
    fn new() -> Marked {
        OPEN_WRITES.with(|n| n.set(n.get() + 1));
        Marked
    }
}

impl Drop for Marked {
    fn drop(&mut self) {
        OPEN_WRITES.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

// ----- columns and row decoding, once -----

macro_rules! case_cols {
    () => {
        "case_id, buc, sed_version, state, status, created_at, updated_at, previous_state"
    };
}
/// `case_cols!()` of the alias `c`.
macro_rules! case_cols_c {
    () => {
        "c.case_id, c.buc, c.sed_version, c.state, c.status, c.created_at, c.updated_at, c.previous_state"
    };
}
macro_rules! doc_cols {
    () => {
        "document_id, case_id, sed, sender, receiver, direction, status, latest_version, related, created_at"
    };
}
/// Every column of an outbox row `o`; the body is in `outbox_bodies` (V7).
/// `out_cols!()` takes it from `outbox_bodies b` (`from_outbox_with_body!()`; an
/// emptied body has no row there), listings put an empty one.
macro_rules! out_cols_head {
    () => {
        "o.id, o.message_id, o.kind, o.exchange, o.routing_key, o.headers, o.timestamp, "
    };
}
macro_rules! out_cols_tail {
    () => {
        ", o.status, o.attempts, o.next_attempt_ms, o.first_attempt_ms, o.last_error, o.case_id, \
         o.document_id, o.created_at, o.updated_at, o.body_version"
    };
}
macro_rules! out_cols {
    () => {
        concat!(
            out_cols_head!(),
            "COALESCE(b.body, v.envelope, {empty_blob})",
            out_cols_tail!()
        )
    };
}
macro_rules! from_outbox_with_body {
    () => {
        " FROM outbox o LEFT JOIN outbox_bodies b ON b.id = o.id \
         LEFT JOIN document_versions v ON o.body_version IS NOT NULL \
         AND o.body_pruned_at IS NULL AND v.document_id = o.document_id \
         AND v.version = o.body_version"
    };
}
macro_rules! out_cols_no_body {
    () => {
        concat!(out_cols_head!(), "{empty_blob} AS body", out_cols_tail!())
    };
}
macro_rules! inbox_cols {
    () => {
        "message_id, body_sha256, received_at, case_id, answer_kind, answer_message_id, answer_routing_key, answer_headers, answer_timestamp, answer_body, error_code"
    };
}
macro_rules! parked_cols {
    () => {
        "p.message_id, p.case_id, p.parked_at_ms, p.expires_at_ms, p.properties, p.body, \
         p.sender_country, p.waits_document, p.waits_version"
    };
}
macro_rules! dead_cols {
    () => {
        "id, message_id, queue, properties, body, dead_at, reinjected_at"
    };
}
/// A parked message whose predecessor has committed: its case exists, and so does
/// the document (or the version of it) it waits for.
macro_rules! parked_ready {
    () => {
        "EXISTS (SELECT 1 FROM cases c WHERE c.case_id = p.case_id) AND (p.waits_document IS NULL \
         OR (p.waits_version IS NULL AND EXISTS (SELECT 1 FROM documents d WHERE d.document_id = p.waits_document)) \
         OR EXISTS (SELECT 1 FROM document_versions v WHERE v.document_id = p.waits_document AND v.version = p.waits_version))"
    };
}
/// The newest outbox row of one message id and kind.
macro_rules! outbox_by_message_id {
    () => {
        concat!(
            "SELECT ",
            out_cols!(),
            from_outbox_with_body!(),
            " WHERE o.message_id = ?1 AND o.kind = ?2 ORDER BY o.id DESC LIMIT 1"
        )
    };
}
/// Health's counts: literal statuses, so both planners read the status index
/// (`store::tests::health_counts_read_the_status_index` checks SQLite's plan).
pub(crate) const UNSETTLED_COUNTS: &str = "SELECT kind, status, COUNT(*) FROM outbox \
     WHERE status IN ('queued', 'retrying', 'failed') GROUP BY kind, status";
/// The statuses a relay claims from.
/// A timer that may be claimed at `?1` (ms): pending and due, or firing with its
/// lease ended (the instance that claimed it crashed or gave up).
macro_rules! timer_due {
    () => {
        "((status = 'pending' AND due_ms <= ?1) OR (status = 'firing' AND lease_until_ms <= ?1))"
    };
}

macro_rules! claimable {
    () => {
        "('queued', 'retrying', 'sent')"
    };
}

fn to_case(mut r: Row) -> Result<CaseRecord> {
    Ok(CaseRecord {
        case_id: r.parse(0, CaseId::parse)?,
        buc: r.parse(1, BucType::parse)?,
        sed_version: r.parse(2, SedVersion::parse)?,
        state: r.text(3)?,
        status: r.stored(4)?,
        created_at: r.text(5)?,
        updated_at: r.text(6)?,
        previous_state: r.opt_text(7)?,
    })
}

fn to_doc(mut r: Row) -> Result<DocumentRecord> {
    Ok(DocumentRecord {
        document_id: r.parse(0, DocumentId::parse)?,
        case_id: r.parse(1, CaseId::parse)?,
        sed: r.parse(2, SedType::parse)?,
        sender: r.parse(3, InstitutionId::parse)?,
        receiver: r.parse(4, InstitutionId::parse)?,
        direction: r.stored(5)?,
        status: r.stored(6)?,
        latest_version: r.u32(7)?,
        related: r.parse_opt(8, DocumentId::parse)?,
        created_at: r.text(9)?,
    })
}

fn to_out(mut r: Row) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: r.i64(0)?,
        message_id: r.text(1)?,
        kind: r.stored(2)?,
        exchange: r.text(3)?,
        routing_key: r.text(4)?,
        headers: r.headers(5)?,
        timestamp: r.i64(6)?,
        body: r.blob(7)?,
        status: r.stored(8)?,
        attempts: r.u32(9)?,
        next_attempt_ms: r.i64(10)?,
        first_attempt_ms: r.opt_i64(11)?,
        last_error: r.opt_text(12)?,
        case_id: r.parse_opt(13, CaseId::parse)?,
        document_id: r.parse_opt(14, DocumentId::parse)?,
        created_at: r.text(15)?,
        updated_at: r.text(16)?,
        body_version: r.opt_u32(17)?,
    })
}

fn to_inbox(mut r: Row) -> Result<InboxEntry> {
    Ok(InboxEntry {
        message_id: r.text(0)?,
        body_sha256: r.text(1)?,
        received_at: r.text(2)?,
        case_id: r.parse_opt(3, CaseId::parse)?,
        answer_kind: r.stored(4)?,
        answer_message_id: r.text(5)?,
        answer_routing_key: r.text(6)?,
        answer_headers: r.headers(7)?,
        answer_timestamp: r.i64(8)?,
        answer_body: r.blob(9)?,
        error_code: r.opt_text(10)?,
    })
}

fn to_participant(mut r: Row) -> Result<Participant> {
    Ok(Participant {
        institution: r.parse(0, InstitutionId::parse)?,
        role: r.parse(1, Role::parse)?,
    })
}

fn to_parked(mut r: Row) -> Result<ParkedMessage> {
    Ok(ParkedMessage {
        message_id: r.text(0)?,
        case_id: r.parse(1, CaseId::parse)?,
        parked_at_ms: r.i64(2)?,
        expires_at_ms: r.i64(3)?,
        properties: r.text(4)?,
        body: r.blob(5)?,
        sender_country: r.text(6)?,
        waits_document: r.parse_opt(7, DocumentId::parse)?,
        waits_version: r.opt_u32(8)?,
    })
}

fn to_dead(mut r: Row) -> Result<DeadLetter> {
    Ok(DeadLetter {
        id: r.i64(0)?,
        message_id: r.opt_text(1)?,
        queue: r.text(2)?,
        properties: r.text(3)?,
        body: r.blob(4)?,
        dead_at: r.text(5)?,
        reinjected_at: r.opt_text(6)?,
    })
}

fn all<T>(rows: Vec<Row>, decode: fn(Row) -> Result<T>) -> Result<Vec<T>> {
    rows.into_iter().map(decode).collect()
}

fn count(mut r: Row, i: usize) -> Result<u64> {
    let n = r.i64(i)?;
    u64::try_from(n).map_err(corrupt)
}

/// API listings: at most this many rows, and 100 when 0 is asked for `cases`.
fn list_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, 1000))
}

// ----- reads shared by transactions and snapshots -----

fn participants_of(conn: &mut impl Conn, case_id: &CaseId) -> Result<Vec<Participant>> {
    let rows = conn.query(
        "SELECT institution, role FROM participants WHERE case_id = ?1 ORDER BY {seq}",
        params![case_id.as_str()],
    )?;
    all(rows, to_participant)
}

fn conversations_of(conn: &mut impl Conn, case_id: &CaseId) -> Result<Vec<Conversation>> {
    conn.query(
        "SELECT counterparty, state, previous_state FROM conversations WHERE case_id = ?1 ORDER BY {seq}",
        params![case_id.as_str()],
    )?
    .into_iter()
    .map(|mut r| {
        Ok(Conversation {
            counterparty: r.parse(0, InstitutionId::parse)?,
            state: r.text(1)?,
            previous_state: r.opt_text(2)?,
        })
    })
    .collect()
}

fn documents_of(conn: &mut impl Conn, case_id: &CaseId) -> Result<Vec<DocumentRecord>> {
    let rows = conn.query(
        concat!(
            "SELECT ",
            doc_cols!(),
            " FROM documents WHERE case_id = ?1 ORDER BY created_at, {seq}"
        ),
        params![case_id.as_str()],
    )?;
    all(rows, to_doc)
}

fn case_of(
    conn: &mut impl Conn,
    sql: &'static str,
    case_id: &CaseId,
) -> Result<Option<CaseRecord>> {
    conn.query_opt(sql, params![case_id.as_str()])?
        .map(to_case)
        .transpose()
}

const CASE_GET: &str = concat!("SELECT ", case_cols!(), " FROM cases WHERE case_id = ?1");

// ----- the transaction -----

/// One write transaction on one connection of backend `B`; dropped without
/// `commit`, it rolls back.
pub struct SqlTx<'a, B: Backend + 'a> {
    conn: B::Guard<'a>,
    open: bool,
    _marked: Marked,
}

impl<'a, B: Backend + 'a> SqlTx<'a, B> {
    fn begin(backend: &'a B) -> Result<Self> {
        let mut conn = backend.writer()?;
        conn.begin(Begin::Write)?;
        Ok(SqlTx {
            conn,
            open: true,
            _marked: Marked::new(),
        })
    }

    fn finish(&mut self) -> Result<()> {
        let _timer = crate::telemetry::stage(crate::telemetry::Stage::StoreCommit).start();
        self.conn.commit()?;
        self.open = false;
        Ok(())
    }

    fn outbox_row(
        &mut self,
        sql: &'static str,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>> {
        self.conn
            .query_opt(sql, params![message_id, kind.as_str()])?
            .map(to_out)
            .transpose()
    }

    fn parked(&mut self, sql: &'static str, case_id: &CaseId) -> Result<Vec<ParkedMessage>> {
        let rows = self.conn.query(sql, params![case_id.as_str()])?;
        all(rows, to_parked)
    }
}

impl<'a, B: Backend + 'a> Drop for SqlTx<'a, B> {
    fn drop(&mut self) {
        if self.open {
            self.conn.rollback();
        }
    }
}

impl<'a, B: Backend + 'a> Tx for SqlTx<'a, B> {
    fn inbox_get(&mut self, message_id: &str) -> Result<Option<InboxEntry>> {
        self.conn
            .query_opt(
                concat!(
                    "SELECT ",
                    inbox_cols!(),
                    " FROM inbox WHERE message_id = ?1"
                ),
                params![message_id],
            )?
            .map(to_inbox)
            .transpose()
    }

    fn inbox_put(&mut self, e: &InboxEntry) -> Result<()> {
        let headers = serde_json::to_string(&e.answer_headers).map_err(corrupt)?;
        // A plain insert: if another transaction answered this message id first, this
        // fails on the key (`Conflict`; PostgreSQL waits for its commit first).
        self.conn.execute(
            concat!(
                "INSERT INTO inbox (",
                inbox_cols!(),
                ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
            ),
            params![
                &e.message_id,
                &e.body_sha256,
                &e.received_at,
                e.case_id.as_ref().map(|c| c.as_str()),
                e.answer_kind.as_str(),
                &e.answer_message_id,
                &e.answer_routing_key,
                &headers,
                e.answer_timestamp,
                &e.answer_body,
                &e.error_code,
            ],
        )?;
        Ok(())
    }

    fn inbox_refuse_parked(&mut self, e: &InboxEntry) -> Result<bool> {
        let headers = serde_json::to_string(&e.answer_headers).map_err(corrupt)?;
        let n = self.conn.execute(
            "UPDATE inbox SET answer_kind = ?2, answer_message_id = ?3, answer_routing_key = ?4, \
             answer_headers = ?5, answer_timestamp = ?6, answer_body = ?7, error_code = ?8 \
             WHERE message_id = ?1 AND answer_kind = 'receipt'",
            params![
                &e.message_id,
                e.answer_kind.as_str(),
                &e.answer_message_id,
                &e.answer_routing_key,
                &headers,
                e.answer_timestamp,
                &e.answer_body,
                &e.error_code,
            ],
        )?;
        Ok(n == 1)
    }

    fn case_get(&mut self, case_id: &CaseId) -> Result<Option<CaseRecord>> {
        case_of(&mut *self.conn, CASE_GET, case_id)
    }

    fn case_lock(&mut self, case_id: &CaseId) -> Result<Option<CaseRecord>> {
        // A transaction reads a case to decide its next state, then writes it: a
        // second transaction on the case waits for the first to end and then reads
        // the committed state, so no transition is lost.
        case_of(
            &mut *self.conn,
            concat!(
                "SELECT ",
                case_cols!(),
                " FROM cases WHERE case_id = ?1{lock: FOR UPDATE}"
            ),
            case_id,
        )
    }

    fn case_insert(&mut self, c: &CaseRecord) -> Result<()> {
        self.conn.execute(
            concat!(
                "INSERT INTO cases (",
                case_cols!(),
                ", sector) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)"
            ),
            params![
                c.case_id.as_str(),
                c.buc.as_str(),
                c.sed_version.as_str(),
                &c.state,
                c.status.as_str(),
                &c.created_at,
                &c.updated_at,
                &c.previous_state,
                sector_of(c.buc.as_str()),
            ],
        )?;
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
        let n = self.conn.execute(
            "UPDATE cases SET state = ?2, status = ?3, updated_at = ?4, \
             previous_state = COALESCE(?5, previous_state), \
             reply_due = CASE WHEN ?3 = 'closed' THEN NULL ELSE reply_due END \
             WHERE case_id = ?1 AND state = ?6",
            params![
                case_id.as_str(),
                state,
                status.as_str(),
                &now_rfc3339(),
                previous_state,
                from_state,
            ],
        )?;
        if n == 1 {
            return Ok(());
        }
        let now = self
            .conn
            .query_opt(
                "SELECT state FROM cases WHERE case_id = ?1",
                params![case_id.as_str()],
            )?
            .map(|mut r| r.text(0))
            .transpose()?;
        Err(moved_on("case", case_id.as_str(), from_state, now))
    }

    fn participants(&mut self, case_id: &CaseId) -> Result<Vec<Participant>> {
        participants_of(&mut *self.conn, case_id)
    }

    fn participant_add(&mut self, case_id: &CaseId, p: &Participant) -> Result<()> {
        self.conn.execute(
            "INSERT INTO participants (case_id, institution, role, country) VALUES (?1,?2,?3,?4) \
             ON CONFLICT (case_id, institution) DO NOTHING",
            params![
                case_id.as_str(),
                p.institution.as_str(),
                p.role.as_str(),
                p.institution.country().as_str()
            ],
        )?;
        Ok(())
    }

    fn participant_remove(&mut self, case_id: &CaseId, institution: &InstitutionId) -> Result<()> {
        self.conn.execute(
            "DELETE FROM participants WHERE case_id = ?1 AND institution = ?2",
            params![case_id.as_str(), institution.as_str()],
        )?;
        Ok(())
    }

    fn conversations(&mut self, case_id: &CaseId) -> Result<Vec<Conversation>> {
        conversations_of(&mut *self.conn, case_id)
    }

    fn conversation_put(&mut self, case_id: &CaseId, c: &Conversation) -> Result<()> {
        self.conn.execute(
            "INSERT INTO conversations (case_id, counterparty, state, previous_state) VALUES (?1,?2,?3,?4) \
             ON CONFLICT (case_id, counterparty) DO UPDATE SET state = excluded.state, previous_state = excluded.previous_state",
            params![
                case_id.as_str(),
                c.counterparty.as_str(),
                &c.state,
                &c.previous_state
            ],
        )?;
        Ok(())
    }

    fn document_set_status(
        &mut self,
        document_id: &DocumentId,
        from: &[DocumentStatus],
        status: DocumentStatus,
    ) -> Result<()> {
        let from: Vec<&str> = from.iter().map(|f| f.as_str()).collect();
        let n = self.conn.execute(
            "UPDATE documents SET status = ?2 WHERE document_id = ?1 AND status {in_text:?3}",
            params![document_id.as_str(), status.as_str(), &json_list(&from)?],
        )?;
        if n == 1 {
            return Ok(());
        }
        let now = self
            .conn
            .query_opt(
                "SELECT status FROM documents WHERE document_id = ?1",
                params![document_id.as_str()],
            )?
            .map(|mut r| r.text(0))
            .transpose()?;
        Err(moved_on(
            "document",
            document_id.as_str(),
            &from.join("|"),
            now,
        ))
    }

    fn documents(&mut self, case_id: &CaseId) -> Result<Vec<DocumentRecord>> {
        documents_of(&mut *self.conn, case_id)
    }

    fn document_get(&mut self, document_id: &DocumentId) -> Result<Option<DocumentRecord>> {
        self.conn
            .query_opt(
                concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents WHERE document_id = ?1"
                ),
                params![document_id.as_str()],
            )?
            .map(to_doc)
            .transpose()
    }

    fn document_insert(&mut self, d: &DocumentRecord) -> Result<()> {
        self.conn.execute(
            concat!(
                "INSERT INTO documents (",
                doc_cols!(),
                ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
            ),
            params![
                d.document_id.as_str(),
                d.case_id.as_str(),
                d.sed.as_str(),
                d.sender.as_str(),
                d.receiver.as_str(),
                d.direction.as_str(),
                d.status.as_str(),
                d.latest_version,
                d.related.as_ref().map(|r| r.as_str()),
                &d.created_at,
            ],
        )?;
        Ok(())
    }

    fn document_set_version(&mut self, document_id: &DocumentId, version: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE documents SET latest_version = ?2 WHERE document_id = ?1",
            params![document_id.as_str(), version],
        )?;
        Ok(())
    }

    fn version_get(
        &mut self,
        document_id: &DocumentId,
        version: u32,
    ) -> Result<Option<DocumentVersion>> {
        self.conn
            .query_opt(
                "SELECT message_id, content_sha256, envelope, created_at FROM document_versions \
                 WHERE document_id = ?1 AND version = ?2",
                params![document_id.as_str(), version],
            )?
            .map(|mut r| {
                Ok(DocumentVersion {
                    document_id: document_id.clone(),
                    version,
                    message_id: r.text(0)?,
                    content_sha256: r.text(1)?,
                    envelope: r.blob(2)?,
                    created_at: r.text(3)?,
                })
            })
            .transpose()
    }

    fn version_insert(&mut self, v: &DocumentVersion) -> Result<()> {
        self.conn.execute(
            "INSERT INTO document_versions (document_id, version, message_id, content_sha256, \
             envelope, created_at) VALUES (?1,?2,?3,?4,?5,?6)",
            params![
                v.document_id.as_str(),
                v.version,
                &v.message_id,
                &v.content_sha256,
                &v.envelope,
                &v.created_at,
            ],
        )?;
        Ok(())
    }

    fn history_append(&mut self, case_id: &CaseId, e: &HistoryEntry) -> Result<()> {
        self.conn.execute(
            "INSERT INTO history (case_id, at, event, detail, from_state, to_state, message_id, \
             document_id) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
            params![
                case_id.as_str(),
                &e.at,
                &e.event,
                &e.detail,
                &e.from_state,
                &e.to_state,
                &e.message_id,
                &e.document_id,
            ],
        )?;
        Ok(())
    }

    fn outbox_enqueue(&mut self, m: &OutboxMessage) -> Result<i64> {
        let headers = serde_json::to_string(&m.headers).map_err(corrupt)?;
        let id = self
            .conn
            .query_one(
                "INSERT INTO outbox (message_id, kind, exchange, routing_key, headers, timestamp, \
                 body_bytes, status, attempts, next_attempt_ms, first_attempt_ms, last_error, case_id, \
                 document_id, created_at, updated_at, body_version) \
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17) RETURNING id",
                params![
                    &m.message_id,
                    m.kind.as_str(),
                    &m.exchange,
                    &m.routing_key,
                    &headers,
                    m.timestamp,
                    m.body.len() as i64,
                    m.status.as_str(),
                    m.attempts,
                    m.next_attempt_ms,
                    m.first_attempt_ms,
                    &m.last_error,
                    m.case_id.as_ref().map(|c| c.as_str()),
                    m.document_id.as_ref().map(|d| d.as_str()),
                    &m.created_at,
                    &m.updated_at,
                    m.body_version,
                ],
            )?
            .i64(0)?;
        // A body that is a document version's envelope is read from there.
        if m.body_version.is_none() || m.document_id.is_none() {
            self.conn.execute(
                "INSERT INTO outbox_bodies (id, body) VALUES (?1, ?2)",
                params![id, &m.body],
            )?;
        }
        Ok(id)
    }

    fn outbox_by_message_id(
        &mut self,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>> {
        self.outbox_row(outbox_by_message_id!(), message_id, kind)
    }

    fn outbox_lock_by_message_id(
        &mut self,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>> {
        // Locked for the same reason as `case_lock`: the caller settles this message
        // from what it reads here.
        self.outbox_row(
            concat!(outbox_by_message_id!(), "{lock: FOR UPDATE OF o}"),
            message_id,
            kind,
        )
    }

    fn outbox_transition(&mut self, id: i64, kind: OutboxKind, c: &Change) -> Result<bool> {
        let from: Vec<&str> = allowed_from(kind, c.to)
            .iter()
            .map(|s| s.as_str())
            .collect();
        if from.is_empty() {
            return Ok(false);
        }
        let (set_error, error) = match &c.last_error {
            LastError::Keep => (false, None),
            LastError::Set(e) => (true, Some(e.as_str())),
        };
        // Times from the database's clock: see `outbox_claim`.
        let n = self.conn.execute(
            "UPDATE outbox SET status = ?3, attempts = attempts + ?4, \
             first_attempt_ms = CASE WHEN ?4 = 1 THEN COALESCE(first_attempt_ms, {now_ms}) ELSE first_attempt_ms END, \
             next_attempt_ms = COALESCE({now_ms} + ?5, next_attempt_ms), \
             last_error = CASE WHEN ?6 THEN ?7 ELSE last_error END, updated_at = ?8 \
             WHERE id = ?1 AND kind = ?2 AND status {in_text:?9}",
            params![
                id,
                kind.as_str(),
                c.to.as_str(),
                i64::from(c.attempt),
                c.due_in_ms,
                set_error,
                error,
                &now_rfc3339(),
                &json_list(&from)?,
            ],
        )?;
        Ok(n == 1)
    }

    fn outbox_resend(&mut self, id: i64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE outbox SET status = ?2, attempts = 0, first_attempt_ms = NULL, \
             next_attempt_ms = {now_ms}, last_error = NULL, updated_at = ?3 \
             WHERE id = ?1 AND status = ?4 AND body_pruned_at IS NULL",
            params![
                id,
                OutboxStatus::Queued.as_str(),
                &now_rfc3339(),
                OutboxStatus::Failed.as_str(),
            ],
        )?;
        Ok(n == 1)
    }

    fn parked_put(&mut self, p: &ParkedMessage) -> Result<()> {
        self.conn.execute(
            "INSERT INTO parked (message_id, case_id, parked_at_ms, expires_at_ms, properties, body, \
             sender_country, waits_document, waits_version) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            params![
                &p.message_id,
                p.case_id.as_str(),
                p.parked_at_ms,
                p.expires_at_ms,
                &p.properties,
                &p.body,
                &p.sender_country,
                p.waits_document.as_ref().map(|d| d.as_str()),
                p.waits_version,
            ],
        )?;
        Ok(())
    }

    fn parked_for_case(&mut self, case_id: &CaseId) -> Result<Vec<ParkedMessage>> {
        self.parked(
            concat!(
                "SELECT ",
                parked_cols!(),
                " FROM parked p WHERE p.case_id = ?1 ORDER BY p.parked_at_ms, p.{seq}{lock: FOR UPDATE}"
            ),
            case_id,
        )
    }

    fn parked_delete(&mut self, message_id: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM parked WHERE message_id = ?1",
            params![message_id],
        )? == 1)
    }

    fn parked_ready_for_case(&mut self, case_id: &CaseId) -> Result<Vec<ParkedMessage>> {
        self.parked(
            concat!(
                "SELECT ",
                parked_cols!(),
                " FROM parked p WHERE p.case_id = ?1 AND ",
                parked_ready!(),
                " ORDER BY p.parked_at_ms, p.{seq}{lock: FOR UPDATE OF p}"
            ),
            case_id,
        )
    }

    fn parked_counts(&mut self, case_id: &CaseId, sender_country: &str) -> Result<ParkedCounts> {
        let mut r = self.conn.query_one(
            "SELECT (SELECT COUNT(*) FROM parked WHERE case_id = ?1), COUNT(*), \
             CAST(COALESCE(SUM(length(body)), 0) AS BIGINT) FROM parked WHERE sender_country = ?2",
            params![case_id.as_str(), sender_country],
        )?;
        Ok(ParkedCounts {
            per_case: r.i64(0)? as u64,
            per_access_point: r.i64(1)? as u64,
            per_access_point_bytes: r.i64(2)? as u64,
        })
    }

    fn parked_exists(&mut self, case_id: &CaseId) -> Result<bool> {
        Ok(self
            .conn
            .query_opt(
                "SELECT 1 FROM parked WHERE case_id = ?1 LIMIT 1",
                params![case_id.as_str()],
            )?
            .is_some())
    }

    fn audit_append(&mut self, e: &AuditEntry) -> Result<()> {
        insert_audit(&mut *self.conn, e)
    }

    fn idempotency_claim(&mut self, r: &IdempotencyRecord) -> Result<bool> {
        let inserted = self.conn.query(
            "INSERT INTO idempotency (scope, idem_key, request_sha256, case_id, document_id, \
             document_version, message_id, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8) \
             ON CONFLICT (scope, idem_key) DO NOTHING RETURNING scope",
            params![
                &r.scope,
                &r.key,
                &r.request_sha256,
                r.case_id.as_str(),
                r.document_id.as_str(),
                r.document_version,
                &r.message_id,
                &r.created_at,
            ],
        )?;
        Ok(!inserted.is_empty())
    }

    fn idempotency_get_tx(&mut self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>> {
        idempotency_row(&mut *self.conn, scope, key)
    }

    fn idempotency_release(&mut self, scope: &str, key: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM idempotency WHERE scope = ?1 AND idem_key = ?2",
            params![scope, key],
        )?;
        Ok(())
    }

    fn triage_put(&mut self, e: &TriageEntry) -> Result<i64> {
        let rows = self.conn.query(
            "INSERT INTO triage (case_id, document_id, document_version, buc, sed, sender, \
             addressed, message_id, reason, status, created_at) \
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,'waiting',?10) RETURNING id",
            params![
                e.case_id.as_str(),
                e.document_id.as_str(),
                e.document_version,
                &e.buc,
                &e.sed,
                &e.sender,
                &e.addressed,
                &e.message_id,
                &e.reason,
                &now_rfc3339(),
            ],
        )?;
        rows.into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("INSERT … RETURNING gave no row".into()))?
            .i64(0)
    }

    fn case_national_destinations(&mut self, case_id: &CaseId) -> Result<Vec<InstitutionId>> {
        national_destinations(&mut *self.conn, case_id)
    }

    fn triage_settle(&mut self, id: i64, to: &str, by: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE triage SET status = 'delivered', assigned_to = ?2, assigned_by = ?3, \
             settled_at = ?4 WHERE id = ?1 AND status = 'waiting'",
            params![id, to, by, &now_rfc3339()],
        )?;
        Ok(n == 1)
    }

    fn timers_of(&mut self, case_id: &CaseId) -> Result<Vec<Timer>> {
        timers_of_case(&mut *self.conn, case_id)
    }

    fn timer_put(
        &mut self,
        case_id: &CaseId,
        what: TimerKind,
        subject: &str,
        due_ms: i64,
    ) -> Result<bool> {
        let now = now_rfc3339();
        let inserted = self.conn.query(
            "INSERT INTO timers (case_id, what, subject, due_ms, status, created_at, updated_at) \
             VALUES (?1,?2,?3,?4,'pending',?5,?5) \
             ON CONFLICT (case_id, what, subject, due_ms) DO NOTHING RETURNING id",
            params![case_id.as_str(), what.as_str(), subject, due_ms, &now],
        )?;
        Ok(!inserted.is_empty())
    }

    fn timer_transition(
        &mut self,
        id: i64,
        from: &[TimerStatus],
        to: TimerStatus,
        outcome: Option<&str>,
    ) -> Result<bool> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let n = self.conn.execute(
            "UPDATE timers SET status = ?3, outcome = COALESCE(CAST(?4 AS TEXT), outcome), \
             updated_at = ?5 WHERE id = ?1 AND status {in_text:?2}",
            params![id, &json_list(&from)?, to.as_str(), outcome, &now_rfc3339()],
        )?;
        Ok(n == 1)
    }

    fn draft_put(&mut self, d: &Draft, per_case_max: u32) -> Result<bool> {
        let k = &d.key;
        // One parameter list for both statements: the key is ?1..?5, the values
        // ?6..?9.
        let mut values = draft_key(k).to_vec();
        values.extend([
            Value::from(&d.token),
            Value::from(&d.field_values),
            Value::from(&d.updated_at),
            Value::from(&d.updated_by),
        ]);
        let values = values.as_slice();
        let updated = self.conn.execute(
            "UPDATE drafts SET token = ?6, field_values = ?7, updated_at = ?8, updated_by = ?9 \
             WHERE case_id = ?1 AND sender = ?2 AND sed = ?3 AND receiver = ?4 AND related = ?5",
            values,
        )?;
        if updated == 1 {
            return Ok(true);
        }
        let n = match self.conn.query_opt(
            "SELECT COUNT(*) FROM drafts WHERE case_id = ?1",
            params![k.case_id.as_str()],
        )? {
            Some(r) => count(r, 0)?,
            None => 0,
        };
        if n >= u64::from(per_case_max) {
            return Ok(false);
        }
        // A draft another request made meanwhile is replaced: the last writer wins.
        self.conn.execute(
            "INSERT INTO drafts (case_id, sender, sed, receiver, related, token, field_values, \
             updated_at, updated_by) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9) \
             ON CONFLICT (case_id, sender, sed, receiver, related) DO UPDATE SET \
             token = excluded.token, field_values = excluded.field_values, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            values,
        )?;
        Ok(true)
    }

    fn draft_delete(&mut self, k: &DraftKey) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM drafts WHERE case_id = ?1 AND sender = ?2 AND sed = ?3 AND receiver = ?4 \
             AND related = ?5",
            &draft_key(k),
        )?;
        Ok(n == 1)
    }

    fn case_persons_add(&mut self, case_id: &CaseId, persons: &[PersonKey]) -> Result<()> {
        for p in persons {
            self.conn.execute(
                "INSERT INTO case_persons (case_id, family, forename, birth_date, pin_country, pin) \
                 VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT DO NOTHING",
                params![
                    case_id.as_str(),
                    &p.family,
                    &p.forename,
                    &p.birth_date,
                    &p.pin_country,
                    &p.pin
                ],
            )?;
        }
        Ok(())
    }

    fn case_set_reply_due(&mut self, case_id: &CaseId, due: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE cases SET reply_due = ?2 WHERE case_id = ?1",
            params![case_id.as_str(), due],
        )?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.finish()
    }
}

/// A BUC's sector: its name before the first `_` (`LA_BUC_02` → `LA`).
pub fn sector_of(buc: &str) -> &str {
    buc.split_once('_').map_or("", |(s, _)| s)
}

/// A statement's parameter, owned: the case list builds its statement and
/// parameters together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Text(String),
    I64(i64),
}

impl Param {
    pub(crate) fn value(&self) -> Value<'_> {
        match self {
            Param::Text(t) => Value::Text(t),
            Param::I64(v) => Value::I64(*v),
        }
    }
}

/// The exclusive upper bound of the strings that start with `prefix`, bytewise:
/// the prefix with U+10FFFF appended (no name or PIN holds that character).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Beyond this many matching case ids, a set filter (a person, overdue) is
/// probed while the sort's index is walked instead of read first.
pub(crate) const BROAD: i64 = 2_000;

/// How the case list reads a set of case ids (a person's, the overdue ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Broad {
    /// The person filter matches more than `BROAD` cases.
    pub person: bool,
    /// More than `BROAD` cases are overdue.
    pub overdue: bool,
}

fn bind(ps: &mut Vec<Param>, p: Param) -> String {
    ps.push(p);
    format!("?{}", ps.len())
}

/// The person filter's condition on `case_persons cp`, if any.
fn person_condition(f: &CaseFilter, ps: &mut Vec<Param>) -> Option<String> {
    let text = |s: &str| Param::Text(s.to_owned());
    let mut person: Vec<String> = Vec::new();
    if let Some(name) = f.person_name.as_deref().filter(|n| !n.is_empty()) {
        let lo = bind(ps, text(name));
        let hi = bind(ps, Param::Text(prefix_end(name)));
        let mut alternatives = vec![
            format!("(cp.family >= {lo} AND cp.family < {hi})"),
            format!("(cp.forename >= {lo} AND cp.forename < {hi})"),
        ];
        // "family forename": the family name whole, the forename a prefix.
        if let Some((family, forename)) = name.split_once(' ') {
            let fam = bind(ps, text(family));
            let flo = bind(ps, text(forename));
            let fhi = bind(ps, Param::Text(prefix_end(forename)));
            alternatives.push(format!(
                "(cp.family = {fam} AND cp.forename >= {flo} AND cp.forename < {fhi})"
            ));
        }
        person.push(format!("({})", alternatives.join(" OR ")));
    }
    if let Some(d) = &f.birth_date {
        let n = bind(ps, text(d));
        person.push(format!("cp.birth_date = {n}"));
    }
    if let Some(pin) = &f.pin {
        let n = bind(ps, text(pin));
        person.push(format!("cp.pin = {n}"));
    }
    (!person.is_empty()).then(|| person.join(" AND "))
}

/// Bounded counts (at most `BROAD` + 1 index entries each) of the set filters
/// of `f`: which of them match many cases.
pub(crate) fn broad_counts(f: &CaseFilter) -> Vec<(&'static str, String, Vec<Param>)> {
    let mut out = Vec::new();
    let mut ps = Vec::new();
    if let Some(cond) = person_condition(f, &mut ps) {
        let n = bind(&mut ps, Param::I64(BROAD + 1));
        out.push((
            "person",
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM case_persons cp WHERE {cond} LIMIT {n}) x"
            ),
            ps,
        ));
    }
    if let Some(now) = &f.overdue_at {
        let mut ps = Vec::new();
        let at = bind(&mut ps, Param::Text(now.clone()));
        let n = bind(&mut ps, Param::I64(BROAD + 1));
        out.push((
            "overdue",
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM cases o WHERE o.reply_due <= {at} LIMIT {n}) x"
            ),
            ps,
        ));
    }
    out
}

/// The case list's statement for `f` with its parameters, `limit` rows: only the
/// filters given appear, each as a condition an index answers (V12), so that
/// both planners see the shape of this query and not a generic one. A set
/// filter (a person, overdue) that matches few cases is read first and its
/// cases sorted; one that matches many (`broad`) is probed while the sort's
/// index is walked (on SQLite, whose planner cannot know; PostgreSQL chooses
/// from its statistics either way).
pub(crate) fn case_list_query(f: &CaseFilter, limit: i64, broad: Broad) -> (String, Vec<Param>) {
    let mut sql = String::from(concat!(
        "SELECT ",
        case_cols_c!(),
        " FROM cases c WHERE 1 = 1"
    ));
    let mut ps: Vec<Param> = Vec::new();
    let text = |s: &str| Param::Text(s.to_owned());
    for (col, v) in [
        ("c.status", f.status.map(|s| s.as_str().to_owned())),
        ("c.buc", f.buc.as_ref().map(|b| b.to_string())),
        ("c.sector", f.sector.clone()),
        ("c.state", f.state.clone()),
    ] {
        if let Some(v) = v {
            let n = bind(&mut ps, Param::Text(v));
            sql.push_str(&format!(" AND {col} = {n}"));
        }
    }
    if let Some(now) = &f.overdue_at {
        let n = bind(&mut ps, text(now));
        if broad.overdue {
            // Many: the case's own column, checked on each row the sort's index
            // gives (PostgreSQL then walks that index too: 11 ms where the
            // self-join below took 140 ms at 10,000 overdue of a million).
            sql.push_str(&format!(" AND {{noindex:c.reply_due}} <= {n}"));
        } else {
            // Few: their ids first, from the covering index (reply_due, case_id).
            sql.push_str(&format!(
                " AND c.case_id IN (SELECT o.case_id FROM cases o WHERE o.reply_due <= {n})"
            ));
        }
    }
    for (col, op, v) in [
        ("c.created_at", ">=", &f.created_from),
        ("c.created_at", "<", &f.created_to),
        ("c.updated_at", ">=", &f.updated_from),
        ("c.updated_at", "<", &f.updated_to),
    ] {
        if let Some(v) = v {
            let n = bind(&mut ps, text(v));
            sql.push_str(&format!(" AND {col} {op} {n}"));
        }
    }
    // Participation: probed per case through the participants' key (case_id,
    // institution), in the order the sort index gives.
    for who in [&f.institution, &f.counterpart_institution]
        .into_iter()
        .flatten()
    {
        let n = bind(&mut ps, text(who.as_str()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM participants p WHERE p.case_id = c.case_id AND p.institution = {n})"
        ));
    }
    if let Some(country) = &f.counterpart_country {
        let n = bind(&mut ps, text(country.as_str()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM participants p WHERE p.case_id = c.case_id AND p.country = {n})"
        ));
    }
    // Rare by nature (what needs attention): the few case ids first, then their rows.
    if f.has_failed {
        sql.push_str(
            " AND c.case_id IN (SELECT o.case_id FROM outbox o WHERE o.status = 'failed')",
        );
    }
    if f.has_parked {
        sql.push_str(" AND c.case_id IN (SELECT k.case_id FROM parked k)");
    }
    if let Some(cond) = person_condition(f, &mut ps) {
        if broad.person {
            // Many: each case the sort's index gives is probed through the
            // persons' key (case_id first), not a set of thousands built first.
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM case_persons cp WHERE cp.case_id = c.case_id AND {cond})"
            ));
        } else {
            sql.push_str(&format!(
                " AND c.case_id IN (SELECT cp.case_id FROM case_persons cp WHERE {cond})"
            ));
        }
    }
    let (key, order) = match f.sort {
        CaseSort::Updated => ("c.updated_at", "c.updated_at DESC, c.case_id DESC"),
        CaseSort::Created => ("c.created_at", "c.created_at DESC, c.case_id DESC"),
        CaseSort::Id => ("c.case_id", "c.case_id"),
    };
    if let Some(after) = f.after.as_ref().filter(|a| a.sort == f.sort) {
        if f.sort == CaseSort::Id {
            let n = bind(&mut ps, text(after.case_id.as_str()));
            sql.push_str(&format!(" AND c.case_id > {n}"));
        } else {
            let k = bind(&mut ps, text(&after.key));
            let id = bind(&mut ps, text(after.case_id.as_str()));
            sql.push_str(&format!(" AND ({key}, c.case_id) < ({k}, {id})"));
        }
    }
    let n = bind(&mut ps, Param::I64(limit));
    sql.push_str(&format!(" ORDER BY {order} LIMIT {n}"));
    (sql, ps)
}

fn national_destinations(conn: &mut dyn Conn, case_id: &CaseId) -> Result<Vec<InstitutionId>> {
    conn.query(
        "SELECT routing_key FROM outbox WHERE case_id = ?1 AND kind = 'national' \
         GROUP BY routing_key ORDER BY MIN(id)",
        params![case_id.as_str()],
    )?
    .into_iter()
    .map(|mut r| r.parse(0, InstitutionId::parse))
    .collect()
}

macro_rules! timer_cols {
    () => {
        "id, case_id, what, subject, due_ms, status, outcome, lease_until_ms, attempts, \
         created_at, updated_at"
    };
}

fn to_timer(mut r: Row) -> Result<Timer> {
    Ok(Timer {
        id: r.i64(0)?,
        case_id: r.parse(1, CaseId::parse)?,
        what: r.stored(2)?,
        subject: r.text(3)?,
        due_ms: r.i64(4)?,
        status: r.stored(5)?,
        outcome: r.opt_text(6)?,
        lease_until_ms: r.i64(7)?,
        attempts: r.u32(8)?,
        created_at: r.text(9)?,
        updated_at: r.text(10)?,
    })
}

fn timers_of_case(conn: &mut dyn Conn, case_id: &CaseId) -> Result<Vec<Timer>> {
    let rows = conn.query(
        concat!(
            "SELECT ",
            timer_cols!(),
            " FROM timers WHERE case_id = ?1 ORDER BY id"
        ),
        params![case_id.as_str()],
    )?;
    all(rows, to_timer)
}

/// A draft's key as the first five parameters (`?1`..`?5`) of its statements
/// (`related` is '' for none: the key's columns are NOT NULL).
fn draft_key(k: &DraftKey) -> [Value<'_>; 5] {
    [
        Value::from(k.case_id.as_str()),
        Value::from(k.sender.as_str()),
        Value::from(k.sed.as_str()),
        Value::from(k.receiver.as_str()),
        Value::from(k.related.as_ref().map_or("", |r| r.as_str())),
    ]
}

macro_rules! draft_cols {
    () => {
        "case_id, sender, sed, receiver, related, token, field_values, updated_at, updated_by"
    };
}

fn to_draft(mut r: Row) -> Result<Draft> {
    let related = r.text(4)?;
    Ok(Draft {
        key: DraftKey {
            case_id: r.parse(0, CaseId::parse)?,
            sender: r.parse(1, InstitutionId::parse)?,
            sed: r.parse(2, SedType::parse)?,
            receiver: r.parse(3, InstitutionId::parse)?,
            related: if related.is_empty() {
                None
            } else {
                Some(DocumentId::parse(&related).map_err(corrupt)?)
            },
        },
        token: r.text(5)?,
        field_values: r.text(6)?,
        updated_at: r.text(7)?,
        updated_by: r.text(8)?,
    })
}

macro_rules! triage_cols {
    () => {
        "id, case_id, document_id, document_version, buc, sed, sender, addressed, \
         message_id, reason, status, created_at, assigned_to, assigned_by, settled_at"
    };
}

fn to_triage(mut r: Row) -> Result<TriageEntry> {
    Ok(TriageEntry {
        id: r.i64(0)?,
        case_id: r.parse(1, CaseId::parse)?,
        document_id: r.parse(2, DocumentId::parse)?,
        document_version: r.u32(3)?,
        buc: r.text(4)?,
        sed: r.text(5)?,
        sender: r.text(6)?,
        addressed: r.text(7)?,
        message_id: r.text(8)?,
        reason: r.text(9)?,
        status: r.stored(10)?,
        created_at: r.text(11)?,
        assigned_to: r.opt_text(12)?,
        assigned_by: r.opt_text(13)?,
        settled_at: r.opt_text(14)?,
    })
}

fn idempotency_row(
    conn: &mut dyn Conn,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>> {
    conn.query(
        "SELECT scope, idem_key, request_sha256, case_id, document_id, document_version, \
         message_id, created_at FROM idempotency WHERE scope = ?1 AND idem_key = ?2",
        params![scope, key],
    )?
    .into_iter()
    .next()
    .map(to_idempotency)
    .transpose()
}

fn to_idempotency(mut r: Row) -> Result<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        scope: r.text(0)?,
        key: r.text(1)?,
        request_sha256: r.text(2)?,
        case_id: r.parse(3, CaseId::parse)?,
        document_id: r.parse(4, DocumentId::parse)?,
        document_version: r.u32(5)?,
        message_id: r.text(6)?,
        created_at: r.text(7)?,
    })
}

/// `(kind, status, count)` rows as a map.
fn counts_per_kind_and_status(rows: Vec<Row>) -> Result<BTreeMap<(OutboxKind, OutboxStatus), u64>> {
    rows.into_iter()
        .map(|mut r| Ok(((r.stored(0)?, r.stored(1)?), count(r, 2)?)))
        .collect()
}

/// The one statement that writes the audit log (append-only: no update or delete).
fn insert_audit(conn: &mut dyn Conn, e: &AuditEntry) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, subject, institution, action, target, remote) VALUES (?1,?2,?3,?4,?5,?6)",
        params![&e.at, &e.subject, &e.institution, &e.action, &e.target, &e.remote],
    )?;
    Ok(())
}

// ----- the store -----

/// Run `read` in one read-only snapshot, so that a case and its parts are seen
/// as of one moment even while writers commit.
fn snapshot<B: Backend, T>(backend: &B, read: impl FnOnce(&mut B::Conn) -> Result<T>) -> Result<T> {
    let mut conn = backend.reader()?;
    conn.begin(Begin::Snapshot)?;
    match read(&mut conn) {
        Ok(v) => {
            conn.commit()?;
            Ok(v)
        }
        Err(e) => {
            conn.rollback();
            Err(e)
        }
    }
}

impl<B: Backend> Store for B {
    fn begin(&self) -> Result<Box<dyn Tx + '_>> {
        Ok(Box::new(SqlTx::begin(self)?))
    }

    fn case_record(&self, case_id: &CaseId) -> Result<Option<CaseRecord>> {
        snapshot(self, |conn| case_of(conn, CASE_GET, case_id))
    }

    fn case_detail(&self, case_id: &CaseId) -> Result<Option<CaseDetail>> {
        snapshot(self, |conn| {
            let Some(case) = case_of(conn, CASE_GET, case_id)? else {
                return Ok(None);
            };
            let participants = participants_of(conn, case_id)?;
            let conversations = conversations_of(conn, case_id)?;
            let mut versions: HashMap<String, Vec<DocumentVersion>> = HashMap::new();
            for mut r in conn.query(
                "SELECT v.document_id, v.version, v.message_id, v.content_sha256, \
                 v.created_at FROM document_versions v JOIN documents d ON d.document_id = v.document_id \
                 WHERE d.case_id = ?1 ORDER BY v.document_id, v.version",
                params![case_id.as_str()],
            )? {
                let id = r.text(0)?;
                let v = DocumentVersion {
                    document_id: DocumentId::parse(&id).map_err(corrupt)?,
                    version: r.u32(1)?,
                    message_id: r.text(2)?,
                    content_sha256: r.text(3)?,
                    // Loaded only when asked for (`document_envelope`).
                    envelope: Vec::new(),
                    created_at: r.text(4)?,
                };
                versions.entry(id).or_default().push(v);
            }
            let documents = documents_of(conn, case_id)?
                .into_iter()
                .map(|d| {
                    let vs = versions.remove(d.document_id.as_str()).unwrap_or_default();
                    (d, vs)
                })
                .collect();
            let history = conn
                .query(
                    "SELECT at, event, detail, from_state, to_state, message_id, document_id \
                     FROM history WHERE case_id = ?1 ORDER BY seq",
                    params![case_id.as_str()],
                )?
                .into_iter()
                .map(|mut r| {
                    Ok(HistoryEntry {
                        at: r.text(0)?,
                        event: r.text(1)?,
                        detail: r.text(2)?,
                        from_state: r.opt_text(3)?,
                        to_state: r.opt_text(4)?,
                        message_id: r.opt_text(5)?,
                        document_id: r.opt_text(6)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let messages = all(
                conn.query(
                    concat!(
                        "SELECT ",
                        out_cols_no_body!(),
                        " FROM outbox o WHERE o.case_id = ?1 ORDER BY o.id"
                    ),
                    params![case_id.as_str()],
                )?,
                to_out,
            )?;
            let timers = timers_of_case(conn, case_id)?;
            Ok(Some(CaseDetail {
                case,
                participants,
                conversations,
                documents,
                history,
                messages,
                timers,
            }))
        })
    }

    fn document_envelope(&self, document_id: &DocumentId, version: u32) -> Result<Option<Vec<u8>>> {
        self.reader()?
            .query_opt(
                "SELECT envelope FROM document_versions WHERE document_id = ?1 AND version = ?2",
                params![document_id.as_str(), version],
            )?
            .map(|mut r| r.blob(0))
            .transpose()
    }

    fn cases(&self, f: &CaseFilter) -> Result<Vec<(CaseRecord, Vec<Participant>)>> {
        // A page of at most 1000, and the one more that says whether a next exists.
        let limit = if f.limit == 0 {
            100
        } else {
            i64::from(f.limit.clamp(1, 1001))
        };
        snapshot(self, |conn| {
            let mut broad = Broad::default();
            for (what, sql, ps) in broad_counts(f) {
                let values: Vec<Value<'_>> = ps.iter().map(Param::value).collect();
                let many = conn
                    .query_text(&sql, &values)?
                    .into_iter()
                    .next()
                    .map(|r| count(r, 0))
                    .transpose()?
                    .unwrap_or(0)
                    > BROAD as u64;
                match what {
                    "person" => broad.person = many,
                    _ => broad.overdue = many,
                }
            }
            let (sql, ps) = case_list_query(f, limit, broad);
            let values: Vec<Value<'_>> = ps.iter().map(Param::value).collect();
            let cases = all(conn.query_text(&sql, &values)?, to_case)?;
            // The participants of every listed case in one query, not one per case.
            let ids: Vec<&str> = cases.iter().map(|c| c.case_id.as_str()).collect();
            let mut parts: HashMap<String, Vec<Participant>> = HashMap::new();
            for mut r in conn.query(
                "SELECT institution, role, case_id FROM participants \
                 WHERE case_id {in_text:?1} ORDER BY {seq}",
                params![&json_list(&ids)?],
            )? {
                let case_id = r.text(2)?;
                parts.entry(case_id).or_default().push(to_participant(r)?);
            }
            Ok(cases
                .into_iter()
                .map(|c| {
                    let p = parts.remove(c.case_id.as_str()).unwrap_or_default();
                    (c, p)
                })
                .collect())
        })
    }

    fn messages(&self, status: Option<OutboxStatus>, limit: u32) -> Result<Vec<OutboxMessage>> {
        self.messages_page(status, None, None, limit)
    }

    fn messages_page(
        &self,
        status: Option<OutboxStatus>,
        institution: Option<&InstitutionId>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let rows = self.reader()?.query(
            concat!(
                "SELECT ",
                out_cols!(),
                from_outbox_with_body!(),
                " WHERE (CAST(?1 AS TEXT) IS NULL OR o.status = ?1)",
                " AND (CAST(?2 AS TEXT) IS NULL OR ({json:o.headers} ->> 'eessi-from') = ?2",
                " OR ({json:o.headers} ->> 'eessi-to') = ?2)",
                " AND (CAST(?3 AS BIGINT) IS NULL OR o.id < ?3) ORDER BY o.id DESC LIMIT ?4"
            ),
            params![
                status.map(OutboxStatus::as_str),
                institution.map(|i| i.as_str()),
                before_id,
                list_limit(limit),
            ],
        )?;
        all(rows, to_out)
    }

    fn outbox_counts(&self) -> Result<BTreeMap<(OutboxKind, OutboxStatus), u64>> {
        counts_per_kind_and_status(self.reader()?.query(
            "SELECT kind, status, COUNT(*) FROM outbox GROUP BY kind, status",
            &[],
        )?)
    }

    fn outbox_unsettled_counts(&self) -> Result<BTreeMap<(OutboxKind, OutboxStatus), u64>> {
        counts_per_kind_and_status(self.reader()?.query(UNSETTLED_COUNTS, &[])?)
    }

    fn outbox_claim(
        &self,
        at: Option<i64>,
        limit: u32,
        bytes_max: u64,
        lease_ms: i64,
    ) -> Result<Claim> {
        // The time is the database's (unless a test gives one), so relays of
        // instances whose clocks differ agree on what is due and when a lease ends.
        // A national queue gets one case's messages in case order: a delivery or
        // notice waits while an earlier one of its case to the same institution is
        // unsettled (queued or retrying), so it is published only after the broker
        // confirmed that one (or it failed).
        // SKIP LOCKED (PostgreSQL): rows another instance is claiming right now are
        // left to it. First the due rows' ids and sizes (no bodies), locked; then the
        // prefix within `bytes_max` is leased and read; the rest is unlocked at commit.
        let mut tx = SqlTx::begin(self)?;
        let due = tx
            .conn
            .query(
                concat!(
                    "WITH now AS (SELECT COALESCE(CAST(?1 AS BIGINT), {now_ms}) AS ms) \
                     SELECT o.id, o.body_bytes, o.next_attempt_ms, now.ms FROM outbox o, now \
                     WHERE o.status IN ",
                    claimable!(),
                    " AND o.next_attempt_ms <= now.ms AND (o.status <> 'sent' OR o.kind = 'sed') \
                     AND NOT (o.kind IN ('national', 'notice') AND EXISTS (SELECT 1 FROM outbox e \
                     WHERE e.case_id = o.case_id AND e.routing_key = o.routing_key \
                     AND e.kind IN ('national', 'notice') AND e.status IN ('queued', 'retrying') \
                     AND e.id < o.id)) \
                     ORDER BY o.next_attempt_ms, o.id LIMIT ?2{lock: FOR UPDATE OF o SKIP LOCKED}"
                ),
                params![at, limit],
            )?
            .into_iter()
            .map(|mut r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?, r.i64(3)?)))
            .collect::<Result<Vec<_>>>()?;
        let Some(now_ms) = due.first().map(|d| d.3) else {
            let now_ms = match at {
                Some(at) => at,
                None => tx.conn.query_one("SELECT {now_ms}", &[])?.i64(0)?,
            };
            tx.finish()?;
            return Ok(Claim {
                now_ms,
                messages: Vec::new(),
            });
        };
        let take = super::outbox::rows_within(due.iter().map(|d| d.1), bytes_max);
        let ids: Vec<i64> = due[..take].iter().map(|d| d.0).collect();
        let was: HashMap<i64, i64> = due[..take].iter().map(|d| (d.0, d.2)).collect();
        // A `sent` SED that is due has no receipt within its interval: `retrying`.
        let leased = tx
            .conn
            .query(
                concat!(
                    "UPDATE outbox SET next_attempt_ms = ?2, \
                     status = CASE WHEN status = 'sent' THEN 'retrying' ELSE status END \
                     WHERE id {in_int:?1} AND status IN ",
                    claimable!(),
                    " RETURNING id"
                ),
                params![&json_list(&ids)?, now_ms + lease_ms],
            )?
            .into_iter()
            .map(|mut r| r.i64(0))
            .collect::<Result<Vec<i64>>>()?;
        // The rows as leased, with their bodies (a row of its own since V7, so the
        // lease above did not rewrite them).
        let rows = tx.conn.query(
            concat!(
                "SELECT ",
                out_cols!(),
                from_outbox_with_body!(),
                " WHERE o.id {in_int:?1}"
            ),
            params![&json_list(&leased)?],
        )?;
        let mut messages = rows
            .into_iter()
            .map(|r| {
                let mut m = to_out(r)?;
                // The caller sees the row as it was due, not with the lease.
                m.next_attempt_ms = was.get(&m.id).copied().unwrap_or(m.next_attempt_ms);
                Ok(m)
            })
            .collect::<Result<Vec<_>>>()?;
        messages.sort_by_key(|m| (m.next_attempt_ms, m.id));
        tx.finish()?;
        Ok(Claim { now_ms, messages })
    }

    fn parked_expired(&self, now_ms: i64, limit: u32) -> Result<Vec<ParkedMessage>> {
        let rows = self.reader()?.query(
            concat!(
                "SELECT ",
                parked_cols!(),
                " FROM parked p WHERE p.expires_at_ms <= ?1 ORDER BY p.expires_at_ms, p.{seq} LIMIT ?2"
            ),
            params![now_ms, limit],
        )?;
        all(rows, to_parked)
    }

    fn parked_count(&self) -> Result<u64> {
        count(
            self.reader()?
                .query_one("SELECT COUNT(*) FROM parked", &[])?,
            0,
        )
    }

    fn parked_ready_cases(&self, limit: u32) -> Result<Vec<CaseId>> {
        self.reader()?
            .query(
                concat!(
                    "SELECT DISTINCT p.case_id FROM parked p WHERE ",
                    parked_ready!(),
                    " LIMIT ?1"
                ),
                params![limit],
            )?
            .into_iter()
            .map(|mut r| r.parse(0, CaseId::parse))
            .collect()
    }

    fn dead_letter_put(&self, d: &DeadLetter) -> Result<i64> {
        self.writer()?
            .query_one(
                "INSERT INTO dead_letters (message_id, queue, properties, body, dead_at, reinjected_at) \
                 VALUES (?1,?2,?3,?4,?5,?6) RETURNING id",
                params![
                    &d.message_id,
                    &d.queue,
                    &d.properties,
                    &d.body,
                    &d.dead_at,
                    &d.reinjected_at
                ],
            )?
            .i64(0)
    }

    fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        let rows = self.reader()?.query(
            concat!(
                "SELECT ",
                dead_cols!(),
                " FROM dead_letters ORDER BY id DESC LIMIT ?1"
            ),
            params![list_limit(limit)],
        )?;
        all(rows, to_dead)
    }

    fn dead_letter_get(&self, id: i64) -> Result<Option<DeadLetter>> {
        self.reader()?
            .query_opt(
                concat!("SELECT ", dead_cols!(), " FROM dead_letters WHERE id = ?1"),
                params![id],
            )?
            .map(to_dead)
            .transpose()
    }

    fn dead_letter_mark_reinjected(&self, id: i64) -> Result<()> {
        self.writer()?.execute(
            "UPDATE dead_letters SET reinjected_at = ?2 WHERE id = ?1",
            params![id, &now_rfc3339()],
        )?;
        Ok(())
    }

    fn audit_append(&self, e: &AuditEntry) -> Result<()> {
        insert_audit(&mut *self.writer()?, e)
    }

    fn idempotency_get(&self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>> {
        idempotency_row(&mut *self.reader()?, scope, key)
    }

    fn triage_list(&self, status: Option<TriageStatus>, limit: u32) -> Result<Vec<TriageEntry>> {
        let rows = self.reader()?.query(
            concat!(
                "SELECT ",
                triage_cols!(),
                " FROM triage WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) ORDER BY id LIMIT ?2"
            ),
            params![status.map(|s| s.as_str()), list_limit(limit)],
        )?;
        all(rows, to_triage)
    }

    fn triage_get(&self, id: i64) -> Result<Option<TriageEntry>> {
        self.reader()?
            .query_opt(
                concat!("SELECT ", triage_cols!(), " FROM triage WHERE id = ?1"),
                params![id],
            )?
            .map(to_triage)
            .transpose()
    }

    fn case_national_destinations(&self, case_id: &CaseId) -> Result<Vec<InstitutionId>> {
        national_destinations(&mut *self.reader()?, case_id)
    }

    fn timer_claim(&self, now_ms: i64, limit: u32, lease_ms: i64) -> Result<Vec<Timer>> {
        // The ids first, locked (SKIP LOCKED on PostgreSQL: rows another instance
        // is claiming are left to it); then the compare-and-set, guarded again by
        // the status and the due time, so a row that moved meanwhile is not taken.
        let mut tx = SqlTx::begin(self)?;
        let ids = tx
            .conn
            .query(
                concat!(
                    "SELECT id FROM timers WHERE ",
                    timer_due!(),
                    " ORDER BY due_ms, id LIMIT ?2{lock: FOR UPDATE SKIP LOCKED}"
                ),
                params![now_ms, list_limit(limit)],
            )?
            .into_iter()
            .map(|mut r| r.i64(0))
            .collect::<Result<Vec<_>>>()?;
        if ids.is_empty() {
            tx.finish()?;
            return Ok(Vec::new());
        }
        let rows = tx.conn.query(
            concat!(
                "UPDATE timers SET status = 'firing', lease_until_ms = ?3, \
                 attempts = attempts + 1, updated_at = ?4 WHERE id {in_int:?2} AND ",
                timer_due!(),
                " RETURNING ",
                timer_cols!()
            ),
            params![
                now_ms,
                &json_list(&ids)?,
                now_ms.saturating_add(lease_ms),
                &now_rfc3339()
            ],
        )?;
        let mut claimed = all(rows, to_timer)?;
        tx.finish()?;
        claimed.sort_by_key(|t| (t.due_ms, t.id));
        Ok(claimed)
    }

    fn timers(&self, f: &TimerFilter) -> Result<Vec<Timer>> {
        let rows = self.reader()?.query(
            concat!(
                "SELECT ",
                timer_cols!(),
                " FROM timers WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) \
                 AND (CAST(?2 AS BIGINT) IS NULL OR due_ms < ?2) ORDER BY due_ms, id LIMIT ?3"
            ),
            params![
                f.status.map(|s| s.as_str()),
                f.due_before_ms,
                list_limit(f.limit)
            ],
        )?;
        all(rows, to_timer)
    }

    fn timers_of_case(&self, case_id: &CaseId) -> Result<Vec<Timer>> {
        timers_of_case(&mut *self.reader()?, case_id)
    }

    fn cases_with_failed(&self, case_ids: &[CaseId]) -> Result<std::collections::HashSet<CaseId>> {
        if case_ids.is_empty() {
            return Ok(Default::default());
        }
        let ids: Vec<&str> = case_ids.iter().map(|c| c.as_str()).collect();
        let rows = self.reader()?.query(
            "SELECT DISTINCT case_id FROM outbox WHERE status = 'failed' AND case_id {in_text:?1}",
            params![&json_list(&ids)?],
        )?;
        rows.into_iter()
            .map(|mut r| r.parse(0, CaseId::parse))
            .collect()
    }

    fn draft_get(&self, k: &DraftKey) -> Result<Option<Draft>> {
        let row = self.reader()?.query_opt(
            concat!(
                "SELECT ",
                draft_cols!(),
                " FROM drafts WHERE case_id = ?1 AND sender = ?2 AND sed = ?3 AND receiver = ?4 \
                 AND related = ?5"
            ),
            &draft_key(k),
        )?;
        row.map(to_draft).transpose()
    }

    fn drafts_of_case(&self, case_id: &CaseId) -> Result<Vec<Draft>> {
        let rows = self.reader()?.query(
            concat!(
                "SELECT ",
                draft_cols!(),
                " FROM drafts WHERE case_id = ?1 ORDER BY updated_at"
            ),
            params![case_id.as_str()],
        )?;
        all(rows, to_draft)
    }

    fn triage_waiting(&self) -> Result<u64> {
        let rows = self
            .reader()?
            .query("SELECT COUNT(*) FROM triage WHERE status = 'waiting'", &[])?;
        match rows.into_iter().next() {
            Some(r) => count(r, 0),
            None => Ok(0),
        }
    }

    fn audit_list(&self, institution: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.reader()?
            .query(
                "SELECT at, subject, institution, action, target, remote FROM audit \
                 WHERE (CAST(?1 AS TEXT) IS NULL OR institution = ?1) ORDER BY seq DESC LIMIT ?2",
                params![institution, list_limit(limit)],
            )?
            .into_iter()
            .map(|mut r| {
                Ok(AuditEntry {
                    at: r.text(0)?,
                    subject: r.text(1)?,
                    institution: r.opt_text(2)?,
                    action: r.text(3)?,
                    target: r.text(4)?,
                    remote: r.opt_text(5)?,
                })
            })
            .collect()
    }

    fn ping(&self) -> Result<()> {
        self.reader()?.query("SELECT 1", &[])?;
        Ok(())
    }

    fn prune(&self, p: &Prune) -> Result<Pruned> {
        use super::retention::{final_pairs, late_pairs, rfc3339};
        let limit = i64::from(p.limit);
        // Each statement commits on its own: one short write each. Rows another
        // transaction holds (PostgreSQL; a receipt settling a delivered SED right now)
        // are skipped: they are pruned by a later run.
        // The outbox row says it was pruned and its body goes, together.
        let outbox_bodies = {
            let mut tx = SqlTx::begin(self)?;
            let pruned = tx
                .conn
                .query(
                    "UPDATE outbox SET body_bytes = 0, body_pruned_at = ?1 WHERE id IN (\
                     SELECT id FROM outbox WHERE body_pruned_at IS NULL AND updated_at{bytewise} < ?2 \
                     AND ((kind || '/' || status) {in_text:?3} \
                     OR ((kind || '/' || status) {in_text:?4} AND updated_at{bytewise} < ?5)) \
                     ORDER BY updated_at{bytewise} LIMIT ?6{lock: FOR UPDATE SKIP LOCKED}) \
                     RETURNING id",
                    params![
                        &rfc3339(p.now_ms),
                        &rfc3339(p.body_before_ms),
                        &json_list(&final_pairs())?,
                        &json_list(&late_pairs())?,
                        &rfc3339(p.inbox_before_ms),
                        limit,
                    ],
                )?
                .into_iter()
                .map(|mut r| r.i64(0))
                .collect::<Result<Vec<i64>>>()?;
            tx.conn.execute(
                "DELETE FROM outbox_bodies WHERE id {in_int:?1}",
                params![&json_list(&pruned)?],
            )?;
            tx.finish()?;
            pruned.len() as u64
        };
        let mut conn = self.writer()?;
        // A message still parked keeps the answer it will replace (inbox_refuse_parked).
        let inbox_rows = conn.execute(
            "DELETE FROM inbox WHERE message_id IN (SELECT i.message_id FROM inbox i \
             WHERE i.received_at{bytewise} < ?1 \
             AND NOT EXISTS (SELECT 1 FROM parked p WHERE p.message_id = i.message_id) \
             ORDER BY i.received_at{bytewise} LIMIT ?2{lock: FOR UPDATE OF i SKIP LOCKED})",
            params![&rfc3339(p.inbox_before_ms), limit],
        )?;
        let history_rows = if p.history_before.is_empty() {
            0
        } else {
            conn.execute(
                "DELETE FROM history WHERE seq IN (SELECT seq FROM history \
                 WHERE at{bytewise} < ?1 ORDER BY at{bytewise} LIMIT ?2{lock: FOR UPDATE SKIP LOCKED})",
                params![&p.history_before, limit],
            )?
        };
        // A key answers retries for as long as a message answers duplicates.
        let idempotency_rows = conn.execute(
            "DELETE FROM idempotency WHERE (scope, idem_key) IN (SELECT scope, idem_key \
             FROM idempotency WHERE created_at{bytewise} < ?1 ORDER BY created_at{bytewise} \
             LIMIT ?2{lock: FOR UPDATE SKIP LOCKED})",
            params![&rfc3339(p.inbox_before_ms), limit],
        )?;
        // A delivered triage entry goes with the history of its period; a waiting
        // one stays until it is assigned.
        let triage_rows = if p.history_before.is_empty() {
            0
        } else {
            conn.execute(
                "DELETE FROM triage WHERE id IN (SELECT id FROM triage WHERE status = 'delivered' \
                 AND settled_at{bytewise} < ?1 ORDER BY id LIMIT ?2{lock: FOR UPDATE SKIP LOCKED})",
                params![&p.history_before, limit],
            )?
        };
        let timer_rows = if p.history_before.is_empty() {
            0
        } else {
            conn.execute(
                "DELETE FROM timers WHERE id IN (SELECT id FROM timers \
                 WHERE status IN ('fired', 'cancelled', 'failed') AND updated_at{bytewise} < ?1 \
                 ORDER BY id LIMIT ?2{lock: FOR UPDATE SKIP LOCKED})",
                params![&p.history_before, limit],
            )?
        };
        Ok(Pruned {
            timer_rows,
            outbox_bodies,
            inbox_rows,
            history_rows,
            idempotency_rows,
            triage_rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_writes_each_dialect() {
        let sql = "SELECT x FROM t WHERE a = ?1 AND b {in_text:?2} AND c = '?' ORDER BY t.{seq}{lock: FOR UPDATE}";
        assert_eq!(
            render(sql, Dialect::Sqlite),
            "SELECT x FROM t WHERE a = ?1 AND b IN (SELECT value FROM json_each(?2)) AND c = '?' ORDER BY t.rowid"
        );
        assert_eq!(
            render(sql, Dialect::Postgres),
            "SELECT x FROM t WHERE a = $1 AND b IN (SELECT value FROM json_array_elements_text(CAST(CAST($2 AS TEXT) AS JSON))) AND c = '?' ORDER BY t.seq FOR UPDATE"
        );
    }

    #[test]
    fn in_transaction_follows_the_thread_s_open_write_transactions() {
        assert!(!in_transaction());
        let outer = Marked::new();
        assert!(in_transaction());
        let inner = Marked::new();
        drop(outer);
        assert!(in_transaction(), "one is still open");
        // Another thread holds none.
        assert!(!std::thread::spawn(in_transaction).join().unwrap());
        drop(inner);
        assert!(!in_transaction());
    }
}
