//! The schema of both backends: one ordered list of numbered migrations per SQL
//! dialect (`migrations/sqlite/V<n>__<name>.sql`, `migrations/postgres/...`), the same
//! versions with the same meanings, embedded in the binary and run at open by
//! `refinery`, which records each in `refinery_schema_history` with its checksum. A
//! schema change is a new migration at the end of both lists, never an edit of an
//! applied one: refinery refuses to start on a database whose recorded checksum
//! differs from this build's.
//!
//! Databases written before the list was recorded (main 1b15284 and older) have no
//! history table: SQLite was brought up to date at every open (`CREATE TABLE IF NOT
//! EXISTS` and columns added when missing), PostgreSQL recorded versions 1..5 in its
//! own `schema_migrations`. Such a database is recognised and *baselined*: the
//! versions it already has are recorded as applied without running them (refinery's
//! `Target::FakeVersion`), then the rest run as usual.

use refinery::Target;
use refinery::error::Kind;

use super::{Result, StoreError};

mod sqlite_list {
    refinery::embed_migrations!("migrations/sqlite");
}
mod postgres_list {
    refinery::embed_migrations!("migrations/postgres");
}

/// The newest schema version this build knows (the same on both backends).
pub fn schema_version() -> i32 {
    postgres_list::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
}

/// Every schema version this build knows, ascending (the same on both backends).
/// Helpers numbered in parallel may leave a gap until their branches meet.
pub fn versions() -> Vec<i32> {
    let mut v: Vec<i32> = postgres_list::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .collect();
    v.sort_unstable();
    v
}

fn refused(e: refinery::Error) -> StoreError {
    match e.kind() {
        // An applied migration that this build has in another form: the list was
        // edited after it ran. Refuse to start rather than guess.
        Kind::DivergentVersion(..) => StoreError::Corrupt(format!("schema migrations: {e}")),
        _ => StoreError::Db(format!("schema migrations: {e}")),
    }
}

fn runner(list: fn() -> refinery::Runner) -> refinery::Runner {
    // Grouped: the missing migrations apply in one transaction, all or none.
    // A migration recorded in the database but unknown to this build is a newer
    // schema (a rolling upgrade): migrations only add, so an older build works on it.
    list().set_grouped(true).set_abort_missing(false)
}

/// Bring an SQLite database up to date. Its writer runs this before any other use.
pub(crate) fn sqlite(c: &mut rusqlite::Connection) -> Result<()> {
    let baseline = sqlite_baseline(c)?;
    run(sqlite_list::migrations::runner, baseline, c)
}

/// Record `baseline` (the version a database without a history is at) as applied
/// without running it, then apply what is missing.
fn run<C: refinery::Migrate>(
    list: fn() -> refinery::Runner,
    baseline: Option<i32>,
    c: &mut C,
) -> Result<()> {
    if let Some(version) = baseline {
        tracing::info!(
            version,
            "baselining a store written before recorded migrations"
        );
        runner(list)
            .set_target(Target::FakeVersion(version))
            .run(c)
            .map_err(refused)?;
    }
    runner(list).run(c).map_err(refused)?;
    Ok(())
}

/// The version an SQLite database without a history is at: each version's mark (a
/// table or column it added) present, in order. None: it has a history, or is new.
fn sqlite_baseline(c: &rusqlite::Connection) -> Result<Option<i32>> {
    let table = |name: &str| -> Result<bool> {
        c.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [name],
            |r| r.get(0),
        )
        .map_err(|e| StoreError::Db(e.to_string()))
    };
    let column = |table: &str, column: &str| -> Result<bool> {
        c.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |r| r.get(0),
        )
        .map_err(|e| StoreError::Db(e.to_string()))
    };
    if table("refinery_schema_history")? || !table("cases")? {
        return Ok(None);
    }
    let marks = [
        table("cases")?,
        table("parked")? && table("audit")?,
        table("conversations")?,
        column("parked", "waits_document")?,
        column("outbox", "body_pruned_at")?,
    ];
    Ok(Some(marks.iter().take_while(|m| **m).count() as i32))
}

/// Bring a PostgreSQL database up to date, on a connection of its own. Callers
/// hold the migration advisory lock (`postgres.rs`) so that instances starting
/// together run this one after the other.
pub(crate) fn postgres(c: &mut ::postgres::Client) -> Result<()> {
    let baseline = postgres_baseline(c)?;
    run(postgres_list::migrations::runner, baseline, c)
}

/// The version recorded in the pre-refinery `schema_migrations` (consecutive from
/// 1), when there is no refinery history yet.
fn postgres_baseline(c: &mut ::postgres::Client) -> Result<Option<i32>> {
    let db = |e: ::postgres::Error| StoreError::Db(e.to_string());
    let row = c
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL, \
             to_regclass('schema_migrations') IS NOT NULL",
            &[],
        )
        .map_err(db)?;
    if row.get::<_, bool>(0) || !row.get::<_, bool>(1) {
        return Ok(None);
    }
    let versions: Vec<i32> = c
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .map_err(db)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let known = (1..=versions.len() as i32).eq(versions.iter().copied());
    if !known || versions.len() as i32 > schema_version() {
        return Err(StoreError::Corrupt(format!(
            "schema_migrations holds versions {versions:?}, not 1..n of this build's list"
        )));
    }
    Ok(Some(versions.len() as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_lists_have_the_same_versions_and_names() {
        // refinery runs them in version order, whatever the order of the files.
        let names = |r: refinery::Runner| -> Vec<(i32, String)> {
            let mut v: Vec<(i32, String)> = r
                .get_migrations()
                .iter()
                .map(|m| (m.version(), m.name().to_owned()))
                .collect();
            v.sort();
            v
        };
        let sqlite = names(sqlite_list::migrations::runner());
        assert_eq!(sqlite, names(postgres_list::migrations::runner()));
        let versions: Vec<i32> = sqlite.iter().map(|m| m.0).collect();
        assert_eq!(versions, super::versions());
        assert_eq!(versions.first(), Some(&1));
        assert_eq!(versions.last(), Some(&schema_version()));
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    }
}
