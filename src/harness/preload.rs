//! Preloading a store with N settled cases before a benchmark, so one can compare
//! the switch at 10,000 and at 1,000,000 stored cases. One real case is made first
//! (a national message through the library's own submission path, in-process),
//! then its rows (case, participants, conversation, document, version with its
//! envelope, history, outbox) are copied N times in the database itself, 50,000
//! cases per transaction, with new identifiers and the outbox rows settled
//! (`delivered`, body pruned as retention leaves them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::switch::Switch;
use crate::switch::outbound::{Submission, submit};
use crate::transport::Transport;

/// Cases per transaction.
const BATCH: u64 = 50_000;

/// The tables of one case, in foreign-key order, with the column that finds the
/// template's rows.
const TABLES: &[(&str, &str)] = &[
    ("cases", "case_id"),
    ("participants", "case_id"),
    ("conversations", "case_id"),
    ("documents", "case_id"),
    ("document_versions", "document_id"),
    ("history", "case_id"),
    ("outbox", "case_id"),
];

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `prefix` then the number `i` in lower-case hex, zero-padded to `width`.
    fn hex(self, prefix: &str, width: usize) -> String {
        match self {
            Dialect::Sqlite => format!("printf('{prefix}%0{width}x', s.i)"),
            Dialect::Postgres => format!("'{prefix}' || lpad(to_hex(s.i), {width}, '0')"),
        }
    }
    fn series(self, lo: u64, hi: u64) -> (String, String) {
        match self {
            Dialect::Sqlite => (
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i < {hi}) "
                ),
                "s".to_owned(),
            ),
            Dialect::Postgres => (
                String::new(),
                format!("generate_series({lo}::bigint, {hi}::bigint) AS s(i)"),
            ),
        }
    }
}

/// The copy statement for `table`'s rows of the template, numbers `lo..=hi`.
fn copy_sql(
    d: Dialect,
    table: &str,
    key: &str,
    template: &str,
    columns: &[String],
    lo: u64,
    hi: u64,
) -> String {
    // Identifiers of the copies: 32 hex digits (case, document), a UUID-shaped
    // message id; a zero where a v4 UUID has its 4, so none equals a random one.
    let case = d.hex("", 32);
    let doc = d.hex("d", 31);
    let msg = d.hex("00000000-0000-0000-8000-", 12);
    let mut names = Vec::new();
    let mut exprs = Vec::new();
    for c in columns {
        let id = |e: &str| format!("CASE WHEN t.{c} IS NULL THEN NULL ELSE {e} END");
        let expr = match (table, c.as_str()) {
            // Generated keys (identity columns on PostgreSQL).
            (_, "seq") | ("outbox", "id") => continue,
            (_, "case_id") => id(&case),
            (_, "document_id") => id(&doc),
            (_, "message_id") => id(&msg),
            ("outbox", "status") => "'delivered'".to_owned(),
            // Settled long ago: the body was pruned (no `outbox_bodies` row).
            ("outbox", "body_bytes") => "0".to_owned(),
            ("outbox", "body_pruned_at") => "t.updated_at".to_owned(),
            _ => format!("t.{c}"),
        };
        names.push(c.clone());
        exprs.push(expr);
    }
    let (with, from) = d.series(lo, hi);
    format!(
        "{with}INSERT INTO {table} ({}) SELECT {} FROM {table} AS t, {from} WHERE t.{key} = '{template}'",
        names.join(", "),
        exprs.join(", ")
    )
}

/// Make the template case in the store at `store_url` (its schema created by the
/// store itself); returns (case id, document id).
async fn template(
    root: &std::path::Path,
    dir: &std::path::Path,
    store_url: &str,
) -> Result<(String, String), String> {
    let mut config = crate::harness::demo::demo_config(root, "BE", dir, None)?;
    config.store_url = store_url.to_owned();
    let transport: Arc<dyn Transport> = Arc::new(crate::transport::memory::MemoryBroker::new());
    let sw = Arc::new(
        tokio::task::spawn_blocking(move || Switch::build(&config, transport))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?,
    );
    sw.declare().await.map_err(|e| e.to_string())?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sw.clone().run(16, stop_rx));
    let national = std::fs::read(root.join("fixtures/national/onss-posting.xml"))
        .map_err(|e| e.to_string())?;
    let sw2 = sw.clone();
    let done = tokio::task::spawn_blocking(move || {
        let adapter = sw2
            .adapters
            .get("onss-posting")
            .ok_or("no onss-posting adapter")?;
        let t = adapter
            .translate(&national, &sw2.limits, &sw2.versions[0])
            .map_err(|e| e.to_string())?;
        submit(
            &sw2,
            Submission {
                from: t.from,
                to: t.to,
                buc: t.buc,
                sed: t.sed,
                version: None,
                case_id: None,
                document_id: None,
                related: None,
                body: t.sed_xml.into_bytes(),
                reference: None,
            },
        )
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())??;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    Ok((done.case_id.to_string(), done.document_id.to_string()))
}

