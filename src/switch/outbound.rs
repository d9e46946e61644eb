//! Outbound: a Belgian institution sends a SED. The body is parsed strictly and
//! validated against its schema, the case is stepped through its BUC, the envelope
//! is rendered and signed with the institution's key, and the case change, the
//! document and the outbox message commit together. Nothing is published here: the
//! relay publishes what was committed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::inbound::case_view;
use super::{Metrics, Switch, sha256_hex};
use crate::buc::{SedEvent, StepError, step};
use crate::ids::{
    BucType, CaseAction, CaseId, DocumentId, InstitutionId, MessageId, Role, SedType, SedVersion,
};
use crate::sed::envelope::{self, Header};
use crate::sed::validate::{self, ValidateError};
use crate::sed::xml::{self, C14nScope};
use crate::signing::dsig;
use crate::store::{OutboxKind, OutboxMessage, StoreError};
use crate::transport::AP_EXCHANGE;

/// A SED a national institution wants to send.
#[derive(Debug, Clone)]
pub struct Submission {
    pub from: InstitutionId,
    pub to: InstitutionId,
    pub buc: BucType,
    pub sed: SedType,
    /// Defaults to the case's version, or the newest supported one for a new case.
    pub version: Option<SedVersion>,
    /// None starts a new case.
    pub case_id: Option<CaseId>,
    /// Some: a new version of this (already sent) document.
    pub document_id: Option<DocumentId>,
    pub related: Option<DocumentId>,
    /// The SED element as an XML document.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    pub case_id: CaseId,
    pub document_id: DocumentId,
    pub document_version: u32,
    pub message_id: String,
}

