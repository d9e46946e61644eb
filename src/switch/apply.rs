//! The one apply path of a SED, inbound and outbound alike, inside the caller's
//! transaction: check 9 (this document version already applied?), the case's BUC
//! and data-model version, the view of the counterparty's conversation, `step`,
//! the subject rules of participant effects, `record`, and the outbox message the
//! SED makes us send (a national delivery for an inbound SED, the SED itself to
//! the foreign access point for an outbound one).
//!
//! Only store work and pure decisions happen here: no XML is parsed and nothing
//! is signed or verified (both happened before the transaction opened). Each side
//! maps a `Refused` to its own answer: an inbound refusal becomes a signed error
//! abroad (or parks the SED), an outbound one an HTTP problem.

use crate::buc::{CaseView, DocView, SedEvent, StepError, step};
use crate::ids::InstitutionId;
use crate::sed::envelope::Header;
use crate::store::{CaseRecord, OutboxMessage, StoreError, Tx};

pub use super::record::Direction;

/// A SED ready to enter its case: checked, canonicalised and signed already.
pub struct SedToApply<'a> {
    pub header: &'a Header,
    pub message_id: &'a str,
    /// SHA-256 (hex) of the SED element's exclusive C14N.
    pub content_sha256: &'a str,
    /// The signed envelope, as sent or received.
    pub envelope: &'a [u8],
    /// The text at the definition's `subject` path, when the SED has one.
    pub subject: Option<&'a str>,
    /// A bulk document's sub-documents, counted at its catalogue `children` path.
    pub children: Option<u32>,
    /// The persons it names (`sed::person::persons`, read outside the transaction).
    pub persons: &'a [crate::store::PersonKey],
    pub direction: Direction,
}

/// What the case must look like for the SED to apply as planned.
pub enum Expect<'a> {
    /// Whatever the store holds: `step` decides from it (inbound).
    Current,
    /// Exactly this view (None: no such case yet), because the signed envelope's
    /// action, version and roles were decided from it outside the transaction
    /// (outbound). Any difference is `Refused::Moved`: plan and sign again.
    Planned(Option<&'a CaseView>),
}

