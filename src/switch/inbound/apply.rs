//! Apply: the transaction of one delivery, or of a lane's batch (group commit).
//! Inside it only store work: check 1 (answered before?), the shared apply path
//! (`switch::apply`: check 9, the case, `step`, record, national delivery), parking,
//! and storing the answer signed beforehand. A receipt or error from abroad
//! settles the outbound SED it answers. Nothing here parses XML or signs.

use std::collections::BTreeMap;

use super::super::apply::{self as shared, Direction, Expect, Refused as NotApplied, SedToApply};
use super::super::{Metrics, Switch, sha256_b64};
use super::Disposition;
use super::answer::{TxError, enqueue_answer, store_answer};
use super::check::{CheckedSed, Delivery, Prepared, PreparedSed, Refusal, Routed, prepare, refuse};
use super::park::{self, Predecessor};
use crate::buc::StepError;
use crate::ids::{CaseId, MessageId};
use crate::sed::signal::{ErrorCode, Signal};
use crate::store::{
    Change, HistoryEntry, LastError, OutboxKind, OutboxMessage, OutboxStatus, StoreError, Tx,
    now_rfc3339,
};
use crate::transport::{NATIONAL_EXCHANGE, WireMessage};

/// How many times a transaction may stop for an answer to sign before the delivery
/// is retried (each stop signs one more; two different refusals never follow).
const SIGN_ROUNDS: usize = 3;

/// Handle one delivery in its own transaction (blocking). The checks and the
/// signing run before the transaction opens; inside it only checks 1, 9 and 10,
/// the effect and the stored answer. A panic rolls the transaction back and is this
/// delivery's failure only: `Retry`, towards the delivery limit and the dead letters.
pub fn handle(sw: &Switch, m: &WireMessage) -> Disposition {
    let _span = span(m).entered();
    match guarded(|| prepare(sw, m)) {
        Ok(mut p) => {
            let (d, unpark) = handle_prepared(sw, m, &mut p);
            park::unpark_all(sw, unpark.into_iter().collect());
            d
        }
        Err(d) => d,
    }
}

/// The span of one received message: its message id (the contract's UUID, not
/// personal data), so that every event of its handling carries it as a field.
fn span(m: &WireMessage) -> tracing::Span {
    tracing::info_span!(
        "inbound",
        message_id = m.message_id.as_deref().unwrap_or_default()
    )
}

/// Handle several deliveries of one lane in one transaction (one fsync for all:
/// group commit), each checked and its answer signed before it opens. If any of
/// them fails in a way that is not its own answer (the store, a bug, a panic, an
/// answer still to sign), the batch is rolled back and each is handled alone, so
/// that only the failing one is retried or, in the end, dead-lettered.
pub fn handle_batch(sw: &Switch, ms: &[std::sync::Arc<WireMessage>]) -> Vec<Disposition> {
    let mut prepared: Vec<Result<Prepared, Disposition>> = ms
        .iter()
        .map(|m| {
            let _span = span(m).entered();
            guarded(|| prepare(sw, m))
        })
        .collect();
    if ms.len() > 1
        && prepared.iter().all(Result::is_ok)
        && let Ok(mut tx) = sw.store.begin()
    {
        let mut out = Vec::with_capacity(ms.len());
        let mut unpark = Vec::new();
        for (m, p) in ms.iter().zip(&prepared) {
            let Ok(p) = p else { break };
            if let Prepared::DeadLetter(why) = p {
                out.push(Disposition::DeadLetter(why.clone()));
                continue;
            }
            let applied = {
                let _span = span(m).entered();
                guarded(|| apply_prepared(sw, m, p, &mut *tx))
            };
            match applied {
                Ok(Ok(u)) => {
                    out.push(Disposition::Ack);
                    unpark.extend(u);
                }
                Ok(Err(_)) | Err(_) => {
                    out.clear();
                    break;
                }
            }
        }
        if out.len() == ms.len() && tx.commit().is_ok() {
            park::unpark_all(sw, unpark);
            return out;
        }
    }
    let mut unpark = Vec::new();
    let out = ms
        .iter()
        .zip(prepared.iter_mut())
        .map(|(m, p)| match p {
            Ok(p) => {
                let _span = span(m).entered();
                let (d, u) = handle_prepared(sw, m, p);
                unpark.extend(u);
                d
            }
            Err(d) => d.clone(),
        })
        .collect();
    park::unpark_all(sw, unpark);
    out
}

