//! `GET /operations`: the operators' page: received SEDs waiting in triage, each
//! with a form to assign it to a Belgian institution, and dead letters, each with a
//! re-inject button. Both act through the same functions as their API routes
//! (`switch::triage::assign`, `switch::deadletter::reinject`), audited alike.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::fmt::{short_id, time};
use super::i18n::t;
use super::{Ctx, error_page, html_response, page, see_other_to};
use crate::api::auth::{Auth, Caller, Scope};
use crate::ids::InstitutionId;
use crate::store::TriageStatus;
use crate::switch::Switch;

/// Rows shown per list.
const LIMIT: u32 = 200;

pub async fn operations(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&headers, Some(&caller), sw.country.as_str(), "/operations");
    let lang = ctx.lang;
    let store = sw.store.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
        Ok((
            store.triage_list(Some(TriageStatus::Waiting), LIMIT)?,
            store.dead_letters(LIMIT)?,
        ))
    })
    .await;
    let Ok(Ok((triage, dead))) = read else {
        return error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None);
    };
    let served: Vec<_> = sw.registry.institutions_of(&sw.country).collect();
    let done = raw.as_deref().and_then(|q| q.strip_prefix("done="));
    let body = html! {
        @match done {
            Some("assign") => p class="notice" role="status" { (t(lang, "ops.assign_done")) },
            Some("reinject") => p class="notice" role="status" { (t(lang, "ops.reinject_done")) },
            _ => {},
        }
        section aria-labelledby="triage" {
            h2 id="triage" { (t(lang, "ops.triage")) }
            @if triage.is_empty() {
                p { (t(lang, "ops.none_triage")) }
            } @else {
                div class="table-wrap" tabindex="0" role="region" aria-label=(t(lang, "ops.triage")) { table id="triage-table" {
                    caption { (t(lang, "ops.triage")) }
                    thead { tr {
                        th scope="col" { (t(lang, "ops.received")) }
                        th scope="col" { (t(lang, "case.sed")) }
                        th scope="col" { (t(lang, "ops.sender")) }
                        th scope="col" { (t(lang, "ops.addressed")) }
                        th scope="col" { (t(lang, "ops.reason")) }
                        th scope="col" { (t(lang, "ops.assign")) }
                    } }
                    tbody {
                        @for e in &triage {
                            tr {
                                th scope="row" { (time(lang, &e.created_at)) " " a href={ "/cases/" (e.case_id) } { (short_id(e.case_id.as_str())) } }
                                td { (e.sed) " (" (e.buc) ")" }
                                td { (e.sender) }
                                td { (e.addressed) }
                                td { (e.reason) }
                                td {
                                    form method="post" action={ "/triage/" (e.id) "/assign" } {
                                        input type="hidden" name="csrf" value=(ctx.csrf);
                                        label for={ "assign-" (e.id) } { (t(lang, "ops.assign_to")) }
                                        " "
                                        select id={ "assign-" (e.id) } name="institution" {
                                            @for i in &served {
                                                option value=(i.id) selected[i.id.as_str() == e.addressed] { (i.name) " (" (i.id) ")" }
                                            }
                                        }
                                        " "
                                        button type="submit" { (t(lang, "ops.assign")) }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
        section aria-labelledby="dead" {
            h2 id="dead" { (t(lang, "ops.dead_letters")) }
            @if dead.is_empty() {
                p { (t(lang, "ops.none_dead")) }
            } @else {
                div class="table-wrap" tabindex="0" role="region" aria-label=(t(lang, "ops.dead_letters")) { table id="dead-table" {
                    caption { (t(lang, "ops.dead_letters")) }
                    thead { tr {
                        th scope="col" { (t(lang, "ops.dead_at")) }
                        th scope="col" { (t(lang, "case.message")) }
                        th scope="col" { (t(lang, "ops.queue")) }
                        th scope="col" { (t(lang, "ops.reinjected")) }
                    } }
                    tbody {
                        @for d in &dead {
                            tr {
                                th scope="row" { (time(lang, &d.dead_at)) }
                                td { @if let Some(m) = &d.message_id { (short_id(m)) } }
                                td { (d.queue) }
                                td {
                                    @if let Some(at) = &d.reinjected_at {
                                        (time(lang, at))
                                    } @else {
                                        form method="post" action={ "/dead-letters/" (d.id) "/reinject" } {
                                            input type="hidden" name="csrf" value=(ctx.csrf);
                                            button type="submit" { (t(lang, "ops.reinject")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    html_response(StatusCode::OK, page(&ctx, t(lang, "ops.title"), body))
}

#[derive(Debug, Deserialize)]
pub struct AssignForm {
    csrf: String,
    institution: String,
}

/// `POST /triage/{id}/assign`: the page's assign button.
pub async fn assign(
    State(sw): State<Arc<Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(remote): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<AssignForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let ctx = Ctx::new(&headers, None, sw.country.as_str(), "/operations");
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let (caller, ctx) = match super::act::page_caller(
        &sw,
        &auth,
        &headers,
        &remote,
        &f.csrf,
        Scope::Operate,
        "/operations",
    ) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (Ok(id), Ok(to)) = (id.parse::<i64>(), InstitutionId::parse(&f.institution)) else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let actor = crate::api::audit_entry(&caller, "triage-assign", String::new());
    let sw2 = sw.clone();
    use crate::switch::triage::AssignError;
    match tokio::task::spawn_blocking(move || crate::switch::triage::assign(&sw2, id, &to, &actor))
        .await
    {
        Ok(Ok(_)) => see_other_to("/operations?done=assign", None),
        Ok(Err(AssignError::NotFound(_))) => error_page(&ctx, StatusCode::NOT_FOUND, None),
        Ok(Err(e @ AssignError::NotWaiting { .. })) => {
            error_page(&ctx, StatusCode::CONFLICT, Some(&e.to_string()))
        }
        Ok(Err(AssignError::Refused(why))) => {
            error_page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, Some(&why))
        }
        Ok(Err(AssignError::Store(_))) => error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None),
        Err(_) => error_page(&ctx, StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /dead-letters/{id}/reinject`: the page's re-inject button.
pub async fn reinject(
    State(sw): State<Arc<Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(remote): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let ctx = Ctx::new(&headers, None, sw.country.as_str(), "/operations");
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let (caller, ctx) = match super::act::page_caller(
        &sw,
        &auth,
        &headers,
        &remote,
        &f.csrf,
        Scope::Operate,
        "/operations",
    ) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    if crate::api::audit(&sw, &caller, "reinject", format!("dead-letter {id}"))
        .await
        .is_err()
    {
        return error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None);
    }
    match crate::switch::deadletter::reinject(&sw, id).await {
        Ok(()) => see_other_to("/operations?done=reinject", None),
        Err(crate::switch::deadletter::ReinjectError::NotFound(_)) => {
            error_page(&ctx, StatusCode::NOT_FOUND, None)
        }
        Err(_) => error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None),
    }
}
