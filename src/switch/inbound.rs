//! Inbound: what arrives in this access point's inbox.
//!
//! A `sed` goes through the contract's checks in their order; the first failure is
//! the answer. Checks 2–8 need only the message, the registry, the definitions and
//! the schemas and run before the store is touched; checks 1, 9 and 10 run inside
//! the transaction that also applies the SED and stores its answer, so a crash at
//! any point either leaves nothing (and the redelivery starts over) or everything
//! (and the redelivery is answered as a duplicate). The delivery is acked only
//! after that commit. Receipts and errors settle our own outbound SEDs.
//!
//! Deliveries are spread over lanes by case id: one case's documents are handled
//! one after another in arrival order, different cases in parallel.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::{Metrics, Switch, sha256_b64, sha256_hex};
use crate::buc::{CaseView, DocView, SedEvent, StepError, step};
use crate::ids::{
    BucType, CaseAction, CaseId, Country, DocumentId, InstitutionId, MessageId, SedType,
    SedVersion, parse_document_version,
};
use crate::sed::envelope::{self, Header};
use crate::sed::signal::{self, ErrorCode, Signal};
use crate::sed::validate::{self, ValidateError};
use crate::sed::xml::{self, C14nScope, XmlError};
use crate::signing::dsig;
use crate::store::{
    AnswerKind, CaseRecord, Change, DocumentStatus, HistoryEntry, InboxEntry, LastError,
    OutboxKind, OutboxMessage, OutboxStatus, StoreError, Tx, now_rfc3339,
};
use crate::transport::{AP_EXCHANGE, Delivery, NATIONAL_EXCHANGE, WireMessage};

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

/// A refusal: the contract's code and an English detail free of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub detail: String,
}

fn refuse(code: ErrorCode, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        detail: detail.into(),
    }
}

/// A SED that passed checks 2–8.
#[derive(Debug, Clone)]
pub struct CheckedSed {
    pub header: Header,
    /// SHA-256 (hex) of the SED element's exclusive C14N.
    pub content_sha256: String,
    /// The institution id at the definition's `subject` path, for participant effects.
    pub subject: Option<String>,
}

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

/// What can be known of a delivery without the store: checks 2–8 of a SED, or the
/// verification of a receipt or error. All the XML and RSA work of reading a
/// delivery happens here, before any transaction is open.
enum Prepared {
    /// Nobody can be answered.
    DeadLetter(String),
    Signal {
        message_id: String,
        signal: Result<Signal, String>,
    },
    Sed {
        message_id: String,
        from: InstitutionId,
        body_sha: String,
        checked: Box<Result<CheckedSed, Refusal>>,
    },
}

fn prepare(sw: &Switch, m: &WireMessage) -> Prepared {
    Metrics::inc(&sw.metrics.inbound_received);
    let Some(message_id) = m.message_id.clone().filter(|s| !s.is_empty()) else {
        return Prepared::DeadLetter("no message_id".into());
    };
    if matches!(m.kind.as_deref(), Some("receipt") | Some("error")) {
        Metrics::inc(&sw.metrics.signals_received);
        return Prepared::Signal {
            message_id,
            signal: read_signal(sw, m),
        };
    }
    let from = match m.headers.get("eessi-from").map(|f| InstitutionId::parse(f)) {
        Some(Ok(f)) => f,
        _ => {
            return Prepared::DeadLetter("eessi-from missing or not an institution id".into());
        }
    };
    Prepared::Sed {
        message_id,
        from,
        body_sha: sha256_hex(&m.body),
        checked: Box::new(check(sw, m)),
    }
}

/// Prepare a delivery, turning a panic into its `Retry`.
fn prepare_guarded(sw: &Switch, m: &WireMessage) -> Result<Prepared, Disposition> {
    guarded(|| prepare(sw, m))
}

/// Handle one delivery in its own transaction (blocking: XML and store work). The
/// checks run before the transaction opens; inside it only checks 1, 9 and 10, the
/// effect and the answer. A panic rolls the transaction back and is this
/// delivery's failure only: `Retry`, towards the delivery limit and the dead letters.
pub fn handle(sw: &Switch, m: &WireMessage) -> Disposition {
    match prepare_guarded(sw, m) {
        Ok(p) => handle_prepared(sw, m, &p),
        Err(d) => d,
    }
}

