//! The PostgreSQL store, for several switch instances sharing one database (issue
//! 4). It keeps the SQLite store's tables, columns and semantics: one database
//! transaction per `Store::begin`, rolled back when the `Tx` is dropped without
//! `commit`. The schema is brought up to date at start-up by the recorded
//! migration list (`migrate.rs`).
//!
//! Blocking, on purpose: the `postgres` crate is the synchronous face of
//! `tokio-postgres` and drives every call on a small runtime of its own. Calling it
//! from a thread that is already driving a tokio runtime (an async task, or the
//! thread inside `#[tokio::main]`) panics with "cannot start a runtime from within a
//! runtime". The switch calls the store from `spawn_blocking` threads, where that is
//! fine. `open` (which `Switch::build` reaches from async code) and dropping the
//! store (at the end of an async `serve`) do their blocking on short-lived threads
//! of their own, so both are safe from anywhere.
//!
//! Crates: `postgres` (maintained with `tokio-postgres` by the same people) and
//! `r2d2` for the pool. `r2d2` is feature-complete and changes rarely, but it is the
//! pool the `postgres` author wrote for this client and it does what we need (bounded
//! size, checkout timeout, health checks, discarding broken connections). The small
//! `r2d2_postgres` adapter is not used: our own `Manager` also discards a
//! connection whose transaction did not end cleanly, so no connection goes back to
//! the pool in the middle of a transaction.
//!
//! TLS (`[store] ca_file`): `postgres-openssl`, the `postgres` authors' connector
//! on the OpenSSL the project links already (lapin and the signing code use it).
//! Only the configured CA is trusted and the server's certificate must name the
//! URL's host, as libpq's `sslmode=verify-full`; a server without TLS is refused.
//! The pool's size is `[store] pool_size` (the inbound lanes, the relay and the
//! API's blocking reads together rarely need more than the default 16).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use ::postgres::types::ToSql;
use ::postgres::{Client, NoTls, Row, Statement};

use super::*;
use crate::ids::{BucType, CaseId, DocumentId, InstitutionId, Role, SedType, SedVersion};

/// How long a caller waits for a pooled connection (or a first connection) before
/// the store reports itself unavailable (a transient error for the switch).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `pg_advisory_lock` key that serialises migrations across instances
/// starting at once ("EESSISCH" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x4545_5353_4953_4348;

/// A `postgres::Error` as a store error. Its `Display` alone says only "db error"
/// for server errors and hides the cause of the others, so both are spelled out.
fn db(e: ::postgres::Error) -> StoreError {
    use ::postgres::error::SqlState;
    let text = describe(&e);
    match e.code() {
        Some(c)
            if *c == SqlState::UNIQUE_VIOLATION
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Conflict(text)
        }
        Some(c)
            if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW =>
        {
            StoreError::Unavailable(text)
        }
        Some(_) => StoreError::Db(text),
        // No SQL state: the connection itself failed (closed, refused, reset).
        None => StoreError::Unavailable(text),
    }
}

