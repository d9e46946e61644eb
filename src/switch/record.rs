//! Recording a decided transition: the one place that writes a case change, its
//! document version, its history and the effects of administrative SEDs (closure,
//! reopening, participants added or removed, forwarding, invalidation). Inbound
//! and outbound SEDs both come through here, inside the caller's transaction.

use crate::buc::{Decision, Effect};
use crate::ids::InstitutionId;
use crate::sed::envelope::Header;
use crate::store::{
    CaseRecord, CaseStatus, Conversation, DocumentRecord, DocumentStatus, DocumentVersion,
    HistoryEntry, Participant, StoreError, Tx, now_rfc3339,
};

/// Which way the SED went (the store's own type).
pub use crate::store::Direction;

pub struct Transition<'a> {
    /// The case's BUC (its deadlines keep the case's timers in step).
    pub def: &'a crate::buc::BucDef,
    pub header: &'a Header,
    pub decision: &'a Decision,
    /// The case as this transaction read it (None: a new case).
    pub case: Option<&'a crate::store::CaseRecord>,
    pub direction: Direction,
    pub message_id: &'a str,
    pub content_sha256: String,
    pub envelope: Vec<u8>,
    /// The institution a participant effect names (read from the SED at the
    /// definition's `subject` path).
    pub subject: Option<InstitutionId>,
    /// The persons the SED names (read with the checks or the plan, outside the
    /// transaction), for the case's person index.
    pub persons: &'a [crate::store::PersonKey],
}

/// Write the transition. The caller has already run `step` and owns the commit.
pub fn record(tx: &mut dyn Tx, t: &Transition) -> Result<(), StoreError> {
    let h = t.header;
    let d = t.decision;
    let now = now_rfc3339();
    let status = if d.to_state == crate::buc::definition::CLOSED {
        CaseStatus::Closed
    } else {
        CaseStatus::Open
    };
    if t.case.is_some() {
        let previous = if d.closes {
            d.from_state.as_deref()
        } else {
            None
        };
        // Compare-and-set from the state this transaction read and `step` decided on.
        let from = t.case.map(|c| c.state.as_str()).unwrap_or_default();
        tx.case_set_state(&h.case_id, from, &d.to_state, status, previous)?;
    } else {
        tx.case_insert(&CaseRecord {
            case_id: h.case_id.clone(),
            buc: h.buc.clone(),
            sed_version: h.version.clone(),
            state: d.to_state.clone(),
            status,
            created_at: now.clone(),
            updated_at: now.clone(),
            previous_state: None,
        })?;
        tx.participant_add(
            &h.case_id,
            &Participant {
                institution: h.sender.clone(),
                role: h.sender_role,
            },
        )?;
    }
    // The counterparty's conversation moves; a closure closes every conversation and
    // a reopening returns each to where it was.
    let counterparty = if h.sender_role == crate::ids::Role::CaseOwner {
        &h.receiver
    } else {
        &h.sender
    };
    if d.closes {
        let mut closed_key = false;
        for c in tx.conversations(&h.case_id)? {
            closed_key |= &c.counterparty == counterparty;
            tx.conversation_put(
                &h.case_id,
                &Conversation {
                    previous_state: Some(c.state.clone()),
                    state: d.to_state.clone(),
                    counterparty: c.counterparty,
                },
            )?;
        }
        if !closed_key {
            tx.conversation_put(
                &h.case_id,
                &Conversation {
                    counterparty: counterparty.clone(),
                    state: d.to_state.clone(),
                    previous_state: d.from_state.clone(),
                },
            )?;
        }
    } else if d.effect == Some(Effect::Reopen) {
        for c in tx.conversations(&h.case_id)? {
            let back = c
                .previous_state
                .clone()
                .unwrap_or_else(|| d.to_state.clone());
            tx.conversation_put(
                &h.case_id,
                &Conversation {
                    counterparty: c.counterparty,
                    state: back,
                    previous_state: None,
                },
            )?;
        }
    } else {
        tx.conversation_put(
            &h.case_id,
            &Conversation {
                counterparty: counterparty.clone(),
                state: d.to_state.clone(),
                previous_state: None,
            },
        )?;
    }
    if d.adds_participant {
        tx.participant_add(
            &h.case_id,
            &Participant {
                institution: h.receiver.clone(),
                role: h.receiver_role,
            },
        )?;
    }
    if d.new_document {
        tx.document_insert(&DocumentRecord {
            document_id: h.document_id.clone(),
            case_id: h.case_id.clone(),
            sed: h.sed.clone(),
            sender: h.sender.clone(),
            receiver: h.receiver.clone(),
            direction: t.direction,
            status: if t.direction == Direction::In {
                DocumentStatus::Received
            } else {
                DocumentStatus::Sent
            },
            latest_version: h.document_version,
            related: h.related.clone(),
            created_at: now.clone(),
        })?;
    } else {
        tx.document_set_version(&h.document_id, h.document_version)?;
    }
    tx.version_insert(&DocumentVersion {
        document_id: h.document_id.clone(),
        version: h.document_version,
        message_id: t.message_id.to_owned(),
        content_sha256: t.content_sha256.clone(),
        envelope: t.envelope.clone(),
        created_at: now.clone(),
    })?;
    tx.case_persons_add(&h.case_id, t.persons)?;
    let verb = if t.direction == Direction::In {
        "sed-received"
    } else {
        "sed-sent"
    };
    history(
        tx,
        t,
        verb,
        format!(
            "{} v{} ({}) from {} ({}) to {} ({})",
            h.sed,
            h.document_version,
            h.action,
            h.sender,
            h.sender_role,
            h.receiver,
            h.receiver_role
        ),
        true,
    )?;
    let effect_note = match (d.effect, &t.subject) {
        (Some(Effect::AddParticipant), Some(who)) => {
            tx.participant_add(
                &h.case_id,
                &Participant {
                    institution: who.clone(),
                    role: crate::ids::Role::Counterparty,
                },
            )?;
            Some(format!("{who} joins the case as Counterparty"))
        }
        (Some(Effect::RemoveParticipant), Some(who)) => {
            tx.participant_remove(&h.case_id, who)?;
            Some(format!("{who} leaves the case"))
        }
        (Some(Effect::Forward), Some(who)) => {
            tx.participant_remove(&h.case_id, &h.sender)?;
            tx.participant_add(
                &h.case_id,
                &Participant {
                    institution: who.clone(),
                    role: h.sender_role,
                },
            )?;
            Some(format!("{} forwards the case to {who}", h.sender))
        }
        (Some(Effect::Invalidate), _) => match &h.related {
            Some(doc) => {
                tx.document_set_status(
                    doc,
                    &[DocumentStatus::Sent, DocumentStatus::Received],
                    DocumentStatus::Cancelled,
                )?;
                Some(format!("document {doc} is invalidated"))
            }
            None => None,
        },
        (Some(Effect::Reopen), _) => Some("the case is reopened".into()),
        _ if d.closes => Some("the case is closed for every participant".into()),
        _ => None,
    };
    if let Some(note) = effect_note {
        history(tx, t, "effect", note, false)?;
    }
    // The case's deadlines may have changed: its timers follow, in this transaction.
    let ours = if t.direction == Direction::Out {
        h.sender.country()
    } else {
        h.receiver.country()
    };
    super::timers::sync(tx, t.def, &h.case_id, &ours)
}

