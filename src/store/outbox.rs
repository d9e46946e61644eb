//! The outbox's status machine, the contract's (`access-point.md`, "Outbound status
//! per message") as one table. Every status change in either backend is a
//! compare-and-set: `UPDATE … WHERE id = ? AND kind = ? AND status IN (allowed_from)`,
//! so a change the table does not allow, or one that lost a race (a receipt that
//! committed while the relay was publishing), changes nothing and says so.

use serde::{Deserialize, Serialize};

use super::{OutboxKind, UnknownName};

super::stored_enum!(
    /// An outbox row's status.
    OutboxStatus, "outbox status" {
        /// Committed, not yet published.
        Queued = "queued",
        /// Confirmed by the broker (for a SED: waiting for its receipt).
        Sent = "sent",
        /// A SED with a valid receipt.
        Delivered = "delivered",
        /// A SED answered with an error.
        Rejected = "rejected",
        /// Not confirmed, or (a SED) no receipt within the retry interval: it goes out again.
        Retrying = "retrying",
        /// The retransmission schedule is exhausted.
        Failed = "failed",
    }
);

use OutboxStatus::*;

/// The statuses a row of `kind` may move to `to` from; empty: `to` is never reached
/// by a change (`queued` is only ever inserted).
///
/// For a SED (the contract's machine):
/// - `sent` ← `queued`, `retrying`: the broker confirmed a (re)transmission;
/// - `retrying` ← `queued`, `sent`, `retrying`: a publish was not confirmed, or the
///   receipt is overdue and the relay claims the SED to send it again;
/// - `delivered` ← `queued`, `sent`, `retrying`: a valid receipt; it may overtake the
///   relay's own record of the publish, hence `queued`;
/// - `rejected` ← the same and `delivered`: an error; "a parked message that later
///   gets `UNKNOWN_CASE` moves from `delivered` to `rejected`; that is the only move
///   out of `delivered`";
/// - `failed` ← `retrying`: the schedule is exhausted.
///
/// `rejected` and `failed` are final. Receipts, errors, national deliveries and
/// notices have no receipt of their own: `queued` → `sent` | `retrying` → `failed`.
pub fn allowed_from(kind: OutboxKind, to: OutboxStatus) -> &'static [OutboxStatus] {
    if kind == OutboxKind::Sed {
        match to {
            Queued => &[],
            Sent => &[Queued, Retrying],
            Retrying => &[Queued, Sent, Retrying],
            Delivered => &[Queued, Sent, Retrying],
            Rejected => &[Queued, Sent, Retrying, Delivered],
            Failed => &[Retrying],
        }
    } else {
        match to {
            Sent => &[Queued, Retrying],
            Retrying => &[Queued, Retrying],
            Failed => &[Retrying],
            Queued | Delivered | Rejected => &[],
        }
    }
}

/// What to do with `last_error` in a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastError {
    Keep,
    Set(String),
}

/// One status change of one outbox row. Times are computed by the store from its
/// own clock (the database's, on PostgreSQL), so that instances whose clocks differ
/// agree on when a row is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub to: OutboxStatus,
    /// This change records an attempt: `attempts` + 1, `first_attempt_ms` set if unset.
    pub attempt: bool,
    /// The row is due again this long from now (None: unchanged).
    pub due_in_ms: Option<i64>,
    pub last_error: LastError,
}

impl Change {
    pub fn to(to: OutboxStatus) -> Change {
        Change {
            to,
            attempt: false,
            due_in_ms: None,
            last_error: LastError::Keep,
        }
    }
    pub fn attempt(mut self) -> Change {
        self.attempt = true;
        self
    }
    pub fn due_in(mut self, ms: i64) -> Change {
        self.due_in_ms = Some(ms);
        self
    }
    pub fn error(mut self, why: impl Into<String>) -> Change {
        self.last_error = LastError::Set(why.into());
        self
    }
}

/// How many of the due rows (their body sizes, in due order) one claim takes: as
/// many as fit in `bytes_max`, and at least one however large, so that nothing is
/// stuck. Both backends claim by this rule.
pub fn rows_within(sizes: impl IntoIterator<Item = i64>, bytes_max: u64) -> usize {
    let mut bytes = 0u64;
    let mut n = 0;
    for len in sizes {
        bytes += len.max(0) as u64;
        if n > 0 && bytes > bytes_max {
            break;
        }
        n += 1;
    }
    n
}

/// The due rows a relay took, and the store's clock when it took them.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub now_ms: i64,
    pub messages: Vec<super::OutboxMessage>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_statuses_have_no_way_out_and_queued_is_only_inserted() {
        for &k in OutboxKind::ALL {
            for &to in OutboxStatus::ALL {
                let from = allowed_from(k, to);
                assert!(!from.contains(&Failed), "{k}: failed is final");
                assert!(!from.contains(&Rejected), "{k}: rejected is final");
                if to != Rejected {
                    assert!(!from.contains(&Delivered), "{k}: delivered -> {to}");
                }
            }
            assert!(allowed_from(k, Queued).is_empty());
        }
        assert_eq!(
            allowed_from(OutboxKind::Sed, Rejected).last(),
            Some(&Delivered)
        );
        assert!(allowed_from(OutboxKind::National, Delivered).is_empty());
    }

    #[test]
    fn a_claim_takes_what_fits_and_never_nothing() {
        assert_eq!(rows_within([4, 4, 4], 8), 2);
        assert_eq!(rows_within([100, 1], 8), 1, "one row however large");
        assert_eq!(rows_within([4, 4], u64::MAX), 2);
        assert_eq!(rows_within([], 8), 0);
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for &s in OutboxStatus::ALL {
            assert_eq!(s.as_str().parse::<OutboxStatus>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!("lost".parse::<OutboxStatus>().is_err());
        assert_eq!(
            super::super::stored::<OutboxStatus>("lost")
                .unwrap_err()
                .to_string(),
            "stored data is inconsistent: unknown outbox status \"lost\""
        );
    }
}
