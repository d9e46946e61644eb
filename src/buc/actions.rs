//! What a participant may send in a case now: every SED the BUC's machine would
//! accept from it, found by asking `step` itself (so the list can never promise
//! what the engine then refuses). Pure, like `step`: the caller hands in the view
//! of each conversation.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::buc::definition::{BucDef, Effect};
use crate::buc::machine::{CaseView, NAMES_A_DOCUMENT, SedEvent, step};
use crate::ids::{CaseAction, DocumentId, InstitutionId, Role, SedType};

/// One SED a participant may send now.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Allowed {
    #[schema(value_type = String, example = "A003")]
    pub sed: SedType,
    /// The participant it goes to.
    #[schema(value_type = String, example = "NL:SVB")]
    pub to: InstitutionId,
    /// `Start` (opens the conversation with `to`), `New`, or `Update` (a new
    /// version of `document_id`).
    pub action: CaseAction,
    /// The document it answers or names (RelatedDocument), when it needs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub related: Option<DocumentId>,
    /// The document an `Update` sends again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub document_id: Option<DocumentId>,
    /// The institution a participant SED names: the one X006 removes; none for X005
    /// and X007, which name an institution not yet in the case (`names_new`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub subject: Option<InstitutionId>,
    /// X005 / X007: the sender chooses the institution to add or forward to.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub names_new: bool,
}

/// One conversation of the case as `who` sees it: the counterpart and its view.
pub struct Conversation<'a> {
    pub with: &'a InstitutionId,
    pub with_role: Role,
    pub view: &'a CaseView,
}

