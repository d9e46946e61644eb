//! Parking: a `New`/`Update` whose case or predecessor is not known yet waits,
//! durably and bounded (`[limits]`), answered with a receipt. When its predecessor
//! commits it is applied (`unpark`: checked again outside any transaction, then
//! applied in a transaction of its own); when its parking time is over it is
//! refused with UNKNOWN_CASE (`sweep_parked`). Either way its error, if any, is
//! signed before the transaction that stores it.

use std::sync::Arc;

use tokio::sync::watch;

use super::super::{Metrics, Switch, sha256_hex};
use super::answer::{Answers, Need, TxError, enqueue_answer, inbox_entry};
use super::apply::{Inapplicable, apply_sed};
use super::check::{CheckedSed, Refusal, check, refuse};
use crate::ids::{CaseId, DocumentId, InstitutionId};
use crate::sed::signal::ErrorCode;
use crate::store::{HistoryEntry, ParkedMessage, StoreError, Tx, now_rfc3339};
use crate::transport::WireMessage;

/// What a parked message waits for besides its case: a document, or one version of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Predecessor {
    pub document: Option<DocumentId>,
    pub version: Option<u32>,
}

/// How many passes `unpark` makes over a case (each pass applies what became ready
/// in the one before); the parking cap per case bounds them in practice.
const UNPARK_PASSES_MAX: usize = 64;
/// Attempts of one parked message's transaction when it stops for an answer to sign.
const SIGN_ROUNDS: usize = 3;

/// Parking is bounded per case and per foreign access point (`[limits]`): beyond
/// either cap, a message that would be parked is refused with UNKNOWN_CASE at once.
pub(crate) fn parking_cap(
    sw: &Switch,
    tx: &mut dyn Tx,
    c: &CheckedSed,
    body_bytes: usize,
) -> Result<Option<Refusal>, StoreError> {
    let country = c.header.sender.country().to_string();
    let n = tx.parked_counts(&c.header.case_id, &country)?;
    let b = &sw.bounds;
    if n.per_case < u64::from(b.parked_per_case_max)
        && n.per_access_point < u64::from(b.parked_per_access_point_max)
        && n.per_access_point_bytes + body_bytes as u64 <= b.parked_bytes_per_access_point_max
    {
        return Ok(None);
    }
    // Counted by the caller once the refusal is stored: this transaction may run
    // again (`answer::Need`).
    tracing::debug!(case_id = %c.header.case_id, access_point = %country, per_case = n.per_case, per_access_point = n.per_access_point, bytes = n.per_access_point_bytes, "parking cap reached: refusing with UNKNOWN_CASE");
    Ok(Some(refuse(
        ErrorCode::UnknownCase,
        "the case or the document it refers to is not known, and no more messages can wait for it",
    )))
}

/// Park a SED in `tx` until its predecessor commits or its parking time is over.
/// Contract: a New/Update whose predecessor may still be in flight is parked
/// durably and answered with a receipt.
pub(crate) fn park(
    sw: &Switch,
    tx: &mut dyn Tx,
    message_id: &str,
    m: &WireMessage,
    c: &CheckedSed,
    wait: Predecessor,
) -> Result<(), StoreError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let properties = serde_json::to_string(m).map_err(|e| StoreError::Db(e.to_string()))?;
    tx.parked_put(&ParkedMessage {
        message_id: message_id.to_owned(),
        case_id: c.header.case_id.clone(),
        sender_country: c.header.sender.country().to_string(),
        waits_document: wait.document,
        waits_version: wait.version,
        parked_at_ms: now_ms,
        expires_at_ms: now_ms + sw.park_ms,
        properties,
        body: m.body.clone(),
    })?;
    Metrics::inc(&sw.metrics.inbound_parked);
    tracing::info!(message_id, case_id = %c.header.case_id, "SED parked until its predecessor arrives");
    Ok(())
}