fn describe(e: &::postgres::Error) -> String {
    if let Some(d) = e.as_db_error() {
        return d.to_string();
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// One pooled connection with its prepared statements.
pub struct Conn {
    client: Client,
    /// Prepared per connection: a statement prepared once saves a round trip on
    /// every later use. Keys are the `&'static str` SQL texts below.
    statements: HashMap<&'static str, Statement>,
    /// True from `BEGIN` until the transaction ended cleanly; a connection returned
    /// to the pool in this state is discarded instead of reused.
    in_tx: bool,
    /// A statement failed in the current transaction. PostgreSQL then aborts the
    /// transaction and answers `COMMIT` with a silent rollback, so `commit` must
    /// report it instead of pretending success.
    failed: bool,
}

impl Conn {
    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(db)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let r = self
            .statement(sql)
            .and_then(|st| self.client.query(&st, params).map_err(db));
        self.failed |= r.is_err();
        r
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let r = self
            .statement(sql)
            .and_then(|st| self.client.query_opt(&st, params).map_err(db));
        self.failed |= r.is_err();
        r
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let r = self
            .statement(sql)
            .and_then(|st| self.client.execute(&st, params).map_err(db));
        self.failed |= r.is_err();
        r
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        let r = self.client.batch_execute(sql).map_err(db);
        self.failed |= r.is_err();
        r
    }

    fn begin(&mut self, mode: &str) -> Result<()> {
        // Marked first, so that a connection whose BEGIN failed half-way is discarded.
        self.in_tx = true;
        self.failed = false;
        self.batch(mode)
    }

    fn commit(&mut self) -> Result<()> {
        if self.failed {
            return Err(StoreError::Db(
                "a statement of this transaction failed: it was rolled back".into(),
            ));
        }
        self.batch("COMMIT")?;
        self.in_tx = false;
        Ok(())
    }

    fn rollback(&mut self) {
        // A failed ROLLBACK leaves `in_tx` set, so the pool drops the connection and
        // the server rolls back when it closes.
        if self.client.batch_execute("ROLLBACK").is_ok() {
            self.in_tx = false;
        }
    }
}

/// The pool's connection manager: `r2d2_postgres`'s, plus the transaction check.
struct Manager {
    config: ::postgres::Config,
    /// Some: every connection is TLS, verified against the configured CA.
    tls: Option<postgres_openssl::MakeTlsConnector>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = StoreError;

    fn connect(&self) -> Result<Conn> {
        Ok(Conn {
            client: match &self.tls {
                Some(tls) => self.config.connect(tls.clone()).map_err(db)?,
                None => self.config.connect(NoTls).map_err(db)?,
            },
            statements: HashMap::new(),
            in_tx: false,
            failed: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<()> {
        // One round trip per checkout: a connection the server closed (restart,
        // failover) is replaced before use instead of failing a transaction.
        conn.client.simple_query("").map(|_| ()).map_err(db)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.in_tx || conn.client.is_closed()
    }
}

/// The PostgreSQL store: a pool of connections to one database.
pub struct PostgresStore {
    /// Always `Some` until `drop`, which takes it to close the connections on a
    /// thread of its own.
    pool: Option<r2d2::Pool<Manager>>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closing a sync client blocks on its runtime, and dropping that runtime is
        // refused on a thread that drives another: the switch drops its store at the
        // end of an async `serve`. Close the pool where blocking is allowed.
        if let Some(pool) = self.pool.take() {
            std::thread::scope(|s| {
                s.spawn(move || drop(pool));
            });
        }
    }
}

impl PostgresStore {
    /// Connect to `postgres://...` or `postgresql://...` and migrate the schema.
    pub fn open(url: &str) -> Result<PostgresStore> {
        PostgresStore::open_with(url, &StoreOptions::default())
    }

    /// `open`, with the pool size and TLS of `options`.
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<PostgresStore> {
        let config: ::postgres::Config = url
            .parse()
            .map_err(|e| other(format!("invalid PostgreSQL URL: {}", describe(&e))))?;
        PostgresStore::connect_with(config, options)
    }

    /// Connect with a parsed configuration and migrate the schema.
    pub fn connect(config: ::postgres::Config) -> Result<PostgresStore> {
        PostgresStore::connect_with(config, &StoreOptions::default())
    }

    /// `connect`, with the pool size and TLS of `options`.
    pub fn connect_with(
        mut config: ::postgres::Config,
        options: &StoreOptions,
    ) -> Result<PostgresStore> {
        let tls = match &options.ca_file {
            Some(ca) => {
                if config.get_ssl_mode() == ::postgres::config::SslMode::Disable {
                    return Err(other("a CA file is set but the URL says sslmode=disable"));
                }
                // TLS or nothing: no fall back to a plain connection.
                config.ssl_mode(::postgres::config::SslMode::Require);
                Some(tls_connector(ca)?)
            }
            None => None,
        };
        if config.get_application_name().is_none() {
            // Names our sessions in pg_stat_activity for operators.
            config.application_name("eessi-switch");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CHECKOUT_TIMEOUT);
        }
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            // Open lazily: one connection proves the server is there, the rest come
            // when load needs them.
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .error_handler(Box::new(LogError))
            .build(Manager { config, tls })
            .map_err(|e| other(format!("cannot connect to PostgreSQL: {e}")))?;
        let store = PostgresStore { pool: Some(pool) };
        // The sync client may not block a thread that drives a runtime; see the
        // file's opening comment.
        std::thread::scope(|s| {
            s.spawn(|| store.migrate())
                .join()
                .map_err(|_| other("the migration thread panicked"))
        })??;
        Ok(store)
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.pool
            .as_ref()
            .ok_or_else(|| other("the store is closed"))?
            .get()
            .map_err(|e| StoreError::Unavailable(format!("no PostgreSQL connection: {e}")))
    }

    /// Apply the missing migrations (`migrate.rs`) on a connection of their own,
    /// under a session advisory lock: a second instance starting at the same moment
    /// waits, then finds nothing to do. Should anything fail, the connection is
    /// discarded, and its session's lock with it.
    fn migrate(&self) -> Result<()> {
        let mut conn = self.conn()?;
        // Until the lock is released cleanly, the pool must not reuse this session.
        conn.in_tx = true;
        conn.client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .map_err(db)?;
        // "relation already exists, skipping" on every start is noise, not news.
        conn.client
            .batch_execute("SET client_min_messages = warning")
            .map_err(db)?;
        super::migrate::postgres(&mut conn.client)?;
        conn.client
            .batch_execute("RESET client_min_messages")
            .map_err(db)?;
        conn.client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
            .map_err(db)?;
        conn.in_tx = false;
        Ok(())
    }

    /// Run `read` in one read-only snapshot, so that a case and its parts are seen
    /// as of one moment even while writers commit.
    fn snapshot<T>(&self, read: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        conn.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let out = read(&mut conn);
        match out {
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
}

/// A TLS connector that trusts the CA in `ca_file` alone and checks the host name
/// (OpenSSL's defaults for a client: peer verification and the name check are on).
fn tls_connector(ca_file: &std::path::Path) -> Result<postgres_openssl::MakeTlsConnector> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    use openssl::x509::X509;
    use openssl::x509::store::X509StoreBuilder;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        other(format!("PostgreSQL TLS: {what} {}: {e}", ca_file.display()))
    };
    let pem = std::fs::read(ca_file).map_err(|e| fail("cannot read", &e))?;
    let certs = X509::stack_from_pem(&pem).map_err(|e| fail("no PEM certificate in", &e))?;
    if certs.is_empty() {
        return Err(other(format!(
            "PostgreSQL TLS: no certificate in {}",
            ca_file.display()
        )));
    }
    let ssl = |e: openssl::error::ErrorStack| other(format!("PostgreSQL TLS: {e}"));
    let mut store = X509StoreBuilder::new().map_err(ssl)?;
    for c in certs {
        store.add_cert(c).map_err(ssl)?;
    }
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(ssl)?;
    // Replaces the system's trust store: the configured CA only.
    builder.set_cert_store(store.build());
    builder.set_verify(SslVerifyMode::PEER);
    Ok(postgres_openssl::MakeTlsConnector::new(builder.build()))
}

/// r2d2 reports failed background connection attempts here; they go to the log.
#[derive(Debug)]
struct LogError;

impl r2d2::HandleError<StoreError> for LogError {
    fn handle_error(&self, error: StoreError) {
        tracing::warn!(%error, "PostgreSQL connection attempt failed");
    }
}

// Column lists shared by SELECTs and INSERTs, as macros so the SQL stays `&'static str`.
/// The database server's clock in milliseconds since the epoch: leases and
/// retransmission times on PostgreSQL come from it, never from an instance's clock.
macro_rules! db_now_ms {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
    };
}

macro_rules! parked_cols {
    () => {
        "p.message_id, p.case_id, p.parked_at_ms, p.expires_at_ms, p.properties, p.body, \
         p.sender_country, p.waits_document, p.waits_version"
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

macro_rules! case_cols {
    () => {
        "case_id, buc, sed_version, state, status, created_at, updated_at, previous_state"
    };
}
macro_rules! doc_cols {
    () => {
        "document_id, case_id, sed, sender, receiver, direction, status, latest_version, related, created_at"
    };
}
macro_rules! out_cols {
    () => {
        "id, message_id, kind, exchange, routing_key, headers, timestamp, body, status, attempts, next_attempt_ms, first_attempt_ms, last_error, case_id, document_id, created_at, updated_at"
    };
}
/// `out_cols` with an empty body in place of the body: for listings.
macro_rules! out_cols_no_body {
    () => {
        "id, message_id, kind, exchange, routing_key, headers, timestamp, ''::bytea AS body, status, attempts, next_attempt_ms, first_attempt_ms, last_error, case_id, document_id, created_at, updated_at"
    };
}
macro_rules! inbox_cols {
    () => {
        "message_id, body_sha256, received_at, case_id, answer_kind, answer_message_id, answer_routing_key, answer_headers, answer_timestamp, answer_body, error_code"
    };
}

fn get<'a, T: ::postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i).map_err(corrupt)
}

fn get_u32(row: &Row, i: usize) -> Result<u32> {
    let v: i64 = get(row, i)?;
    u32::try_from(v).map_err(|_| corrupt(format!("column {i} holds {v}, not a u32")))
}

fn parse_opt<T, E: std::fmt::Display>(
    v: Option<String>,
    parse: impl Fn(&str) -> std::result::Result<T, E>,
) -> Result<Option<T>> {
    v.map(|s| parse(&s)).transpose().map_err(corrupt)
}

fn to_case(r: &Row) -> Result<CaseRecord> {
    Ok(CaseRecord {
        case_id: CaseId::parse(&get::<String>(r, 0)?).map_err(corrupt)?,
        buc: BucType::parse(&get::<String>(r, 1)?).map_err(corrupt)?,
        sed_version: SedVersion::parse(&get::<String>(r, 2)?).map_err(corrupt)?,
        state: get(r, 3)?,
        status: stored(&get::<String>(r, 4)?)?,
        created_at: get(r, 5)?,
        updated_at: get(r, 6)?,
        previous_state: get(r, 7)?,
    })
}

fn to_doc(r: &Row) -> Result<DocumentRecord> {
    Ok(DocumentRecord {
        document_id: DocumentId::parse(&get::<String>(r, 0)?).map_err(corrupt)?,
        case_id: CaseId::parse(&get::<String>(r, 1)?).map_err(corrupt)?,
        sed: SedType::parse(&get::<String>(r, 2)?).map_err(corrupt)?,
        sender: InstitutionId::parse(&get::<String>(r, 3)?).map_err(corrupt)?,
        receiver: InstitutionId::parse(&get::<String>(r, 4)?).map_err(corrupt)?,
        direction: stored(&get::<String>(r, 5)?)?,
        status: stored(&get::<String>(r, 6)?)?,
        latest_version: get_u32(r, 7)?,
        related: parse_opt(get(r, 8)?, DocumentId::parse)?,
        created_at: get(r, 9)?,
    })
}

fn to_out(r: &Row) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: get(r, 0)?,
        message_id: get(r, 1)?,
        kind: stored(&get::<String>(r, 2)?)?,
        exchange: get(r, 3)?,
        routing_key: get(r, 4)?,
        headers: serde_json::from_str(&get::<String>(r, 5)?).map_err(corrupt)?,
        timestamp: get(r, 6)?,
        body: get(r, 7)?,
        status: stored(&get::<String>(r, 8)?)?,
        attempts: get_u32(r, 9)?,
        next_attempt_ms: get(r, 10)?,
        first_attempt_ms: get(r, 11)?,
        last_error: get(r, 12)?,
        case_id: parse_opt(get(r, 13)?, CaseId::parse)?,
        document_id: parse_opt(get(r, 14)?, DocumentId::parse)?,
        created_at: get(r, 15)?,
        updated_at: get(r, 16)?,
    })
}

