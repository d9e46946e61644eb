//! Triage: a received SED that no routing rule placed waits, accepted and applied
//! to its case, until an operator names the Belgian institution that takes it
//! (API `POST /api/v1/triage/{id}/assign`, CLI `eessi-switch triage assign`). The
//! assignment is one transaction: the entry moves from `waiting` to `delivered`
//! (compare-and-set, so two operators racing deliver it once), the national
//! delivery is enqueued in the form the institution chose, and the audit entry is
//! written. The national form is made before it, outside the transaction, from the
//! document version's stored envelope.

use crate::ids::{InstitutionId, MessageId};
use crate::sed::{envelope, xml};
use crate::store::{AuditEntry, StoreError, TriageEntry, TriageStatus};

use super::inbound::check::{Routed, delivery};
use super::{Metrics, Switch};

#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error("no triage entry {0}")]
    NotFound(i64),
    #[error("triage entry {id} is already {status}{}", to.as_deref().map(|t| format!(" to {t}")).unwrap_or_default())]
    NotWaiting {
        id: i64,
        status: TriageStatus,
        to: Option<String>,
    },
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Deliver triage entry `id` to `to`, audited as `actor` (the audit entry's
/// subject, institution and remote). Returns the delivery's message id.
pub fn assign(
    sw: &Switch,
    id: i64,
    to: &InstitutionId,
    actor: &AuditEntry,
) -> Result<String, AssignError> {
    let entry = sw.store.triage_get(id)?.ok_or(AssignError::NotFound(id))?;
    waiting(&entry)?;
    let served = sw.is_served(to)
        && crate::ids::BucType::parse(&entry.buc).is_ok_and(|buc| {
            sw.registry.institution(to).is_some_and(|i| {
                i.handles(&buc, crate::ids::Role::CaseOwner)
                    || i.handles(&buc, crate::ids::Role::Counterparty)
            })
        });
    if !served {
        return Err(AssignError::Refused(format!(
            "{to} is not an institution served here that is competent for {}",
            entry.buc
        )));
    }
    let body = sw
        .store
        .document_envelope(&entry.document_id, entry.document_version)?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "triage entry {id}: document {} version {} has no stored envelope",
                entry.document_id, entry.document_version
            ))
        })?;
    // The form `to` chose, made from the stored envelope (checked when it was
    // received), outside the transaction.
    let doc = xml::parse(&body, &sw.limits)
        .map_err(|e| StoreError::Corrupt(format!("triage entry {id}: {e}")))?;
    let (header, sed_node) =
        envelope::read(&doc).map_err(|e| StoreError::Corrupt(format!("triage entry {id}: {e}")))?;
    let form = delivery(sw, &header, to, sed_node);
    let out = super::inbound::apply::national_delivery(
        &header.wire_headers(),
        &body,
        &entry.message_id,
        &header,
        to,
        &form,
        &Routed::Triage(format!("assigned by {}", actor.subject)),
    );
    let delivery_id = out.message_id.clone();
    let mut tx = sw.store.begin()?;
    if !tx.triage_settle(id, to.as_str(), &actor.subject)? {
        drop(tx);
        // Someone else assigned it between the read and now.
        let now = sw.store.triage_get(id)?.ok_or(AssignError::NotFound(id))?;
        waiting(&now)?;
        return Err(AssignError::Store(StoreError::Conflict(format!(
            "triage entry {id} changed while it was assigned"
        ))));
    }
    tx.outbox_enqueue(&out)?;
    tx.audit_append(&AuditEntry {
        action: "triage-assign".into(),
        target: format!("triage {id} to {to}"),
        ..actor.clone()
    })?;
    tx.commit()?;
    Metrics::inc(&sw.metrics.triage_assigned);
    sw.relay_wake.notify_one();
    debug_assert!(MessageId::parse(&delivery_id).is_ok());
    Ok(delivery_id)
}

fn waiting(e: &TriageEntry) -> Result<(), AssignError> {
    if e.status == TriageStatus::Waiting {
        Ok(())
    } else {
        Err(AssignError::NotWaiting {
            id: e.id,
            status: e.status,
            to: e.assigned_to.clone(),
        })
    }
}
