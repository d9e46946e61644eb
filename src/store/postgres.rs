//! The PostgreSQL store, for several switch instances sharing one database (issue
//! 4): the connections only. The statements are `sql.rs`'s, shared with SQLite and
//! rendered for PostgreSQL (`sql::render`): one database transaction per
//! `Store::begin`, rolled back when the `Tx` is dropped without `commit`. The
//! schema is brought up to date at start-up by the recorded migration list
//! (`migrate.rs`).
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

use std::collections::HashMap;
use std::time::Duration;

use ::postgres::types::private::BytesMut;
use ::postgres::types::{IsNull, ToSql, Type};
use ::postgres::{Client, NoTls, Statement};

use super::sql::{self, Backend, Begin, Cell, Dialect, Row, Value};
use super::{Result, StoreError, StoreOptions};

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

/// One pooled connection with its prepared statements.
pub struct PgConn {
    client: Client,
    /// Prepared per connection, rendered for PostgreSQL (`sql::render`) when first
    /// prepared: a statement prepared once saves a round trip on every later use.
    /// Keys are `sql.rs`'s `&'static str` SQL texts.
    statements: HashMap<&'static str, Statement>,
    /// True from `BEGIN` until the transaction ended cleanly; a connection returned
    /// to the pool in this state is discarded instead of reused.
    in_tx: bool,
    /// A statement failed in the current transaction. PostgreSQL then aborts the
    /// transaction and answers `COMMIT` with a silent rollback, so `commit` must
    /// report it instead of pretending success.
    failed: bool,
}

impl PgConn {
    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .client
            .prepare(&sql::render(sql, Dialect::Postgres))
            .map_err(db)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        let r = self.client.batch_execute(sql).map_err(db);
        self.failed |= r.is_err();
        r
    }

    fn begin_with(&mut self, begin: &str) -> Result<()> {
        // Marked first, so that a connection whose BEGIN failed half-way is discarded.
        self.in_tx = true;
        self.failed = false;
        self.batch(begin)
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
pub struct Manager {
    config: ::postgres::Config,
    /// Some: every connection is TLS, verified against the configured CA.
    tls: Option<postgres_openssl::MakeTlsConnector>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = StoreError;

    fn connect(&self) -> Result<PgConn> {
        Ok(PgConn {
            client: match &self.tls {
                Some(tls) => self.config.connect(tls.clone()).map_err(db)?,
                None => self.config.connect(NoTls).map_err(db)?,
            },
            statements: HashMap::new(),
            in_tx: false,
            failed: false,
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<()> {
        // One round trip per checkout: a connection the server closed (restart,
        // failover) is replaced before use instead of failing a transaction.
        conn.client.simple_query("").map(|_| ()).map_err(db)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
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

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            // An integer for whatever integer type the server inferred (`LIMIT`,
            // `= 1`, a BIGINT column): one parameter type for both backends.
            Value::I64(v) => match *ty {
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Bool(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
            Value::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`: the wrapped types' own `to_sql` refuse
        // nothing, so refuse a mismatch here.
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let fits = match self {
            Value::Null => true,
            Value::I64(_) => matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8 | Type::BOOL),
            Value::Bool(_) => <bool as ToSql>::accepts(ty),
            Value::Text(_) => <&str as ToSql>::accepts(ty),
            Value::Blob(_) => <&[u8] as ToSql>::accepts(ty),
        };
        if !fits {
            return Err(format!("{self:?} for a parameter of type {ty}").into());
        }
        self.to_sql(ty, out)
    }
}

/// A column as a `Cell`, by its type.
fn cell(row: &::postgres::Row, i: usize) -> std::result::Result<Cell, ::postgres::Error> {
    let ty = row.columns()[i].type_();
    let int = |v: Option<i64>| v.map_or(Cell::Null, Cell::I64);
    Ok(match *ty {
        Type::INT8 => int(row.try_get::<_, Option<i64>>(i)?),
        Type::INT4 => int(row.try_get::<_, Option<i32>>(i)?.map(i64::from)),
        Type::INT2 => int(row.try_get::<_, Option<i16>>(i)?.map(i64::from)),
        Type::BOOL => int(row.try_get::<_, Option<bool>>(i)?.map(i64::from)),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Cell::Null, Cell::Blob),
        // Text, or a type that says itself what it cannot be read as.
        _ => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Cell::Null, Cell::Text),
    })
}

fn to_row(row: &::postgres::Row) -> Result<Row> {
    (0..row.len())
        .map(|i| cell(row, i))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Row)
        .map_err(|e| StoreError::Corrupt(describe(&e)))
}

impl PgConn {
    fn run<T>(
        &mut self,
        sql: &'static str,
        params: &[Value<'_>],
        run: impl FnOnce(
            &mut Client,
            &Statement,
            &[&(dyn ToSql + Sync)],
        ) -> std::result::Result<T, ::postgres::Error>,
    ) -> Result<T> {
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let r = self
            .statement(sql)
            .and_then(|st| run(&mut self.client, &st, &params).map_err(db));
        self.failed |= r.is_err();
        r
    }
}

impl sql::Conn for PgConn {
    fn query(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Vec<Row>> {
        self.run(sql, params, |c, st, p| c.query(st, p))?
            .iter()
            .map(to_row)
            .collect()
    }

    fn execute(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<u64> {
        self.run(sql, params, |c, st, p| c.execute(st, p))
    }

    fn query_text(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>> {
        let text = sql::render(sql, Dialect::Postgres);
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let r = self.client.query(text.as_str(), &params).map_err(db);
        self.failed |= r.is_err();
        r?.iter().map(to_row).collect()
    }

    fn begin(&mut self, mode: Begin) -> Result<()> {
        self.begin_with(match mode {
            // READ COMMITTED (stated, in case the server's default differs) plus the
            // row locks taken by `case_lock` and `outbox_lock_by_message_id`.
            Begin::Write => "BEGIN ISOLATION LEVEL READ COMMITTED",
            Begin::Snapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        })
    }

    fn commit(&mut self) -> Result<()> {
        PgConn::commit(self)
    }

    fn rollback(&mut self) {
        PgConn::rollback(self)
    }
}

impl Backend for PostgresStore {
    type Conn = PgConn;
    type Guard<'a> = r2d2::PooledConnection<Manager>;

    fn writer(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.conn()
    }

    fn reader(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.conn()
    }
}