/// `unpark` each case (once each); a failure is logged and left to the sweeper,
/// which looks for ready parked messages every second.
pub(crate) fn unpark_all(sw: &Switch, mut cases: Vec<CaseId>) {
    cases.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    cases.dedup();
    for case_id in cases {
        if let Err(e) = super::apply::guarded(|| unpark(sw, &case_id))
            .map_err(|d| format!("{d:?}"))
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            tracing::warn!(case_id = %case_id, error = %e, "could not apply parked messages yet; the sweeper will");
        }
    }
}

/// Apply what was parked for `case_id` now that its predecessor has committed, in
/// arrival order, until nothing more applies. Each parked message is checked again
/// outside any transaction and applied (or refused) in a transaction of its own.
pub(crate) fn unpark(sw: &Switch, case_id: &CaseId) -> Result<(), StoreError> {
    for _ in 0..UNPARK_PASSES_MAX {
        // Only those whose predecessor has committed: the others would park again.
        // Read in a transaction that is rolled back (it writes nothing).
        let ready = sw.store.begin()?.parked_ready_for_case(case_id)?;
        if ready.is_empty() {
            return Ok(());
        }
        let mut progress = false;
        for p in ready {
            progress |= unpark_one(sw, case_id, p)?;
        }
        if !progress {
            return Ok(());
        }
    }
    Ok(())
}

/// The message as it arrived, from its parked row.
fn wire_message(p: &mut ParkedMessage) -> Result<WireMessage, StoreError> {
    let mut wm: WireMessage =
        serde_json::from_str(&p.properties).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    wm.body = std::mem::take(&mut p.body);
    Ok(wm)
}

/// One parked message: checked here, applied or refused in its own transaction.
/// Returns whether it left the parking.
fn unpark_one(sw: &Switch, case_id: &CaseId, mut p: ParkedMessage) -> Result<bool, StoreError> {
    let wm = wire_message(&mut p)?;
    let checked = check(sw, &wm);
    let from = wm
        .headers
        .get("eessi-from")
        .and_then(|f| InstitutionId::parse(f).ok());
    let mut answers = from.as_ref().map(|f| Answers::new(&p.message_id, f));
    if let (Some(a), Err(r)) = (answers.as_mut(), &checked) {
        let _ = a.sign(sw, &wm, None, &Need::Error(r.clone()));
    }
    for _ in 0..SIGN_ROUNDS {
        let mut tx = sw.store.begin()?;
        // Taken out first: if another instance, or another pass, took it meanwhile,
        // there is nothing to do (a re-park puts it back in this transaction).
        if !tx.parked_delete(&p.message_id)? {
            return Ok(false);
        }
        match unpark_in_tx(sw, &mut *tx, case_id, &p, &wm, &checked, answers.as_ref()) {
            Ok(left) => {
                tx.commit()?;
                return Ok(left);
            }
            Err(TxError::Store(e)) => return Err(e),
            Err(TxError::Need(need)) => {
                drop(tx); // rolled back: sign outside it, then again
                if let Some(a) = answers.as_mut() {
                    a.sign(sw, &wm, checked.as_ref().ok(), &need)
                        .map_err(StoreError::Db)?;
                }
            }
        }
    }
    Err(StoreError::Db(
        "the answer to a parked SED kept changing".into(),
    ))
}

fn unpark_in_tx(
    sw: &Switch,
    tx: &mut dyn Tx,
    case_id: &CaseId,
    p: &ParkedMessage,
    wm: &WireMessage,
    checked: &Result<CheckedSed, Refusal>,
    answers: Option<&Answers>,
) -> Result<bool, TxError> {
    let refusal = match checked {
        Err(r) => r.clone(),
        Ok(c) => match apply_sed(sw, tx, &p.message_id, wm, c) {
            Ok(_) => {
                tx.history_append(
                    case_id,
                    &HistoryEntry {
                        at: now_rfc3339(),
                        event: "unparked".into(),
                        detail: "applied after its predecessor arrived".into(),
                        from_state: None,
                        to_state: None,
                        message_id: Some(p.message_id.clone()),
                        document_id: wm.headers.get("eessi-document-id").cloned(),
                    },
                )?;
                return Ok(true);
            }
            Err(Inapplicable::Park(wait)) => {
                // It now waits for something else: parked again with what, so that
                // it is not tried again before that commits.
                tx.parked_put(&ParkedMessage {
                    waits_document: wait.document,
                    waits_version: wait.version,
                    body: wm.body.clone(),
                    ..p.clone()
                })?;
                return Ok(false);
            }
            Err(Inapplicable::Store(e)) => return Err(e.into()),
            Err(Inapplicable::Refusal(r)) => r,
        },
    };
    refuse_parked(tx, &p.message_id, wm, &refusal, answers)?;
    Ok(true)
}