fn handle_prepared(sw: &Switch, m: &WireMessage, p: &Prepared) -> Disposition {
    if let Prepared::DeadLetter(why) = p {
        return Disposition::DeadLetter(why.clone());
    }
    let mut tx = match sw.store.begin() {
        Ok(tx) => tx,
        Err(e) if e.is_transient() => return Disposition::Wait(e.to_string()),
        Err(e) => return Disposition::Retry(e.to_string()),
    };
    let d = match guarded(|| apply_prepared(sw, m, p, &mut *tx)) {
        Ok(d) => d,
        Err(panicked) => return panicked, // `tx` drops here: rolled back
    };
    if matches!(d, Disposition::Ack) {
        match tx.commit() {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Disposition::Wait(e.to_string()),
            Err(e) => return Disposition::Retry(e.to_string()),
        }
    }
    d
}

/// Run one delivery's work, turning a panic into that delivery's `Retry`. A
/// transaction it used is rolled back by the caller (dropped), and no lock stays
/// poisoned (the store recovers its connections' locks), so the store goes on.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Disposition> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| {
        tracing::error!("handling a delivery panicked; it is retried, then dead-lettered");
        Disposition::Retry("the handler panicked".into())
    })
}

/// Handle several deliveries of one lane in one transaction (one fsync for all:
/// group commit), each checked before it opens. If any of them fails in a way that
/// is not its own answer (the store, a bug, a panic), the batch is rolled back and
/// each is handled alone, so that only the failing one is retried or, in the end,
/// dead-lettered.
pub fn handle_batch(sw: &Switch, ms: &[Arc<WireMessage>]) -> Vec<Disposition> {
    let prepared: Vec<Result<Prepared, Disposition>> =
        ms.iter().map(|m| prepare_guarded(sw, m)).collect();
    if ms.len() > 1
        && prepared.iter().all(Result::is_ok)
        && let Ok(mut tx) = sw.store.begin()
    {
        let mut out = Vec::with_capacity(ms.len());
        for (m, p) in ms.iter().zip(&prepared) {
            let Ok(p) = p else { break };
            if let Prepared::DeadLetter(why) = p {
                out.push(Disposition::DeadLetter(why.clone()));
                continue;
            }
            match guarded(|| apply_prepared(sw, m, p, &mut *tx)) {
                Ok(d @ (Disposition::Ack | Disposition::DeadLetter(_))) => out.push(d),
                Ok(Disposition::Retry(_) | Disposition::Wait(_)) | Err(_) => {
                    out.clear();
                    break;
                }
            }
        }
        if out.len() == ms.len() && tx.commit().is_ok() {
            return out;
        }
    }
    ms.iter()
        .zip(prepared)
        .map(|(m, p)| match p {
            Ok(p) => handle_prepared(sw, m, &p),
            Err(d) => d,
        })
        .collect()
}

/// The store part of one prepared delivery, inside `tx`; the caller commits when
/// the answer is Ack.
fn apply_prepared(sw: &Switch, m: &WireMessage, p: &Prepared, tx: &mut dyn Tx) -> Disposition {
    #[cfg(feature = "fault-hooks")]
    if let Some(id) = &m.message_id {
        crate::faults::maybe_panic(id);
    }
    let r = match p {
        Prepared::DeadLetter(why) => return Disposition::DeadLetter(why.clone()),
        Prepared::Signal { message_id, signal } => match signal {
            Err(why) => {
                // Contract: a signal that does not verify is ignored and logged; the
                // retransmission schedule goes on.
                Metrics::inc(&sw.metrics.signals_ignored);
                tracing::warn!(message_id, reason = %why, "ignoring a receipt or error");
                return Disposition::Ack;
            }
            Ok(signal) => settle_signal(sw, m, signal, tx),
        },
        Prepared::Sed {
            message_id,
            from,
            body_sha,
            checked,
        } => commit_sed(sw, message_id, from, body_sha, m, (**checked).clone(), tx),
    };
    match r {
        Ok(()) => Disposition::Ack,
        Err(e) if e.is_transient() => Disposition::Wait(e.to_string()),
        Err(e) => Disposition::Retry(e.to_string()),
    }
}

fn header<'a>(m: &'a WireMessage, name: &str) -> Result<&'a str, Refusal> {
    m.headers
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| refuse(ErrorCode::Malformed, format!("header {name} is missing")))
}

fn parsed<T, E: std::fmt::Display>(r: Result<T, E>, name: &str) -> Result<T, Refusal> {
    r.map_err(|e| {
        refuse(
            ErrorCode::Malformed,
            format!("header {name} is malformed: {e}"),
        )
    })
}