/// Preload `n` cases into the store at `store_url` (`sqlite://…` or
/// `postgres://…`), before any `serve` opens it.
pub async fn preload(
    root: &std::path::Path,
    dir: &std::path::Path,
    store_url: &str,
    n: u64,
) -> Result<Duration, String> {
    let start = Instant::now();
    let (case, doc) = template(root, dir, store_url).await?;
    let url = store_url.to_owned();
    tokio::task::spawn_blocking(move || match url.strip_prefix("sqlite://") {
        Some(path) => copy_sqlite(path, &case, &doc, n),
        None => copy_postgres(&url, &case, &doc, n),
    })
    .await
    .map_err(|e| e.to_string())??;
    Ok(start.elapsed())
}

/// The template's own SED settled like its copies: `serve` must not publish it.
fn settle_template(case: &str) -> String {
    // From the statuses a relay publishes from (it never ran on this store).
    format!(
        "UPDATE outbox SET status = 'delivered' WHERE case_id = '{case}' \
         AND status IN ('queued', 'retrying', 'sent');"
    )
}

fn progress(done: u64, n: u64, start: Instant) {
    if done.is_multiple_of(BATCH * 4) || done == n {
        println!(
            "  preloaded {done} of {n} cases ({:.0} s)",
            start.elapsed().as_secs_f64()
        );
    }
}

fn copy_sqlite(path: &str, case: &str, doc: &str, n: u64) -> Result<(), String> {
    let e = |e: rusqlite::Error| format!("preloading {path}: {e}");
    let mut conn = rusqlite::Connection::open(path).map_err(e)?;
    // A bulk load: a crash loses the load, nothing else.
    conn.execute_batch("PRAGMA synchronous = OFF;").map_err(e)?;
    let mut columns = Vec::new();
    for (table, _) in TABLES {
        let stmt = conn
            .prepare(&format!("SELECT * FROM {table} LIMIT 0"))
            .map_err(e)?;
        columns.push(
            stmt.column_names()
                .map(|c| c.to_owned())
                .collect::<Vec<_>>(),
        );
    }
    let start = Instant::now();
    let mut lo = 1;
    while lo <= n {
        let hi = (lo + BATCH - 1).min(n);
        let tx = conn.transaction().map_err(e)?;
        for ((table, key), cols) in TABLES.iter().zip(&columns) {
            let template = if *key == "document_id" { doc } else { case };
            tx.execute_batch(&copy_sql(
                Dialect::Sqlite,
                table,
                key,
                template,
                cols,
                lo,
                hi,
            ))
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        progress(hi, n, start);
        lo = hi + 1;
    }
    conn.execute_batch(&format!(
        "{} PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;",
        settle_template(case)
    ))
    .map_err(e)
}

fn copy_postgres(url: &str, case: &str, doc: &str, n: u64) -> Result<(), String> {
    let e = |e: postgres::Error| match e.as_db_error() {
        Some(d) => format!(
            "preloading PostgreSQL: {}: {}",
            d.code().code(),
            d.message()
        ),
        None => format!("preloading PostgreSQL: {e}"),
    };
    let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(e)?;
    let mut columns = Vec::new();
    for (table, _) in TABLES {
        let stmt = client
            .prepare(&format!("SELECT * FROM {table} LIMIT 0"))
            .map_err(e)?;
        columns.push(
            stmt.columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect::<Vec<_>>(),
        );
    }
    let start = Instant::now();
    let mut lo = 1;
    while lo <= n {
        let hi = (lo + BATCH - 1).min(n);
        let mut tx = client.transaction().map_err(e)?;
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(e)?;
        for ((table, key), cols) in TABLES.iter().zip(&columns) {
            let template = if *key == "document_id" { doc } else { case };
            tx.batch_execute(&copy_sql(
                Dialect::Postgres,
                table,
                key,
                template,
                cols,
                lo,
                hi,
            ))
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        progress(hi, n, start);
        lo = hi + 1;
    }
    client
        .batch_execute(&format!("{} ANALYZE;", settle_template(case)))
        .map_err(e)
}
