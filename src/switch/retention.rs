//! The retention job (issue 8, item 7): every `retention.interval_s` it empties
//! the bodies of settled outbox rows older than `body_days`, forgets answered inbox
//! message ids past the duplicate window and deletes case history older than
//! `history_days` (0: never), through `Store::prune` (what is settled, and why a
//! delivered SED waits for the duplicate window: `store::retention`). One pass calls
//! `prune` until it has caught up, each call a few short transactions of at most
//! `batch_rows` rows, so it never holds the store for long.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::Switch;
use crate::config::Retention;
use crate::store::retention::rfc3339;
use crate::store::{Prune, Pruned, StoreError};

const TASK: &str = "retention";
const DAY_MS: i64 = 86_400_000;
/// After a failed pass, try again this soon (or at the interval, if shorter): a
/// passing hiccup is over quickly, and a job that keeps failing reaches the
/// supervisor's bound like any other task.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What one pass at `now_ms` prunes.
pub fn prune_for(r: &Retention, now_ms: i64) -> Prune {
    let before = |days: u32| now_ms.saturating_sub(i64::from(days) * DAY_MS);
    Prune {
        now_ms,
        body_before_ms: before(r.body_days),
        inbox_before_ms: before(r.duplicate_window_days),
        history_before: if r.history_days == 0 {
            String::new()
        } else {
            rfc3339(before(r.history_days))
        },
        limit: r.batch_rows,
    }
}