/// Checks 2 to 8 of the contract, in order.
pub fn check(sw: &Switch, m: &WireMessage) -> Result<CheckedSed, Refusal> {
    // 2. Size, before any parsing.
    if m.body.len() > sw.limits.body_bytes_max {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!(
                "body of {} bytes exceeds {} bytes",
                m.body.len(),
                sw.limits.body_bytes_max
            ),
        ));
    }
    // 3. Properties and headers, then well-formed XML and the envelope structure.
    // The contract's headers must be strings; headers the broker adds itself (a
    // quorum queue's `x-delivery-count` on a redelivery, a long) are not the sender's.
    if let Some(bad) = m.non_string_headers.iter().find(|h| !h.starts_with("x-")) {
        return Err(refuse(
            ErrorCode::Malformed,
            format!("header {bad} is not a string"),
        ));
    }
    if m.message_id
        .as_deref()
        .map(MessageId::parse)
        .is_none_or(|r| r.is_err())
    {
        return Err(refuse(ErrorCode::Malformed, "message_id is not a UUID"));
    }
    if m.kind.as_deref() != Some("sed") {
        return Err(refuse(
            ErrorCode::Malformed,
            "type must be sed, receipt or error",
        ));
    }
    if m.content_type.as_deref() != Some("application/xml") {
        return Err(refuse(
            ErrorCode::Malformed,
            "content_type must be application/xml",
        ));
    }
    if m.timestamp.is_none() {
        return Err(refuse(ErrorCode::Malformed, "timestamp is missing"));
    }
    if m.app_id.as_deref().is_none_or(str::is_empty) {
        return Err(refuse(ErrorCode::Malformed, "app_id is missing"));
    }
    let h_from = parsed(InstitutionId::parse(header(m, "eessi-from")?), "eessi-from")?;
    let h_to = parsed(InstitutionId::parse(header(m, "eessi-to")?), "eessi-to")?;
    let h_case = parsed(CaseId::parse(header(m, "eessi-case-id")?), "eessi-case-id")?;
    let h_buc = parsed(BucType::parse(header(m, "eessi-buc")?), "eessi-buc")?;
    let h_sed = parsed(SedType::parse(header(m, "eessi-sed")?), "eessi-sed")?;
    let h_version = parsed(
        SedVersion::parse(header(m, "eessi-sed-version")?),
        "eessi-sed-version",
    )?;
    let h_doc = parsed(
        DocumentId::parse(header(m, "eessi-document-id")?),
        "eessi-document-id",
    )?;
    let h_dv = parsed(
        parse_document_version(header(m, "eessi-document-version")?),
        "eessi-document-version",
    )?;
    let h_action = parsed(
        CaseAction::parse(header(m, "eessi-case-action")?),
        "eessi-case-action",
    )?;
    let doc = xml::parse(&m.body, &sw.limits).map_err(|e| match e {
        XmlError::TooLarge { .. } => refuse(ErrorCode::TooLarge, e.to_string()),
        // The parser's own message may quote the input (personal data): abroad
        // goes only the kind of fault and its line.
        XmlError::NotWellFormed { line, .. } => refuse(
            ErrorCode::Malformed,
            format!(
                "not well-formed XML{}",
                line.map(|l| format!(" at line {l}")).unwrap_or_default()
            ),
        ),
        other => refuse(ErrorCode::Malformed, other.to_string()),
    })?;
    let (env, sed_node) =
        envelope::read(&doc).map_err(|e| refuse(ErrorCode::Malformed, e.to_string()))?;

    // 4. Signature, with the registry's certificate for the envelope's Sender.
    let trusted = sw
        .registry
        .institution(&env.sender)
        .map(|i| i.certificates.as_slice())
        .unwrap_or(&[]);
    dsig::verify(&doc, trusted).map_err(|e| refuse(ErrorCode::SignatureInvalid, e.to_string()))?;

    // 5. Headers against the signed envelope; the SED element against its type.
    let mismatches: Vec<&str> = [
        ("eessi-from", h_from == env.sender),
        ("eessi-to", h_to == env.receiver),
        ("eessi-case-id", h_case == env.case_id),
        ("eessi-buc", h_buc == env.buc),
        ("eessi-sed", h_sed == env.sed),
        ("eessi-sed-version", h_version == env.version),
        ("eessi-document-id", h_doc == env.document_id),
        ("eessi-document-version", h_dv == env.document_version),
        ("eessi-case-action", h_action == env.action),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(n, _)| n)
    .collect();
    if !mismatches.is_empty() {
        return Err(refuse(
            ErrorCode::Malformed,
            format!(
                "header(s) {} differ from the signed envelope",
                mismatches.join(", ")
            ),
        ));
    }
    if sed_node.get_name() != env.sed.as_str() || xml::ns(sed_node) != env.version.namespace() {
        return Err(refuse(
            ErrorCode::Malformed,
            format!(
                "the SED element is not {} of version {}",
                env.sed, env.version
            ),
        ));
    }

    // 6. Known BUC, SED type and data-model version.
    if sw.catalogue.get(&env.buc).is_none() {
        return Err(refuse(
            ErrorCode::Unsupported,
            format!("unknown BUC type {}", env.buc),
        ));
    }
    if !sw.catalogue.seds.contains_key(&env.sed) {
        return Err(refuse(
            ErrorCode::Unsupported,
            format!("unknown SED type {}", env.sed),
        ));
    }
    if !sw.versions.contains(&env.version) {
        return Err(refuse(
            ErrorCode::Unsupported,
            format!("unsupported data-model version {}", env.version),
        ));
    }

    // 7. Schema. Violations abroad name lines and elements, never values.
    let schema = validate::sed_schema_path(&sw.schemas, &env.version, &env.sed);
    let node = find_node(&doc, sed_node)
        .ok_or_else(|| refuse(ErrorCode::Malformed, "the SED element cannot be located"))?;
    if let Err(e) = validate::validate_element(&schema, &node) {
        return Err(match e {
            ValidateError::Invalid(vs) => {
                let places: Vec<String> = vs
                    .iter()
                    .take(20)
                    .map(|v| {
                        format!(
                            "line {} element {}",
                            v.line.unwrap_or(0),
                            v.element.as_deref().unwrap_or("?")
                        )
                    })
                    .collect();
                refuse(
                    ErrorCode::SchemaInvalid,
                    format!("{} schema violation(s) at: {}", vs.len(), places.join("; ")),
                )
            }
            other => refuse(ErrorCode::Unsupported, other.to_string()),
        });
    }

    // 8. A recipient we serve, handling this BUC in this role.
    let served = sw.is_served(&env.receiver)
        && sw
            .registry
            .institution(&env.receiver)
            .is_some_and(|i| i.handles(&env.buc, env.receiver_role));
    if !served {
        return Err(refuse(
            ErrorCode::UnknownRecipient,
            format!(
                "{} is not served here for {} as {}",
                env.receiver, env.buc, env.receiver_role
            ),
        ));
    }
    let content = xml::c14n(&doc, C14nScope::Subtree(sed_node))
        .map_err(|e| refuse(ErrorCode::Malformed, e.to_string()))?;
    let subject = sw
        .subject_path(&env.buc, &env.sed)
        .and_then(|p| super::record::subject_at(sed_node, p));
    Ok(CheckedSed {
        header: env,
        content_sha256: sha256_hex(&content),
        subject,
    })
}

