//! Dead letters: the broker moves a delivery that failed `x-delivery-limit` times
//! (a poison message) or that nobody could be answered for to `eessi.ap.<CC>.dead`.
//! The collector copies each one into the store (then acks it), where operators list
//! them and re-inject them after a fix; nothing is silently dropped.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::Switch;
use crate::store::{DeadLetter, StoreError, now_rfc3339};
use crate::transport::{AP_EXCHANGE, Delivery, OutMessage, PublishOutcome, WireMessage};

pub async fn run_collector(
    sw: Arc<Switch>,
    mut deliveries: mpsc::Receiver<Delivery>,
    mut shutdown: watch::Receiver<bool>,
) {
    let queue = crate::transport::dead_queue(sw.country.as_str());
    loop {
        let d = tokio::select! {
            d = deliveries.recv() => match d { Some(d) => d, None => return },
            _ = shutdown.changed() => return,
        };
        let record = DeadLetter {
            id: 0,
            message_id: d.message.message_id.clone(),
            queue: queue.clone(),
            properties: serde_json::to_string(&d.message).unwrap_or_else(|_| "{}".into()),
            body: d.message.body.clone(),
            dead_at: now_rfc3339(),
            reinjected_at: None,
        };
        let mut backoff_ms = 100;
        loop {
            let sw2 = sw.clone();
            let r = record.clone();
            match tokio::task::spawn_blocking(move || sw2.store.dead_letter_put(&r)).await {
                Ok(Ok(id)) => {
                    sw.supervisor.ok("dead-letter collector");
                    tracing::warn!(id, message_id = ?record.message_id, "a message was dead-lettered; listed for operators");
                    if let Err(e) = d.acker.ack().await {
                        tracing::warn!(error = %e, "could not ack a dead letter; it will be copied again");
                    }
                    break;
                }
                other => {
                    let why = format!("{:?}", other.map(|r| r.map(|_| ())));
                    sw.supervisor.failing("dead-letter collector", &why);
                    tracing::warn!(result = %why, "could not store a dead letter; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(backoff_ms)).await;
                    backoff_ms = (backoff_ms * 2).min(5_000);
                    if *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReinjectError {
    #[error("no dead letter {0}")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the broker did not take it: {0}")]
    Broker(String),
}

/// Publish a dead letter back to this access point's inbox, as it was, and mark it.
pub async fn reinject(sw: &Arc<Switch>, id: i64) -> Result<(), ReinjectError> {
    let sw2 = sw.clone();
    let dead = tokio::task::spawn_blocking(move || sw2.store.dead_letter_get(id))
        .await
        .map_err(|e| ReinjectError::Broker(e.to_string()))??
        .ok_or(ReinjectError::NotFound(id))?;
    let wm: WireMessage = serde_json::from_str(&dead.properties).unwrap_or_default();
    let m = OutMessage {
        exchange: AP_EXCHANGE.into(),
        routing_key: sw.country.to_string(),
        message_id: wm.message_id.clone().unwrap_or_default(),
        kind: wm.kind.clone().unwrap_or_default(),
        timestamp: wm.timestamp.unwrap_or(0) as i64,
        headers: wm.headers.clone(),
        body: dead.body.clone(),
    };
    match sw
        .transport
        .publish(&m)
        .await
        .map_err(|e| ReinjectError::Broker(e.to_string()))?
    {
        PublishOutcome::Confirmed => {}
        other => return Err(ReinjectError::Broker(format!("{other:?}"))),
    }
    let sw2 = sw.clone();
    tokio::task::spawn_blocking(move || sw2.store.dead_letter_mark_reinjected(id))
        .await
        .map_err(|e| ReinjectError::Broker(e.to_string()))??;
    Ok(())
}