/// One prepared delivery in its own transaction; an answer the transaction needs
/// and nobody signed yet is signed between two attempts, outside it. Returns the
/// disposition and the case whose parked messages may now apply.
fn handle_prepared(
    sw: &Switch,
    m: &WireMessage,
    p: &mut Prepared,
) -> (Disposition, Option<CaseId>) {
    if let Prepared::DeadLetter(why) = p {
        return (Disposition::DeadLetter(why.clone()), None);
    }
    for _ in 0..SIGN_ROUNDS {
        let mut tx = match sw.store.begin() {
            Ok(tx) => tx,
            Err(e) => return (store_disposition(e), None),
        };
        let need = match guarded(|| apply_prepared(sw, m, p, &mut *tx)) {
            Err(panicked) => return (panicked, None), // `tx` drops here: rolled back
            Ok(Ok(unpark)) => {
                return match tx.commit() {
                    Ok(()) => (Disposition::Ack, unpark),
                    Err(e) => (store_disposition(e), None),
                };
            }
            Ok(Err(TxError::Store(e))) => return (store_disposition(e), None),
            Ok(Err(TxError::Need(need))) => need,
        };
        drop(tx); // rolled back: sign outside it, then run it again
        let Prepared::Sed(s) = p else {
            return (Disposition::Retry("a signal needs no answer".into()), None);
        };
        let PreparedSed {
            answers, checked, ..
        } = &mut **s;
        if let Err(e) = guarded(|| answers.sign(sw, m, checked.as_ref().ok(), &need))
            .and_then(|r| r.map_err(Disposition::Retry))
        {
            return (e, None);
        }
    }
    (
        Disposition::Retry("the answer to sign kept changing".into()),
        None,
    )
}

pub(crate) fn store_disposition(e: StoreError) -> Disposition {
    if e.is_transient() {
        Disposition::Wait(e.to_string())
    } else {
        Disposition::Retry(e.to_string())
    }
}

/// Run one delivery's work, turning a panic into that delivery's `Retry`. A
/// transaction it used is rolled back by the caller (dropped), and no lock stays
/// poisoned (the store recovers its connections' locks), so the store goes on.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Disposition> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| {
        tracing::error!("handling a delivery panicked; it is retried, then dead-lettered");
        Disposition::Retry("the handler panicked".into())
    })
}

/// The store part of one prepared delivery, inside `tx`; the caller commits on Ok.
fn apply_prepared(
    sw: &Switch,
    m: &WireMessage,
    p: &Prepared,
    tx: &mut dyn Tx,
) -> Result<Option<CaseId>, TxError> {
    let _timer = crate::telemetry::stage(crate::telemetry::Stage::InboundApply).start();
    #[cfg(feature = "fault-hooks")]
    if let Some(id) = &m.message_id {
        crate::faults::maybe_panic(id);
    }
    match p {
        Prepared::DeadLetter(_) => Ok(None),
        Prepared::Signal { message_id, signal } => match signal {
            Err(why) => {
                // Contract: a signal that does not verify is ignored and logged; the
                // retransmission schedule goes on.
                Metrics::inc(&sw.metrics.signals_ignored);
                tracing::warn!(message_id, reason = %why, "ignoring a receipt or error");
                Ok(None)
            }
            Ok(signal) => {
                settle_signal(sw, m, signal, tx)?;
                Ok(None)
            }
        },
        Prepared::Sed(s) => commit_sed(sw, m, s, tx),
    }
}

