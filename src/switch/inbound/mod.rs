//! Inbound: what arrives in this access point's inbox, in four steps, each its own
//! module:
//!
//! - `consume`: deliveries are spread over lanes by case id (one case's documents
//!   one after another in arrival order, different cases in parallel), batched,
//!   and acked, dead-lettered or requeued after their transaction;
//! - `check`: checks 2–8 of the contract (or a signal's verification) and the
//!   signing of the likely answer, on a blocking thread before any transaction;
//! - `apply`: the transaction: check 1, the shared apply path (`switch::apply`:
//!   checks 9 and 10 and the effect), parking, the stored answer; receipts and
//!   errors settle our own outbound SEDs;
//! - `answer`: rendering and signing receipts and errors (outside the transaction)
//!   and storing them (inside it);
//!
//! and `park` for SEDs whose predecessor has not arrived yet. A crash at any point
//! either leaves nothing (the redelivery starts over) or everything (the
//! redelivery is answered as a duplicate); the delivery is acked only after the
//! commit. No XML is parsed and nothing is signed or verified while a transaction
//! is open.

mod answer;
pub(crate) mod apply;
pub(crate) mod check;
mod consume;
mod park;

pub use apply::{handle, handle_batch};
pub use check::{CheckedSed, Refusal, check};
pub use consume::run;
pub(crate) use consume::{BATCH_MAX, LANE_QUEUE, LANES};
pub use park::{run_sweeper, sweep_parked};

/// What to do with a delivery once handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Committed (applied, refused or answered as a duplicate): ack.
    Ack,
    /// Nobody can be answered: reject without requeue, to the dead-letter queue.
    DeadLetter(String),
    /// A failure that is not the message's fault and not transient (a bug, a
    /// corrupt row): requeue; the queue's delivery limit dead-letters a message that
    /// keeps failing (a poison message).
    Retry(String),
    /// The store is unavailable or a concurrent transaction won: keep the delivery
    /// unacked and try again in place. While the store is away every lane waits, the
    /// prefetch limit stops the broker from sending more, and nothing is requeued
    /// (so nothing counts towards the delivery limit).
    Wait(String),
}
