//! The outbox relay: publishes committed messages and keeps the retransmission
//! schedule. Each round reads the due messages, publishes them concurrently (so
//! their broker confirms are pipelined), then records every outcome in one
//! transaction. A SED is `sent` once confirmed and not returned; without a receipt
//! or error within `retry.interval_ms` it is sent again with the same message id,
//! up to `retry.attempts_max` attempts within `retry.window_ms`, then `failed`,
//! and the sending institution gets a failure notice on its national queue.
//! Receipts, errors and national deliveries are retried with a growing backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::{Metrics, Switch};
use crate::ids::MessageId;
use crate::sed::xml::escape;
use crate::store::{
    Change, HistoryEntry, LastError, OutboxKind, OutboxMessage, OutboxStatus, StoreError, Tx,
    now_rfc3339,
};
use crate::transport::{NATIONAL_EXCHANGE, OutMessage, PublishOutcome};

/// Longer than a round's publish and record take, so a claim is not taken twice
/// while it is being worked on; after a crash the rows are due again after this.
pub(crate) const CLAIM_LEASE_MS: i64 = 60_000;
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Rounds at most run at shutdown to flush the outbox (each handles up to `BATCH`).
const FLUSH_ROUNDS_MAX: usize = 20;

/// The fresh lane's sender while the relay runs: the committer hands it SEDs it
/// inserted already leased (`outbound::run_batch`), so they are published without
/// being claimed back from the store.
pub(crate) fn fresh_lane(sw: &Switch) -> Option<mpsc::Sender<OutboxMessage>> {
    sw.fresh_lane.lock().ok().and_then(|g| g.clone())
}

/// Closes the fresh lane when the relay ends, however it ends.
struct LaneOpen<'a>(&'a Switch);

impl Drop for LaneOpen<'_> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.fresh_lane.lock() {
            *g = None;
        }
    }
}