/// The national queue message of a received SED for one institution: the body is
/// the received envelope as it is (then it is the document version's, stored
/// once), or the national format the institution chose.
pub(crate) fn national_delivery(
    wire_headers: &BTreeMap<String, String>,
    envelope: &[u8],
    message_id: &str,
    h: &crate::sed::envelope::Header,
    who: &crate::ids::InstitutionId,
    d: &Delivery,
    routed: &Routed,
) -> OutboxMessage {
    let mut headers: BTreeMap<String, String> = wire_headers.clone();
    headers.insert("eessi-message-id".into(), message_id.to_owned());
    match routed {
        Routed::Rule(rule) => headers.insert("eessi-routing".into(), format!("rule: {rule}")),
        Routed::Triage(by) => headers.insert("eessi-routing".into(), format!("triage: {by}")),
    };
    let (body, body_version) = match d {
        Delivery::National { adapter, body } => {
            headers.insert("eessi-format".into(), adapter.clone());
            (body.clone(), None)
        }
        Delivery::Envelope => {
            headers.insert("eessi-format".into(), "sed".into());
            (envelope.to_vec(), Some(h.document_version))
        }
        Delivery::Unmappable { adapter, fields } => {
            headers.insert("eessi-format".into(), "sed".into());
            headers.insert(
                "eessi-format-problem".into(),
                // Bounded: a header, not a report (the switch's log says how many).
                format!(
                    "does not map to {adapter} at: {}{}",
                    if fields.is_empty() {
                        "?".to_owned()
                    } else {
                        fields
                            .iter()
                            .take(10)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    if fields.len() > 10 { ", ..." } else { "" }
                ),
            );
            (envelope.to_vec(), Some(h.document_version))
        }
    };
    let mut out = OutboxMessage::new(
        OutboxKind::National,
        NATIONAL_EXCHANGE,
        who.as_str(),
        MessageId::random().to_string(),
        headers,
        body,
    );
    out.case_id = Some(h.case_id.clone());
    out.document_id = Some(h.document_id.clone());
    out.body_version = body_version;
    out
}

/// Why an inbound SED does not apply, in the contract's terms.
pub(crate) enum Inapplicable {
    Refusal(Refusal),
    /// The case or the related document is not known yet: park it until it is.
    Park(Predecessor),
    Store(StoreError),
}

/// Apply a checked SED through the shared path, with its national delivery.
/// Returns whether anything was applied (false: the same document version was
/// already applied under another message id).
pub(crate) fn apply_sed(
    sw: &Switch,
    tx: &mut dyn Tx,
    message_id: &str,
    m: &WireMessage,
    c: &CheckedSed,
) -> Result<bool, Inapplicable> {
    let h = &c.header;
    // A rule that follows the case decided on the case's earlier deliveries as
    // read before this transaction: they must still be those (a store fault then
    // is retried, never answered).
    if let Some(read) = &c.followed {
        let before = read
            .clone()
            .map_err(|e| Inapplicable::Store(StoreError::Db(e)))?;
        let now = tx
            .case_national_destinations(&h.case_id)
            .map_err(Inapplicable::Store)?;
        if now != before {
            return Err(Inapplicable::Store(StoreError::Conflict(
                "the case's deliveries changed since its routing was decided".into(),
            )));
        }
    }
    // Delivered to the national queue of each institution the routing chose, in
    // the same transaction, or kept for triage.
    let outs: Vec<OutboxMessage> = c
        .deliveries
        .iter()
        .map(|(who, d)| national_delivery(&m.headers, &m.body, message_id, h, who, d, &c.routed))
        .collect();
    let sed = SedToApply {
        header: h,
        message_id,
        content_sha256: &c.content_sha256,
        envelope: &m.body,
        subject: c.subject.as_deref(),
        children: c.children,
        persons: &c.persons,
        direction: Direction::In,
    };
    let refusal = |code, why: String| Inapplicable::Refusal(refuse(code, why));
    match shared::apply(sw, tx, &sed, Expect::Current, &outs) {
        Ok(_) => {
            if let Routed::Triage(reason) = &c.routed {
                tx.triage_put(&crate::store::TriageEntry {
                    id: 0,
                    case_id: h.case_id.clone(),
                    document_id: h.document_id.clone(),
                    document_version: h.document_version,
                    buc: h.buc.to_string(),
                    sed: h.sed.to_string(),
                    sender: h.sender.to_string(),
                    addressed: h.receiver.to_string(),
                    message_id: message_id.to_owned(),
                    reason: reason.clone(),
                    status: crate::store::TriageStatus::Waiting,
                    created_at: String::new(),
                    assigned_to: None,
                    assigned_by: None,
                    settled_at: None,
                })
                .map_err(Inapplicable::Store)?;
                Metrics::inc(&sw.metrics.triage_entered);
            }
            Ok(true)
        }
        Err(NotApplied::AlreadyApplied) => Ok(false),
        Err(NotApplied::Conflict(why)) => Err(refusal(ErrorCode::Conflict, why)),
        Err(NotApplied::Protocol(why) | NotApplied::Step(StepError::ProtocolViolation(why))) => {
            Err(refusal(ErrorCode::ProtocolViolation, why))
        }
        // The case, or the document this one answers or updates, may still be in
        // flight behind it: park.
        Err(NotApplied::Step(StepError::UnknownCase)) => {
            Err(Inapplicable::Park(Predecessor::default()))
        }
        Err(NotApplied::Step(StepError::UnknownDocument(d))) => {
            Err(Inapplicable::Park(Predecessor {
                document: Some(d),
                version: None,
            }))
        }
        Err(NotApplied::Step(StepError::VersionGap { got, .. })) => {
            Err(Inapplicable::Park(Predecessor {
                document: Some(h.document_id.clone()),
                version: Some(got.saturating_sub(1)),
            }))
        }
        Err(NotApplied::Moved) => Err(Inapplicable::Store(StoreError::Conflict(
            "the case moved during its transaction".into(),
        ))),
        Err(NotApplied::Store(e)) => Err(Inapplicable::Store(e)),
    }
}

enum Outcome<'a> {
    Applied(&'a CheckedSed, bool),
    Parked(&'a CheckedSed, Predecessor),
    Refused(Refusal),
    /// Refused because a parking cap is reached.
    Capped(Refusal),
}

/// Checks 1, 9 and 10 and the effect, in one transaction, with the answer signed
/// beforehand (or `Need`). Returns the case whose parked messages may now apply.
fn commit_sed(
    sw: &Switch,
    m: &WireMessage,
    p: &PreparedSed,
    tx: &mut dyn Tx,
) -> Result<Option<CaseId>, TxError> {
    let message_id = p.message_id.as_str();
    // 1. Already answered: the same answer again, byte for byte; another body: CONFLICT.
    if let Some(prev) = tx.inbox_get(message_id)? {
        if prev.body_sha256 == p.body_sha {
            let a = super::answer::Answer {
                kind: prev.answer_kind,
                message_id: prev.answer_message_id,
                routing_key: prev.answer_routing_key,
                headers: prev.answer_headers,
                timestamp: prev.answer_timestamp,
                body: prev.answer_body,
                error_code: None,
            };
            enqueue_answer(&mut *tx, &a, prev.case_id.as_ref())?;
        } else {
            // The stored answer stays the answer to the original message; this
            // impostor body gets CONFLICT, which is not recorded as that answer.
            let r = refuse(
                ErrorCode::Conflict,
                "this message_id was already received with another body",
            );
            enqueue_answer(&mut *tx, p.answers.error(&r)?, None)?;
        }
        Metrics::inc(&sw.metrics.inbound_duplicates);
        return Ok(None);
    }
    let outcome = match &p.checked {
        Err(r) => Outcome::Refused(r.clone()),
        Ok(c) => match apply_sed(sw, &mut *tx, message_id, m, c) {
            Ok(applied) => Outcome::Applied(c, applied),
            Err(Inapplicable::Park(wait)) => {
                match park::parking_cap(sw, &mut *tx, c, m.body.len())? {
                    None => Outcome::Parked(c, wait),
                    Some(r) => Outcome::Capped(r),
                }
            }
            Err(Inapplicable::Store(e)) => return Err(e.into()),
            Err(Inapplicable::Refusal(r)) => Outcome::Refused(r),
        },
    };
    match outcome {
        Outcome::Parked(c, wait) => {
            let a = p.answers.receipt()?;
            park::park(sw, &mut *tx, message_id, m, c, wait)?;
            store_answer(
                &mut *tx,
                message_id,
                &p.body_sha,
                a,
                Some(&c.header.case_id),
            )?;
            Ok(None)
        }
        Outcome::Applied(c, applied) => {
            let a = p.answers.receipt()?;
            let case_id = &c.header.case_id;
            store_answer(&mut *tx, message_id, &p.body_sha, a, Some(case_id))?;
            if applied {
                Metrics::inc(&sw.metrics.inbound_applied);
            }
            tracing::info!(message_id, case_id = %case_id, document_id = %c.header.document_id, sed = %c.header.sed, "SED accepted");
            // Parked successors are applied after this commit, each in its own
            // transaction, checked again outside it (`park::unpark`).
            let waiting = applied && tx.parked_exists(case_id)?;
            Ok(waiting.then(|| case_id.clone()))
        }
        Outcome::Refused(r) => {
            refused(sw, m, p, &r, tx)?;
            Ok(None)
        }
        Outcome::Capped(r) => {
            refused(sw, m, p, &r, tx)?;
            Metrics::inc(&sw.metrics.parked_refused_cap);
            tracing::warn!(message_id, "parking cap reached: refused with UNKNOWN_CASE");
            Ok(None)
        }
    }
}

/// Store and send a refusal; a refusal in a case we hold shows in its history.
fn refused(
    sw: &Switch,
    m: &WireMessage,
    p: &PreparedSed,
    r: &Refusal,
    tx: &mut dyn Tx,
) -> Result<(), TxError> {
    let message_id = p.message_id.as_str();
    let a = p.answers.error(r)?;
    store_answer(&mut *tx, message_id, &p.body_sha, a, None)?;
    let case_id = m
        .headers
        .get("eessi-case-id")
        .and_then(|c| CaseId::parse(c).ok());
    if let Some(cid) = case_id.as_ref()
        && tx.case_get(cid)?.is_some()
    {
        tx.history_append(
            cid,
            &HistoryEntry {
                at: now_rfc3339(),
                event: "sed-refused".into(),
                detail: format!("{}: {}", r.code, r.detail),
                from_state: None,
                to_state: None,
                message_id: Some(message_id.to_owned()),
                document_id: m.headers.get("eessi-document-id").cloned(),
            },
        )?;
    }
    Metrics::inc(&sw.metrics.inbound_refused);
    tracing::info!(message_id, code = %r.code, detail = %r.detail, "SED refused");
    Ok(())
}

fn settle_signal(
    sw: &Switch,
    m: &WireMessage,
    s: &Signal,
    tx: &mut dyn Tx,
) -> Result<(), StoreError> {
    let Some(out) = tx.outbox_lock_by_message_id(s.ref_to(), OutboxKind::Sed)? else {
        tracing::warn!(
            ref_to = s.ref_to(),
            "a receipt or error for a message we never sent"
        );
        return Ok(());
    };
    // The answering access point must be the country we sent the SED to.
    if m.headers.get("eessi-from") != Some(&out.routing_key) {
        tracing::warn!(
            ref_to = s.ref_to(),
            "a receipt or error from another access point than the addressee"
        );
        return Ok(());
    }
    let change = match s {
        Signal::Receipt {
            digest_b64,
            document_id,
            document_version,
            ..
        } => {
            if out.body.is_empty() {
                // Retention emptied it (`store::retention`): the SED settled long ago,
                // so the receipt would change nothing; it is stale, not a mismatch.
                Metrics::inc(&sw.metrics.signals_stale);
                tracing::debug!(ref_to = s.ref_to(), status = %out.status, "a receipt for a SED whose body was pruned");
                return Ok(());
            }
            let doc_ok = out.document_id.as_ref() == Some(document_id)
                && out
                    .headers
                    .get("eessi-document-version")
                    .map(String::as_str)
                    == Some(document_version.to_string().as_str());
            if *digest_b64 != sha256_b64(&out.body) || !doc_ok {
                tracing::warn!(
                    ref_to = s.ref_to(),
                    "a receipt whose digest or document does not match what we sent"
                );
                return Ok(());
            }
            Change::to(OutboxStatus::Delivered)
        }
        Signal::Error { code, detail, .. } => {
            Change::to(OutboxStatus::Rejected).error(format!("{code}: {detail}"))
        }
    };
    // Compare-and-set: a duplicate receipt, an error after a rejection, or a
    // receipt after the schedule gave up changes nothing (and notifies nobody).
    if !tx.outbox_transition(out.id, OutboxKind::Sed, &change)? {
        Metrics::inc(&sw.metrics.signals_stale);
        tracing::debug!(ref_to = s.ref_to(), status = %out.status, to = %change.to, "a signal for a SED whose status has moved past it");
        return Ok(());
    }
    let detail = match (&change.last_error, s) {
        (LastError::Set(e), _) => e.clone(),
        _ => format!("receipt from access point {}", out.routing_key),
    };
    if let Some(case_id) = &out.case_id {
        tx.history_append(
            case_id,
            &HistoryEntry {
                at: now_rfc3339(),
                event: change.to.as_str().into(),
                detail: detail.clone(),
                from_state: None,
                to_state: None,
                message_id: Some(out.message_id.clone()),
                document_id: out.document_id.as_ref().map(|d| d.to_string()),
            },
        )?;
    }
    if change.to == OutboxStatus::Rejected {
        super::super::relay::enqueue_notice(
            &mut *tx,
            &out,
            OutboxStatus::Rejected,
            &format!("the SED was rejected by the receiving access point: {detail}"),
        )?;
    }
    Ok(())
}
