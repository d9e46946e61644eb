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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct TriageQuery {
    /// Only entries in this status.
    #[param(value_type = Option<TriageStatus>)]
    status: Option<String>,
    /// At most this many entries (100 unless asked; at most 999).
    #[param(minimum = 1, maximum = 999)]
    limit: Option<u32>,
}

/// `GET /api/v1/triage?status=waiting|delivered&limit=N`: oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/triage",
    operation_id = "listTriage",
    tag = "operations",
    summary = "The triage queue, oldest first (operators)",
    params(TriageQuery),
    responses(
        (status = 200, description = "Entries", body = Vec<crate::store::TriageEntry>),
        (status = 400, description = "A bad query parameter (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["operate"]))
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/triage/{id}",
    operation_id = "getTriage",
    tag = "operations",
    summary = "One triage entry (operators)",
    params(("id" = i64, Path, description = "The triage entry's id")),
    responses(
        (status = 200, description = "The entry", body = crate::store::TriageEntry),
        (status = 400, description = "Not a triage entry id (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["operate"]))
)]
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignRequest {
    /// The Belgian institution that takes the SED.
    #[schema(example = "BE:ONEM")]
    institution: String,
}

/// `POST /api/v1/triage/{id}/assign` `{"institution": "BE:..."}`: deliver it there,
/// audited in the same transaction. `200` with the delivery's message id; `409`
/// when it is not waiting any more (someone assigned it), `422` when the
/// institution cannot take it.
#[utoipa::path(
    post,
    path = "/api/v1/triage/{id}/assign",
    operation_id = "assignTriage",
    tag = "operations",
    summary = "Deliver a waiting entry to a Belgian institution, audited (operators)",
    params(("id" = i64, Path, description = "The triage entry's id")),
    request_body(content = AssignRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Enqueued to the institution's national queue", body = super::dto::TriageAssigned),
        (status = 400, description = "Not a triage entry id, or not an institution id (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not waiting any more: someone assigned it (`triageSettled`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The institution cannot take it (`triageRefused`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["operate"]))
)]
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
            Json(super::dto::TriageAssigned {
                id,
                status: TriageStatus::Delivered,
                delivery_message_id: message_id.to_string(),
            }),
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
