//! What `Store::prune` removes (issue 8, item 7): bodies of settled outbox rows,
//! answered inbox rows past the duplicate window, and old case history. The job
//! that calls it is `switch::retention`; the periods come from `[retention]`.
//!
//! Which outbox rows are settled is read off the status table (`allowed_from`), not
//! written down a second time:
//! - a status is *final* for a kind when the row can reach it and no change leads
//!   out of it (`rejected`, `failed` for SEDs; `sent`, `failed` for the rest);
//! - a status is *late-settling* when every change out of it leads to a final
//!   status: a `delivered` SED may still be `rejected` (a parked message that later
//!   gets `UNKNOWN_CASE`), and a receipt for it is checked against the digest of its
//!   body, so its body is kept through the duplicate window, not just `body_days`.

use super::OutboxKind;
use super::outbox::{OutboxStatus, allowed_from};

/// One prune call. Times are the caller's clock (milliseconds since the epoch) so
/// that the rule is tested with a fake one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prune {
    /// Recorded as each pruned row's `body_pruned_at`.
    pub now_ms: i64,
    /// Settled outbox rows whose last change (`updated_at`) is older than this lose
    /// their body.
    pub body_before_ms: i64,
    /// Inbox rows received before this are deleted (now − the duplicate window);
    /// late-settling outbox rows must also be older than this to lose their body.
    pub inbox_before_ms: i64,
    /// History entries whose `at` is before this RFC 3339 time are deleted; an empty
    /// string keeps them all.
    pub history_before: String,
    /// At most this many rows of each table per call.
    pub limit: u32,
}

/// What one prune call removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outbox_bodies: u64,
    pub inbox_rows: u64,
    pub history_rows: u64,
    /// Idempotency keys older than the duplicate window.
    pub idempotency_rows: u64,
    /// Delivered triage entries settled before the history period (the audit log
    /// keeps who assigned them).
    pub triage_rows: u64,
    /// Settled timers (fired, cancelled, failed) last changed before the history
    /// period (the case's history keeps what each did).
    pub timer_rows: u64,
}

impl Pruned {
    /// True when every table had fewer prunable rows than `limit`: one more call
    /// would find (next to) nothing.
    pub fn caught_up(&self, limit: u32) -> bool {
        let l = u64::from(limit);
        self.outbox_bodies < l
            && self.inbox_rows < l
            && self.history_rows < l
            && self.idempotency_rows < l
            && self.triage_rows < l
            && self.timer_rows < l
    }

    pub fn add(&mut self, other: &Pruned) {
        self.outbox_bodies += other.outbox_bodies;
        self.inbox_rows += other.inbox_rows;
        self.history_rows += other.history_rows;
        self.idempotency_rows += other.idempotency_rows;
        self.triage_rows += other.triage_rows;
        self.timer_rows += other.timer_rows;
    }
}

/// Where a row of `kind` in `from` may go.
fn ways_out(kind: OutboxKind, from: OutboxStatus) -> Vec<OutboxStatus> {
    OutboxStatus::ALL
        .iter()
        .copied()
        .filter(|to| allowed_from(kind, *to).contains(&from))
        .collect()
}

/// Final statuses of `kind`: reached by some change, left by none.
pub fn final_statuses(kind: OutboxKind) -> Vec<OutboxStatus> {
    OutboxStatus::ALL
        .iter()
        .copied()
        .filter(|s| !allowed_from(kind, *s).is_empty() && ways_out(kind, *s).is_empty())
        .collect()
}

/// Late-settling statuses of `kind`: every way out leads to a final status.
pub fn late_statuses(kind: OutboxKind) -> Vec<OutboxStatus> {
    let finals = final_statuses(kind);
    OutboxStatus::ALL
        .iter()
        .copied()
        .filter(|s| {
            let out = ways_out(kind, *s);
            !allowed_from(kind, *s).is_empty()
                && !out.is_empty()
                && out.iter().all(|to| finals.contains(to))
        })
        .collect()
}

/// `kind/status` pairs whose body may go after `body_days`.
pub fn final_pairs() -> Vec<String> {
    pairs(final_statuses)
}

/// `kind/status` pairs whose body may go only after the duplicate window too.
pub fn late_pairs() -> Vec<String> {
    pairs(late_statuses)
}

fn pairs(statuses: fn(OutboxKind) -> Vec<OutboxStatus>) -> Vec<String> {
    OutboxKind::ALL
        .iter()
        .flat_map(|&k| statuses(k).into_iter().map(move |s| format!("{k}/{s}")))
        .collect()
}

/// `ms` as the stores write times (`now_rfc3339`'s format), so that text
/// comparison is time order.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OutboxStatus::*;

    #[test]
    fn settled_statuses_come_from_the_status_table() {
        assert_eq!(final_statuses(OutboxKind::Sed), vec![Rejected, Failed]);
        assert_eq!(late_statuses(OutboxKind::Sed), vec![Delivered]);
        for k in [
            OutboxKind::Receipt,
            OutboxKind::Error,
            OutboxKind::National,
            OutboxKind::Notice,
        ] {
            assert_eq!(final_statuses(k), vec![Sent, Failed], "{k}");
            assert!(late_statuses(k).is_empty(), "{k}");
        }
        assert!(final_pairs().contains(&"sed/rejected".to_owned()));
        assert!(!final_pairs().contains(&"sed/sent".to_owned()));
        assert!(final_pairs().contains(&"national/sent".to_owned()));
        assert_eq!(late_pairs(), vec!["sed/delivered".to_owned()]);
    }

    #[test]
    fn times_are_written_as_the_stores_write_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_735_689_600_123), "2025-01-01T00:00:00.123Z");
        assert!(rfc3339(1_000) < rfc3339(10_000));
    }
}
