//! Outbound: a Belgian institution sends a SED.
//!
//! 1. *Plan*, on the caller's blocking thread and outside any transaction: the body
//!    is parsed strictly, validated against its schema and canonicalised; the case
//!    is read from a snapshot; `step` decides the action, document version and
//!    roles; the envelope is rendered and signed with the institution's key.
//! 2. *Commit*, in the one committer (`Committer`): the planned SED goes through
//!    the shared apply path (`switch::apply`) with `Expect::Planned`, so it applies
//!    only if the case is still exactly as planned; the case change, the document
//!    and the outbox message commit together, in a transaction shared with the
//!    other submissions waiting (group commit: one fsync for all).
//! 3. If the case moved between the two, the submission is planned and signed again
//!    (at most `PLAN_ATTEMPTS` times). No XML and no RSA work ever runs inside the
//!    transaction. Nothing is published here: the relay publishes what committed.

use serde::Serialize;

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use super::apply::{self, Expect, Refused, SedToApply, view_of};
use super::{Metrics, Switch, sha256_hex};
use crate::buc::{CaseView, StepError, step};
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
    /// The data-model version. None: the case's version, or for a new case the
    /// version whose namespace the body's root element is in (one this switch
    /// speaks). A version the receiver's access point does not accept (registry)
    /// is refused before anything is signed.
    pub version: Option<SedVersion>,
    /// None starts a new case.
    pub case_id: Option<CaseId>,
    /// Some: a new version of this (already sent) document.
    pub document_id: Option<DocumentId>,
    pub related: Option<DocumentId>,
    /// The SED element as an XML document.
    pub body: Vec<u8>,
    /// The institution's own reference of the national message this came in
    /// (`Submission::national`): idempotent like an `Idempotency-Key`, in a scope
    /// of its own, with its own refusal (`ReferenceReused`).
    pub reference: Option<IdempotencyKey>,
}

impl Submission {
    /// A translated national message as a submission, whichever route it came
    /// by: its reply (`answers` → `related`) and update (`updates` →
    /// `document_id`) facts as a SED submission names them, so the BUC rules
    /// are the same; its reference, if any, scoped to the sending institution
    /// and the adapter, with the digest of the national message (`national`,
    /// the bytes as received).
    pub fn national(adapter: &str, t: crate::adapt::Translated, national: &[u8]) -> Submission {
        let reference = t.reference.map(|r| IdempotencyKey {
            scope: format!("{REFERENCE_SCOPE}{}:{adapter}", t.from),
            key: r,
            request_sha256: sha256_hex(national),
        });
        Submission {
            from: t.from,
            to: t.to,
            buc: t.buc,
            sed: t.sed,
            version: None,
            case_id: t.case_id,
            document_id: t.updates,
            related: t.answers,
            body: t.sed_xml.into_bytes(),
            reference,
        }
    }

    /// A starter SED under a case id the client chose: a Start whose retry is
    /// recognised by its case id alone.
    fn starts_own_case(&self, def: &crate::buc::BucDef) -> bool {
        self.case_id.is_some()
            && self.document_id.is_none()
            && def.starters().any(|t| t.sed == self.sed)
    }
}

/// The data-model version a national message for `case_id` to `to` is translated
/// into: the case's when it exists (a case keeps its version), else the first
/// version this switch speaks that the receiver's access point accepts (else the
/// first it speaks, which the plan then refuses with the reason). With one version
/// spoken there is nothing to choose and nothing is read.
pub fn national_version(
    sw: &Switch,
    case_id: Option<&CaseId>,
    to: &InstitutionId,
) -> Result<SedVersion, SubmitError> {
    if sw.versions.len() > 1
        && let Some(id) = case_id
        && let Some(c) = sw.store.case_record(id)?
    {
        return Ok(c.sed_version);
    }
    Ok(sw
        .versions_accepted_by(&to.country())
        .into_iter()
        .next()
        .unwrap_or_else(|| sw.versions[0].clone()))
}

/// The scope of national references in the idempotency table:
/// `national-ref:<institution>:<adapter>`.
pub const REFERENCE_SCOPE: &str = "national-ref:";
/// The scope of the Starts made under a client's case id, keyed by the case id
/// and the receiver (`start_key`; a multilateral owner starts one conversation per
/// counterparty): the digest of the request that made it (`start_sha256`).
pub const CASE_START_SCOPE: &str = "case-start";

/// The key of a Start under the client's case id `case_id` to `to`.
pub fn start_key(case_id: &CaseId, to: &InstitutionId) -> String {
    format!("{case_id} {to}")
}

