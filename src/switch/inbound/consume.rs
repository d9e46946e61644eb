//! Consume: the inbox consumer, its lanes and batches, and settling each delivery
//! with the broker once its transaction has committed (or could not).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::super::{Metrics, Switch};
use super::Disposition;
use super::apply::{handle, handle_batch};
use crate::transport::{Delivery, WireMessage};

pub(crate) const LANES: usize = 4;
/// Deliveries waiting in one lane (the broker's prefetch bounds them too).
pub(crate) const LANE_QUEUE: usize = 64;

/// Consume deliveries until shutdown; one lane per case-id hash.
pub async fn run(
    sw: Arc<Switch>,
    mut deliveries: mpsc::Receiver<Delivery>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut lanes = Vec::with_capacity(LANES);
    let mut handles = Vec::with_capacity(LANES);
    for _ in 0..LANES {
        let (tx, mut rx) = mpsc::channel::<Delivery>(LANE_QUEUE);
        let sw = sw.clone();
        handles.push(tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH_MAX {
                    match rx.try_recv() {
                        Ok(d) => batch.push(d),
                        Err(_) => break,
                    }
                }
                settle_batch(&sw, batch).await;
            }
        }));
        lanes.push(tx);
    }
    loop {
        tokio::select! {
            d = deliveries.recv() => match d {
                Some(d) => {
                    let lane = lane_of(&d.message);
                    if lanes[lane].send(d).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = shutdown.changed() => break,
        }
    }
    drop(lanes);
    for h in handles {
        let _ = h.await;
    }
}

fn lane_of(m: &WireMessage) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.headers.get("eessi-case-id").hash(&mut h);
    (h.finish() % LANES as u64) as usize
}

/// At most this many deliveries of one lane share a transaction.
pub(crate) const BATCH_MAX: usize = 32;

async fn settle_batch(sw: &Arc<Switch>, mut batch: Vec<Delivery>) {
    // The bodies move out of the deliveries (no copy on the hot path); the ackers stay.
    let messages: Vec<Arc<WireMessage>> = batch
        .iter_mut()
        .map(|d| Arc::new(std::mem::take(&mut d.message)))
        .collect();
    let sw2 = sw.clone();
    let ms = messages.clone();
    let dispositions = match tokio::task::spawn_blocking(move || handle_batch(&sw2, &ms)).await {
        Ok(d) => d,
        Err(e) => vec![Disposition::Retry(format!("handler crashed: {e}")); batch.len()],
    };
    for ((d, m), first) in batch.into_iter().zip(messages).zip(dispositions) {
        settle(sw, d, m, first).await;
    }
}

/// Act on a delivery's disposition; a `Wait` is retried in place until it clears.
async fn settle(sw: &Arc<Switch>, d: Delivery, message: Arc<WireMessage>, first: Disposition) {
    let mut backoff_ms = 50u64;
    let mut next = Some(first);
    let disposition = loop {
        let disp = match next.take() {
            Some(disp) => disp,
            None => {
                let sw2 = sw.clone();
                let m = message.clone();
                match tokio::task::spawn_blocking(move || handle(&sw2, &m)).await {
                    Ok(disp) => disp,
                    Err(e) => Disposition::Retry(format!("handler crashed: {e}")),
                }
            }
        };
        match disp {
            Disposition::Wait(reason) => {
                sw.supervisor.failing("inbox consumer", &reason);
                tracing::warn!(%reason, backoff_ms, "store unavailable or busy: holding the delivery and trying again");
                tokio::time::sleep(std::time::Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(5_000);
                if sw.shutting_down.load(std::sync::atomic::Ordering::Relaxed) {
                    // Unacked: the broker redelivers it to whoever runs next.
                    return;
                }
            }
            other => {
                sw.supervisor.ok("inbox consumer");
                break other;
            }
        }
    };
    let result = match &disposition {
        Disposition::Wait(_) => Ok(()),
        Disposition::Ack => d.acker.ack().await,
        Disposition::DeadLetter(reason) => {
            tracing::warn!(%reason, "dead-lettering a message nobody can be answered for");
            Metrics::inc(&sw.metrics.inbound_dead_lettered);
            d.acker.dead_letter().await
        }
        Disposition::Retry(reason) => {
            tracing::warn!(%reason, "requeueing a delivery after a transient failure");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            d.acker.requeue().await
        }
    };
    if let Err(e) = result {
        // The broker will redeliver; the inbox makes that harmless.
        tracing::warn!(error = %e, "could not settle a delivery");
    }
    sw.relay_wake.notify_one();
}