fn to_inbox(r: &Row) -> Result<InboxEntry> {
    Ok(InboxEntry {
        message_id: get(r, 0)?,
        body_sha256: get(r, 1)?,
        received_at: get(r, 2)?,
        case_id: parse_opt(get(r, 3)?, CaseId::parse)?,
        answer_kind: stored(&get::<String>(r, 4)?)?,
        answer_message_id: get(r, 5)?,
        answer_routing_key: get(r, 6)?,
        answer_headers: serde_json::from_str(&get::<String>(r, 7)?).map_err(corrupt)?,
        answer_timestamp: get(r, 8)?,
        answer_body: get(r, 9)?,
        error_code: get(r, 10)?,
    })
}

fn to_participant(r: &Row) -> Result<Participant> {
    Ok(Participant {
        institution: InstitutionId::parse(&get::<String>(r, 0)?).map_err(corrupt)?,
        role: Role::parse(&get::<String>(r, 1)?).map_err(corrupt)?,
    })
}

fn participants_of(conn: &mut Conn, case_id: &CaseId) -> Result<Vec<Participant>> {
    conn.query(
        "SELECT institution, role FROM participants WHERE case_id = $1 ORDER BY seq",
        &[&case_id.as_str()],
    )?
    .iter()
    .map(to_participant)
    .collect()
}

fn conversations_of(conn: &mut Conn, case_id: &CaseId) -> Result<Vec<Conversation>> {
    conn.query("SELECT counterparty, state, previous_state FROM conversations WHERE case_id = $1 ORDER BY seq", &[&case_id.as_str()])?
        .iter()
        .map(|r| {
            Ok(Conversation {
                counterparty: InstitutionId::parse(&get::<String>(r, 0)?).map_err(corrupt)?,
                state: get(r, 1)?,
                previous_state: get(r, 2)?,
            })
        })
        .collect()
}

fn documents_of(conn: &mut Conn, case_id: &CaseId) -> Result<Vec<DocumentRecord>> {
    conn.query(
        concat!(
            "SELECT ",
            doc_cols!(),
            " FROM documents WHERE case_id = $1 ORDER BY created_at, seq"
        ),
        &[&case_id.as_str()],
    )?
    .iter()
    .map(to_doc)
    .collect()
}

/// One transaction on one pooled connection.
struct PostgresTx {
    conn: r2d2::PooledConnection<Manager>,
}

impl Drop for PostgresTx {
    fn drop(&mut self) {
        if self.conn.in_tx {
            self.conn.rollback();
        }
    }
}

/// The newest outbox row of one message id and kind.
macro_rules! outbox_by_message_id {
    () => {
        concat!(
            "SELECT ",
            out_cols!(),
            " FROM outbox WHERE message_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1"
        )
    };
}
const OUTBOX_BY_MESSAGE_ID: &str = outbox_by_message_id!();

