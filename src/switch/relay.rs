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

use tokio::sync::watch;

use super::{Metrics, Switch};
use crate::ids::MessageId;
use crate::sed::xml::escape;
use crate::store::{HistoryEntry, OutboxMessage, StoreError, Tx, kind, now_rfc3339, status};
use crate::transport::{NATIONAL_EXCHANGE, OutMessage, PublishOutcome};

const BATCH: u32 = 512;
/// Longer than a round's publish and record take, so a claim is not taken twice
/// while it is being worked on; after a crash the rows are due again after this.
const CLAIM_LEASE_MS: i64 = 60_000;
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Rounds at most run at shutdown to flush the outbox (each handles up to `BATCH`).
const FLUSH_ROUNDS_MAX: usize = 20;

pub async fn run(sw: Arc<Switch>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return flush(&sw).await;
        }
        match round(&sw).await {
            Ok(0) => {
                tokio::select! {
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

enum Outcome {
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
    let now_ms = chrono::Utc::now().timestamp_millis();
    let store = sw.store.clone();
    // Claimed with a lease: another instance's relay skips these meanwhile.
    let due =
        tokio::task::spawn_blocking(move || store.outbox_claim(now_ms, BATCH, CLAIM_LEASE_MS))
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
    if due.is_empty() {
        return Ok(0);
    }
    let publishes = due.iter().map(|m| async {
        if m.kind == kind::SED && exhausted(sw, m, now_ms) {
            return Outcome::GiveUp;
        }
        let out = OutMessage {
            exchange: m.exchange.clone(),
            routing_key: m.routing_key.clone(),
            message_id: m.message_id.clone(),
            kind: match m.kind.as_str() {
                kind::NATIONAL => "sed".to_owned(),
                k => k.to_owned(),
            },
            timestamp: m.timestamp,
            headers: m.headers.clone(),
            body: m.body.clone(),
        };
        match sw.transport.publish(&out).await {
            Ok(o) => Outcome::Published(o),
            Err(e) => Outcome::TransportError(e.to_string()),
        }
    });
    let outcomes = futures_util::future::join_all(publishes).await;
    let sw2 = sw.clone();
    let n = due.len();
    tokio::task::spawn_blocking(move || record(&sw2, due, outcomes, now_ms))
        .await
        .map_err(|e| StoreError::Db(e.to_string()))??;
    Ok(n)
}

fn exhausted(sw: &Switch, m: &OutboxMessage, now_ms: i64) -> bool {
    let window_over = m
        .first_attempt_ms
        .is_some_and(|f| now_ms - f >= sw.retry.window_ms as i64);
    m.attempts >= sw.retry.attempts_max || window_over
}

fn backoff_ms(sw: &Switch, attempts: u32) -> i64 {
    let base: i64 = 500;
    base.saturating_mul(1i64 << attempts.min(16))
        .min(sw.retry.interval_ms as i64)
}

fn record(
    sw: &Switch,
    due: Vec<OutboxMessage>,
    outcomes: Vec<Outcome>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut tx = sw.store.begin()?;
    for (mut m, outcome) in due.into_iter().zip(outcomes) {
        let is_sed = m.kind == kind::SED;
        match outcome {
            Outcome::GiveUp => {
                m.status = status::FAILED.into();
                m.last_error = Some(format!(
                    "no receipt after {} attempt(s); {}",
                    m.attempts,
                    m.last_error
                        .clone()
                        .unwrap_or_else(|| "the peer never answered".into())
                ));
                tx.outbox_update(&m)?;
                if let Some(case_id) = &m.case_id {
                    tx.history_append(
                        case_id,
                        &HistoryEntry {
                            at: now_rfc3339(),
                            event: "failed".into(),
                            detail: m.last_error.clone().unwrap_or_default(),
                            from_state: None,
                            to_state: None,
                            message_id: Some(m.message_id.clone()),
                            document_id: m.document_id.as_ref().map(|d| d.to_string()),
                        },
                    )?;
                }
                enqueue_notice(
                    &mut *tx,
                    &m,
                    "the SED could not be delivered: no receipt within the retransmission schedule",
                )?;
                Metrics::inc(&sw.metrics.outbound_failed);
                tracing::warn!(message_id = %m.message_id, "SED failed after its retransmission schedule");
            }
            Outcome::Published(PublishOutcome::Confirmed) => {
                Metrics::inc(&sw.metrics.published);
                m.attempts += 1;
                m.first_attempt_ms.get_or_insert(now_ms);
                if is_sed {
                    // Wait for the receipt; the schedule resends if none comes.
                    m.status = status::SENT.into();
                    m.next_attempt_ms = now_ms + sw.retry.interval_ms as i64;
                } else {
                    m.status = status::SENT.into();
                }
                tx.outbox_update(&m)?;
            }
            Outcome::Published(other) => {
                let why = match other {
                    PublishOutcome::Returned(t) => {
                        format!("returned by the broker ({t}): the receiving inbox does not exist")
                    }
                    _ => "refused by the broker (nack)".into(),
                };
                Metrics::inc(&sw.metrics.publish_returned);
                retry_later(sw, &mut m, why, now_ms, is_sed);
                tx.outbox_update(&m)?;
            }
            Outcome::TransportError(why) => {
                retry_later(sw, &mut m, why, now_ms, is_sed);
                tx.outbox_update(&m)?;
            }
        }
    }
    tx.commit()
}

fn retry_later(sw: &Switch, m: &mut OutboxMessage, why: String, now_ms: i64, is_sed: bool) {
    m.attempts += 1;
    m.first_attempt_ms.get_or_insert(now_ms);
    m.status = status::RETRYING.into();
    m.last_error = Some(why);
    m.next_attempt_ms = now_ms
        + if is_sed {
            sw.retry.interval_ms as i64
        } else {
            backoff_ms(sw, m.attempts)
        };
}

/// Tell the sending institution, on its national queue, that its SED failed or
/// was rejected.
pub fn enqueue_notice(
    tx: &mut dyn Tx,
    sed: &OutboxMessage,
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
        escape(&sed.status),
        escape(reason)
    );
    let mut headers = sed.headers.clone();
    headers.insert("eessi-ref-to-message-id".into(), sed.message_id.clone());
    headers.insert("eessi-status".into(), sed.status.clone());
    let mut n = OutboxMessage::new(
        kind::NOTICE,
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