/// Whether `scope` is one of the switch's own (references, Starts): header keys
/// are scoped by the caller's token subject, which must not be one of them.
pub fn reserved_scope(scope: &str) -> bool {
    scope.starts_with(REFERENCE_SCOPE) || scope == CASE_START_SCOPE
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    #[schema(value_type = String)]
    pub case_id: CaseId,
    #[schema(value_type = String)]
    pub document_id: DocumentId,
    pub document_version: u32,
    pub message_id: String,
    /// The answer of an earlier request with the same idempotency key, not a new
    /// submission (`Idempotent-Replayed` on the HTTP answer).
    #[serde(skip)]
    pub replayed: bool,
}

impl Submitted {
    fn replay_of(r: &crate::store::IdempotencyRecord) -> Submitted {
        Submitted {
            case_id: r.case_id.clone(),
            document_id: r.document_id.clone(),
            document_version: r.document_version,
            message_id: r.message_id.clone(),
            replayed: true,
        }
    }
}

/// An `Idempotency-Key` with a submission: whose key it is, the key, and the digest
/// of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub request_sha256: String,
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
    /// The document, and the request's field that named it (`documentId` for an
    /// update, `relatedDocumentId` for what it answers).
    #[error("document {0} not found in this case")]
    DocumentNotFound(DocumentId, &'static str),
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
    /// The idempotency key was used before with another request.
    #[error("the idempotency key was used with another request")]
    KeyReused,
    /// The institution's reference was used before with another national message.
    #[error("the reference was used with another message")]
    ReferenceReused,
    /// A Start under a case id that exists and that another request started:
    /// the id is taken (not a retry of the Start). The BUC's reason follows.
    #[error("case {0} already exists: {1}")]
    CaseExists(CaseId, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(name: &str, detail: impl Into<String>) -> SubmitError {
    SubmitError::Invalid(vec![Issue::body(name, detail, None)])
}

/// Parse, validate and canonicalise a SED body of `version` (None: the version
/// this switch speaks whose namespace the root element is in); every problem is
/// reported.
pub(crate) fn prepare_body(
    sw: &Switch,
    body: &[u8],
    buc: &BucType,
    sed: &SedType,
    version: Option<&SedVersion>,
) -> Result<Body, SubmitError> {
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
    let found = xml::ns(root);
    let version = match version {
        Some(v) => v.clone(),
        None => sw
            .versions
            .iter()
            .find(|v| v.namespace() == found)
            .cloned()
            .ok_or_else(|| {
                invalid(
                    "body",
                    format!(
                        "the root element must be {sed} in the namespace of a data-model version this access point speaks ({}; found {} in {found:?})",
                        sw.versions
                            .iter()
                            .map(|v| format!("{v}: {}", v.namespace()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        root.get_name(),
                    ),
                )
            })?,
    };
    if root.get_name() != sed.as_str() || found != version.namespace() {
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
    let schema = validate::sed_schema_path(&sw.schemas, &version, sed);
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
    let content_sha256 = sha256_hex(&canonical);
    let subject = sw
        .subject_path(buc, sed)
        .and_then(|p| super::record::subject_at(root, p));
    let children = sw
        .children_path(sed)
        .map(|p| super::record::count_at(root, p));
    Ok(Body {
        version,
        canonical,
        content_sha256,
        subject,
        children,
        persons: crate::sed::person::persons(root),
    })
}

/// How many times a submission is planned and signed again when its case moved
/// between planning and commit, before it is answered as a conflict.
pub(crate) const PLAN_ATTEMPTS: usize = 4;
/// At most this many submissions share one group-commit transaction.
pub(crate) const COMMIT_BATCH_MAX: usize = 64;

/// The body of a submission, parsed, validated and canonicalised for one version.
pub(crate) struct Body {
    version: SedVersion,
    canonical: Vec<u8>,
    content_sha256: String,
    subject: Option<String>,
    children: Option<u32>,
    /// The persons it names, for the case's person index (personal data).
    persons: Vec<crate::store::PersonKey>,
}

/// Accept a SED from a national institution (blocking: call it from a blocking
/// thread; it waits for the committer without spinning).
pub fn submit(sw: &Arc<Switch>, s: Submission) -> Result<Submitted, SubmitError> {
    submit_audited(sw, s, None)
}

/// `submit`, with the audit entry of whoever asked for it: it commits in the same
/// transaction as the submission (both or neither, and no fsync of its own).
pub fn submit_audited(
    sw: &Arc<Switch>,
    s: Submission,
    audit: Option<crate::store::AuditEntry>,
) -> Result<Submitted, SubmitError> {
    submit_keyed(sw, s, audit, None)
}

/// `submit_audited` under an idempotency key: a request whose key names a committed
/// submission with the same request digest gets that submission's answer (ids
/// included), one with another digest `KeyReused`; otherwise the key commits with
/// the submission, in its transaction (a retry after an answer lost to a crash finds
/// it), and two requests racing with one key make one submission.
pub fn submit_keyed(
    sw: &Arc<Switch>,
    s: Submission,
    audit: Option<crate::store::AuditEntry>,
    key: Option<IdempotencyKey>,
) -> Result<Submitted, SubmitError> {
    submit_inner(sw, s, audit, key, None)
}

/// The SED a durable timer sends (`switch::timers`): a submission like any other
/// (the same checks, `step`, signature and group commit), which also settles the
/// timer `firing` → `fired` in its transaction. If the timer was settled meanwhile
/// (another instance fired it), nothing is applied and the answer is a
/// `ProtocolViolation` saying so.
pub fn submit_for_timer(
    sw: &Arc<Switch>,
    s: Submission,
    audit: crate::store::AuditEntry,
    timer: &crate::store::Timer,
) -> Result<Submitted, SubmitError> {
    submit_inner(
        sw,
        s,
        Some(audit),
        None,
        Some(TimerRef {
            id: timer.id,
            what: timer.what,
            subject: timer.subject.clone(),
            due_ms: timer.due_ms,
        }),
    )
}

/// The timer a submission settles.
#[derive(Debug, Clone)]
pub(crate) struct TimerRef {
    id: i64,
    what: crate::store::TimerKind,
    subject: String,
    due_ms: i64,
}

fn submit_inner(
    sw: &Arc<Switch>,
    s: Submission,
    audit: Option<crate::store::AuditEntry>,
    key: Option<IdempotencyKey>,
    timer: Option<TimerRef>,
) -> Result<Submitted, SubmitError> {
    // Either key names a committed submission: its answer (header key first).
    if let Some(answer) = keyed_answer(sw, &key, &s)? {
        return answer;
    }
    check_submission(sw, &s)?;
    // Parse, validate and canonicalise once, as the version named or the one the
    // body's namespace says; the plan holds it against the case's version and what
    // the receiver's access point accepts.
    let mut body = Some(prepare_body(
        sw,
        &s.body,
        &s.buc,
        &s.sed,
        s.version.as_ref(),
    )?);
    // A retried Start: the case exists, started by this very request.
    if let Some(done) = started_by(sw, &s, body.as_ref())? {
        return Ok(done);
    }
    for _ in 0..PLAN_ATTEMPTS {
        let mut planned = match plan(sw, &s, &mut body) {
            Ok(p) => p,
            // The same request may have committed since the checks above (a
            // concurrent retry, another instance): its case or document then
            // refuses this plan, and its answer is this one's too.
            Err(refusal) => {
                if let Some(answer) = keyed_answer(sw, &key, &s)? {
                    return answer;
                }
                if let Some(done) = started_by(sw, &s, body.as_ref())? {
                    return Ok(done);
                }
                return Err(refusal);
            }
        };
        planned.audit = audit.clone();
        planned.timer = timer.clone();
        if let Some(k) = &key {
            planned = planned.with_key(k);
        }
        if let Some(r) = &s.reference {
            planned = planned.with_claim(Claim::Reference, r);
        }
        match commit(sw, planned)? {
            Committed::Done(done) => return Ok(done),
            Committed::Moved => Metrics::inc(&sw.metrics.submissions_replanned),
        }
    }
    Err(SubmitError::Store(StoreError::Conflict(
        "the case kept changing while this submission was prepared; try again".into(),
    )))
}

/// The answer a committed submission under the request's header key or national
/// reference gives it (its ids again, or the key's refusal), if one did.
fn keyed_answer(
    sw: &Switch,
    key: &Option<IdempotencyKey>,
    s: &Submission,
) -> Result<Option<Result<Submitted, SubmitError>>, SubmitError> {
    for (k, kind) in [(key, Claim::Key), (&s.reference, Claim::Reference)] {
        if let Some(k) = k
            && let Some(r) = sw.store.idempotency_get(&k.scope, &k.key)?
        {
            return Ok(Some(kind.replay(&k.request_sha256, &r)));
        }
    }
    Ok(None)
}

/// The answer of the Start under the client's case id that this very request
/// (same parties, SED and canonical body) committed, if it did.
fn started_by(
    sw: &Switch,
    s: &Submission,
    body: Option<&Body>,
) -> Result<Option<Submitted>, SubmitError> {
    let (Some(case_id), Some(b)) = (&s.case_id, body) else {
        return Ok(None);
    };
    if !sw
        .catalogue
        .get(&s.buc)
        .is_some_and(|d| s.starts_own_case(d))
    {
        return Ok(None);
    }
    Ok(sw
        .store
        .idempotency_get(CASE_START_SCOPE, &start_key(case_id, &s.to))?
        .filter(|r| r.request_sha256 == start_sha256(s, &b.content_sha256))
        .map(|r| Submitted::replay_of(&r)))
}

/// The digest a Start under the client's case id is known by: who sent which SED
/// of which BUC to whom, and the canonical body's digest.
fn start_sha256(s: &Submission, content_sha256: &str) -> String {
    sha256_hex(
        format!(
            "{}\n{}\n{}\n{}\n{content_sha256}",
            s.from, s.to, s.buc, s.sed
        )
        .as_bytes(),
    )
}

/// What an idempotency row a submission claims stands for, and so what a row
/// taken by another request answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Claim {
    /// The caller's `Idempotency-Key` (another request: 422).
    Key,
    /// The institution's own reference in its national message (another message: 409).
    Reference,
    /// The Start under a client's case id (another request: the case id is taken).
    CaseStart,
}

impl Claim {
    /// The answer to a request (its digest `request_sha256`) whose row `r` another
    /// request committed: that request's answer when it was the same request.
    fn replay(
        self,
        request_sha256: &str,
        r: &crate::store::IdempotencyRecord,
    ) -> Result<Submitted, SubmitError> {
        if r.request_sha256 == request_sha256 {
            return Ok(Submitted::replay_of(r));
        }
        Err(match self {
            Claim::Key => SubmitError::KeyReused,
            Claim::Reference => SubmitError::ReferenceReused,
            Claim::CaseStart => {
                SubmitError::CaseExists(r.case_id.clone(), "another request started it".into())
            }
        })
    }
}

/// What the caller may submit at all, before any parsing: every problem reported.
fn check_submission(sw: &Switch, s: &Submission) -> Result<(), SubmitError> {
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
    if sw.catalogue.get(&s.buc).is_none() {
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
    if issues.is_empty() {
        Ok(())
    } else {
        Err(SubmitError::Invalid(issues))
    }
}

/// A submission decided and signed outside the transaction, waiting to commit.
pub(crate) struct Planned {
    header: Header,
    /// The case as the decision saw it (None: a new case); the commit checks it.
    view: Option<CaseView>,
    message_id: String,
    content_sha256: String,
    subject: Option<String>,
    children: Option<u32>,
    persons: Vec<crate::store::PersonKey>,
    envelope: Vec<u8>,
    /// Who asked for it, audited in the same transaction (the target gets the
    /// case and document ids there).
    audit: Option<crate::store::AuditEntry>,
    /// The idempotency rows it commits with (header key, reference, the Start
    /// of a client's case id), each naming this plan's ids; claimed in this
    /// order, the first taken one answers.
    claims: Vec<(Claim, crate::store::IdempotencyRecord)>,
    /// A Start under the client's case id of a case that exists, not from one of
    /// its counterparties: a refusal by the BUC means the case id is taken
    /// (`CaseExists`).
    own_case_taken: bool,
    /// The durable timer this submission settles (`submit_for_timer`).
    timer: Option<TimerRef>,
    /// A case id the client chose, for the fault hooks.
    #[cfg_attr(not(feature = "fault-hooks"), allow(dead_code))]
    client_case_id: Option<CaseId>,
}

impl Planned {
    /// Commit under this idempotency key, which then names this plan's ids.
    pub(crate) fn with_key(self, k: &IdempotencyKey) -> Planned {
        self.with_claim(Claim::Key, k)
    }

    /// Commit claiming this row, which then names this plan's ids.
    pub(crate) fn with_claim(mut self, claim: Claim, k: &IdempotencyKey) -> Planned {
        let record = crate::store::IdempotencyRecord {
            scope: k.scope.clone(),
            key: k.key.clone(),
            request_sha256: k.request_sha256.clone(),
            case_id: self.header.case_id.clone(),
            document_id: self.header.document_id.clone(),
            document_version: self.header.document_version,
            message_id: self.message_id.clone(),
            created_at: crate::store::now_rfc3339(),
        };
        self.claims.push((claim, record));
        // Header key, reference, then the Start: the first taken one answers.
        self.claims.sort_by_key(|(c, _)| *c);
        self
    }

    /// The ids the fault hooks know a submission by: the client's case id and
    /// its institution's reference.
    #[cfg(feature = "fault-hooks")]
    fn fault_ids(&self) -> impl Iterator<Item = &str> {
        self.client_case_id.iter().map(CaseId::as_str).chain(
            self.claims
                .iter()
                .filter(|(c, _)| *c == Claim::Reference)
                .map(|(_, r)| r.key.as_str()),
        )
    }
}

/// Decide and sign a submission from a snapshot of its case (no transaction).
pub(crate) fn plan(
    sw: &Switch,
    s: &Submission,
    body: &mut Option<Body>,
) -> Result<Planned, SubmitError> {
    let _timer = crate::telemetry::stage(crate::telemetry::Stage::OutboundPlan).start();
    let def = sw
        .catalogue
        .get(&s.buc)
        .ok_or_else(|| invalid("buc", "unknown BUC"))?;
    // The case owner chooses the case id: a starter with a case id this switch has
    // never seen starts that case (so a client can retry a Start idempotently).
    let starts_with_own_id = s.starts_own_case(def);
    let snapshot = match &s.case_id {
        Some(id) => match sw.store.case_detail(id)? {
            Some(d) => Some(d),
            None if starts_with_own_id => None,
            None => return Err(SubmitError::CaseNotFound(id.clone())),
        },
        None => None,
    };
    if let Some(d) = &snapshot
        && d.case.buc != s.buc
    {
        return Err(invalid(
            "buc",
            format!("case {} is a {} case", d.case.case_id, d.case.buc),
        ));
    }
    // A case keeps the data-model version it started with. NAV rewrites an outgoing
    // SED's sedGVer/sedVer to its case's [M-BUC SedVersjonSjekker]; this switch
    // refuses it instead: the body was built and validated against the other
    // version's schema, and a rewritten namespace would sign what nobody checked.
    let pinned = match (&snapshot, &s.version) {
        (Some(d), Some(v)) if &d.case.sed_version != v => {
            return Err(invalid(
                "sedVersion",
                format!(
                    "the case uses data-model version {}, not {v}",
                    d.case.sed_version
                ),
            ));
        }
        (Some(d), _) => Some(d.case.sed_version.clone()),
        (None, v) => v.clone(),
    };
    let body: &Body = match body {
        Some(b) if pinned.as_ref().is_none_or(|v| *v == b.version) => b,
        Some(b) => {
            return Err(invalid(
                "sedVersion",
                format!(
                    "the case uses data-model version {}; this SED is of version {}",
                    pinned.as_ref().map_or("?", |v| v.as_str()),
                    b.version
                ),
            ));
        }
        None => body.insert(prepare_body(sw, &s.body, &s.buc, &s.sed, pinned.as_ref())?),
    };
    let version = body.version.clone();
    // The receiver's access point must accept the version (registry): refused here,
    // before anything is signed or sent, as bad input the caller can act on.
    if !sw.versions_accepted_by(&s.to.country()).contains(&version) {
        let why = if sw.versions.contains(&version) {
            format!(
                "the access point of {} does not accept data-model version {version} (it accepts {})",
                s.to.country(),
                sw.accepted_versions_text(&s.to.country())
            )
        } else {
            // A case begun in a version this switch no longer speaks.
            format!("this access point no longer speaks data-model version {version}")
        };
        return Err(invalid("sedVersion", why));
    }
    let view = snapshot.as_ref().map(|d| {
        let documents: Vec<_> = d.documents.iter().map(|(doc, _)| doc.clone()).collect();
        view_of(
            &d.case,
            &d.participants,
            &d.conversations,
            &documents,
            &s.from,
            &s.to,
        )
    });
    let (action, document_id, document_version) = match (&view, &s.document_id) {
        (None, Some(_)) => return Err(invalid("documentId", "an update needs an existing case")),
        (None, None) => (CaseAction::Start, DocumentId::random(), 1),
        (Some(v), Some(d)) => {
            let doc = v
                .document(d)
                .ok_or_else(|| SubmitError::DocumentNotFound(d.clone(), "documentId"))?;
            (CaseAction::Update, d.clone(), doc.latest_version + 1)
        }
        // The starter to an institution with no document in the case yet opens its
        // conversation: for that counterparty it is the first document of the case.
        (Some(v), None) if def.starters().any(|t| t.sed == s.sed) && !v.converses_with(&s.to) => {
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
    let case_id = s.case_id.clone().unwrap_or_else(CaseId::random);
    let header = Header {
        sender: s.from.clone(),
        sender_role: from_role,
        receiver: s.to.clone(),
        receiver_role: to_role,
        version: version.clone(),
        document_id,
        sed: s.sed.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        case_id,
        buc: s.buc.clone(),
        action,
        document_version,
        related: s.related.clone(),
    };
    // The BUC's decision on the snapshot: a refusal is answered now, before any
    // signing; the commit runs `step` again on the case as it then is.
    // A starter under the client's case id of a case that exists, from its owner or
    // from an institution not in it: a refusal means the case id is taken. From a
    // counterparty of the case it is a SED the case does not admit from it.
    let own_case_taken = starts_with_own_id
        && view
            .as_ref()
            .is_some_and(|v| v.role_of(&s.from) != Some(Role::Counterparty));
    let subject = body
        .subject
        .as_deref()
        .map(InstitutionId::parse)
        .transpose()
        .map_err(|e| invalid("body", format!("the SED names no valid institution: {e}")))?;
    let decision = step(
        def,
        view.as_ref(),
        &apply::event_of(&header, subject.as_ref(), body.children),
    )
    .map_err(|e| {
        taken_or(
            own_case_taken.then_some(&header.case_id),
            step_refusal_of(&header, e),
        )
    })?;
    if subject.is_none() && decision.effect.is_some_and(|e| e.needs_subject()) {
        return Err(invalid(
            "body",
            "the SED does not name the institution its effect needs",
        ));
    }
    let sed_text =
        std::str::from_utf8(&body.canonical).map_err(|_| invalid("body", "not UTF-8"))?;
    let unsigned = envelope::render_unsigned(&header, sed_text);
    let signer = sw
        .signers
        .get(&s.from)
        .ok_or_else(|| invalid("from", "no signing key"))?;
    let envelope = {
        let _timer = crate::telemetry::stage(crate::telemetry::Stage::OutboundSign).start();
        dsig::sign_rendered(unsigned.as_bytes(), signer)
            .map_err(|e| SubmitError::Configuration(format!("cannot sign: {e}")))?
    };
    let planned = Planned {
        header,
        view,
        message_id: MessageId::random().to_string(),
        content_sha256: body.content_sha256.clone(),
        subject: body.subject.clone(),
        children: body.children,
        persons: body.persons.clone(),
        envelope,
        audit: None,
        claims: Vec::new(),
        own_case_taken,
        timer: None,
        client_case_id: s.case_id.clone(),
    };
    // A Start under the client's case id records the request that made it, so that
    // its retry is answered, not refused.
    Ok(match &s.case_id {
        Some(case_id) if planned.header.action == CaseAction::Start => {
            let start = IdempotencyKey {
                scope: CASE_START_SCOPE.to_owned(),
                key: start_key(case_id, &s.to),
                request_sha256: start_sha256(s, &body.content_sha256),
            };
            planned.with_claim(Claim::CaseStart, &start)
        }
        _ => planned,
    })
}

/// A BUC refusal of a Start under the client's case id of a case that exists
/// (and that this request did not start: its retry was answered before), sent by
/// its owner or an institution not in it, says the case id is taken; any other
/// refusal stays what it is.
fn taken_or(taken: Option<&CaseId>, e: SubmitError) -> SubmitError {
    match (taken, e) {
        (Some(case_id), SubmitError::ProtocolViolation(why)) => {
            SubmitError::CaseExists(case_id.clone(), why)
        }
        (_, other) => other,
    }
}

/// How a planned submission's commit ended.
pub(crate) enum Committed {
    Done(Submitted),
    /// The case is no longer as planned: plan and sign again.
    Moved,
}

type Reply = Result<Committed, SubmitError>;

pub(crate) struct Job {
    planned: Planned,
    reply: oneshot::Sender<Reply>,
}

/// The one committer of national submissions: a thread fed by a bounded channel
/// (`limits.submissions_queued_max`; a full channel is `Overloaded`), answering each
/// job on its own one-shot channel. It takes every job waiting (up to
/// `COMMIT_BATCH_MAX`), applies them in one transaction and commits once.
pub(crate) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    fn start(sw: Weak<Switch>, bound: usize) -> std::io::Result<Committer> {
        let (jobs, mut rx) = mpsc::channel::<Job>(bound.max(1));
        std::thread::Builder::new()
            .name("eessi-committer".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < COMMIT_BATCH_MAX {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let Some(sw) = sw.upgrade() else { return };
                    // A panic is this batch's failure only: its transaction rolls back
                    // while unwinding, its waiters' reply channels drop (they answer
                    // "nothing was applied"), and the committer goes on.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_batch(&sw, batch)
                    }))
                    .is_err()
                    {
                        tracing::error!(
                            "a group commit panicked; its submissions were not applied"
                        );
                    }
                }
                // The channel closes only when the switch is dropped.
                if let Some(sw) = sw.upgrade()
                    && !sw.shutting_down.load(std::sync::atomic::Ordering::Relaxed)
                {
                    sw.supervisor
                        .down("the submission committer ended".to_owned());
                }
            })?;
        Ok(Committer { jobs })
    }
}

/// The switch's committer, started on first use.
fn committer(sw: &Arc<Switch>) -> Result<&Committer, SubmitError> {
    sw.committer
        .get_or_init(|| {
            Committer::start(
                Arc::downgrade(sw),
                sw.bounds.submissions_queued_max as usize,
            )
            .map_err(|e| format!("cannot start the submission committer: {e}"))
        })
        .as_ref()
        .map_err(|e| SubmitError::Store(StoreError::Db(e.clone())))
}

/// Submissions waiting for the committer now (for `/metrics`).
pub fn queued(sw: &Switch) -> usize {
    match sw.committer.get() {
        Some(Ok(c)) => c.jobs.max_capacity() - c.jobs.capacity(),
        _ => 0,
    }
}

/// Hand a planned submission to the committer and wait for its commit.
pub(crate) fn commit(sw: &Arc<Switch>, planned: Planned) -> Result<Committed, SubmitError> {
    let (reply, answer) = oneshot::channel();
    match committer(sw)?.jobs.try_send(Job { planned, reply }) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            Metrics::inc(&sw.metrics.submissions_refused);
            return Err(SubmitError::Overloaded);
        }
        Err(mpsc::error::TrySendError::Closed(_)) => return Err(lost_job()),
    }
    answer.blocking_recv().unwrap_or_else(|_| Err(lost_job()))
}

