//! Durable timers (issue 12, item 5): deadlines act by themselves.
//!
//! A case's deadlines are data (`buc::deadline`); this module keeps a `timers` row
//! for each one the Belgian side must act on and fires it when it is due:
//!
//! - **Kept in step with the case.** `sync` runs in the transaction that changes the
//!   case (`switch::record` calls it after every transition and local closure): it
//!   recomputes the case's deadlines and cancels the pending timers that no longer
//!   match one, inserts the new ones (a moved deadline is a cancelled timer and a
//!   new one). Only Belgian obligations get a timer: a reminder (or its offer) of a
//!   request *we* sent whose reply a foreign institution owes, a global closure
//!   when a Belgian institution owns the case (only the owner sends X001), a local
//!   closure of our side.
//! - **Fired once.** The task (`run`, supervised) claims due timers with a
//!   compare-and-set (`pending` → `firing`, guarded by the status and `due_ms <=
//!   now`; `FOR UPDATE SKIP LOCKED` on PostgreSQL; a `firing` row whose lease ended
//!   is claimed again) and settles each with another compare-and-set from `firing`
//!   in the very transaction of its effect: an X009 or X001 through the national
//!   submission path (`outbound::submit_for_timer`: the same plan, `step`,
//!   signature and group commit), a local closure or the offer through
//!   `record`. Two instances that both hold a claim (a lease ended under a slow
//!   one) make one effect: the second one's compare-and-set finds the timer
//!   `fired` and its transaction writes nothing.
//! - **Never lost.** A refusal (the engine's `step`, a request that names no
//!   person) makes the timer `failed` with the reason; a passing failure
//!   (overload, the store) puts it back to `pending`, and after
//!   `timers.attempts_max` claims it is `failed` too. Every firing is audited and
//!   written in the case's history.
//! - **A clock that tests set.** The task reads the time from `Switch::clock`
//!   (`Clock`); tests give a fake one, and a `serve` built with the `fault-hooks`
//!   feature reads it from the file named by `EESSI_FAKE_NOW_FILE` when set.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::Switch;
use super::outbound::{Submission, SubmitError};
use crate::buc::BucDef;
use crate::buc::deadline::{self, Deadline, DocTiming};
use crate::buc::definition::{CLOSED, CloseScope, OnOverdue};
use crate::ids::{CaseId, Country, DocumentId, Role, SedType};
use crate::store::{
    AuditEntry, CaseRecord, Direction, DocumentStatus, HistoryEntry, StoreError, Timer, TimerKind,
    TimerStatus, Tx, now_rfc3339,
};

const TASK: &str = "timers";

/// The time in ms since the epoch, as the timer task sees it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock; with the `fault-hooks` feature, the time written in the file
/// `EESSI_FAKE_NOW_FILE` names (ms since the epoch or RFC 3339) when it is set and
/// readable, so that an integration test moves a real `serve` through days.
pub fn system_clock() -> Clock {
    #[cfg(feature = "fault-hooks")]
    if let Some(path) = std::env::var_os("EESSI_FAKE_NOW_FILE") {
        return Arc::new(move || {
            std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| parse_time(t.trim()))
                .unwrap_or_else(crate::store::now_ms)
        });
    }
    Arc::new(crate::store::now_ms)
}

