//! `GET /api/v1/cases/{caseId}/actions`: what the case's Belgian participants may
//! send now, as the BUC machine decides it (`buc::actions::allowed`).

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::problem::Problem;
use super::{dto, load_case_for};
use crate::switch::Switch;

/// What each Belgian participant of the case that the caller acts for may send now.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{caseId}/actions",
    operation_id = "getCaseActions",
    tag = "cases",
    summary = "What each Belgian participant of the case (that the caller acts for) may send now",
    description = "Every SED the BUC's state machine would accept, with its receiver, the document it names and the action.",
    params(("caseId" = String, Path, description = "The international case id", pattern = "^[0-9a-f]{32}$", example = "9a2b7c4d1e0f4a3b8c6d5e4f3a2b1c0d")),
    responses(
        (status = 200, description = "The allowed SEDs per participant", body = super::dto::CaseActionsDto),
        (status = 400, description = "Not a case id (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's institution does not take part in this case (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"]))
)]
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