/// Why a SED does not apply. Nothing was written.
#[derive(Debug)]
pub enum Refused {
    /// Check 9: this version of this document was applied already, with the same
    /// content and sender: a second message id for the same SED, no second effect.
    AlreadyApplied,
    /// Check 9's other half: the same document version with other content, or a
    /// document id of another case.
    Conflict(String),
    /// The BUC does not allow it (including a SED that names no valid subject).
    Protocol(String),
    /// The case, or the document this SED answers or updates, is not known (yet).
    Step(StepError),
    /// The case is not as the caller planned it (`Expect::Planned`).
    Moved,
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

/// Read what `step` needs of a case, for a SED between `a` and `b`.
pub fn case_view(
    tx: &mut dyn Tx,
    case: &CaseRecord,
    a: &InstitutionId,
    b: &InstitutionId,
) -> Result<CaseView, StoreError> {
    let participants = tx.participants(&case.case_id)?;
    let conversations = tx.conversations(&case.case_id)?;
    let documents = tx.documents(&case.case_id)?;
    Ok(view_of(
        case,
        &participants,
        &conversations,
        &documents,
        a,
        b,
    ))
}

/// What `step` needs of a case, from rows read in a transaction or a snapshot: the
/// state is that of the counterparty's conversation (multilateral cases have one per
/// counterparty), or the case's own when that counterparty has none yet or the case
/// is closed.
pub fn view_of(
    case: &CaseRecord,
    participants: &[crate::store::Participant],
    conversations: &[crate::store::Conversation],
    documents: &[crate::store::DocumentRecord],
    a: &InstitutionId,
    b: &InstitutionId,
) -> CaseView {
    let mut participants: Vec<(InstitutionId, crate::ids::Role)> = participants
        .iter()
        .map(|p| (p.institution.clone(), p.role))
        .collect();
    // Sorted, so that a view read in a transaction and one read from a snapshot
    // compare equal whatever order the rows came in (`Expect::Planned`).
    participants.sort_by(|x, y| (x.0.as_str(), x.1.as_str()).cmp(&(y.0.as_str(), y.1.as_str())));
    let owner_is_a = participants
        .iter()
        .any(|(i, r)| i == a && *r == crate::ids::Role::CaseOwner);
    let counterparty = if owner_is_a { b } else { a };
    let conversation = conversations
        .iter()
        .find(|c| &c.counterparty == counterparty);
    let (state, previous_state) = match conversation {
        Some(c) if case.state != crate::buc::definition::CLOSED => (
            c.state.clone(),
            c.previous_state
                .clone()
                .or_else(|| case.previous_state.clone()),
        ),
        _ => (case.state.clone(), case.previous_state.clone()),
    };
    let mut documents: Vec<DocView> = documents
        .iter()
        .map(|d| DocView {
            cancelled: d.status == crate::store::DocumentStatus::Cancelled,
            id: d.document_id.clone(),
            sed: d.sed.clone(),
            sender: d.sender.clone(),
            receiver: d.receiver.clone(),
            latest_version: d.latest_version,
            related: d.related.clone(),
        })
        .collect();
    documents.sort_by(|x, y| x.id.as_str().cmp(y.id.as_str()));
    CaseView {
        state,
        previous_state,
        participants,
        documents,
    }
}

/// The event `step` judges, from the envelope's header and the institution the SED
/// names at its definition's `subject` path (participant SEDs).
pub fn event_of(h: &Header, subject: Option<&InstitutionId>, children: Option<u32>) -> SedEvent {
    SedEvent {
        action: h.action,
        sed: h.sed.clone(),
        document_id: h.document_id.clone(),
        version: h.document_version,
        sender: h.sender.clone(),
        sender_role: h.sender_role,
        receiver: h.receiver.clone(),
        receiver_role: h.receiver_role,
        related: h.related.clone(),
        subject: subject.cloned(),
        children,
    }
}

/// What `apply` did: the BUC's decision, and the ids of the outbox rows it
/// enqueued (in the order of `outs`).
pub struct Applied {
    pub decision: crate::buc::Decision,
    pub outbox_ids: Vec<i64>,
}

/// Apply `sed` to its case in `tx` and enqueue `outs` with it (the SED to send,
/// or its national deliveries: none when it waits in triage). The caller commits.
pub fn apply(
    sw: &super::Switch,
    tx: &mut dyn Tx,
    sed: &SedToApply,
    expect: Expect,
    outs: &[OutboxMessage],
) -> Result<Applied, Refused> {
    let h = sed.header;
    // 9. The same document version again: same content, no second effect; other
    // content, CONFLICT.
    if let Some(v) = tx.version_get(&h.document_id, h.document_version)? {
        let same_sender = tx
            .document_get(&h.document_id)?
            .is_some_and(|d| d.sender == h.sender);
        if same_sender && v.content_sha256 == sed.content_sha256 {
            return Err(Refused::AlreadyApplied);
        }
        return Err(Refused::Conflict(format!(
            "document {} version {} was already received with other content",
            h.document_id, h.document_version
        )));
    }
    if let Some(d) = tx.document_get(&h.document_id)?
        && d.case_id != h.case_id
    {
        return Err(Refused::Conflict(format!(
            "document {} belongs to another case",
            h.document_id
        )));
    }
    // 10. The BUC's state machine, on the case as this transaction holds it.
    let def = sw
        .catalogue
        .get(&h.buc)
        .ok_or_else(|| Refused::Protocol(format!("unknown BUC type {}", h.buc)))?;
    let case = tx.case_lock(&h.case_id)?;
    if let Some(case) = &case {
        if case.buc != h.buc {
            return Err(Refused::Protocol(format!(
                "the case is a {} case, not {}",
                case.buc, h.buc
            )));
        }
        if case.sed_version != h.version {
            return Err(Refused::Protocol(format!(
                "the case uses data-model version {}",
                case.sed_version
            )));
        }
    }
    let view = match &case {
        Some(c) => Some(case_view(tx, c, &h.sender, &h.receiver)?),
        None => None,
    };
    if let Expect::Planned(planned) = expect
        && planned != view.as_ref()
    {
        return Err(Refused::Moved);
    }
    let subject =
        match sed.subject {
            Some(text) => Some(InstitutionId::parse(text).map_err(|e| {
                Refused::Protocol(format!("the SED names no valid institution: {e}"))
            })?),
            None => None,
        };
    let decision = step(
        def,
        view.as_ref(),
        &event_of(h, subject.as_ref(), sed.children),
    )
    .map_err(Refused::Step)?;
    if subject.is_none()
        && decision
            .effect
            .is_some_and(crate::buc::Effect::needs_subject)
    {
        return Err(Refused::Protocol(
            "the SED does not name the institution its effect needs".into(),
        ));
    }
    super::record::record(
        tx,
        &super::record::Transition {
            def,
            header: h,
            decision: &decision,
            case: case.as_ref(),
            direction: sed.direction,
            message_id: sed.message_id,
            content_sha256: sed.content_sha256.to_owned(),
            envelope: sed.envelope.to_vec(),
            subject,
            persons: sed.persons,
        },
    )?;
    // The case list's overdue filter reads this column: kept with every document.
    let due = reply_due(def, &decision.to_state, &tx.documents(&h.case_id)?);
    tx.case_set_reply_due(&h.case_id, due.as_deref())?;
    let mut outbox_ids = Vec::with_capacity(outs.len());
    for out in outs {
        // A body stored as the document version's must be exactly that version's.
        debug_assert!(
            out.body_version.is_none()
                || (out.body_version == Some(h.document_version)
                    && out.document_id.as_ref() == Some(&h.document_id)
                    && out.body == sed.envelope),
            "an outbox body said to be the document version's is not"
        );
        outbox_ids.push(tx.outbox_enqueue(out)?);
    }
    Ok(Applied {
        decision,
        outbox_ids,
    })
}

/// The earliest due date (RFC 3339, as the store writes times) of a reply the
/// case still awaits in `state`, from the BUC definition's reply deadlines: what
/// `cases.reply_due` holds for the case list's overdue filter.
pub fn reply_due(
    def: &crate::buc::definition::BucDef,
    state: &str,
    documents: &[crate::store::DocumentRecord],
) -> Option<String> {
    use crate::buc::deadline::{Deadline, DocTiming, deadlines};
    let docs: Vec<DocTiming> = documents
        .iter()
        .filter_map(|d| {
            let at = chrono::DateTime::parse_from_rfc3339(&d.created_at)
                .ok()?
                .with_timezone(&chrono::Utc);
            Some(DocTiming {
                id: d.document_id.clone(),
                sed: d.sed.clone(),
                at,
                related: d.related.clone(),
                cancelled: d.status == crate::store::DocumentStatus::Cancelled,
            })
        })
        .collect();
    // The clock only decides `overdue`, which is not kept: any instant will do.
    deadlines(def, state, &docs, chrono::DateTime::UNIX_EPOCH)
        .into_iter()
        .filter_map(|d| match d {
            Deadline::Reply { due, .. } => Some(due),
            Deadline::AutoClose { .. } => None,
        })
        .min()
        .map(|due| due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