impl PostgresTx {
    /// `sql` is `outbox_by_message_id!()`, with or without a lock.
    fn outbox_row(
        &mut self,
        sql: &'static str,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>> {
        self.conn
            .query_opt(sql, &[&message_id, &kind.as_str()])?
            .as_ref()
            .map(to_out)
            .transpose()
    }
}

impl Tx for PostgresTx {
    fn conversations(&mut self, case_id: &CaseId) -> Result<Vec<Conversation>> {
        conversations_of(&mut self.conn, case_id)
    }

    fn conversation_put(&mut self, case_id: &CaseId, c: &Conversation) -> Result<()> {
        self.conn.execute(
            "INSERT INTO conversations (case_id, counterparty, state, previous_state) VALUES ($1,$2,$3,$4) \
             ON CONFLICT (case_id, counterparty) DO UPDATE SET state = excluded.state, previous_state = excluded.previous_state",
            &[&case_id.as_str(), &c.counterparty.as_str(), &c.state, &c.previous_state],
        )?;
        Ok(())
    }

    fn parked_put(&mut self, p: &ParkedMessage) -> Result<()> {
        self.conn.execute(
            "INSERT INTO parked (message_id, case_id, parked_at_ms, expires_at_ms, properties, body, sender_country, waits_document, waits_version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            &[&p.message_id, &p.case_id.as_str(), &p.parked_at_ms, &p.expires_at_ms, &p.properties, &p.body,
              &p.sender_country, &p.waits_document.as_ref().map(|d| d.as_str()), &p.waits_version.map(i64::from)],
        )?;
        Ok(())
    }

    fn parked_for_case(&mut self, case_id: &CaseId) -> Result<Vec<ParkedMessage>> {
        self.conn
            .query(
                concat!(
                    "SELECT ",
                    parked_cols!(),
                    " FROM parked p WHERE p.case_id = $1 ORDER BY p.parked_at_ms, p.seq FOR UPDATE"
                ),
                &[&case_id.as_str()],
            )?
            .iter()
            .map(to_parked)
            .collect()
    }

    fn parked_ready_for_case(&mut self, case_id: &CaseId) -> Result<Vec<ParkedMessage>> {
        self.conn
            .query(
                concat!(
                    "SELECT ",
                    parked_cols!(),
                    " FROM parked p WHERE p.case_id = $1 AND ",
                    parked_ready!(),
                    " ORDER BY p.parked_at_ms, p.seq FOR UPDATE OF p"
                ),
                &[&case_id.as_str()],
            )?
            .iter()
            .map(to_parked)
            .collect()
    }

    fn parked_counts(&mut self, case_id: &CaseId, sender_country: &str) -> Result<ParkedCounts> {
        let rows = self.conn.query(
            "SELECT (SELECT COUNT(*) FROM parked WHERE case_id = $1), COUNT(*), \
             COALESCE(SUM(octet_length(body)), 0)::bigint FROM parked WHERE sender_country = $2",
            &[&case_id.as_str(), &sender_country],
        )?;
        let r = rows
            .first()
            .ok_or_else(|| corrupt("COUNT returned no row"))?;
        Ok(ParkedCounts {
            per_case: get::<i64>(r, 0)? as u64,
            per_access_point: get::<i64>(r, 1)? as u64,
            per_access_point_bytes: get::<i64>(r, 2)? as u64,
        })
    }

    fn parked_delete(&mut self, message_id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM parked WHERE message_id = $1", &[&message_id])?;
        Ok(())
    }

    fn inbox_get(&mut self, message_id: &str) -> Result<Option<InboxEntry>> {
        self.conn
            .query_opt(
                concat!(
                    "SELECT ",
                    inbox_cols!(),
                    " FROM inbox WHERE message_id = $1"
                ),
                &[&message_id],
            )?
            .as_ref()
            .map(to_inbox)
            .transpose()
    }

    fn inbox_put(&mut self, e: &InboxEntry) -> Result<()> {
        let headers = serde_json::to_string(&e.answer_headers).map_err(other)?;
        // A plain insert: if another instance answered this message id first, this
        // waits for its commit and then fails on the key (`Conflict`, see `db`).
        self.conn.execute(
            concat!(
                "INSERT INTO inbox (",
                inbox_cols!(),
                ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
            ),
            &[
                &e.message_id,
                &e.body_sha256,
                &e.received_at,
                &e.case_id.as_ref().map(|c| c.as_str()),
                &e.answer_kind.as_str(),
                &e.answer_message_id,
                &e.answer_routing_key,
                &headers,
                &e.answer_timestamp,
                &e.answer_body,
                &e.error_code,
            ],
        )?;
        Ok(())
    }

    fn inbox_refuse_parked(&mut self, e: &InboxEntry) -> Result<bool> {
        let headers = serde_json::to_string(&e.answer_headers).map_err(other)?;
        let n = self.conn.execute(
            "UPDATE inbox SET answer_kind = $2, answer_message_id = $3, answer_routing_key = $4, \
             answer_headers = $5, answer_timestamp = $6, answer_body = $7, error_code = $8 \
             WHERE message_id = $1 AND answer_kind = 'receipt'",
            &[
                &e.message_id,
                &e.answer_kind.as_str(),
                &e.answer_message_id,
                &e.answer_routing_key,
                &headers,
                &e.answer_timestamp,
                &e.answer_body,
                &e.error_code,
            ],
        )?;
        Ok(n == 1)
    }

    fn case_get(&mut self, case_id: &CaseId) -> Result<Option<CaseRecord>> {
        self.conn
            .query_opt(
                concat!("SELECT ", case_cols!(), " FROM cases WHERE case_id = $1"),
                &[&case_id.as_str()],
            )?
            .as_ref()
            .map(to_case)
            .transpose()
    }

    fn case_lock(&mut self, case_id: &CaseId) -> Result<Option<CaseRecord>> {
        // FOR UPDATE: a transaction reads a case to decide its next state, then writes
        // it. SQLite runs one writer at a time; here the row lock gives the same
        // guarantee per case: a second transaction on the case waits for the first
        // to end and then reads the committed state, so no transition is lost.
        self.conn
            .query_opt(
                concat!(
                    "SELECT ",
                    case_cols!(),
                    " FROM cases WHERE case_id = $1 FOR UPDATE"
                ),
                &[&case_id.as_str()],
            )?
            .as_ref()
            .map(to_case)
            .transpose()
    }

    fn case_insert(&mut self, c: &CaseRecord) -> Result<()> {
        self.conn.execute(
            concat!(
                "INSERT INTO cases (",
                case_cols!(),
                ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
            ),
            &[
                &c.case_id.as_str(),
                &c.buc.as_str(),
                &c.sed_version.as_str(),
                &c.state,
                &c.status.as_str(),
                &c.created_at,
                &c.updated_at,
                &c.previous_state,
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
            "UPDATE cases SET state = $2, status = $3, updated_at = $4, \
             previous_state = COALESCE($5, previous_state) WHERE case_id = $1 AND state = $6",
            &[
                &case_id.as_str(),
                &state,
                &status.as_str(),
                &now_rfc3339(),
                &previous_state,
                &from_state,
            ],
        )?;
        if n != 1 {
            let now = self
                .conn
                .query_opt(
                    "SELECT state FROM cases WHERE case_id = $1",
                    &[&case_id.as_str()],
                )?
                .map(|r| get::<String>(&r, 0))
                .transpose()?;
            return Err(moved_on("case", case_id.as_str(), from_state, now));
        }
        Ok(())
    }

    fn participants(&mut self, case_id: &CaseId) -> Result<Vec<Participant>> {
        participants_of(&mut self.conn, case_id)
    }

    fn participant_add(&mut self, case_id: &CaseId, p: &Participant) -> Result<()> {
        self.conn.execute(
            "INSERT INTO participants (case_id, institution, role) VALUES ($1,$2,$3) \
             ON CONFLICT (case_id, institution) DO NOTHING",
            &[&case_id.as_str(), &p.institution.as_str(), &p.role.as_str()],
        )?;
        Ok(())
    }

    fn participant_remove(&mut self, case_id: &CaseId, institution: &InstitutionId) -> Result<()> {
        self.conn.execute(
            "DELETE FROM participants WHERE case_id = $1 AND institution = $2",
            &[&case_id.as_str(), &institution.as_str()],
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
            "UPDATE documents SET status = $2 WHERE document_id = $1 AND status = ANY($3)",
            &[&document_id.as_str(), &status.as_str(), &from],
        )?;
        if n != 1 {
            let now = self
                .conn
                .query_opt(
                    "SELECT status FROM documents WHERE document_id = $1",
                    &[&document_id.as_str()],
                )?
                .map(|r| get::<String>(&r, 0))
                .transpose()?;
            return Err(moved_on(
                "document",
                document_id.as_str(),
                &from.join("|"),
                now,
            ));
        }
        Ok(())
    }

    fn documents(&mut self, case_id: &CaseId) -> Result<Vec<DocumentRecord>> {
        documents_of(&mut self.conn, case_id)
    }

    fn document_get(&mut self, document_id: &DocumentId) -> Result<Option<DocumentRecord>> {
        self.conn
            .query_opt(
                concat!(
                    "SELECT ",
                    doc_cols!(),
                    " FROM documents WHERE document_id = $1"
                ),
                &[&document_id.as_str()],
            )?
            .as_ref()
            .map(to_doc)
            .transpose()
    }

    fn document_insert(&mut self, d: &DocumentRecord) -> Result<()> {
        self.conn.execute(
            concat!(
                "INSERT INTO documents (",
                doc_cols!(),
                ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
            ),
            &[
                &d.document_id.as_str(),
                &d.case_id.as_str(),
                &d.sed.as_str(),
                &d.sender.as_str(),
                &d.receiver.as_str(),
                &d.direction.as_str(),
                &d.status.as_str(),
                &i64::from(d.latest_version),
                &d.related.as_ref().map(|r| r.as_str()),
                &d.created_at,
            ],
        )?;
        Ok(())
    }

    fn document_set_version(&mut self, document_id: &DocumentId, version: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE documents SET latest_version = $2 WHERE document_id = $1",
            &[&document_id.as_str(), &i64::from(version)],
        )?;
        Ok(())
    }

    fn version_get(
        &mut self,
        document_id: &DocumentId,
        version: u32,
    ) -> Result<Option<DocumentVersion>> {
        let row = self.conn.query_opt(
            "SELECT message_id, content_sha256, envelope, created_at FROM document_versions \
             WHERE document_id = $1 AND version = $2",
            &[&document_id.as_str(), &i64::from(version)],
        )?;
        row.map(|r| {
            Ok(DocumentVersion {
                document_id: document_id.clone(),
                version,
                message_id: get(&r, 0)?,
                content_sha256: get(&r, 1)?,
                envelope: get(&r, 2)?,
                created_at: get(&r, 3)?,
            })
        })
        .transpose()
    }

    fn version_insert(&mut self, v: &DocumentVersion) -> Result<()> {
        self.conn.execute(
            "INSERT INTO document_versions (document_id, version, message_id, content_sha256, \
             envelope, created_at) VALUES ($1,$2,$3,$4,$5,$6)",
            &[
                &v.document_id.as_str(),
                &i64::from(v.version),
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
             document_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            &[
                &case_id.as_str(),
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
        let headers = serde_json::to_string(&m.headers).map_err(other)?;
        let row = self.conn.query_opt(
            "INSERT INTO outbox (message_id, kind, exchange, routing_key, headers, timestamp, \
             body, status, attempts, next_attempt_ms, first_attempt_ms, last_error, case_id, \
             document_id, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) RETURNING id",
            &[
                &m.message_id,
                &m.kind.as_str(),
                &m.exchange,
                &m.routing_key,
                &headers,
                &m.timestamp,
                &m.body,
                &m.status.as_str(),
                &i64::from(m.attempts),
                &m.next_attempt_ms,
                &m.first_attempt_ms,
                &m.last_error,
                &m.case_id.as_ref().map(|c| c.as_str()),
                &m.document_id.as_ref().map(|d| d.as_str()),
                &m.created_at,
                &m.updated_at,
            ],
        )?;
        match row {
            Some(r) => get(&r, 0),
            None => Err(corrupt("INSERT ... RETURNING id returned no row")),
        }
    }

    fn outbox_by_message_id(
        &mut self,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>> {
        self.outbox_row(OUTBOX_BY_MESSAGE_ID, message_id, kind)
    }

    fn outbox_lock_by_message_id(
        &mut self,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>> {
        // FOR UPDATE for the same reason as `case_lock`: the caller settles this
        // message from what it reads here.
        self.outbox_row(
            concat!(outbox_by_message_id!(), " FOR UPDATE"),
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
        // Times from the database's clock (`DB_NOW_MS`): see `outbox_claim`.
        let n = self.conn.execute(
            concat!(
                "UPDATE outbox SET status = $3, attempts = attempts + $4, \
                 first_attempt_ms = CASE WHEN $4 = 1 THEN COALESCE(first_attempt_ms, ",
                db_now_ms!(),
                ") ELSE first_attempt_ms END, \
                 next_attempt_ms = COALESCE(",
                db_now_ms!(),
                " + $5, next_attempt_ms), \
                 last_error = CASE WHEN $6 THEN $7 ELSE last_error END, updated_at = $8 \
                 WHERE id = $1 AND kind = $2 AND status = ANY($9)"
            ),
            &[
                &id,
                &kind.as_str(),
                &c.to.as_str(),
                &i64::from(c.attempt),
                &c.due_in_ms,
                &set_error,
                &error,
                &now_rfc3339(),
                &from,
            ],
        )?;
        Ok(n == 1)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.conn.commit()
    }
}

fn to_parked(r: &Row) -> Result<ParkedMessage> {
    Ok(ParkedMessage {
        message_id: get(r, 0)?,
        case_id: parse_opt(get(r, 1)?, CaseId::parse)?
            .ok_or_else(|| corrupt("parked without case"))?,
        parked_at_ms: get(r, 2)?,
        expires_at_ms: get(r, 3)?,
        properties: get(r, 4)?,
        body: get(r, 5)?,
        sender_country: get(r, 6)?,
        waits_document: parse_opt(get(r, 7)?, DocumentId::parse)?,
        waits_version: get::<Option<i64>>(r, 8)?
            .map(u32::try_from)
            .transpose()
            .map_err(corrupt)?,
    })
}

fn to_dead(r: &Row) -> Result<DeadLetter> {
    Ok(DeadLetter {
        id: get(r, 0)?,
        message_id: get(r, 1)?,
        queue: get(r, 2)?,
        properties: get(r, 3)?,
        body: get(r, 4)?,
        dead_at: get(r, 5)?,
        reinjected_at: get(r, 6)?,
    })
}

impl PostgresStore {
    /// One statement in its own transaction.
    fn write_one(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut conn = self.conn()?;
        conn.begin("BEGIN")?;
        match conn.query(sql, params) {
            Ok(rows) => {
                conn.commit()?;
                Ok(rows)
            }
            Err(e) => {
                conn.rollback();
                Err(e)
            }
        }
    }
}

/// The database's clock, on this connection.
fn clock_on(conn: &mut Conn) -> Result<i64> {
    let rows = conn.query(concat!("SELECT ", db_now_ms!()), &[])?;
    rows.first()
        .map(|r| get(r, 0))
        .transpose()?
        .ok_or_else(|| corrupt("the clock query returned no row"))
}

impl Store for PostgresStore {
    fn outbox_claim(
        &self,
        at: Option<i64>,
        limit: u32,
        bytes_max: u64,
        lease_ms: i64,
    ) -> Result<Claim> {
        // The time is the database server's (unless a test gives one), so relays of
        // instances whose clocks differ agree on what is due and when a lease ends.
        // SKIP LOCKED: rows another instance is claiming right now are left to it.
        // First the due rows' ids and sizes (no bodies), locked; then the prefix
        // within `bytes_max` is leased and read; the rest is unlocked at commit.
        let mut conn = self.conn()?;
        conn.begin("BEGIN")?;
        let result = (|| {
            let due = conn.query(
                concat!(
                    "WITH now AS (SELECT COALESCE($1, ",
                    db_now_ms!(),
                    ") AS ms) SELECT id, octet_length(body)::bigint, next_attempt_ms, now.ms FROM outbox, now \
                     WHERE status IN ('queued', 'retrying', 'sent') AND next_attempt_ms <= now.ms \
                     AND (status <> 'sent' OR kind = 'sed') ORDER BY next_attempt_ms, id LIMIT $2 \
                     FOR UPDATE OF outbox SKIP LOCKED"
                ),
                &[&at, &i64::from(limit)],
            )?;
            let due = due
                .iter()
                .map(|r| {
                    Ok((
                        get::<i64>(r, 0)?,
                        get::<i64>(r, 1)?,
                        get::<i64>(r, 2)?,
                        get::<i64>(r, 3)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let now_ms = due.first().map(|d| d.3);
            let take = super::outbox::rows_within(due.iter().map(|d| d.1), bytes_max);
            let ids: Vec<i64> = due[..take].iter().map(|d| d.0).collect();
            let was: HashMap<i64, i64> = due[..take].iter().map(|d| (d.0, d.2)).collect();
            let Some(now_ms) = now_ms else {
                return Ok(Claim {
                    now_ms: match at {
                        Some(at) => at,
                        None => clock_on(&mut conn)?,
                    },
                    messages: Vec::new(),
                });
            };
            // A `sent` SED that is due has no receipt within its interval: `retrying`.
            let rows = conn.query(
                concat!(
                    "UPDATE outbox o SET next_attempt_ms = $2, \
                     status = CASE WHEN o.status = 'sent' THEN 'retrying' ELSE o.status END \
                     WHERE o.id = ANY($1) AND o.status IN ('queued', 'retrying', 'sent') RETURNING ",
                    out_cols!()
                ),
                &[&ids, &(now_ms + lease_ms)],
            )?;
            let mut messages = rows
                .iter()
                .map(|r| {
                    let mut m = to_out(r)?;
                    // The caller sees the row as it was due, not with the lease.
                    m.next_attempt_ms = was.get(&m.id).copied().unwrap_or(m.next_attempt_ms);
                    Ok(m)
                })
                .collect::<Result<Vec<_>>>()?;
            messages.sort_by_key(|m| (m.next_attempt_ms, m.id));
            Ok(Claim { now_ms, messages })
        })();
        match result {
            Ok(claim) => {
                conn.commit()?;
                Ok(claim)
            }
            Err(e) => {
                conn.rollback();
                Err(e)
            }
        }
    }

    fn parked_expired(&self, now_ms: i64, limit: u32) -> Result<Vec<ParkedMessage>> {
        self.conn()?
            .query(
                concat!(
                    "SELECT ",
                    parked_cols!(),
                    " FROM parked p WHERE p.expires_at_ms <= $1 ORDER BY p.expires_at_ms LIMIT $2"
                ),
                &[&now_ms, &i64::from(limit)],
            )?
            .iter()
            .map(to_parked)
            .collect()
    }

    fn parked_ready_cases(&self, limit: u32) -> Result<Vec<CaseId>> {
        self.conn()?
            .query(
                concat!(
                    "SELECT DISTINCT p.case_id FROM parked p WHERE ",
                    parked_ready!(),
                    " LIMIT $1"
                ),
                &[&i64::from(limit)],
            )?
            .iter()
            .map(|r| CaseId::parse(&get::<String>(r, 0)?).map_err(corrupt))
            .collect()
    }

    fn document_envelope(&self, document_id: &DocumentId, version: u32) -> Result<Option<Vec<u8>>> {
        self.conn()?
            .query_opt(
                "SELECT envelope FROM document_versions WHERE document_id = $1 AND version = $2",
                &[&document_id.as_str(), &i64::from(version)],
            )?
            .map(|r| get(&r, 0))
            .transpose()
    }

    fn parked_count(&self) -> Result<u64> {
        let rows = self.conn()?.query("SELECT COUNT(*) FROM parked", &[])?;
        let n: i64 = rows.first().map(|r| get(r, 0)).transpose()?.unwrap_or(0);
        Ok(n as u64)
    }

    fn dead_letter_put(&self, d: &DeadLetter) -> Result<i64> {
        let rows = self.write_one(
            "INSERT INTO dead_letters (message_id, queue, properties, body, dead_at, reinjected_at) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id",
            &[&d.message_id, &d.queue, &d.properties, &d.body, &d.dead_at, &d.reinjected_at],
        )?;
        rows.first()
            .map(|r| get(r, 0))
            .transpose()?
            .ok_or_else(|| corrupt("INSERT returned no id"))
    }

    fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        self.conn()?
            .query(
                "SELECT id, message_id, queue, properties, body, dead_at, reinjected_at FROM dead_letters ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit.clamp(1, 1000))],
            )?
            .iter()
            .map(to_dead)
            .collect()
    }

    fn dead_letter_get(&self, id: i64) -> Result<Option<DeadLetter>> {
        self.conn()?
            .query_opt("SELECT id, message_id, queue, properties, body, dead_at, reinjected_at FROM dead_letters WHERE id = $1", &[&id])?
            .as_ref()
            .map(to_dead)
            .transpose()
    }

    fn dead_letter_mark_reinjected(&self, id: i64) -> Result<()> {
        self.write_one(
            "UPDATE dead_letters SET reinjected_at = $2 WHERE id = $1",
            &[&id, &now_rfc3339()],
        )?;
        Ok(())
    }

    fn audit_append(&self, e: &AuditEntry) -> Result<()> {
        self.write_one(
            "INSERT INTO audit (at, subject, institution, action, target, remote) VALUES ($1,$2,$3,$4,$5,$6)",
            &[&e.at, &e.subject, &e.institution, &e.action, &e.target, &e.remote],
        )?;
        Ok(())
    }

    fn audit_list(&self, institution: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.conn()?
            .query(
                "SELECT at, subject, institution, action, target, remote FROM audit WHERE ($1::TEXT IS NULL OR institution = $1) ORDER BY seq DESC LIMIT $2",
                &[&institution, &i64::from(limit.clamp(1, 1000))],
            )?
            .iter()
            .map(|r| Ok(AuditEntry { at: get(r, 0)?, subject: get(r, 1)?, institution: get(r, 2)?, action: get(r, 3)?, target: get(r, 4)?, remote: get(r, 5)? }))
            .collect()
    }

    fn ping(&self) -> Result<()> {
        self.conn()?.query("SELECT 1", &[])?;
        Ok(())
    }

    fn begin(&self) -> Result<Box<dyn Tx + '_>> {
        let mut conn = self.conn()?;
        // READ COMMITTED (stated, in case the server's default differs) plus the row
        // locks taken by `case_lock` and `outbox_lock_by_message_id`.
        conn.begin("BEGIN ISOLATION LEVEL READ COMMITTED")?;
        Ok(Box::new(PostgresTx { conn }))
    }

    fn case_detail(&self, case_id: &CaseId) -> Result<Option<CaseDetail>> {
        self.snapshot(|conn| {
            let Some(row) = conn.query_opt(
                concat!("SELECT ", case_cols!(), " FROM cases WHERE case_id = $1"),
                &[&case_id.as_str()],
            )?
            else {
                return Ok(None);
            };
            let case = to_case(&row)?;
            let participants = participants_of(conn, case_id)?;
            let conversations = conversations_of(conn, case_id)?;
            let mut versions: HashMap<String, Vec<DocumentVersion>> = HashMap::new();
            for r in conn.query(
                "SELECT v.document_id, v.version, v.message_id, v.content_sha256, \
                 v.created_at FROM document_versions v JOIN documents d USING (document_id) \
                 WHERE d.case_id = $1 ORDER BY v.document_id, v.version",
                &[&case_id.as_str()],
            )? {
                let id: String = get(&r, 0)?;
                let v = DocumentVersion {
                    document_id: DocumentId::parse(&id).map_err(corrupt)?,
                    version: get_u32(&r, 1)?,
                    message_id: get(&r, 2)?,
                    content_sha256: get(&r, 3)?,
                    // Loaded only when asked for (`document_envelope`).
                    envelope: Vec::new(),
                    created_at: get(&r, 4)?,
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
                     FROM history WHERE case_id = $1 ORDER BY seq",
                    &[&case_id.as_str()],
                )?
                .iter()
                .map(|r| {
                    Ok(HistoryEntry {
                        at: get(r, 0)?,
                        event: get(r, 1)?,
                        detail: get(r, 2)?,
                        from_state: get(r, 3)?,
                        to_state: get(r, 4)?,
                        message_id: get(r, 5)?,
                        document_id: get(r, 6)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let messages = conn
                .query(
                    concat!(
                        "SELECT ",
                        out_cols_no_body!(),
                        " FROM outbox WHERE case_id = $1 ORDER BY id"
                    ),
                    &[&case_id.as_str()],
                )?
                .iter()
                .map(to_out)
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(CaseDetail {
                case,
                participants,
                conversations,
                documents,
                history,
                messages,
            }))
        })
    }

    fn cases(&self, f: &CaseFilter) -> Result<Vec<(CaseRecord, Vec<Participant>)>> {
        let limit = i64::from(if f.limit == 0 { 100 } else { f.limit.min(1000) });
        let institution = f.institution.as_ref().map(|i| i.as_str());
        self.snapshot(|conn| {
            let cases = conn
                .query(
                    concat!(
                        "SELECT ",
                        case_cols!(),
                        " FROM cases c WHERE ($1::TEXT IS NULL OR c.status = $1) \
                         AND ($2::TEXT IS NULL OR EXISTS (SELECT 1 FROM participants p \
                         WHERE p.case_id = c.case_id AND p.institution = $2)) \
                         ORDER BY c.updated_at DESC, c.case_id LIMIT $3"
                    ),
                    &[&f.status.map(CaseStatus::as_str), &institution, &limit],
                )?
                .iter()
                .map(to_case)
                .collect::<Result<Vec<_>>>()?;
            // The participants of every listed case in one query, not one per case.
            let ids: Vec<&str> = cases.iter().map(|c| c.case_id.as_str()).collect();
            let mut parts: HashMap<String, Vec<Participant>> = HashMap::new();
            for r in conn.query(
                "SELECT institution, role, case_id FROM participants \
                 WHERE case_id = ANY($1) ORDER BY seq",
                &[&ids],
            )? {
                parts
                    .entry(get(&r, 2)?)
                    .or_default()
                    .push(to_participant(&r)?);
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
        let limit = i64::from(limit.clamp(1, 1000));
        self.conn()?
            .query(
                concat!(
                    "SELECT ",
                    out_cols!(),
                    " FROM outbox WHERE ($1::TEXT IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
                ),
                &[&status.map(OutboxStatus::as_str), &limit],
            )?
            .iter()
            .map(to_out)
            .collect()
    }

    fn messages_page(
        &self,
        status: Option<OutboxStatus>,
        institution: Option<&InstitutionId>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let limit = i64::from(limit.clamp(1, 1000));
        let institution = institution.map(|i| i.as_str());
        self.conn()?
            .query(
                concat!(
                    "SELECT ",
                    out_cols!(),
                    " FROM outbox WHERE ($1::TEXT IS NULL OR status = $1)",
                    " AND ($2::TEXT IS NULL OR (headers::jsonb ->> 'eessi-from') = $2",
                    " OR (headers::jsonb ->> 'eessi-to') = $2)",
                    " AND ($3::BIGINT IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
                ),
                &[
                    &status.map(OutboxStatus::as_str),
                    &institution,
                    &before_id,
                    &limit,
                ],
            )?
            .iter()
            .map(to_out)
            .collect()
    }

    fn outbox_counts(&self) -> Result<BTreeMap<(OutboxKind, OutboxStatus), u64>> {
        self.conn()?
            .query(
                "SELECT kind, status, COUNT(*) FROM outbox GROUP BY kind, status",
                &[],
            )?
            .iter()
            .map(|r| {
                let n: i64 = get(r, 2)?;
                let n = u64::try_from(n).map_err(corrupt)?;
                Ok((
                    (
                        stored(&get::<String>(r, 0)?)?,
                        stored(&get::<String>(r, 1)?)?,
                    ),
                    n,
                ))
            })
            .collect()
    }

    fn prune(&self, p: &Prune) -> Result<Pruned> {
        use super::retention::{final_pairs, late_pairs, rfc3339};
        let limit = i64::from(p.limit);
        let count = |rows: Vec<Row>| rows.len() as u64;
        // Rows another transaction holds (a receipt settling a delivered SED right
        // now) are skipped: they are pruned by a later run.
        let outbox_bodies = count(self.write_one(
            "WITH due AS (SELECT id FROM outbox WHERE body_pruned_at IS NULL \
             AND updated_at COLLATE \"C\" < $2 \
             AND ((kind || '/' || status) = ANY($3) \
             OR ((kind || '/' || status) = ANY($4) AND updated_at COLLATE \"C\" < $5)) \
             ORDER BY updated_at COLLATE \"C\" LIMIT $6 FOR UPDATE SKIP LOCKED) \
             UPDATE outbox o SET body = ''::bytea, body_pruned_at = $1 FROM due WHERE o.id = due.id \
             RETURNING o.id",
            &[
                &rfc3339(p.now_ms),
                &rfc3339(p.body_before_ms),
                &final_pairs(),
                &late_pairs(),
                &rfc3339(p.inbox_before_ms),
                &limit,
            ],
        )?);
        // A message still parked keeps the answer it will replace (inbox_refuse_parked).
        let inbox_rows = count(self.write_one(
            "DELETE FROM inbox WHERE message_id IN (SELECT i.message_id FROM inbox i \
             WHERE i.received_at COLLATE \"C\" < $1 \
             AND NOT EXISTS (SELECT 1 FROM parked p WHERE p.message_id = i.message_id) \
             ORDER BY i.received_at COLLATE \"C\" LIMIT $2 FOR UPDATE OF i SKIP LOCKED) \
             RETURNING message_id",
            &[&rfc3339(p.inbox_before_ms), &limit],
        )?);
        let history_rows = if p.history_before.is_empty() {
            0
        } else {
            count(self.write_one(
                "DELETE FROM history WHERE seq IN (SELECT seq FROM history \
                 WHERE at COLLATE \"C\" < $1 ORDER BY at COLLATE \"C\" LIMIT $2 \
                 FOR UPDATE SKIP LOCKED) RETURNING seq",
                &[&p.history_before, &limit],
            )?)
        };
        Ok(Pruned {
            outbox_bodies,
            inbox_rows,
            history_rows,
        })
    }
}