/// The owned `Node` of a read-only node (schema validation needs one).
fn find_node(
    doc: &libxml::tree::Document,
    target: libxml::readonly::RoNode,
) -> Option<libxml::tree::Node> {
    let root = doc.get_root_element()?;
    root.get_child_elements()
        .into_iter()
        .find(|n| n.node_ptr() == target.node_ptr())
}

/// The answer to a SED, before it is stored.
struct Answer {
    kind: AnswerKind,
    message_id: String,
    routing_key: String,
    headers: BTreeMap<String, String>,
    timestamp: i64,
    body: Vec<u8>,
    error_code: Option<ErrorCode>,
}

fn answer_headers(
    sw: &Switch,
    to: &InstitutionId,
    case_id: Option<&str>,
    ref_to: &str,
    code: Option<ErrorCode>,
) -> BTreeMap<String, String> {
    let mut h = BTreeMap::new();
    h.insert("eessi-from".into(), sw.country.to_string());
    h.insert("eessi-to".into(), to.to_string());
    if let Some(c) = case_id.filter(|c| CaseId::parse(c).is_ok()) {
        h.insert("eessi-case-id".into(), c.to_owned());
    }
    h.insert("eessi-ref-to-message-id".into(), ref_to.to_owned());
    if let Some(code) = code {
        h.insert("eessi-error-code".into(), code.to_string());
    }
    h
}

fn error_answer(
    sw: &Switch,
    message_id: &str,
    from: &InstitutionId,
    m: &WireMessage,
    r: &Refusal,
) -> Result<Answer, StoreError> {
    let unsigned = signal::render_error(message_id, r.code, &r.detail);
    let body = dsig::sign(unsigned.as_bytes(), &sw.ap_signer)
        .map_err(|e| StoreError::Db(format!("cannot sign an error: {e}")))?;
    Ok(Answer {
        kind: AnswerKind::Error,
        message_id: MessageId::random().to_string(),
        routing_key: from.country().to_string(),
        headers: answer_headers(
            sw,
            from,
            m.headers.get("eessi-case-id").map(String::as_str),
            message_id,
            Some(r.code),
        ),
        timestamp: chrono::Utc::now().timestamp(),
        body,
        error_code: Some(r.code),
    })
}

