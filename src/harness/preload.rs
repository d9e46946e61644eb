//! Preloading a store with N settled cases before a benchmark, so one can compare
//! the switch at 10,000 and at 1,000,000 stored cases. One real case is made first
//! (a national message through the library's own submission path, in-process),
//! then its rows (case, participants, conversation, document, version with its
//! envelope, history, outbox) are copied N times in the database itself, 50,000
//! cases per transaction, with new identifiers and the outbox rows settled
//! (`delivered`, body pruned as retention leaves them). The copies differ where the
//! case list filters (BUC and sector, state, times, counterparty, overdue replies,
//! a failed SED now and then, one person each in the person index: `case_column`,
//! `persons_sql`), so that the search benchmark's filters are selective.

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
    /// A time `base_s + offset_s` seconds after the epoch, as the store writes
    /// times (RFC 3339, milliseconds, `Z`).
    fn time(self, offset_s: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', {BASE_S} + ({offset_s}), 'unixepoch')")
            }
            Dialect::Postgres => format!(
                "to_char(to_timestamp({BASE_S} + ({offset_s})) AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
        }
    }
    /// `YYYY-MM-DD`, `days` after 1940-01-01.
    fn birth_date(self, days: &str) -> String {
        match self {
            Dialect::Sqlite => format!("date('1940-01-01', '+' || ({days}) || ' days')"),
            Dialect::Postgres => {
                format!("to_char(DATE '1940-01-01' + CAST({days} AS INTEGER), 'YYYY-MM-DD')")
            }
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

/// The copies' times start here (2025-01-01T00:00:00Z) and are 30 s apart, so a
/// million cases span a year; a case's last change is up to 14 days later.
const BASE_S: u64 = 1_735_689_600;

/// One of `items` by `i % items.len()` in SQL.
fn pick(i: &str, items: &[&str]) -> String {
    let arms: String = items
        .iter()
        .enumerate()
        .map(|(k, v)| format!(" WHEN {k} THEN '{v}'"))
        .collect();
    format!("(CASE ({i}) % {}{arms} END)", items.len())
}

/// The BUCs the copies get (one per sector and a few more), with their sectors.
const BUCS: &[(&str, &str)] = &[
    ("LA_BUC_02", "LA"),
    ("LA_BUC_01", "LA"),
    ("LA_BUC_03", "LA"),
    ("P_BUC_01", "P"),
    ("P_BUC_02", "P"),
    ("S_BUC_01", "S"),
    ("UB_BUC_01", "UB"),
    ("FB_BUC_01", "FB"),
    ("H_BUC_01", "H"),
    ("H_BUC_02a", "H"),
    ("AW_BUC_01a", "AW"),
    ("R_BUC_01", "R"),
    ("M_BUC_01", "M"),
];
const STATES: &[&str] = &["awaiting_reply", "agreed", "started", "closed", "disagreed"];
/// The foreign counterparties the copies get (the Belgian side stays the
/// template's).
const COUNTERPARTIES: &[&str] = &[
    "NL:SVB", "DE:DRV", "FR:CNAV", "LU:CNAP", "AT:SVA", "PL:ZUS", "IT:INPS", "ES:INSS", "PT:ISS",
    "IE:DSP", "CZ:CSSZ", "RO:CNPP",
];
const FAMILY_NAMES: &[&str] = &[
    "peeters",
    "janssens",
    "maes",
    "jacobs",
    "mertens",
    "willems",
    "claes",
    "goossens",
    "wouters",
    "de smet",
    "dubois",
    "lambert",
    "dupont",
    "martin",
    "simon",
    "laurent",
    "leroy",
    "lejeune",
    "renard",
    "verhoeven",
    "de vries",
    "muller",
    "schmidt",
    "rossi",
    "garcia",
    "kowalski",
    "novak",
    "silva",
    "murphy",
    "popescu",
    "van damme",
    "hermans",
];
const FORENAMES: &[&str] = &[
    "lotte", "marie", "emma", "louis", "lucas", "noah", "elodie", "jan", "sofie", "pieter", "anna",
    "thomas", "lea", "arthur", "nina", "victor", "julie", "tom", "sarah", "adam",
];

/// A case's varied columns: each of the case list's filters selects a fraction
/// (BUC 1/13, sector ~1/9, state 1/5, counterpart 1/12, overdue 1/100, a person's
/// name 1/32, a birth date ~1/25,000, a PIN one case), so the search benchmark
/// measures selective queries, not one case copied.
fn case_column(d: Dialect, c: &str) -> Option<String> {
    let bucs: Vec<&str> = BUCS.iter().map(|(b, _)| *b).collect();
    let sectors: Vec<&str> = BUCS.iter().map(|(_, s)| *s).collect();
    Some(match c {
        "buc" => pick("s.i", &bucs),
        "sector" => pick("s.i", &sectors),
        "state" => pick("s.i / 13", STATES),
        "status" => format!(
            "(CASE WHEN (s.i / 13) % {} = 3 THEN 'closed' ELSE 'open' END)",
            STATES.len()
        ),
        "created_at" => d.time("s.i * 30"),
        "updated_at" => d.time("s.i * 30 + (s.i * 7919) % 1209600"),
        // One case in a hundred awaits a reply that is overdue (due in 2025),
        // one in ten one due in 2099.
        "reply_due" => format!(
            "(CASE WHEN s.i % 100 = 7 THEN {} WHEN s.i % 10 = 1 THEN '2099-01-01T00:00:00.000Z' \
             ELSE NULL END)",
            d.time("s.i * 30 + 2592000")
        ),
        _ => return None,
    })
}

/// The person index of copies `lo..=hi`: one person each, with a Belgian PIN
/// unique to the case (11 digits, as an SSIN).
fn persons_sql(d: Dialect, lo: u64, hi: u64) -> String {
    let case = d.hex("", 32);
    let (with, from) = d.series(lo, hi);
    let from = if from == "s" { "s".to_owned() } else { from };
    let pin = match d {
        Dialect::Sqlite => "printf('%011d', s.i)".to_owned(),
        Dialect::Postgres => "lpad(CAST(s.i AS TEXT), 11, '0')".to_owned(),
    };
    format!(
        "{with}INSERT INTO case_persons (case_id, family, forename, birth_date, pin_country, pin) \
         SELECT {case}, {}, {}, {}, 'BE', {pin} FROM {from}",
        pick("s.i", FAMILY_NAMES),
        pick("s.i / 7", FORENAMES),
        d.birth_date("(s.i * 7919) % 25000"),
    )
}

/// The copy statement for `table`'s rows of the template, numbers `lo..=hi`.
#[allow(clippy::too_many_arguments)]
fn copy_sql(
    d: Dialect,
    light: bool,
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
            // One case in ten thousand has a SED that failed.
            ("outbox", "status") => {
                "(CASE WHEN s.i % 10000 = 3 THEN 'failed' ELSE 'delivered' END)".to_owned()
            }
            // Light copies (the search benchmark) keep no envelope: a million of
            // them are gigabytes the case list never reads.
            ("document_versions", "envelope") if light => match d {
                Dialect::Sqlite => "x''".to_owned(),
                Dialect::Postgres => "''::bytea".to_owned(),
            },
            ("cases", c) if case_column(d, c).is_some() => case_column(d, c).unwrap_or_default(),
            ("participants", "institution") => format!(
                "(CASE WHEN t.institution LIKE 'BE:%' THEN t.institution ELSE {} END)",
                pick("s.i", COUNTERPARTIES)
            ),
            ("participants", "country") => format!(
                "(CASE WHEN t.institution LIKE 'BE:%' THEN t.country ELSE substr({}, 1, 2) END)",
                pick("s.i", COUNTERPARTIES)
            ),
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
    preload_with(root, dir, store_url, n, false).await
}

/// `preload`; `light`: the copies' document versions without their envelope
/// (for the search benchmark, which never reads them).
pub async fn preload_with(
    root: &std::path::Path,
    dir: &std::path::Path,
    store_url: &str,
    n: u64,
    light: bool,
) -> Result<Duration, String> {
    let start = Instant::now();
    let (case, doc) = template(root, dir, store_url).await?;
    let url = store_url.to_owned();
    tokio::task::spawn_blocking(move || match url.strip_prefix("sqlite://") {
        Some(path) => copy_sqlite(path, &case, &doc, n, light),
        None => copy_postgres(&url, &case, &doc, n, light),
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

fn copy_sqlite(path: &str, case: &str, doc: &str, n: u64, light: bool) -> Result<(), String> {
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
                light,
                table,
                key,
                template,
                cols,
                lo,
                hi,
            ))
            .map_err(e)?;
        }
        tx.execute_batch(&persons_sql(Dialect::Sqlite, lo, hi))
            .map_err(e)?;
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

fn copy_postgres(url: &str, case: &str, doc: &str, n: u64, light: bool) -> Result<(), String> {
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
                light,
                table,
                key,
                template,
                cols,
                lo,
                hi,
            ))
            .map_err(e)?;
        }
        tx.batch_execute(&persons_sql(Dialect::Postgres, lo, hi))
            .map_err(e)?;
        tx.commit().map_err(e)?;
        progress(hi, n, start);
        lo = hi + 1;
    }
    client
        .batch_execute(&format!("{} ANALYZE;", settle_template(case)))
        .map_err(e)
}