/// A time as ms since the epoch or RFC 3339.
pub fn parse_time(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// Counters of the timer task (`/metrics`).
#[derive(Debug, Default)]
pub struct TimerMetrics {
    pub fired: AtomicU64,
    pub failed: AtomicU64,
    /// Passing failures: the timer went back to pending.
    pub retried: AtomicU64,
}

fn ms_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn parse_at(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What the case's timers should be now: (what, subject, due) for each deadline a
/// Belgian institution acts on.
fn wanted(
    tx: &mut dyn Tx,
    def: &BucDef,
    case: &CaseRecord,
    country: &Country,
) -> Result<Vec<(TimerKind, String, i64)>, StoreError> {
    if case.state == CLOSED {
        return Ok(Vec::new());
    }
    let docs = tx.documents(&case.case_id)?;
    let timings: Vec<DocTiming> = docs
        .iter()
        .filter_map(|d| {
            Some(DocTiming {
                id: d.document_id.clone(),
                sed: d.sed.clone(),
                at: parse_at(&d.created_at)?,
                related: d.related.clone(),
                cancelled: d.status == DocumentStatus::Cancelled,
            })
        })
        .collect();
    let owner_is_ours = tx
        .participants(&case.case_id)?
        .iter()
        .any(|p| p.role == Role::CaseOwner && p.institution.country() == *country);
    let mut out = Vec::new();
    for d in deadline::deadlines(def, &case.state, &timings, Utc::now()) {
        match d {
            Deadline::Reply {
                document_id,
                due,
                on_overdue,
                ..
            } => {
                // Only a request we sent: the reply is owed to us.
                let ours = docs.iter().any(|x| {
                    x.document_id == document_id
                        && x.direction == Direction::Out
                        && x.sender.country() == *country
                });
                let what = match on_overdue {
                    OnOverdue::Remind => TimerKind::Remind,
                    OnOverdue::Offer => TimerKind::Offer,
                    OnOverdue::None => continue,
                };
                if ours {
                    out.push((what, document_id.to_string(), ms_of(due)));
                }
            }
            Deadline::AutoClose { scope, due, .. } => match scope {
                CloseScope::Local => out.push((TimerKind::CloseLocal, String::new(), ms_of(due))),
                // Only the case owner closes for everyone (X001).
                CloseScope::Global if owner_is_ours => {
                    out.push((TimerKind::Close, String::new(), ms_of(due)))
                }
                CloseScope::Global => {}
            },
        }
    }
    Ok(out)
}

/// Why a claimed timer did nothing: its deadline went away after it was claimed.
pub const DEADLINE_GONE: &str = "its deadline went away (answered, moved, or the case closed)";

/// Whether the case, as `tx` holds it, still wants the timer (what, subject, due).
pub fn still_wanted(
    tx: &mut dyn Tx,
    def: &BucDef,
    case_id: &CaseId,
    country: &Country,
    key: (TimerKind, &str, i64),
) -> Result<bool, StoreError> {
    let Some(case) = tx.case_get(case_id)? else {
        return Ok(false);
    };
    Ok(wanted(tx, def, &case, country)?
        .iter()
        .any(|(w, s, d)| *w == key.0 && s == key.1 && *d == key.2))
}

/// Recompute the pending timers of `case_id` from its deadlines, in the caller's
/// transaction (the one that changed the case): a pending timer no deadline wants
/// any more is cancelled, a wanted one that does not exist is inserted (one that
/// was cancelled is pending again; one that fired or failed stays: a timer acts at
/// most once). `country` is this access point's.
pub fn sync(
    tx: &mut dyn Tx,
    def: &BucDef,
    case_id: &CaseId,
    country: &Country,
) -> Result<(), StoreError> {
    // A BUC without deadlines has no timers: nothing to read.
    if def.auto_close.is_empty()
        && !def
            .transitions
            .iter()
            .any(|t| t.reply_within_days.is_some())
    {
        return Ok(());
    }
    let Some(case) = tx.case_get(case_id)? else {
        return Ok(());
    };
    let want = wanted(tx, def, &case, country)?;
    let have = tx.timers_of(case_id)?;
    let key = |t: &Timer| (t.what, t.subject.clone(), t.due_ms);
    for t in have.iter().filter(|t| t.status == TimerStatus::Pending) {
        if !want.contains(&key(t)) {
            tx.timer_transition(
                t.id,
                &[TimerStatus::Pending],
                TimerStatus::Cancelled,
                Some(DEADLINE_GONE),
            )?;
        }
    }
    for (what, subject, due) in &want {
        match have
            .iter()
            .find(|t| t.what == *what && &t.subject == subject && t.due_ms == *due)
        {
            None => {
                tx.timer_put(case_id, *what, subject, *due)?;
            }
            Some(t) if t.status == TimerStatus::Cancelled => {
                tx.timer_transition(
                    t.id,
                    &[TimerStatus::Cancelled],
                    TimerStatus::Pending,
                    Some("its deadline is back"),
                )?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

pub async fn run(sw: Arc<Switch>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(sw.timers.interval_ms);
    loop {
        let _ = run_once(&sw).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One look at the clock's now on the blocking pool, reported to the supervisor:
/// the number of timers claimed.
pub async fn run_once(sw: &Arc<Switch>) -> Result<usize, StoreError> {
    let sw2 = sw.clone();
    let r = tokio::task::spawn_blocking(move || pass(&sw2))
        .await
        .unwrap_or_else(|e| Err(StoreError::Db(format!("the timer pass panicked: {e}"))));
    match &r {
        Ok(_) => sw.supervisor.ok(TASK),
        Err(e) => {
            sw.supervisor.failing(TASK, &e.to_string());
            tracing::warn!(error = %e, "the timer pass failed; will retry");
        }
    }
    r
}

/// Claim up to `timers.batch` due timers at the clock's now and fire each. Blocking.
pub fn pass(sw: &Arc<Switch>) -> Result<usize, StoreError> {
    let now_ms = (sw.clock)();
    let claimed = sw.store.timer_claim(
        now_ms,
        sw.timers.batch,
        i64::try_from(sw.timers.lease_ms).unwrap_or(i64::MAX),
    )?;
    let n = claimed.len();
    for t in claimed {
        if sw.shutting_down.load(Ordering::Relaxed) {
            // Left `firing`: claimed again when its lease ends.
            break;
        }
        fire(sw, &t, now_ms)?;
    }
    Ok(n)
}

/// How firing one timer ended.
enum Fired {
    Done(String),
    /// Refused for good (the reason is kept on the timer).
    Failed(String),
    /// A passing failure: try again at the next pass.
    Again(String),
}

/// Act on one claimed timer and settle it. A store error ends the pass (the timer
/// stays `firing` and is claimed again when its lease ends).
pub(crate) fn fire(sw: &Arc<Switch>, t: &Timer, now_ms: i64) -> Result<(), StoreError> {
    let result = if t.attempts > sw.timers.attempts_max {
        Fired::Failed(format!("gave up after {} attempts", sw.timers.attempts_max))
    } else {
        match t.what {
            TimerKind::Offer => return settle_in_store(sw, t, Effect::Offer),
            TimerKind::CloseLocal => return settle_in_store(sw, t, Effect::CloseLocal),
            TimerKind::Remind | TimerKind::Close => send(sw, t, now_ms),
        }
    };
    match result {
        // The outcome was committed with the SED (`outbound::in_tx`).
        Fired::Done(outcome) => {
            super::Metrics::inc(&sw.timer_metrics.fired);
            tracing::info!(timer = t.id, case_id = %t.case_id, what = %t.what, %outcome, "timer fired");
            Ok(())
        }
        Fired::Failed(why) if why == DEADLINE_GONE => {
            let mut tx = sw.store.begin()?;
            tx.timer_transition(
                t.id,
                &[TimerStatus::Firing],
                TimerStatus::Cancelled,
                Some(DEADLINE_GONE),
            )?;
            tx.commit()
        }
        Fired::Failed(why) => settle_failed(sw, t, &why),
        Fired::Again(why) => {
            let mut tx = sw.store.begin()?;
            if tx.timer_transition(
                t.id,
                &[TimerStatus::Firing],
                TimerStatus::Pending,
                Some(&format!("will try again: {why}")),
            )? {
                super::Metrics::inc(&sw.timer_metrics.retried);
            }
            tx.commit()
        }
    }
}

fn audit(t: &Timer, action: &str, target: String) -> AuditEntry {
    AuditEntry {
        at: now_rfc3339(),
        subject: format!("timer:{}", t.id),
        institution: None,
        action: action.into(),
        target,
        remote: None,
    }
}

fn history(t: &Timer, detail: String, document: Option<String>) -> HistoryEntry {
    HistoryEntry {
        at: now_rfc3339(),
        event: format!("timer-{}", t.what),
        detail,
        from_state: None,
        to_state: None,
        message_id: None,
        document_id: document,
    }
}

fn settle_failed(sw: &Switch, t: &Timer, why: &str) -> Result<(), StoreError> {
    let mut tx = sw.store.begin()?;
    if tx.timer_transition(t.id, &[TimerStatus::Firing], TimerStatus::Failed, Some(why))? {
        tx.history_append(
            &t.case_id,
            &history(
                t,
                format!("timer {} ({}) failed: {why}", t.id, t.what),
                (!t.subject.is_empty()).then(|| t.subject.clone()),
            ),
        )?;
        tx.audit_append(&audit(
            t,
            &format!("timer-{}-failed", t.what),
            t.case_id.to_string(),
        ))?;
        tx.commit()?;
        super::Metrics::inc(&sw.timer_metrics.failed);
        tracing::warn!(timer = t.id, case_id = %t.case_id, what = %t.what, "timer failed");
    }
    Ok(())
}

enum Effect {
    Offer,
    CloseLocal,
}

/// A timer whose effect is store work only (the offer, a local closure): its
/// compare-and-set from `firing`, the effect, history and audit in one transaction.
fn settle_in_store(sw: &Switch, t: &Timer, effect: Effect) -> Result<(), StoreError> {
    let mut tx = sw.store.begin()?;
    let Some(case) = tx.case_lock(&t.case_id)? else {
        drop(tx);
        return settle_failed(sw, t, "the case does not exist");
    };
    let gone = match sw.catalogue.get(&case.buc) {
        Some(def) => !still_wanted(
            &mut *tx,
            def,
            &t.case_id,
            &sw.country,
            (t.what, &t.subject, t.due_ms),
        )?,
        None => true,
    };
    if gone {
        tx.timer_transition(
            t.id,
            &[TimerStatus::Firing],
            TimerStatus::Cancelled,
            Some(DEADLINE_GONE),
        )?;
        return tx.commit();
    }
    let outcome = match effect {
        Effect::Offer => format!(
            "a reminder is offered: the answer to document {} is overdue",
            t.subject
        ),
        Effect::CloseLocal if case.state == CLOSED => "the case was already closed".to_owned(),
        Effect::CloseLocal => "closed for this side by its auto-close rule".to_owned(),
    };
    if !tx.timer_transition(
        t.id,
        &[TimerStatus::Firing],
        TimerStatus::Fired,
        Some(&outcome),
    )? {
        // Settled by another instance meanwhile: nothing to do.
        return Ok(());
    }
    tx.history_append(
        &t.case_id,
        &history(
            t,
            format!("timer {} ({}): {outcome}", t.id, t.what),
            (!t.subject.is_empty()).then(|| t.subject.clone()),
        ),
    )?;
    tx.audit_append(&audit(
        t,
        &format!("timer-{}", t.what),
        t.case_id.to_string(),
    ))?;
    if matches!(effect, Effect::CloseLocal) && case.state != CLOSED {
        let def = sw.catalogue.get(&case.buc);
        super::record::close_locally(
            &mut *tx,
            def,
            &case,
            &sw.country,
            &format!("closed for this side only by timer {}", t.id),
        )?;
    }
    tx.commit()?;
    super::Metrics::inc(&sw.timer_metrics.fired);
    tracing::info!(timer = t.id, case_id = %t.case_id, what = %t.what, "timer fired");
    Ok(())
}

/// The X009 or X001 a timer sends, through the national submission path.
fn send(sw: &Arc<Switch>, t: &Timer, now_ms: i64) -> Fired {
    let detail = match sw.store.case_detail(&t.case_id) {
        Ok(Some(d)) => d,
        Ok(None) => return Fired::Failed("the case does not exist".into()),
        Err(e) => return Fired::Again(e.to_string()),
    };
    let Some(def) = sw.catalogue.get(&detail.case.buc) else {
        return Fired::Failed(format!("unknown BUC {}", detail.case.buc));
    };
    let version = detail.case.sed_version.clone();
    // The person of the case, from the newest document that names one (the chased
    // request first, for a reminder).
    let mut sources: Vec<&crate::store::DocumentRecord> =
        detail.documents.iter().map(|(d, _)| d).collect();
    sources.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    if t.what == TimerKind::Remind
        && let Some(i) = sources
            .iter()
            .position(|d| d.document_id.as_str() == t.subject)
    {
        let chased = sources.remove(i);
        sources.insert(0, chased);
    }
    let mut person = None;
    for d in &sources {
        let envelope = match sw.store.document_envelope(&d.document_id, d.latest_version) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(e) => return Fired::Again(e.to_string()),
        };
        if let Ok(Some(p)) = crate::sed::admin::context_person(&envelope, &sw.limits) {
            person = Some(p);
            break;
        }
    }
    let Some(person) = person else {
        return Fired::Failed("no document of the case names its person".into());
    };
    let due = DateTime::<Utc>::from_timestamp_millis(t.due_ms)
        .unwrap_or_default()
        .date_naive();
    let today = DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .date_naive();
    let s = match t.what {
        TimerKind::Remind => {
            let Some(doc) = sources.iter().find(|d| d.document_id.as_str() == t.subject) else {
                return Fired::Failed(format!("document {} is not in the case", t.subject));
            };
            let Ok(chased) = DocumentId::parse(&t.subject) else {
                return Fired::Failed("the timer names no document".into());
            };
            Submission {
                from: doc.sender.clone(),
                to: doc.receiver.clone(),
                buc: detail.case.buc.clone(),
                sed: match sed("X009") {
                    Ok(s) => s,
                    Err(f) => return f,
                },
                version: Some(version.clone()),
                case_id: Some(t.case_id.clone()),
                document_id: None,
                related: Some(chased.clone()),
                body: crate::sed::admin::x009(&version, &person, &doc.sed, &chased, due),
                reference: None,
            }
        }
        _ => {
            let Some(owner) = detail
                .participants
                .iter()
                .find(|p| p.role == Role::CaseOwner)
            else {
                return Fired::Failed("the case has no case owner".into());
            };
            // UNCERTAIN: in a multilateral case X001 goes to one counterparty here
            // (the first that joined) and closes every conversation (`record`); no
            // source says whether the reference sends one per counterparty.
            let Some(to) = detail
                .participants
                .iter()
                .find(|p| p.role == Role::Counterparty)
            else {
                return Fired::Failed("the case has no counterparty to close it with".into());
            };
            let reason = def
                .auto_close
                .iter()
                .filter(|r| r.scope == CloseScope::Global)
                .map(|r| r.reason.as_str())
                .find(|r| !r.is_empty())
                .unwrap_or("auto-close rule of the BUC");
            Submission {
                from: owner.institution.clone(),
                to: to.institution.clone(),
                buc: detail.case.buc.clone(),
                sed: match sed("X001") {
                    Ok(s) => s,
                    Err(f) => return f,
                },
                version: Some(version.clone()),
                case_id: Some(t.case_id.clone()),
                document_id: None,
                related: None,
                body: crate::sed::admin::x001(&version, &person, today, reason),
                reference: None,
            }
        }
    };
    let audit = audit(t, &format!("timer-{}", t.what), t.case_id.to_string());
    match super::outbound::submit_for_timer(sw, s, audit, t) {
        Ok(done) => Fired::Done(format!("sent document {}", done.document_id)),
        Err(SubmitError::Overloaded) => Fired::Again("the submission queue is full".into()),
        Err(SubmitError::Store(e)) if e.is_transient() => Fired::Again(e.to_string()),
        Err(SubmitError::Store(StoreError::Conflict(e))) => Fired::Again(e),
        Err(SubmitError::Invalid(issues)) => Fired::Failed(format!(
            "the SED made is not valid: {}",
            issues
                .iter()
                .map(|i| format!("{}: {}", i.name, i.detail))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Err(SubmitError::ProtocolViolation(why)) if why == DEADLINE_GONE => Fired::Failed(why),
        Err(e) => Fired::Failed(e.to_string()),
    }
}

fn sed(s: &str) -> Result<SedType, Fired> {
    SedType::parse(s).map_err(|e| Fired::Failed(e.to_string()))
}