fn receipt_answer(
    sw: &Switch,
    message_id: &str,
    from: &InstitutionId,
    m: &WireMessage,
    h: &Header,
) -> Result<Answer, StoreError> {
    let mid = MessageId::parse(message_id).map_err(|e| StoreError::Db(e.to_string()))?;
    let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let unsigned = signal::render_receipt(
        &mid,
        &h.document_id,
        h.document_version,
        &sha256_b64(&m.body),
        &received_at,
    );
    let body = dsig::sign(unsigned.as_bytes(), &sw.ap_signer)
        .map_err(|e| StoreError::Db(format!("cannot sign a receipt: {e}")))?;
    Ok(Answer {
        kind: AnswerKind::Receipt,
        message_id: MessageId::random().to_string(),
        routing_key: from.country().to_string(),
        headers: answer_headers(sw, from, Some(h.case_id.as_str()), message_id, None),
        timestamp: chrono::Utc::now().timestamp(),
        body,
        error_code: None,
    })
}

fn enqueue_answer(tx: &mut dyn Tx, a: &Answer, case_id: Option<&CaseId>) -> Result<(), StoreError> {
    let mut out = OutboxMessage::new(
        a.kind.into(),
        AP_EXCHANGE,
        &a.routing_key,
        a.message_id.clone(),
        a.headers.clone(),
        a.body.clone(),
    );
    out.timestamp = a.timestamp;
    out.case_id = case_id.cloned();
    tx.outbox_enqueue(&out)?;
    Ok(())
}

fn inbox_entry(
    message_id: &str,
    body_sha: &str,
    a: &Answer,
    case_id: Option<&CaseId>,
) -> InboxEntry {
    InboxEntry {
        message_id: message_id.to_owned(),
        body_sha256: body_sha.to_owned(),
        received_at: now_rfc3339(),
        case_id: case_id.cloned(),
        answer_kind: a.kind,
        answer_message_id: a.message_id.clone(),
        answer_routing_key: a.routing_key.clone(),
        answer_headers: a.headers.clone(),
        answer_timestamp: a.timestamp,
        answer_body: a.body.clone(),
        error_code: a.error_code.map(|c| c.to_string()),
    }
}

/// Record the first answer to `message_id` and send it. The inbox insert fails with
/// `Conflict` if another transaction answered it first: this one rolls back.
fn store_answer(
    tx: &mut dyn Tx,
    message_id: &str,
    body_sha: &str,
    a: &Answer,
    case_id: Option<&CaseId>,
) -> Result<(), StoreError> {
    tx.inbox_put(&inbox_entry(message_id, body_sha, a, case_id))?;
    enqueue_answer(tx, a, case_id)
}

