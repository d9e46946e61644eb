//! `GET /api/v1/cases/{caseId}/actions`: what the case's Belgian participants may
//! send now, as the BUC machine decides it (`buc::actions::allowed`).

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::{dto, load_case_for};
use crate::switch::Switch;

/// What each Belgian participant of the case that the caller acts for may send now.
pub(super) async fn get_case_actions(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
) -> Response {
    match load_case_for(&sw, &caller, &case_id, "read-case").await {
        Ok(d) => axum::Json(actions_of(&sw, &caller, &d)).into_response(),
        Err(r) => *r,
    }
}

/// What each participant this switch serves, and the caller acts for, may send in
/// the case now ([`crate::buc::actions::allowed`], which asks the BUC machine).
pub fn actions_of(
    sw: &Switch,
    caller: &Caller,
    d: &crate::store::CaseDetail,
) -> dto::CaseActionsDto {
    let mut participants = Vec::new();
    let Some(def) = sw.catalogue.get(&d.case.buc) else {
        return dto::CaseActionsDto {
            case_id: d.case.case_id.to_string(),
            participants,
        };
    };
    let documents: Vec<_> = d.documents.iter().map(|(doc, _)| doc.clone()).collect();
    for p in &d.participants {
        if !sw.is_served(&p.institution) || !caller.acts_for(&p.institution) {
            continue;
        }
        // A participant converses with those of the other role (the owner with each
        // counterparty, a counterparty with the owner).
        let views: Vec<_> = d
            .participants
            .iter()
            .filter(|q| q.role != p.role)
            .map(|q| {
                let view = crate::switch::apply::view_of(
                    &d.case,
                    &d.participants,
                    &d.conversations,
                    &documents,
                    &p.institution,
                    &q.institution,
                );
                (q, view)
            })
            .collect();
        let conversations: Vec<_> = views
            .iter()
            .map(|(q, view)| crate::buc::actions::Conversation {
                with: &q.institution,
                with_role: q.role,
                view,
            })
            .collect();
        participants.push(dto::ParticipantActionsDto {
            institution: p.institution.to_string(),
            role: p.role,
            actions: crate::buc::actions::allowed(def, &p.institution, p.role, &conversations),
        });
    }
    dto::CaseActionsDto {
        case_id: d.case.case_id.to_string(),
        participants,
    }
}