/// Answer a parked message with an error after all (it becomes the latest answer),
/// signed beforehand (`answers`; None when the message names no sender to answer).
fn refuse_parked(
    tx: &mut dyn Tx,
    message_id: &str,
    wm: &WireMessage,
    r: &Refusal,
    answers: Option<&Answers>,
) -> Result<(), TxError> {
    let Some(answers) = answers else {
        return Ok(());
    };
    let a = answers.error(r)?;
    // Compare-and-set on the stored receipt: refused once, whoever gets there first.
    if tx.inbox_refuse_parked(&inbox_entry(message_id, &sha256_hex(&wm.body), a, None))? {
        enqueue_answer(tx, a, None)?;
        tracing::info!(message_id, code = %r.code, "a parked SED is refused");
    }
    Ok(())
}

/// Sweep expired parked messages every second until shutdown.
pub async fn run_sweeper(sw: Arc<Switch>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let sw2 = sw.clone();
        let now_ms = chrono::Utc::now().timestamp_millis();
        match tokio::task::spawn_blocking(move || sweep_parked(&sw2, now_ms)).await {
            Ok(Ok(n)) => {
                sw.supervisor.ok("parking sweeper");
                if n > 0 {
                    sw.relay_wake.notify_one();
                }
            }
            Ok(Err(e)) => {
                sw.supervisor.failing("parking sweeper", &e.to_string());
                tracing::warn!(error = %e, "could not sweep parked messages; will retry");
            }
            Err(e) => {
                sw.supervisor.failing("parking sweeper", &e.to_string());
                tracing::error!(error = %e, "the parking sweep panicked; will retry");
            }
        }
    }
}

/// Refuse with UNKNOWN_CASE what stayed parked past its parking time (`now_ms` is
/// passed in, so the rule is tested with a fake clock). Returns how many.
pub fn sweep_parked(sw: &Switch, now_ms: i64) -> Result<usize, StoreError> {
    // First, apply what can be applied now. With several instances a predecessor may
    // commit on one instance while its successor is being parked on another, after
    // the predecessor's own transaction looked for parked successors; and `unpark`
    // after a commit may have failed. This pass closes both within a second. Only
    // cases with a parked message whose predecessor has committed, by id: no body
    // is read and nothing is verified again until it can apply.
    for case_id in sw.store.parked_ready_cases(1024)? {
        unpark(sw, &case_id)?;
    }
    let expired = sw.store.parked_expired(now_ms, 256)?;
    let never = refuse(
        ErrorCode::UnknownCase,
        "the case or the document it refers to never arrived",
    );
    let n = expired.len();
    for mut p in expired {
        let wm = wire_message(&mut p)?;
        // Signed before the transaction; a message naming no sender gets no answer.
        let answers = match wm
            .headers
            .get("eessi-from")
            .and_then(|f| InstitutionId::parse(f).ok())
        {
            Some(from) => {
                let mut a = Answers::new(&p.message_id, &from);
                a.sign(sw, &wm, None, &Need::Error(never.clone()))
                    .map_err(StoreError::Db)?;
                Some(a)
            }
            None => None,
        };
        let mut tx = sw.store.begin()?;
        // Another instance, or the predecessor, may have taken it meanwhile.
        if !tx.parked_delete(&p.message_id)? {
            continue;
        }
        match refuse_parked(&mut *tx, &p.message_id, &wm, &never, answers.as_ref()) {
            Ok(()) => tx.commit()?,
            Err(TxError::Store(e)) => return Err(e),
            Err(TxError::Need(_)) => {
                return Err(StoreError::Db("an expiry error was not signed".into()));
            }
        }
    }
    Ok(n)
}