/// The committer dropped this job without an answer: it panicked while running the
/// batch, whose transaction was rolled back by unwinding. Nothing was applied.
fn lost_job() -> SubmitError {
    SubmitError::Store(StoreError::Db(
        "the batch this submission was in failed; nothing was applied".into(),
    ))
}

/// One group commit. A refusal concerns its own job only (it wrote nothing); a
/// store error rolls the batch back and every job in it gets the error.
fn run_batch(sw: &Switch, jobs: Vec<Job>) {
    let _timer = crate::telemetry::stage(crate::telemetry::Stage::OutboundCommit).start();
    let fail_all = |jobs: Vec<Job>, e: &StoreError| {
        for j in jobs {
            let _ = j.reply.send(Err(SubmitError::Store(e.clone())));
        }
    };
    // The relay's fresh lane, when it runs: a SED with a place reserved there is
    // inserted already leased and handed over after the commit, so the relay
    // publishes it without claiming it back from the store. Without a place (the
    // lane full, or no relay) it waits in the outbox as due, for the relay's claim.
    let fresh = super::relay::fresh_lane(sw);
    let mut tx = match sw.store.begin() {
        Ok(tx) => tx,
        Err(e) => return fail_all(jobs, &e),
    };
    let mut results = Vec::with_capacity(jobs.len());
    let mut handovers = Vec::with_capacity(jobs.len());
    for j in &jobs {
        let place = fresh.as_ref().and_then(|f| f.try_reserve().ok());
        match in_tx(sw, &mut *tx, &j.planned, place.is_some()) {
            Err(SubmitError::Store(e)) => {
                drop(tx);
                return fail_all(jobs, &e);
            }
            Ok((r, out)) => {
                results.push(Ok(r));
                handovers.push(place.zip(out));
            }
            Err(e) => {
                results.push(Err(e));
                handovers.push(None);
            }
        }
    }
    if let Err(e) = tx.commit() {
        return fail_all(jobs, &e);
    }
    Metrics::inc(&sw.metrics.submission_commits);
    #[cfg(feature = "fault-hooks")]
    for (j, r) in jobs.iter().zip(&results) {
        if matches!(r, Ok(Committed::Done(d)) if !d.replayed) {
            crate::faults::maybe_abort_after_commit(j.planned.fault_ids());
        }
    }
    for ((j, r), handover) in jobs.into_iter().zip(results).zip(handovers) {
        if let Ok(Committed::Done(d)) = &r
            && !d.replayed
        {
            Metrics::inc(&sw.metrics.outbound_submitted);
            tracing::info!(
                message_id = %d.message_id,
                case_id = %d.case_id,
                document_id = %d.document_id,
                sed = %j.planned.header.sed,
                "SED submitted"
            );
        }
        if let Some((place, out)) = handover {
            place.send(out);
        }
        let _ = j.reply.send(r);
    }
    sw.relay_wake.notify_one();
}