/// Close `case` for our side only (no SED; the other participants keep it open),
/// as the case handler's local closure and the timers' local auto-close do: the
/// compare-and-set from the state read, the history entry, and the case's timers
/// (all cancelled). `case` was read with `Tx::case_lock` in this transaction.
pub fn close_locally(
    tx: &mut dyn Tx,
    def: Option<&crate::buc::BucDef>,
    case: &CaseRecord,
    country: &crate::ids::Country,
    detail: &str,
) -> Result<(), StoreError> {
    let closed = crate::buc::definition::CLOSED;
    tx.case_set_state(
        &case.case_id,
        &case.state,
        closed,
        CaseStatus::Closed,
        Some(&case.state),
    )?;
    tx.history_append(
        &case.case_id,
        &HistoryEntry {
            at: now_rfc3339(),
            event: "local-close".into(),
            detail: detail.to_owned(),
            from_state: Some(case.state.clone()),
            to_state: Some(closed.into()),
            message_id: None,
            document_id: None,
        },
    )?;
    match def {
        Some(def) => super::timers::sync(tx, def, &case.case_id, country),
        None => Ok(()),
    }
}

fn history(
    tx: &mut dyn Tx,
    t: &Transition,
    event: &str,
    detail: String,
    with_states: bool,
) -> Result<(), StoreError> {
    let h = t.header;
    tx.history_append(
        &h.case_id,
        &HistoryEntry {
            at: now_rfc3339(),
            event: event.into(),
            detail,
            from_state: if with_states {
                t.decision.from_state.clone()
            } else {
                None
            },
            to_state: if with_states {
                Some(t.decision.to_state.clone())
            } else {
                None
            },
            message_id: Some(t.message_id.to_owned()),
            document_id: Some(h.document_id.to_string()),
        },
    )
}

/// How many elements are at `path` (local names from the SED root; the last step
/// counted, every earlier one the first match): a bulk document's sub-documents.
pub fn count_at(sed_root: libxml::readonly::RoNode, path: &str) -> u32 {
    let steps: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = steps.split_last() else {
        return 0;
    };
    let mut node = sed_root;
    for name in parents {
        match crate::sed::xml::elements(node)
            .into_iter()
            .find(|c| c.get_name() == *name)
        {
            Some(n) => node = n,
            None => return 0,
        }
    }
    let n = crate::sed::xml::elements(node)
        .into_iter()
        .filter(|c| c.get_name() == *last)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The text of the element at `path` (local names from the SED root).
pub fn subject_at(sed_root: libxml::readonly::RoNode, path: &str) -> Option<String> {
    let mut node = sed_root;
    for name in path.split('/').filter(|p| !p.is_empty()) {
        node = crate::sed::xml::elements(node)
            .into_iter()
            .find(|c| c.get_name() == name)?;
    }
    Some(node.get_content().trim().to_owned())
}