pub async fn run(sw: Arc<Switch>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_secs(sw.retention.interval_s);
    loop {
        let wait = match run_once(&sw, crate::store::now_ms()).await {
            Ok(_) => interval,
            Err(_) => interval.min(RETRY_AFTER),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass at `now_ms` on the blocking pool, reported to the supervisor; the
/// pruned rows are counted in `metrics` (also those of a pass that failed half-way).
pub async fn run_once(sw: &Arc<Switch>, now_ms: i64) -> Result<Pruned, StoreError> {
    let sw2 = sw.clone();
    let r = tokio::task::spawn_blocking(move || pass(&sw2, now_ms))
        .await
        .unwrap_or_else(|e| Err(StoreError::Db(format!("the retention pass panicked: {e}"))));
    match &r {
        Ok(p) => {
            sw.supervisor.ok(TASK);
            if *p != Pruned::default() {
                tracing::info!(
                    outbox_bodies = p.outbox_bodies,
                    inbox_rows = p.inbox_rows,
                    history_rows = p.history_rows,
                    idempotency_rows = p.idempotency_rows,
                    triage_rows = p.triage_rows,
                    timer_rows = p.timer_rows,
                    "retention pruned"
                );
            }
        }
        Err(e) => {
            sw.supervisor.failing(TASK, &e.to_string());
            tracing::warn!(error = %e, "the retention pass failed; will retry");
        }
    }
    r
}

/// Prune until caught up (a call that prunes fewer than `batch_rows` of each) or
/// until shutdown begins. Blocking.
pub fn pass(sw: &Switch, now_ms: i64) -> Result<Pruned, StoreError> {
    let p = prune_for(&sw.retention, now_ms);
    let mut total = Pruned::default();
    while !sw.shutting_down.load(Ordering::Relaxed) {
        let got = sw.store.prune(&p)?;
        let m = &sw.metrics;
        m.retention_outbox_bodies_pruned
            .fetch_add(got.outbox_bodies, Ordering::Relaxed);
        m.retention_inbox_rows_pruned
            .fetch_add(got.inbox_rows, Ordering::Relaxed);
        m.retention_history_rows_pruned
            .fetch_add(got.history_rows, Ordering::Relaxed);
        m.retention_idempotency_rows_pruned
            .fetch_add(got.idempotency_rows, Ordering::Relaxed);
        m.retention_triage_rows_pruned
            .fetch_add(got.triage_rows, Ordering::Relaxed);
        m.retention_timer_rows_pruned
            .fetch_add(got.timer_rows, Ordering::Relaxed);
        total.add(&got);
        if got.caught_up(p.limit) {
            break;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ids::{BucType, CaseId, SedVersion};
    use crate::store::{
        AnswerKind, CaseRecord, CaseStatus, HistoryEntry, InboxEntry, OutboxKind, OutboxMessage,
        OutboxStatus,
    };
    use crate::transport::memory::MemoryBroker;

    /// 2025-06-01T00:00:00Z.
    const NOW: i64 = 1_748_736_000_000;

    fn ago(days: i64) -> String {
        rfc3339(NOW - days * DAY_MS)
    }

    fn row(k: OutboxKind, id: &str, st: OutboxStatus, age_days: i64) -> OutboxMessage {
        let mut m = OutboxMessage::new(
            k,
            "eessi.national",
            "BE:ONSS",
            id.into(),
            BTreeMap::new(),
            b"<sed/>".to_vec(),
        );
        m.status = st;
        m.updated_at = ago(age_days);
        m
    }

    fn inbox(id: &str, age_days: i64) -> InboxEntry {
        InboxEntry {
            message_id: id.into(),
            body_sha256: "00".repeat(32),
            received_at: ago(age_days),
            case_id: None,
            answer_kind: AnswerKind::Receipt,
            answer_message_id: format!("ans-{id}"),
            answer_routing_key: "NL".into(),
            answer_headers: BTreeMap::new(),
            answer_timestamp: 0,
            answer_body: b"<receipt/>".to_vec(),
            error_code: None,
        }
    }

    #[tokio::test]
    async fn one_pass_catches_up_in_bounded_batches_and_counts_what_it_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut config = crate::harness::demo::demo_config(&root, "BE", dir.path(), None).unwrap();
        // Small batches: the pass needs several calls to catch up.
        config.retention.batch_rows = 2;
        let sw = Arc::new(Switch::build(&config, Arc::new(MemoryBroker::new())).unwrap());
        assert_eq!(sw.retention, config.retention);

        let case_id = CaseId::random();
        let mut tx = sw.store.begin().unwrap();
        tx.case_insert(&CaseRecord {
            case_id: case_id.clone(),
            buc: BucType::parse("LA_BUC_04").unwrap(),
            sed_version: SedVersion::parse("4.2").unwrap(),
            state: "start".into(),
            status: CaseStatus::Open,
            created_at: ago(500),
            updated_at: ago(500),
            previous_state: None,
        })
        .unwrap();
        for i in 0..5 {
            // Settled 40 days ago: past body_days (30).
            tx.outbox_enqueue(&row(
                OutboxKind::National,
                &format!("old-{i}"),
                OutboxStatus::Sent,
                40,
            ))
            .unwrap();
            // Past the duplicate window (30 days).
            tx.inbox_put(&inbox(&format!("in-old-{i}"), 40)).unwrap();
        }
        tx.outbox_enqueue(&row(OutboxKind::National, "fresh", OutboxStatus::Sent, 1))
            .unwrap();
        tx.outbox_enqueue(&row(
            OutboxKind::National,
            "unsettled",
            OutboxStatus::Retrying,
            40,
        ))
        .unwrap();
        tx.inbox_put(&inbox("in-recent", 1)).unwrap();
        for (detail, age) in [("old", 401), ("recent", 1)] {
            tx.history_append(
                &case_id,
                &HistoryEntry {
                    at: ago(age),
                    event: "sed-received".into(),
                    detail: detail.into(),
                    from_state: None,
                    to_state: None,
                    message_id: None,
                    document_id: None,
                },
            )
            .unwrap();
        }
        tx.commit().unwrap();

        let pruned = run_once(&sw, NOW).await.unwrap();
        assert_eq!(
            pruned,
            Pruned {
                outbox_bodies: 5,
                inbox_rows: 5,
                history_rows: 1,
                idempotency_rows: 0,
                triage_rows: 0,
                timer_rows: 0,
            }
        );
        let counted: BTreeMap<_, _> = sw.metrics.snapshot().into_iter().collect();
        assert_eq!(counted["retention_outbox_bodies_pruned"], 5);
        assert_eq!(counted["retention_inbox_rows_pruned"], 5);
        assert_eq!(counted["retention_history_rows_pruned"], 1);
        assert_eq!(sw.supervisor.reason(), None);

        let bodies: BTreeMap<String, usize> = sw
            .store
            .messages(None, 100)
            .unwrap()
            .into_iter()
            .map(|m| (m.message_id, m.body.len()))
            .collect();
        assert!(
            (0..5).all(|i| bodies[&format!("old-{i}")] == 0),
            "{bodies:?}"
        );
        assert_eq!(bodies["fresh"], 6);
        assert_eq!(bodies["unsettled"], 6);
        let mut tx = sw.store.begin().unwrap();
        assert!(tx.inbox_get("in-old-0").unwrap().is_none());
        assert!(tx.inbox_get("in-recent").unwrap().is_some());
        drop(tx);
        let history = sw.store.case_detail(&case_id).unwrap().unwrap().history;
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].detail, "recent");

        // Caught up: the next pass finds nothing and counts nothing more.
        assert_eq!(run_once(&sw, NOW).await.unwrap(), Pruned::default());
        let counted: BTreeMap<_, _> = sw.metrics.snapshot().into_iter().collect();
        assert_eq!(counted["retention_outbox_bodies_pruned"], 5);
    }

    #[test]
    fn history_days_zero_keeps_history_forever() {
        let r = Retention {
            history_days: 0,
            ..Retention::default()
        };
        let p = prune_for(&r, NOW);
        assert_eq!(p.history_before, "");
        assert_eq!(p.body_before_ms, NOW - 30 * DAY_MS);
        assert_eq!(p.inbox_before_ms, NOW - 30 * DAY_MS);
        assert_eq!(p.limit, 1000);
        let p = prune_for(&Retention::default(), NOW);
        assert_eq!(p.history_before, ago(400));
    }
}