/// One planned submission inside the batch's transaction: store work only. With
/// `leased`, its outbox row is inserted under the relay's lease and returned (with
/// its id) for the fresh lane.
fn in_tx(
    sw: &Switch,
    tx: &mut dyn crate::store::Tx,
    p: &Planned,
    leased: bool,
) -> Result<(Committed, Option<OutboxMessage>), SubmitError> {
    #[cfg(feature = "fault-hooks")]
    if let Some(c) = &p.client_case_id {
        crate::faults::maybe_panic(c.as_str());
    }
    let h = &p.header;
    let mut out = OutboxMessage::new(
        OutboxKind::Sed,
        AP_EXCHANGE,
        h.receiver.country().as_str(),
        p.message_id.clone(),
        h.wire_headers(),
        p.envelope.clone(),
    );
    out.case_id = Some(h.case_id.clone());
    out.document_id = Some(h.document_id.clone());
    out.body_version = Some(h.document_version);
    if leased {
        out.next_attempt_ms = crate::store::now_ms() + super::relay::CLAIM_LEASE_MS;
    }
    let sed = SedToApply {
        header: h,
        message_id: &p.message_id,
        content_sha256: &p.content_sha256,
        envelope: &p.envelope,
        subject: p.subject.as_deref(),
        children: p.children,
        persons: &p.persons,
        direction: apply::Direction::Out,
    };
    // A timer's SED settles its timer here, first: a timer another instance
    // settled meanwhile makes nothing (fired once).
    if let Some(tm) = &p.timer {
        // Its deadline must still be there as the case now is (a reply that
        // committed after the timer was claimed went past its `sync`).
        let def = sw
            .catalogue
            .get(&h.buc)
            .ok_or_else(|| SubmitError::ProtocolViolation(format!("unknown BUC {}", h.buc)))?;
        if !super::timers::still_wanted(
            tx,
            def,
            &h.case_id,
            &sw.country,
            (tm.what, &tm.subject, tm.due_ms),
        )? {
            return Err(SubmitError::ProtocolViolation(
                super::timers::DEADLINE_GONE.to_owned(),
            ));
        }
        let outcome = format!(
            "sent {} document {} (message {})",
            h.sed, h.document_id, p.message_id
        );
        if !tx.timer_transition(
            tm.id,
            &[crate::store::TimerStatus::Firing],
            crate::store::TimerStatus::Fired,
            Some(&outcome),
        )? {
            return Err(SubmitError::ProtocolViolation(format!(
                "timer {} was settled meanwhile",
                tm.id
            )));
        }
    }
    // The keys first: a request with the same key, reference or client's case id
    // that committed first (another instance's, which PostgreSQL waits for, or
    // one earlier in this batch) wins, and this one gets its answer instead of
    // making a second submission; the rows this one claimed are given back.
    for (i, (claim, r)) in p.claims.iter().enumerate() {
        if tx.idempotency_claim(r)? {
            continue;
        }
        let winner = tx
            .idempotency_get_tx(&r.scope, &r.key)?
            .ok_or_else(|| StoreError::Db("an idempotency key was taken and is gone".into()))?;
        release(tx, &p.claims[..i])?;
        return claim
            .replay(&r.request_sha256, &winner)
            .map(|d| (Committed::Done(d), None));
    }
    let applied = apply::apply(
        sw,
        tx,
        &sed,
        Expect::Planned(p.view.as_ref()),
        std::slice::from_ref(&out),
    );
    if applied.is_err() {
        // Refused (nothing else was written): the keys are free again, and the
        // timer is firing again (its refusal is settled by `timers`).
        release(tx, &p.claims)?;
        if let Some(tm) = &p.timer {
            tx.timer_transition(
                tm.id,
                &[crate::store::TimerStatus::Fired],
                crate::store::TimerStatus::Firing,
                Some("firing"),
            )?;
        }
    }
    match applied {
        Ok(a) => {
            if let Some(a) = &p.audit {
                tx.audit_append(&crate::store::AuditEntry {
                    target: format!("{} document {}", h.case_id, h.document_id),
                    ..a.clone()
                })?;
            }
            if let Some(tm) = &p.timer {
                tx.history_append(
                    &h.case_id,
                    &crate::store::HistoryEntry {
                        at: crate::store::now_rfc3339(),
                        event: format!("timer-{}", tm.what),
                        detail: format!(
                            "timer {} ({}) sent {} document {}",
                            tm.id, tm.what, h.sed, h.document_id
                        ),
                        from_state: None,
                        to_state: None,
                        message_id: Some(p.message_id.clone()),
                        document_id: Some(h.document_id.to_string()),
                    },
                )?;
            }
            // One message in, one row out (`apply` enqueues each of `outs`).
            out.id = a.outbox_ids.first().copied().unwrap_or_default();
            Ok((
                Committed::Done(Submitted {
                    case_id: h.case_id.clone(),
                    document_id: h.document_id.clone(),
                    document_version: h.document_version,
                    message_id: p.message_id.clone(),
                    replayed: false,
                }),
                leased.then_some(out),
            ))
        }
        // Another submission got there first (the same case in this batch, or
        // another instance): plan again from the case as it now is.
        Err(Refused::Moved | Refused::AlreadyApplied | Refused::Conflict(_)) => {
            Ok((Committed::Moved, None))
        }
        Err(Refused::Protocol(why)) => Err(taken_or(
            p.own_case_taken.then_some(&h.case_id),
            SubmitError::ProtocolViolation(why),
        )),
        Err(Refused::Step(e)) => Err(taken_or(
            p.own_case_taken.then_some(&h.case_id),
            step_refusal_of(h, e),
        )),
        Err(Refused::Store(e)) => Err(SubmitError::Store(e)),
    }
}

/// Give back idempotency rows this transaction claimed for a submission that
/// made nothing.
fn release(
    tx: &mut dyn crate::store::Tx,
    claims: &[(Claim, crate::store::IdempotencyRecord)],
) -> Result<(), StoreError> {
    for (_, r) in claims {
        tx.idempotency_release(&r.scope, &r.key)?;
    }
    Ok(())
}

fn step_refusal_of(h: &Header, e: StepError) -> SubmitError {
    match e {
        StepError::ProtocolViolation(why) => SubmitError::ProtocolViolation(why),
        StepError::UnknownCase => SubmitError::CaseNotFound(h.case_id.clone()),
        StepError::UnknownDocument(d) => {
            let field = if d == h.document_id {
                "documentId"
            } else {
                "relatedDocumentId"
            };
            SubmitError::DocumentNotFound(d, field)
        }
        StepError::VersionGap { expected, got } => SubmitError::ProtocolViolation(format!(
            "version {expected} must come before version {got}"
        )),
    }
}
