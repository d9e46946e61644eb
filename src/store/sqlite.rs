//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed transition survives a crash of the process or the machine. One
//! connection writes (transactions are `BEGIN IMMEDIATE`, serialised by a mutex);
//! another serves reads for the API and CLI without waiting for writers.
//!
//! Only the connections live here: the statements are `sql.rs`'s, rendered for
//! SQLite (`sql::render`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode};

use super::sql::{self, Backend, Begin, Cell, Dialect, Row, Value};
use super::{Result, StoreError};

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

/// Classify SQLite's errors as PostgreSQL's are: a unique or primary key
/// violation is a conflict (another writer got there first), a busy or locked
/// database is transient, the rest (other constraints included) a plain error.
fn classify(e: rusqlite::Error) -> StoreError {
    const UNIQUE: i32 = rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE;
    const PRIMARY_KEY: i32 = rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation
                if f.extended_code == UNIQUE || f.extended_code == PRIMARY_KEY =>
            {
                StoreError::Conflict(e.to_string())
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Db(e.to_string()),
        },
        _ => StoreError::Db(e.to_string()),
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::I64(v) => ValueRef::Integer(v),
            Value::Bool(v) => ValueRef::Integer(i64::from(v)),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

/// A column as a `Cell`; a real number or text that is not UTF-8 is `Corrupt`.
fn cell(v: ValueRef<'_>) -> Result<Cell> {
    Ok(match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(v) => Cell::I64(v),
        ValueRef::Text(t) => Cell::Text(
            String::from_utf8(t.to_vec()).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        ),
        ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        ValueRef::Real(r) => {
            return Err(StoreError::Corrupt(format!(
                "a real number {r} in a column"
            )));
        }
    })
}

/// Each connection's page cache, in KiB (two connections: the writer and the reader).
pub const PAGE_CACHE_KIB: i64 = 32 * 1024;

/// The write-ahead log is copied into the database once it holds this many 4 KiB
/// pages (SQLite's default is 1,000). A page changed by many commits in between (the
/// rightmost leaf of every time-ordered index) is copied once per checkpoint, so a
/// longer interval writes less; the log stays within about this size (`journal_size_limit`).
pub const WAL_CHECKPOINT_PAGES: i64 = 8 * 1024;

/// One SQLite connection with its statements rendered for SQLite (rusqlite's
/// statement cache then keeps them prepared).
pub struct SqliteConn {
    conn: Connection,
    rendered: HashMap<&'static str, String>,
}

impl SqliteConn {
    fn open(path: &Path) -> Result<SqliteConn> {
        let c = Connection::open(path).map_err(db)?;
        c.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        c.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        c.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        // The page cache of each connection, bounded (KiB): SQLite's default (2 MiB)
        // made the relay read just-committed bodies back through the kernel.
        c.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)
            .map_err(db)?;
        c.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            .map_err(db)?;
        c.pragma_update(None, "journal_size_limit", WAL_CHECKPOINT_PAGES * 4096)
            .map_err(db)?;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        c.set_prepared_statement_cache_capacity(128);
        Ok(SqliteConn {
            conn: c,
            rendered: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &'static str) -> Result<rusqlite::CachedStatement<'_>> {
        let text = self
            .rendered
            .entry(sql)
            .or_insert_with(|| sql::render(sql, Dialect::Sqlite));
        self.conn.prepare_cached(text).map_err(classify)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(classify)
    }
}

/// Every row of a prepared statement.
fn rows_of(mut st: rusqlite::CachedStatement<'_>, params: &[Value<'_>]) -> Result<Vec<Row>> {
    let columns = st.column_count();
    let mut rows = st
        .query(rusqlite::params_from_iter(params))
        .map_err(classify)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(classify)? {
        let cells = (0..columns)
            .map(|i| cell(r.get_ref(i).map_err(classify)?))
            .collect::<Result<Vec<_>>>()?;
        out.push(Row(cells));
    }
    Ok(out)
}

impl sql::Conn for SqliteConn {
    fn query(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<Vec<Row>> {
        let st = self.statement(sql)?;
        rows_of(st, params)
    }

    fn query_text(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>> {
        // The statement cache is an LRU of `set_prepared_statement_cache_capacity`.
        let text = sql::render(sql, Dialect::Sqlite);
        let st = self.conn.prepare_cached(&text).map_err(classify)?;
        rows_of(st, params)
    }

    fn execute(&mut self, sql: &'static str, params: &[Value<'_>]) -> Result<u64> {
        let n = self
            .statement(sql)?
            .execute(rusqlite::params_from_iter(params))
            .map_err(classify)?;
        Ok(n as u64)
    }

    fn begin(&mut self, mode: Begin) -> Result<()> {
        self.batch(match mode {
            // One writer at a time: what a transaction reads stays as it read it.
            Begin::Write => "BEGIN IMMEDIATE",
            // WAL: a read transaction sees one snapshot from its first read.
            Begin::Snapshot => "BEGIN",
        })
    }

    fn commit(&mut self) -> Result<()> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) {
        // Best effort: a failed rollback leaves SQLite to roll back on close, and
        // `unpoisoned` rolls back anything left open before the next use.
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

pub struct SqliteStore {
    writer: Mutex<SqliteConn>,
    reader: Mutex<SqliteConn>,
}

/// Lock a connection even if a thread panicked while holding it: a panic is one
/// message's problem, not the store's. The transaction it had open was rolled back
/// by `SqlTx::drop` during unwinding; should anything be left open (a panic
/// outside a transaction), it is rolled back here before the connection is reused.
fn unpoisoned(m: &Mutex<SqliteConn>) -> MutexGuard<'_, SqliteConn> {
    let guard = m.lock().unwrap_or_else(|poisoned| {
        m.clear_poison();
        poisoned.into_inner()
    });
    if !guard.conn.is_autocommit() {
        let _ = guard.conn.execute_batch("ROLLBACK");
    }
    guard
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(db)?;
        }
        let mut writer = SqliteConn::open(path)?;
        super::migrate::sqlite(&mut writer.conn)?;
        let reader = SqliteConn::open(path)?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }
}

impl Backend for SqliteStore {
    type Conn = SqliteConn;
    type Guard<'a> = MutexGuard<'a, SqliteConn>;

    fn writer(&self) -> Result<MutexGuard<'_, SqliteConn>> {
        Ok(unpoisoned(&self.writer))
    }

    fn reader(&self) -> Result<MutexGuard<'_, SqliteConn>> {
        Ok(unpoisoned(&self.reader))
    }
}

// Tested with the PostgreSQL store by the shared suite in `tests.rs`.