/// One problem with the input, located (Belgif `issues[]`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Issue {
    /// `body`, `path` or `query`.
    #[serde(rename = "in")]
    pub location: String,
    /// The field or element concerned.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl Issue {
    pub fn body(name: impl Into<String>, detail: impl Into<String>, line: Option<u32>) -> Issue {
        Issue {
            location: "body".into(),
            name: name.into(),
            value: None,
            detail: detail.into(),
            line,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid input")]
    Invalid(Vec<Issue>),
    #[error("case {0} not found")]
    CaseNotFound(CaseId),
    #[error("document {0} not found in this case")]
    DocumentNotFound(DocumentId),
    #[error("the BUC does not allow this: {0}")]
    ProtocolViolation(String),
    /// The caller may not act for the sending institution.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A fault of this deployment, not of the input (a schema file missing or
    /// broken): the detail names server paths, so it is logged, never answered.
    #[error("configuration fault: {0}")]
    Configuration(String),
    /// The submission queue is full (`limits.submissions_queued_max`): try again.
    #[error("too many submissions are waiting; try again shortly")]
    Overloaded,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(name: &str, detail: impl Into<String>) -> SubmitError {
    SubmitError::Invalid(vec![Issue::body(name, detail, None)])
}

/// Parse, validate and canonicalise a SED body; every problem is reported.
pub fn prepare_body(
    sw: &Switch,
    body: &[u8],
    buc: &BucType,
    sed: &SedType,
    version: &SedVersion,
) -> Result<(Vec<u8>, String, Option<String>), SubmitError> {
    let doc = xml::parse(body, &sw.limits).map_err(|e| {
        let line = match &e {
            xml::XmlError::NotWellFormed { line, .. } => *line,
            _ => None,
        };
        SubmitError::Invalid(vec![Issue::body("body", e.to_string(), line)])
    })?;
    let root = doc
        .get_root_readonly()
        .ok_or_else(|| invalid("body", "no root element"))?;
    if root.get_name() != sed.as_str() || xml::ns(root) != version.namespace() {
        return Err(invalid(
            "body",
            format!(
                "the root element must be {} in namespace {} (found {} in {:?})",
                sed,
                version.namespace(),
                root.get_name(),
                xml::ns(root)
            ),
        ));
    }
    let schema = validate::sed_schema_path(&sw.schemas, version, sed);
    match validate::validate_document(&schema, &doc) {
        Ok(()) => {}
        Err(ValidateError::Invalid(vs)) => {
            return Err(SubmitError::Invalid(
                vs.into_iter()
                    .map(|v| {
                        Issue::body(
                            v.element.unwrap_or_else(|| "body".into()),
                            v.message,
                            v.line,
                        )
                    })
                    .collect(),
            ));
        }
        Err(e) => return Err(SubmitError::Configuration(e.to_string())),
    }
    let canonical =
        xml::c14n(&doc, C14nScope::Subtree(root)).map_err(|e| invalid("body", e.to_string()))?;
    let hash = sha256_hex(&canonical);
    let subject = sw
        .subject_path(buc, sed)
        .and_then(|p| super::record::subject_at(root, p));
    Ok((canonical, hash, subject))
}

/// Accept a SED from a national institution (blocking).
pub fn submit(sw: &Switch, s: Submission) -> Result<Submitted, SubmitError> {
    let mut issues = Vec::new();
    if !sw.is_served(&s.from) {
        issues.push(Issue::body(
            "from",
            format!(
                "{} is not an institution of access point {}",
                s.from, sw.country
            ),
            None,
        ));
    } else if !sw.signers.contains_key(&s.from) {
        issues.push(Issue::body(
            "from",
            format!("this access point holds no signing key for {}", s.from),
            None,
        ));
    }
    if sw.registry.institution(&s.to).is_none() {
        issues.push(Issue::body(
            "to",
            format!("{} is not in the institution registry", s.to),
            None,
        ));
    } else if s.to.country() == sw.country {
        issues.push(Issue::body(
            "to",
            "the receiver must be a foreign institution",
            None,
        ));
    }
    let def = sw.catalogue.get(&s.buc);
    if def.is_none() {
        issues.push(Issue::body(
            "buc",
            format!("unknown BUC type {}", s.buc),
            None,
        ));
    }
    if !sw.catalogue.seds.contains_key(&s.sed) {
        issues.push(Issue::body(
            "sed",
            format!("unknown SED type {}", s.sed),
            None,
        ));
    }
    if let Some(v) = &s.version
        && !sw.versions.contains(v)
    {
        issues.push(Issue::body(
            "sedVersion",
            format!("unsupported data-model version {v}"),
            None,
        ));
    }
    if !issues.is_empty() {
        return Err(SubmitError::Invalid(issues));
    }
    let def = def.ok_or_else(|| invalid("buc", "unknown BUC"))?;
    // Parse, validate and canonicalise outside the write lock, with the version the
    // case most likely uses (re-done inside in the rare case it is pinned to another).
    let guess = s.version.clone().unwrap_or_else(|| sw.versions[0].clone());
    let prepared = match prepare_body(sw, &s.body, &s.buc, &s.sed, &guess) {
        Ok(p) => Some((guess, p)),
        // With an explicit version (or one version only) the body is simply invalid.
        Err(e) if s.version.is_some() || sw.versions.len() == 1 => return Err(e),
        // The case may be pinned to another version: decided inside.
        Err(_) => None,
    };
    let _ = def;
    group_commit(sw, s, prepared)
}

/// A body parsed and validated for one version: (version, (canonical SED, its hash, subject)).
type Prepared = Option<(SedVersion, (Vec<u8>, String, Option<String>))>;

pub(crate) struct Job {
    s: Submission,
    prepared: Prepared,
    reply: std::sync::mpsc::Sender<Result<Submitted, SubmitError>>,
}

/// Group commit: concurrent submissions share one transaction (one fsync). The
/// first caller to find the committer free takes every queued job, runs each in
/// the shared transaction and commits once; the others wait for their answer.
/// A business refusal concerns its own job only (it writes nothing); a store error
/// rolls the batch back and every job in it gets the error (nothing was applied).
fn group_commit(sw: &Switch, s: Submission, prepared: Prepared) -> Result<Submitted, SubmitError> {
    let (reply, answer) = std::sync::mpsc::channel();
    {
        // A panic elsewhere never leaves this queue unusable (a Vec push/take).
        let mut q = sw.submissions.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= sw.bounds.submissions_queued_max as usize {
            Metrics::inc(&sw.metrics.submissions_refused);
            return Err(SubmitError::Overloaded);
        }
        q.push(Job { s, prepared, reply });
    }
    loop {
        match answer.try_recv() {
            Ok(r) => return r,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(lost_job()),
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        // A leader that panicked poisoned the lock; its batch was rolled back and its
        // waiters told, so the lock is taken over, never left unusable.
        let leader = match sw.committer.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(_leader) = leader {
            let jobs =
                std::mem::take(&mut *sw.submissions.lock().unwrap_or_else(|p| p.into_inner()));
            if !jobs.is_empty() {
                run_batch(sw, jobs);
            }
            continue;
        }
        match answer.recv_timeout(std::time::Duration::from_millis(2)) {
            Ok(r) => return r,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err(lost_job()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// The committer dropped this job without an answer: it panicked while running the
/// batch, whose transaction was rolled back by unwinding. Nothing was applied.
fn lost_job() -> SubmitError {
    SubmitError::Store(StoreError::Db(
        "the batch this submission was in failed; nothing was applied".into(),
    ))
}

fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Db(m) => StoreError::Db(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
    }
}

fn run_batch(sw: &Switch, jobs: Vec<Job>) {
    let fail_all = |jobs: Vec<Job>, e: &StoreError| {
        for j in jobs {
            let _ = j.reply.send(Err(SubmitError::Store(same_error(e))));
        }
    };
    let mut tx = match sw.store.begin() {
        Ok(tx) => tx,
        Err(e) => return fail_all(jobs, &e),
    };
    let mut results = Vec::with_capacity(jobs.len());
    for j in &jobs {
        match in_tx(sw, &mut *tx, &j.s, &j.prepared) {
            Err(SubmitError::Store(e)) => {
                drop(tx);
                return fail_all(jobs, &e);
            }
            r => results.push(r),
        }
    }
    if let Err(e) = tx.commit() {
        return fail_all(jobs, &e);
    }
    for (j, r) in jobs.into_iter().zip(results) {
        if r.is_ok() {
            Metrics::inc(&sw.metrics.outbound_submitted);
        }
        let _ = j.reply.send(r);
    }
    sw.relay_wake.notify_one();
}

/// One submission inside the batch's transaction.
fn in_tx(
    sw: &Switch,
    tx: &mut dyn crate::store::Tx,
    s: &Submission,
    prepared: &Prepared,
) -> Result<Submitted, SubmitError> {
    #[cfg(feature = "fault-hooks")]
    if let Some(c) = &s.case_id {
        crate::faults::maybe_panic(c.as_str());
    }
    let def = sw
        .catalogue
        .get(&s.buc)
        .ok_or_else(|| invalid("buc", "unknown BUC"))?;

    // The case owner chooses the case id: a starter with a case id this switch has
    // never seen starts that case (so a client can retry a Start idempotently).
    let starts_with_own_id = s.document_id.is_none() && def.starters().any(|t| t.sed == s.sed);
    let case = match &s.case_id {
        Some(id) => match tx.case_lock(id)? {
            Some(c) => Some(c),
            None if starts_with_own_id => None,
            None => return Err(SubmitError::CaseNotFound(id.clone())),
        },
        None => None,
    };
    if let Some(c) = &case
        && c.buc != s.buc
    {
        return Err(invalid(
            "buc",
            format!("case {} is a {} case", c.case_id, c.buc),
        ));
    }
    let version = match (&case, &s.version) {
        (Some(c), Some(v)) if &c.sed_version != v => {
            return Err(invalid(
                "sedVersion",
                format!("the case uses data-model version {}", c.sed_version),
            ));
        }
        (Some(c), _) => c.sed_version.clone(),
        (None, Some(v)) => v.clone(),
        (None, None) => sw.versions[0].clone(),
    };
    let (canonical_sed, content_sha256, subject_text) = match prepared {
        Some((v, p)) if *v == version => p.clone(),
        _ => prepare_body(sw, &s.body, &s.buc, &s.sed, &version)?,
    };
    let view = match &case {
        Some(c) => Some(case_view(tx, c, &s.from, &s.to)?),
        None => None,
    };
    let (action, document_id, document_version) = match (&view, &s.document_id) {
        (None, Some(_)) => return Err(invalid("documentId", "an update needs an existing case")),
        (None, None) => (CaseAction::Start, DocumentId::random(), 1),
        (Some(v), Some(d)) => {
            let doc = v
                .document(d)
                .ok_or_else(|| SubmitError::DocumentNotFound(d.clone()))?;
            (CaseAction::Update, d.clone(), doc.latest_version + 1)
        }
        // The starter to an institution with no document in the case yet opens its
        // conversation: for that counterparty it is the first document of the case.
        (Some(v), None)
            if def.starters().any(|t| t.sed == s.sed)
                && !v
                    .documents
                    .iter()
                    .any(|d| d.sender == s.to || d.receiver == s.to) =>
        {
            (CaseAction::Start, DocumentId::random(), 1)
        }
        (Some(_), None) => (CaseAction::New, DocumentId::random(), 1),
    };
    let from_role = match &view {
        None => Role::CaseOwner,
        Some(v) => v.role_of(&s.from).ok_or_else(|| {
            SubmitError::ProtocolViolation(format!("{} does not take part in this case", s.from))
        })?,
    };
    let to_role = view
        .as_ref()
        .and_then(|v| v.role_of(&s.to))
        .unwrap_or(from_role.other());
    for (who, role, field) in [(&s.from, from_role, "from"), (&s.to, to_role, "to")] {
        if !sw
            .registry
            .institution(who)
            .is_some_and(|i| i.handles(&s.buc, role))
        {
            return Err(invalid(
                field,
                format!("{who} does not handle {} as {role}", s.buc),
            ));
        }
    }
    let event = SedEvent {
        action,
        sed: s.sed.clone(),
        document_id: document_id.clone(),
        version: document_version,
        sender: s.from.clone(),
        sender_role: from_role,
        receiver: s.to.clone(),
        receiver_role: to_role,
        related: s.related.clone(),
    };
    let decision = step(def, view.as_ref(), &event).map_err(|e| match e {
        StepError::ProtocolViolation(why) => SubmitError::ProtocolViolation(why),
        StepError::UnknownCase => {
            SubmitError::CaseNotFound(s.case_id.clone().unwrap_or_else(CaseId::random))
        }
        StepError::UnknownDocument(d) => SubmitError::DocumentNotFound(d),
        StepError::VersionGap { expected, got } => SubmitError::ProtocolViolation(format!(
            "version {expected} must come before version {got}"
        )),
    })?;
    let case_id = s.case_id.clone().unwrap_or_else(CaseId::random);
    let header = Header {
        sender: s.from.clone(),
        sender_role: from_role,
        receiver: s.to.clone(),
        receiver_role: to_role,
        version: version.clone(),
        document_id: document_id.clone(),
        sed: s.sed.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        case_id: case_id.clone(),
        buc: s.buc.clone(),
        action,
        document_version,
        related: s.related.clone(),
    };
    let sed_text = String::from_utf8(canonical_sed).map_err(|_| invalid("body", "not UTF-8"))?;
    let unsigned = envelope::render_unsigned(&header, &sed_text);
    let signer = sw
        .signers
        .get(&s.from)
        .ok_or_else(|| invalid("from", "no signing key"))?;
    let signed =
        dsig::sign(unsigned.as_bytes(), signer).map_err(|e| invalid("body", e.to_string()))?;
    let message_id = MessageId::random().to_string();
    let subject = match (&subject_text, decision.effect) {
        (Some(text), _) => Some(
            InstitutionId::parse(text)
                .map_err(|e| invalid("body", format!("the SED names no valid institution: {e}")))?,
        ),
        (None, Some(e)) if e.needs_subject() => {
            return Err(invalid(
                "body",
                "the SED does not name the institution its effect needs",
            ));
        }
        _ => None,
    };
    super::record::record(
        tx,
        &super::record::Transition {
            header: &header,
            decision: &decision,
            case: case.as_ref(),
            direction: super::record::Direction::Out,
            message_id: &message_id,
            content_sha256,
            envelope: signed.clone(),
            subject,
        },
    )?;
    let mut headers = BTreeMap::new();
    for (k, v) in [
        ("eessi-from", s.from.to_string()),
        ("eessi-to", s.to.to_string()),
        ("eessi-case-id", case_id.to_string()),
        ("eessi-buc", s.buc.to_string()),
        ("eessi-sed", s.sed.to_string()),
        ("eessi-sed-version", version.to_string()),
        ("eessi-document-id", document_id.to_string()),
        ("eessi-document-version", document_version.to_string()),
        ("eessi-case-action", action.to_string()),
    ] {
        headers.insert(k.to_owned(), v);
    }
    let mut out = OutboxMessage::new(
        OutboxKind::Sed,
        AP_EXCHANGE,
        s.to.country().as_str(),
        message_id.clone(),
        headers,
        signed,
    );
    out.case_id = Some(case_id.clone());
    out.document_id = Some(document_id.clone());
    tx.outbox_enqueue(&out)?;
    Ok(Submitted {
        case_id,
        document_id,
        document_version,
        message_id,
    })
}