/// Every SED `who` (in `role`) may send now, in each of its conversations.
pub fn allowed(
    def: &BucDef,
    who: &InstitutionId,
    role: Role,
    conversations: &[Conversation<'_>],
) -> Vec<Allowed> {
    let mut out = BTreeSet::new();
    for c in conversations {
        let view = c.view;
        let event = |sed: &SedType, action, related: Option<&DocumentId>| SedEvent {
            action,
            sed: sed.clone(),
            document_id: DocumentId::random(),
            version: 1,
            sender: who.clone(),
            sender_role: role,
            receiver: c.with.clone(),
            receiver_role: c.with_role,
            related: related.cloned(),
            subject: None,
            // The sub-documents of a bulk document are the sender's to choose.
            children: None,
        };
        // New versions of what it sent.
        for d in view.documents.iter().filter(|d| &d.sender == who) {
            let mut e = event(&d.sed, CaseAction::Update, None);
            e.document_id = d.id.clone();
            e.version = d.latest_version + 1;
            if d.receiver == *c.with && step(def, Some(view), &e).is_ok() {
                out.insert(Allowed {
                    sed: d.sed.clone(),
                    to: c.with.clone(),
                    action: CaseAction::Update,
                    related: None,
                    document_id: Some(d.id.clone()),
                    subject: None,
                    names_new: false,
                });
            }
        }
        let opens = !view.converses_with(c.with);
        for sed in def.sed_types() {
            let transitions: Vec<_> = def.transitions.iter().filter(|t| &t.sed == sed).collect();
            let effect = transitions.iter().find_map(|t| t.effect);
            let action = if opens && def.starters().any(|t| &t.sed == sed) {
                CaseAction::Start
            } else {
                CaseAction::New
            };
            // The documents it might name: none, and every document of the case
            // when the SED answers or names one.
            // A business reply names only a document of a type it answers (an empty
            // `answers` lets it name any); an administrative SED any document.
            let answers: Option<Vec<&SedType>> = if NAMES_A_DOCUMENT.contains(&sed.as_str())
                || transitions.iter().any(|t| t.answers.is_empty())
            {
                None
            } else {
                Some(transitions.iter().flat_map(|t| &t.answers).collect())
            };
            let names_document = NAMES_A_DOCUMENT.contains(&sed.as_str())
                || transitions.iter().any(|t| !t.answers.is_empty());
            let mut related: Vec<Option<&DocumentId>> = vec![None];
            if names_document {
                related.extend(
                    view.documents
                        .iter()
                        .filter(|d| answers.as_ref().is_none_or(|a| a.contains(&&d.sed)))
                        .map(|d| Some(&d.id)),
                );
            }
            // The institutions it might name.
            let subjects: Vec<Option<&InstitutionId>> = match effect {
                Some(Effect::RemoveParticipant) => {
                    view.participants.iter().map(|(i, _)| Some(i)).collect()
                }
                _ => vec![None],
            };
            for r in &related {
                for s in &subjects {
                    let mut e = event(sed, action, *r);
                    e.subject = s.cloned();
                    if step(def, Some(view), &e).is_ok() {
                        out.insert(Allowed {
                            sed: sed.clone(),
                            to: c.with.clone(),
                            action,
                            related: r.cloned(),
                            document_id: None,
                            subject: s.cloned(),
                            names_new: matches!(
                                effect,
                                Some(Effect::AddParticipant | Effect::Forward)
                            ),
                        });
                    }
                }
            }
        }
    }
    // A SED that may name the document it answers is offered naming it: the
    // contract lets RelatedDocument out, but a reply that says what it answers is
    // the one a handler means.
    let named: BTreeSet<(SedType, InstitutionId, CaseAction)> = out
        .iter()
        .filter(|a| a.related.is_some())
        .map(|a| (a.sed.clone(), a.to.clone(), a.action))
        .collect();
    out.into_iter()
        .filter(|a| {
            a.related.is_some() || !named.contains(&(a.sed.clone(), a.to.clone(), a.action))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buc::Catalogue;
    use crate::buc::machine::DocView;
    use crate::ids::BucType;

    fn inst(s: &str) -> InstitutionId {
        InstitutionId::parse(s).unwrap()
    }

    fn catalogue() -> Catalogue {
        Catalogue::load_unchecked(std::path::Path::new("buc-definitions"))
            .unwrap()
            .0
    }

    /// A LA_BUC_02 case BE:ONSS opened with an A003 to NL:SVB.
    fn la_buc_02(state: &str, docs: Vec<DocView>) -> CaseView {
        CaseView {
            state: state.into(),
            previous_state: None,
            participants: vec![
                (inst("BE:ONSS"), Role::CaseOwner),
                (inst("NL:SVB"), Role::Counterparty),
            ],
            documents: docs,
        }
    }

    fn doc(sed: &str, from: &str, to: &str) -> DocView {
        DocView {
            id: DocumentId::random(),
            sed: SedType::parse(sed).unwrap(),
            sender: inst(from),
            receiver: inst(to),
            latest_version: 1,
            cancelled: false,
            related: None,
        }
    }

    fn seds(list: &[Allowed]) -> BTreeSet<String> {
        list.iter()
            .map(|a| format!("{}:{}", a.sed, a.action))
            .collect()
    }

    #[test]
    fn each_side_is_offered_what_the_engine_accepts_and_nothing_else() {
        let cat = catalogue();
        let def = cat.get(&BucType::parse("LA_BUC_02").unwrap()).unwrap();
        let a003 = doc("A003", "BE:ONSS", "NL:SVB");
        let view = la_buc_02("awaiting_reply", vec![a003.clone()]);
        let (be, nl) = (inst("BE:ONSS"), inst("NL:SVB"));
        let owner = allowed(
            def,
            &be,
            Role::CaseOwner,
            &[Conversation {
                with: &nl,
                with_role: Role::Counterparty,
                view: &view,
            }],
        );
        let counterparty = allowed(
            def,
            &nl,
            Role::Counterparty,
            &[Conversation {
                with: &be,
                with_role: Role::CaseOwner,
                view: &view,
            }],
        );
        let o = seds(&owner);
        let c = seds(&counterparty);
        // The owner may update its decision, remind of it, invalidate it, close the
        // case; it may not answer its own decision.
        for want in ["A003:Update", "X009:New", "X008:New", "X001:New"] {
            assert!(o.contains(want), "{want} missing for the owner: {o:?}");
        }
        for never in ["A004:New", "A012:New", "X011:New", "X012:New"] {
            assert!(!o.contains(never), "{never} offered to the owner: {o:?}");
        }
        // The counterparty answers (A004, A012), may ask to clarify (X012); it may
        // not close globally, invalidate or update the owner's decision.
        for want in ["A004:New", "A012:New", "X012:New"] {
            assert!(
                c.contains(want),
                "{want} missing for the counterparty: {c:?}"
            );
        }
        for never in ["X001:New", "X008:New", "A003:Update", "X006:New"] {
            assert!(
                !c.contains(never),
                "{never} offered to the counterparty: {c:?}"
            );
        }
        // Every answer names the decision, and every offer is one `step` accepts.
        assert!(
            counterparty
                .iter()
                .filter(|a| a.sed.as_str() == "A004")
                .all(|a| a.related.as_ref() == Some(&a003.id))
        );
        assert!(!owner.is_empty() && !counterparty.is_empty());
    }
}
