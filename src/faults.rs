//! Test-only fault injection, compiled only with the `fault-hooks` feature (the test
//! command enables it; a production build has none of this). A delivery whose
//! message id is registered makes its handler panic, so that tests can prove a
//! panic is one message's problem and follow a poison message to the dead-letter
//! queue. A national submission into a registered case id panics in the group
//! committer likewise. Ids come from `register` (unit tests) or, for a `serve` process, from the
//! environment variable `EESSI_FAULT_PANIC_ON` (comma-separated message ids).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

fn ids() -> &'static Mutex<HashSet<String>> {
    static IDS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    IDS.get_or_init(|| {
        let from_env = std::env::var("EESSI_FAULT_PANIC_ON").unwrap_or_default();
        Mutex::new(
            from_env
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    })
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