/// Checks 1, 9 and 10 and the effect, in one transaction.
fn commit_sed(
    sw: &Switch,
    message_id: &str,
    from: &InstitutionId,
    body_sha: &str,
    m: &WireMessage,
    checked: Result<CheckedSed, Refusal>,
    tx: &mut dyn Tx,
) -> Result<(), StoreError> {
    // 1. Already answered: the same answer again, byte for byte; another body: CONFLICT.
    if let Some(prev) = tx.inbox_get(message_id)? {
        Metrics::inc(&sw.metrics.inbound_duplicates);
        if prev.body_sha256 == body_sha {
            let a = Answer {
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
            let a = error_answer(
                sw,
                message_id,
                from,
                m,
                &refuse(
                    ErrorCode::Conflict,
                    "this message_id was already received with another body",
                ),
            )?;
            enqueue_answer(&mut *tx, &a, None)?;
        }
        return Ok(());
    }
    let outcome = match checked {
        Err(r) => Outcome::Refused(r),
        Ok(c) => match apply(sw, &mut *tx, message_id, m, &c) {
            Ok(applied) => Outcome::Applied(c, applied),
            Err(Refused::Park(wait)) => match parking_cap(sw, &mut *tx, &c, m.body.len())? {
                None => Outcome::Parked(c, wait),
                Some(r) => Outcome::Refused(r),
            },
            Err(Refused::Store(e)) => return Err(e),
            Err(Refused::Refusal(r)) => Outcome::Refused(r),
        },
    };
    match outcome {
        Outcome::Parked(c, wait) => {
            // Contract: a New/Update whose predecessor may still be in flight is parked
            // durably and answered with a receipt; it is applied when the predecessor
            // arrives, or refused with UNKNOWN_CASE when the parking time is over.
            let now_ms = chrono::Utc::now().timestamp_millis();
            let properties = serde_json::to_string(m).map_err(|e| StoreError::Db(e.to_string()))?;
            tx.parked_put(&crate::store::ParkedMessage {
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
            let a = receipt_answer(sw, message_id, from, m, &c.header)?;
            store_answer(&mut *tx, message_id, body_sha, &a, Some(&c.header.case_id))?;
            Metrics::inc(&sw.metrics.inbound_parked);
            tracing::info!(message_id, case_id = %c.header.case_id, "SED parked until its predecessor arrives");
        }
        Outcome::Applied(c, applied) => {
            let a = receipt_answer(sw, message_id, from, m, &c.header)?;
            store_answer(&mut *tx, message_id, body_sha, &a, Some(&c.header.case_id))?;
            if applied {
                retry_parked(sw, &mut *tx, &c.header.case_id)?;
            }
            if applied {
                Metrics::inc(&sw.metrics.inbound_applied);
            }
            tracing::info!(message_id, case_id = %c.header.case_id, sed = %c.header.sed, "SED accepted");
        }
        Outcome::Refused(r) => {
            let case_id = m
                .headers
                .get("eessi-case-id")
                .and_then(|c| CaseId::parse(c).ok());
            let a = error_answer(sw, message_id, from, m, &r)?;
            store_answer(&mut *tx, message_id, body_sha, &a, None)?;
            // A refusal in a case we hold is visible in that case's history.
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
        }
    }
    Ok(())
}

enum Refused {
    Refusal(Refusal),
    /// The case or the related document is not known yet: park it until it is.
    Park(Predecessor),
    Store(StoreError),
}

/// What a parked message waits for besides its case: a document, or one version of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Predecessor {
    document: Option<DocumentId>,
    version: Option<u32>,
}

enum Outcome {
    Applied(CheckedSed, bool),
    Parked(CheckedSed, Predecessor),
    Refused(Refusal),
}

/// Parking is bounded per case and per foreign access point (`[limits]`): beyond
/// either cap, a message that would be parked is refused with UNKNOWN_CASE at once.
fn parking_cap(
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
    Metrics::inc(&sw.metrics.parked_refused_cap);
    tracing::warn!(case_id = %c.header.case_id, access_point = %country, per_case = n.per_case, per_access_point = n.per_access_point, bytes = n.per_access_point_bytes, "parking cap reached: refusing with UNKNOWN_CASE");
    Ok(Some(refuse(
        ErrorCode::UnknownCase,
        "the case or the document it refers to is not known, and no more messages can wait for it",
    )))
}

/// Apply what was parked for `case_id` now that it has moved on, in arrival order,
/// until nothing more applies. A parked message that is now refused gets its error
/// (the latest answer to its message id).
fn retry_parked(sw: &Switch, tx: &mut dyn Tx, case_id: &CaseId) -> Result<(), StoreError> {
    loop {
        let mut progress = false;
        // Only those whose predecessor has committed: the others would park again.
        for p in tx.parked_ready_for_case(case_id)? {
            let mut wm: WireMessage = serde_json::from_str(&p.properties)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            wm.body = p.body.clone();
            let refusal = match check(sw, &wm) {
                Err(r) => Some(r),
                Ok(c) => match apply(sw, tx, &p.message_id, &wm, &c) {
                    Ok(_) => None,
                    Err(Refused::Park(wait)) => {
                        // It now waits for something else: record what, so that it
                        // is not tried again before that commits.
                        tx.parked_delete(&p.message_id)?;
                        tx.parked_put(&crate::store::ParkedMessage {
                            waits_document: wait.document,
                            waits_version: wait.version,
                            ..p
                        })?;
                        continue;
                    }
                    Err(Refused::Store(e)) => return Err(e),
                    Err(Refused::Refusal(r)) => Some(r),
                },
            };
            tx.parked_delete(&p.message_id)?;
            progress = true;
            match refusal {
                None => tx.history_append(
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
                )?,
                Some(r) => refuse_parked(sw, tx, &p.message_id, &wm, &r)?,
            }
        }
        if !progress {
            return Ok(());
        }
    }
}

/// Answer a parked message with an error after all (it becomes the latest answer).
fn refuse_parked(
    sw: &Switch,
    tx: &mut dyn Tx,
    message_id: &str,
    wm: &WireMessage,
    r: &Refusal,
) -> Result<(), StoreError> {
    let Some(from) = wm
        .headers
        .get("eessi-from")
        .and_then(|f| InstitutionId::parse(f).ok())
    else {
        return Ok(());
    };
    let a = error_answer(sw, message_id, &from, wm, r)?;
    // Compare-and-set on the stored receipt: refused once, whoever gets there first.
    if tx.inbox_refuse_parked(&inbox_entry(message_id, &sha256_hex(&wm.body), &a, None))? {
        enqueue_answer(tx, &a, None)?;
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
    // the predecessor's own transaction looked for parked successors: this pass
    // closes that window within a second.
    // Only cases with a parked message whose predecessor has committed, by id: no
    // body is read and nothing is verified again until it can apply.
    for case_id in sw.store.parked_ready_cases(1024)? {
        let mut tx = sw.store.begin()?;
        if tx.case_lock(&case_id)?.is_some() {
            retry_parked(sw, &mut *tx, &case_id)?;
        }
        tx.commit()?;
    }
    let expired = sw.store.parked_expired(now_ms, 256)?;
    for p in &expired {
        let mut tx = sw.store.begin()?;
        // Another instance, or the predecessor, may have taken it meanwhile.
        if !tx
            .parked_for_case(&p.case_id)?
            .iter()
            .any(|q| q.message_id == p.message_id)
        {
            continue;
        }
        let mut wm: WireMessage =
            serde_json::from_str(&p.properties).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        wm.body = p.body.clone();
        tx.parked_delete(&p.message_id)?;
        refuse_parked(
            sw,
            &mut *tx,
            &p.message_id,
            &wm,
            &refuse(
                ErrorCode::UnknownCase,
                "the case or the document it refers to never arrived",
            ),
        )?;
        tx.commit()?;
    }
    Ok(expired.len())
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}
impl From<Refusal> for Refused {
    fn from(r: Refusal) -> Self {
        Refused::Refusal(r)
    }
}

/// Load what `step` needs to know about a case.
/// What `step` needs of a case, for a SED between `a` and `b`: the state is that of
/// the counterparty's conversation (multilateral cases have one per counterparty),
/// or the case's own when that counterparty has none yet or the case is closed.
pub fn case_view(
    tx: &mut dyn Tx,
    case: &CaseRecord,
    a: &InstitutionId,
    b: &InstitutionId,
) -> Result<CaseView, StoreError> {
    let participants: Vec<(InstitutionId, crate::ids::Role)> = tx
        .participants(&case.case_id)?
        .into_iter()
        .map(|p| (p.institution, p.role))
        .collect();
    let owner_is_a = participants
        .iter()
        .any(|(i, r)| i == a && *r == crate::ids::Role::CaseOwner);
    let counterparty = if owner_is_a { b } else { a };
    let conversation = tx
        .conversations(&case.case_id)?
        .into_iter()
        .find(|c| &c.counterparty == counterparty);
    let (state, previous_state) = match conversation {
        Some(c) if case.state != crate::buc::definition::CLOSED => (
            c.state,
            c.previous_state.or_else(|| case.previous_state.clone()),
        ),
        _ => (case.state.clone(), case.previous_state.clone()),
    };
    let documents = tx
        .documents(&case.case_id)?
        .into_iter()
        .map(|d| DocView {
            cancelled: d.status == DocumentStatus::Cancelled,
            id: d.document_id,
            sed: d.sed,
            sender: d.sender,
            receiver: d.receiver,
            latest_version: d.latest_version,
        })
        .collect();
    Ok(CaseView {
        state,
        previous_state,
        participants,
        documents,
    })
}

/// Checks 9 and 10, then the effect. Returns whether anything was applied
/// (false: the same document version was already applied under another message id).
fn apply(
    sw: &Switch,
    tx: &mut dyn Tx,
    message_id: &str,
    m: &WireMessage,
    c: &CheckedSed,
) -> Result<bool, Refused> {
    let h = &c.header;
    // 9. The same document version again: same content, no second effect; other content, CONFLICT.
    if let Some(v) = tx.version_get(&h.document_id, h.document_version)? {
        let same_sender = tx
            .document_get(&h.document_id)?
            .is_some_and(|d| d.sender == h.sender);
        if same_sender && v.content_sha256 == c.content_sha256 {
            return Ok(false);
        }
        return Err(refuse(
            ErrorCode::Conflict,
            format!(
                "document {} version {} was already received with other content",
                h.document_id, h.document_version
            ),
        )
        .into());
    }
    if let Some(d) = tx.document_get(&h.document_id)?
        && d.case_id != h.case_id
    {
        return Err(refuse(
            ErrorCode::Conflict,
            format!("document {} belongs to another case", h.document_id),
        )
        .into());
    }
    // 10. The BUC's state machine.
    let def = sw.catalogue.get(&h.buc).ok_or_else(|| {
        refuse(
            ErrorCode::Unsupported,
            format!("unknown BUC type {}", h.buc),
        )
    })?;
    let case = tx.case_lock(&h.case_id)?;
    if let Some(case) = &case {
        if case.buc != h.buc {
            return Err(refuse(
                ErrorCode::ProtocolViolation,
                format!("the case is a {} case, not {}", case.buc, h.buc),
            )
            .into());
        }
        if case.sed_version != h.version {
            return Err(refuse(
                ErrorCode::ProtocolViolation,
                format!("the case uses data-model version {}", case.sed_version),
            )
            .into());
        }
    }
    let view = match &case {
        Some(c) => Some(case_view(tx, c, &h.sender, &h.receiver)?),
        None => None,
    };
    let event = SedEvent {
        action: h.action,
        sed: h.sed.clone(),
        document_id: h.document_id.clone(),
        version: h.document_version,
        sender: h.sender.clone(),
        sender_role: h.sender_role,
        receiver: h.receiver.clone(),
        receiver_role: h.receiver_role,
        related: h.related.clone(),
    };
    let decision = step(def, view.as_ref(), &event).map_err(|e| match e {
        StepError::ProtocolViolation(why) => {
            Refused::Refusal(refuse(ErrorCode::ProtocolViolation, why))
        }
        // The case, or the document this one answers or updates, may still be in
        // flight behind it: park.
        StepError::UnknownCase => Refused::Park(Predecessor::default()),
        StepError::UnknownDocument(d) => Refused::Park(Predecessor {
            document: Some(d),
            version: None,
        }),
        StepError::VersionGap { got, .. } => Refused::Park(Predecessor {
            document: Some(h.document_id.clone()),
            version: Some(got.saturating_sub(1)),
        }),
    })?;
    let subject = match &c.subject {
        Some(text) => Some(InstitutionId::parse(text).map_err(|e| {
            refuse(
                ErrorCode::ProtocolViolation,
                format!("the SED names no valid institution: {e}"),
            )
        })?),
        None if decision
            .effect
            .is_some_and(crate::buc::Effect::needs_subject) =>
        {
            return Err(refuse(
                ErrorCode::ProtocolViolation,
                "the SED does not name the institution its effect needs",
            )
            .into());
        }
        None => None,
    };
    super::record::record(
        tx,
        &super::record::Transition {
            header: h,
            decision: &decision,
            case: case.as_ref(),
            direction: super::record::Direction::In,
            message_id,
            content_sha256: c.content_sha256.clone(),
            envelope: m.body.clone(),
            subject,
        },
    )?;
    // Deliver to the Belgian institution's national queue, in the same transaction.
    let mut headers: BTreeMap<String, String> = m.headers.clone();
    headers.insert("eessi-message-id".into(), message_id.to_owned());
    let mut out = OutboxMessage::new(
        OutboxKind::National,
        NATIONAL_EXCHANGE,
        h.receiver.as_str(),
        MessageId::random().to_string(),
        headers,
        m.body.clone(),
    );
    out.case_id = Some(h.case_id.clone());
    out.document_id = Some(h.document_id.clone());
    tx.outbox_enqueue(&out)?;
    Ok(true)
}

fn read_signal(sw: &Switch, m: &WireMessage) -> Result<Signal, String> {
    let from = m.headers.get("eessi-from").ok_or("no eessi-from")?;
    let country = Country::parse(from).map_err(|e| e.to_string())?;
    let certs = sw
        .registry
        .access_points
        .get(&country)
        .ok_or("unknown access point")?;
    let doc = xml::parse(&m.body, &sw.limits).map_err(|e| e.to_string())?;
    dsig::verify(&doc, certs).map_err(|e| e.to_string())?;
    let s = signal::read(&doc)?;
    let expected = if matches!(s, Signal::Receipt { .. }) {
        "receipt"
    } else {
        "error"
    };
    if m.kind.as_deref() != Some(expected) {
        return Err(format!(
            "type {:?} does not match the {expected} it carries",
            m.kind
        ));
    }
    if m.headers.get("eessi-ref-to-message-id").map(String::as_str) != Some(s.ref_to()) {
        return Err("eessi-ref-to-message-id differs from RefToMessageId".into());
    }
    Ok(s)
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
        super::relay::enqueue_notice(
            &mut *tx,
            &out,
            OutboxStatus::Rejected,
            &format!("the SED was rejected by the receiving access point: {detail}"),
        )?;
    }
    Ok(())
}
