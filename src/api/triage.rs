//! The triage queue over HTTP (operators): list, read, assign.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::auth::Caller;
use super::edge::ApiQuery;
use super::problem::Problem;
use super::{audit_entry, json_body, list_limit, path_issue};
use crate::ids::InstitutionId;
use crate::store::TriageStatus;
use crate::switch::Switch;
use crate::switch::outbound::Issue;
use crate::switch::triage::{AssignError, assign};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TriageQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/triage?status=waiting|delivered&limit=N`: oldest first.
pub(super) async fn list(
    State(sw): State<Arc<Switch>>,
    ApiQuery(q): ApiQuery<TriageQuery>,
) -> Response {
    let status = match q.status.as_deref().map(str::parse::<TriageStatus>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            return Problem::bad_request(vec![Issue {
                location: "query".into(),
                name: "status".into(),
                value: q.status.clone(),
                detail: format!("{e}; one of waiting, delivered"),
                line: None,
            }])
            .into_response();
        }
    };
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.triage_list(status, list_limit(q.limit))).await
    {
        Ok(Ok(list)) => Json(list).into_response(),
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

/// `GET /api/v1/triage/{id}`.
pub(super) async fn get(State(sw): State<Arc<Switch>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return path_issue("id", &id, "not a triage entry id").into_response();
    };
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.triage_get(id)).await {
        Ok(Ok(Some(e))) => Json(e).into_response(),
        Ok(Ok(None)) => Problem::not_found(format!("no triage entry {id}")).into_response(),
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignRequest {
    institution: String,
}

/// `POST /api/v1/triage/{id}/assign` `{"institution": "BE:..."}`: deliver it there,
/// audited in the same transaction. `200` with the delivery's message id; `409`
/// when it is not waiting any more (someone assigned it), `422` when the
/// institution cannot take it.
pub(super) async fn post_assign(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return path_issue("id", &id, "not a triage entry id").into_response();
    };
    let req: AssignRequest = match json_body(&body) {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    let to = match InstitutionId::parse(&req.institution) {
        Ok(t) => t,
        Err(e) => {
            return Problem::bad_request(vec![Issue {
                value: Some(req.institution.chars().take(64).collect()),
                ..Issue::body("institution", e.to_string(), None)
            }])
            .into_response();
        }
    };
    let actor = audit_entry(&caller, "triage-assign", String::new());
    match tokio::task::spawn_blocking(move || assign(&sw, id, &to, &actor)).await {
        Ok(Ok(message_id)) => (
            StatusCode::OK,
            Json(serde_json::json!({"id": id, "status": "delivered", "deliveryMessageId": message_id})),
        )
            .into_response(),
        Ok(Err(e @ AssignError::NotFound(_))) => Problem::not_found(e.to_string()).into_response(),
        Ok(Err(e @ AssignError::NotWaiting { .. })) => Problem::new(
            StatusCode::CONFLICT,
            "urn:problem-type:eessi-switch:triageSettled",
            "Already assigned",
            e.to_string(),
        )
        .into_response(),
        Ok(Err(AssignError::Refused(why))) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "urn:problem-type:eessi-switch:triageRefused",
            "The institution cannot take it",
            why,
        )
        .into_response(),
        Ok(Err(AssignError::Store(e))) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}