pub async fn run(sw: Arc<Switch>, mut shutdown: watch::Receiver<bool>) {
    // Bounded like a claim (`limits.relay_claim_rows`).
    let (lane, mut fresh) = mpsc::channel(sw.bounds.relay_claim_rows.max(1) as usize);
    if let Ok(mut g) = sw.fresh_lane.lock() {
        *g = Some(lane);
    }
    let _open = LaneOpen(&sw);
    let max = sw.bounds.relay_claim_rows.max(1) as usize;
    let mut waiting: Vec<OutboxMessage> = Vec::new();
    let take = |fresh: &mut mpsc::Receiver<OutboxMessage>, waiting: &mut Vec<OutboxMessage>| {
        while waiting.len() < max {
            match fresh.try_recv() {
                Ok(m) => waiting.push(m),
                Err(_) => break,
            }
        }
    };
    loop {
        let blocked = sw.transport.state() == crate::transport::BrokerState::Blocked;
        if *shutdown.borrow() {
            // What was handed over is published first; the rest of the outbox after.
            // (Left unpublished, it is claimed when its lease ends.)
            fresh.close();
            take(&mut fresh, &mut waiting);
            if !waiting.is_empty()
                && !blocked
                && let Err(e) = publish_fresh(&sw, std::mem::take(&mut waiting)).await
            {
                tracing::warn!(error = %e, "could not publish the handed-over messages at shutdown; they stay committed");
            }
            return flush(&sw).await;
        }
        take(&mut fresh, &mut waiting);
        // While the broker blocks the connection they wait, as claims do (`round`).
        if !waiting.is_empty() && !blocked {
            match publish_fresh(&sw, std::mem::take(&mut waiting)).await {
                Ok(()) => sw.supervisor.ok("outbox relay"),
                // Their lease runs out and a claim takes them again.
                Err(e) => {
                    sw.supervisor.failing("outbox relay", &e.to_string());
                    tracing::warn!(error = %e, "recording handed-over messages failed; they are claimed again when their lease ends");
                }
            }
            continue;
        }
        let r = round(&sw).await;
        match &r {
            Ok(_) => sw.supervisor.ok("outbox relay"),
            Err(e) => sw.supervisor.failing("outbox relay", &e.to_string()),
        }
        match r {
            Ok(0) => {
                tokio::select! {
                    m = fresh.recv(), if waiting.len() < max => waiting.extend(m),
                    _ = sw.relay_wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay round failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// Publish messages handed over by the committer (inserted under a lease, so no
/// other relay takes them meanwhile) and record the outcomes as a round does.
async fn publish_fresh(sw: &Arc<Switch>, messages: Vec<OutboxMessage>) -> Result<(), StoreError> {
    Metrics::inc(&sw.metrics.relay_fresh_rounds);
    publish_and_record(sw, messages, crate::store::now_ms()).await
}

/// Publish `messages` concurrently, then record every outcome in one transaction.
async fn publish_and_record(
    sw: &Arc<Switch>,
    messages: Vec<OutboxMessage>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (due, outcomes) = publish_all(sw, messages, now_ms).await;
    let sw2 = sw.clone();
    tokio::task::spawn_blocking(move || record(&sw2, &due, outcomes))
        .await
        .map_err(|e| StoreError::Db(e.to_string()))?
}

/// Publish what is due now, a bounded number of rounds; what remains stays in the
/// outbox for the next start (nothing is lost, at worst it is sent later).
async fn flush(sw: &Arc<Switch>) {
    for _ in 0..FLUSH_ROUNDS_MAX {
        match round(sw).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not flush the outbox at shutdown; it stays committed");
                return;
            }
        }
    }
}

pub(crate) enum Outcome {
    Published(PublishOutcome),
    TransportError(String),
    /// The retransmission schedule is exhausted.
    GiveUp,
}

/// One round; returns how many messages were handled.
pub async fn round(sw: &Arc<Switch>) -> Result<usize, StoreError> {
    // While the broker blocks the connection, publishing would only hang: pause.
    // Health and metrics report the state; nothing leaves the outbox meanwhile.
    if sw.transport.state() == crate::transport::BrokerState::Blocked {
        return Ok(0);
    }
    let store = sw.store.clone();
    let (rows, bytes) = (sw.bounds.relay_claim_rows, sw.bounds.relay_claim_bytes);
    // Claimed with a lease: another instance's relay skips these meanwhile. The
    // store's clock (the database's, on PostgreSQL) decides what is due.
    let claim =
        tokio::task::spawn_blocking(move || store.outbox_claim(None, rows, bytes, CLAIM_LEASE_MS))
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
    let n = claim.messages.len();
    if n == 0 {
        return Ok(0);
    }
    Metrics::inc(&sw.metrics.relay_rounds);
    publish_and_record(sw, claim.messages, claim.now_ms).await?;
    Ok(n)
}

/// Publish the claimed messages concurrently (their confirms are pipelined). Each
/// body moves into its publish and back: it is never copied.
async fn publish_all(
    sw: &Arc<Switch>,
    due: Vec<OutboxMessage>,
    now_ms: i64,
) -> (Vec<OutboxMessage>, Vec<Outcome>) {
    let publishes = due.into_iter().map(|mut m| async move {
        if exhausted(sw, &m, now_ms) {
            return (m, Outcome::GiveUp);
        }
        let out = OutMessage {
            exchange: std::mem::take(&mut m.exchange),
            routing_key: std::mem::take(&mut m.routing_key),
            message_id: std::mem::take(&mut m.message_id),
            kind: match m.kind {
                OutboxKind::National => "sed".to_owned(),
                k => k.as_str().to_owned(),
            },
            timestamp: m.timestamp,
            headers: std::mem::take(&mut m.headers),
            body: std::mem::take(&mut m.body),
        };
        let timer = crate::telemetry::stage(crate::telemetry::Stage::relay_publish(m.kind)).start();
        let outcome = match sw.transport.publish(&out).await {
            Ok(o) => Outcome::Published(o),
            Err(e) => Outcome::TransportError(e.to_string()),
        };
        drop(timer);
        m.exchange = out.exchange;
        m.routing_key = out.routing_key;
        m.message_id = out.message_id;
        m.headers = out.headers;
        m.body = out.body;
        (m, outcome)
    });
    futures_util::future::join_all(publishes)
        .await
        .into_iter()
        .unzip()
}

/// The schedule is over: `attempts_max` attempts or `window_ms` since the first,
/// for SEDs; `delivery_attempts_max` / `delivery_window_ms` for the rest.
pub(crate) fn exhausted(sw: &Switch, m: &OutboxMessage, now_ms: i64) -> bool {
    let (attempts_max, window_ms) = if m.kind == OutboxKind::Sed {
        (sw.retry.attempts_max, sw.retry.window_ms)
    } else {
        (sw.retry.delivery_attempts_max, sw.retry.delivery_window_ms)
    };
    let window_over = m
        .first_attempt_ms
        .is_some_and(|f| now_ms - f >= window_ms as i64);
    m.attempts >= attempts_max || window_over
}

fn backoff_ms(sw: &Switch, attempts: u32) -> i64 {
    let base: i64 = 500;
    base.saturating_mul(1i64 << attempts.min(16))
        .min(sw.retry.interval_ms as i64)
}

/// Record what each publish did, in one transaction. Every change is a
/// compare-and-set on the status the row may come from (`store::allowed_from`): a
/// receipt or error that committed while the publish was in flight wins, and the
/// publish's own outcome changes nothing.
pub(crate) fn record(
    sw: &Switch,
    due: &[OutboxMessage],
    outcomes: Vec<Outcome>,
) -> Result<(), StoreError> {
    let mut tx = sw.store.begin()?;
    for (m, outcome) in due.iter().zip(outcomes) {
        let is_sed = m.kind == OutboxKind::Sed;
        let change = match &outcome {
            Outcome::GiveUp => {
                let what = if is_sed {
                    "no receipt"
                } else {
                    "not confirmed by the broker"
                };
                Change::to(OutboxStatus::Failed).error(format!(
                    "{what} after {} attempt(s); {}",
                    m.attempts,
                    m.last_error.as_deref().unwrap_or("the peer never answered")
                ))
            }
            Outcome::Published(PublishOutcome::Confirmed) => {
                let c = Change::to(OutboxStatus::Sent).attempt();
                // A SED waits for its receipt; the schedule resends it if none comes.
                if is_sed {
                    c.due_in(sw.retry.interval_ms as i64)
                } else {
                    c
                }
            }
            Outcome::Published(other) => {
                let why = match other {
                    PublishOutcome::Returned(t) => {
                        format!("returned by the broker ({t}): the receiving queue does not exist")
                    }
                    _ => "refused by the broker (nack)".into(),
                };
                retry_later(sw, m, why)
            }
            Outcome::TransportError(why) => retry_later(sw, m, why.clone()),
        };
        if !tx.outbox_transition(m.id, m.kind, &change)? {
            // The row moved on while it was being published (a receipt or error
            // committed meanwhile, or another instance recorded it): theirs stands.
            Metrics::inc(&sw.metrics.relay_stale_outcomes);
            tracing::debug!(message_id = %m.message_id, to = %change.to, "outbox row moved on meanwhile; outcome not recorded");
            continue;
        }
        match outcome {
            Outcome::GiveUp => {
                let why = match &change.last_error {
                    LastError::Set(e) => e.clone(),
                    LastError::Keep => String::new(),
                };
                if let Some(case_id) = &m.case_id {
                    tx.history_append(
                        case_id,
                        &HistoryEntry {
                            at: now_rfc3339(),
                            event: "failed".into(),
                            detail: why.clone(),
                            from_state: None,
                            to_state: None,
                            message_id: Some(m.message_id.clone()),
                            document_id: m.document_id.as_ref().map(|d| d.to_string()),
                        },
                    )?;
                }
                if is_sed {
                    enqueue_notice(
                        &mut *tx,
                        m,
                        OutboxStatus::Failed,
                        "the SED could not be delivered: no receipt within the retransmission schedule",
                    )?;
                    Metrics::inc(&sw.metrics.outbound_failed);
                    tracing::warn!(message_id = %m.message_id, "SED failed after its retransmission schedule");
                } else {
                    Metrics::inc(&sw.metrics.deliveries_failed);
                    tracing::warn!(message_id = %m.message_id, kind = %m.kind, "message failed after its retry schedule; operators see it under status failed");
                }
            }
            Outcome::Published(PublishOutcome::Confirmed) => {
                Metrics::inc(&sw.metrics.published);
            }
            Outcome::Published(_) => Metrics::inc(&sw.metrics.publish_returned),
            Outcome::TransportError(_) => {}
        }
    }
    tx.commit()
}

fn retry_later(sw: &Switch, m: &OutboxMessage, why: String) -> Change {
    let delay = if m.kind == OutboxKind::Sed {
        sw.retry.interval_ms as i64
    } else {
        backoff_ms(sw, m.attempts + 1)
    };
    Change::to(OutboxStatus::Retrying)
        .attempt()
        .due_in(delay)
        .error(why)
}

/// Tell the sending institution, on its national queue, that its SED failed or
/// was rejected.
pub fn enqueue_notice(
    tx: &mut dyn Tx,
    sed: &OutboxMessage,
    status: OutboxStatus,
    reason: &str,
) -> Result<(), StoreError> {
    let Some(from) = sed.headers.get("eessi-from") else {
        return Ok(());
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeliveryNotice xmlns=\"urn:be:eessi-switch:notice:1\"><MessageId>{}</MessageId><CaseId>{}</CaseId><DocumentId>{}</DocumentId><Status>{}</Status><Reason>{}</Reason></DeliveryNotice>\n",
        escape(&sed.message_id),
        sed.case_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        sed.document_id
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        status.as_str(),
        escape(reason)
    );
    let mut headers = sed.headers.clone();
    headers.insert("eessi-ref-to-message-id".into(), sed.message_id.clone());
    headers.insert("eessi-status".into(), status.as_str().to_owned());
    let mut n = OutboxMessage::new(
        OutboxKind::Notice,
        NATIONAL_EXCHANGE,
        from,
        MessageId::random().to_string(),
        headers,
        body.into_bytes(),
    );
    n.case_id = sed.case_id.clone();
    n.document_id = sed.document_id.clone();
    tx.outbox_enqueue(&n)?;
    Ok(())
}
