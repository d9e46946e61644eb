//! Test-only fault injection, compiled only with the `fault-hooks` feature (the test
//! command enables it; a production build has none of this). A delivery whose
//! message id is registered makes its handler panic, so that tests can prove a
//! panic is one message's problem and follow a poison message to the dead-letter
//! queue. A national submission into a registered case id panics in the group
//! committer likewise. Ids come from `register` (unit tests) or, for a `serve` process, from the
//! environment variable `EESSI_FAULT_PANIC_ON` (comma-separated message ids).
//!
//! A kill between a submission's commit and its answer: a `serve` process started
//! with `EESSI_FAULT_ABORT_AFTER_COMMIT` (comma-separated client case ids or
//! national references) aborts right after the group commit that newly committed
//! such a submission, before any answer is written, as a crash there would. A
//! replayed answer commits nothing new and does not abort, so the retry after a
//! restart with the same environment is answered.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

fn ids() -> &'static Mutex<HashSet<String>> {
    static IDS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    IDS.get_or_init(|| Mutex::new(from_env("EESSI_FAULT_PANIC_ON")))
}

fn abort_ids() -> &'static HashSet<String> {
    static IDS: OnceLock<HashSet<String>> = OnceLock::new();
    IDS.get_or_init(|| from_env("EESSI_FAULT_ABORT_AFTER_COMMIT"))
}

fn from_env(name: &str) -> HashSet<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Abort the process if any of `ids` (a submission just committed, not yet
/// answered) is registered in `EESSI_FAULT_ABORT_AFTER_COMMIT`.
pub fn maybe_abort_after_commit<'a>(mut ids: impl Iterator<Item = &'a str>) {
    let registered = abort_ids();
    if !registered.is_empty() && ids.any(|id| registered.contains(id)) {
        eprintln!("fault hook: aborting after a commit, before its answer");
        std::process::abort();
    }
}

/// Make the handling of `message_id` panic from now on.
pub fn register(message_id: &str) {
    ids()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(message_id.to_owned());
}

/// Panics if `message_id` is registered.
pub fn maybe_panic(message_id: &str) {
    let hit = ids()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(message_id);
    if hit {
        panic!("fault hook: an injected panic while handling a delivery");
    }
}
