//! The case page's actions, each a form post through the same path as the API:
//! a reminder (X009) is a `Submission` put to `outbound::submit_keyed` exactly as
//! `POST /api/v1/documents` puts it (the BUC machine decides, the audit entry
//! commits with it); a resend is the compare-and-set `failed` → `queued` of
//! `POST /api/v1/messages/{messageId}/resend` (`resend`, shared by both).
//!
//! The sign-in cookie counts only on safe methods at the gate (a foreign page can
//! make a browser post with it), so these routes are public there and check here,
//! before anything else: the Origin (`same_origin`), the session cookie verified
//! as a bearer token, the form's token (`csrf_of` that cookie, which a foreign page
//! cannot read), and the scope.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::i18n::t;
use super::{Ctx, csrf_of, error_page, see_other_to};
use crate::api::auth::{Auth, Caller, Scope};
use crate::api::edge::{HttpEdge, same_origin};
use crate::api::problem::Problem;
use crate::ids::{CaseId, DocumentId, InstitutionId, SedType};
use crate::store::{HistoryEntry, OutboxKind, OutboxStatus, StoreError};
use crate::switch::Switch;
use crate::switch::outbound::{Submission, submit_keyed};

/// The caller of a page form post, or the error page that refuses it.
#[allow(clippy::result_large_err)]
pub(super) fn page_caller(
    sw: &Switch,
    auth: &Option<Arc<Auth>>,
    headers: &HeaderMap,
    remote: &Caller,
    form_token: &str,
    scope: Scope,
    path: &str,
) -> Result<(Caller, Ctx), Response> {
    let ctx = Ctx::new(headers, None, sw.country.as_str(), path);
    if !same_origin(headers) {
        return Err(error_page(
            &ctx,
            StatusCode::FORBIDDEN,
            Some(t(ctx.lang, "error.cross_site")),
        ));
    }
    let mut caller = match auth {
        None => Caller::anonymous_dev(),
        Some(a) => {
            let Some(token) = crate::api::auth::cookie(headers) else {
                return Err(error_page(&ctx, StatusCode::UNAUTHORIZED, None));
            };
            let Ok(c) = crate::api::authenticate(a, sw, &token) else {
                return Err(error_page(&ctx, StatusCode::UNAUTHORIZED, None));
            };
            if !constant_time_eq(csrf_of(&token).as_bytes(), form_token.as_bytes()) {
                return Err(error_page(
                    &ctx,
                    StatusCode::FORBIDDEN,
                    Some(t(ctx.lang, "error.csrf")),
                ));
            }
            c
        }
    };
    if !caller.has(scope) {
        return Err(error_page(&ctx, StatusCode::FORBIDDEN, None));
    }
    caller.remote = remote.remote.clone();
    let ctx = Ctx::new(headers, Some(&caller), sw.country.as_str(), path);
    Ok((caller, ctx))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The start of every case form's handler: the case page's path, the form (a bad
/// one is a 400 page), the caller it acts for (`page_caller`: origin, cookie, form
/// token, scope) and the case as that caller may see it.
pub(super) async fn case_form<F>(
    sw: &Arc<Switch>,
    auth: &Option<Arc<Auth>>,
    remote: &Caller,
    case_id: &str,
    headers: &HeaderMap,
    form: Result<Form<F>, FormRejection>,
    csrf: fn(&F) -> &str,
) -> Result<(F, Caller, Ctx, String, crate::store::CaseDetail), Response> {
    let path = super::case_path(case_id);
    let Ok(Form(f)) = form else {
        let ctx = Ctx::new(headers, None, sw.country.as_str(), &path);
        return Err(error_page(&ctx, StatusCode::BAD_REQUEST, None));
    };
    let (caller, ctx) = page_caller(sw, auth, headers, remote, csrf(&f), Scope::Submit, &path)?;
    match crate::api::load_case_for(sw, &caller, case_id, "read-case-page").await {
        Ok(d) => Ok((f, caller, ctx, path, d)),
        Err(_) => Err(error_page(
            &ctx,
            StatusCode::NOT_FOUND,
            Some(t(ctx.lang, "error.not_visible")),
        )),
    }
}

/// Whether the BUC lets `from` send `sed` to `to` about `related` now (the engine
/// checks again when it plans).
pub(super) fn offered(
    sw: &Switch,
    caller: &Caller,
    d: &crate::store::CaseDetail,
    from: &InstitutionId,
    sed: &SedType,
    to: &InstitutionId,
    related: Option<&DocumentId>,
) -> bool {
    crate::api::actions::actions_of(sw, caller, d)
        .participants
        .iter()
        .filter(|p| p.institution == from.as_str())
        .flat_map(|p| p.actions.iter())
        .any(|a| &a.sed == sed && &a.to == to && a.related.as_ref() == related)
}

/// The stored envelope of a document's latest version (None: unreadable now).
pub(super) async fn stored_envelope(
    sw: &Switch,
    doc: &crate::store::DocumentRecord,
) -> Option<Vec<u8>> {
    let store = sw.store.clone();
    let (doc_id, v) = (doc.document_id.clone(), doc.latest_version);
    match tokio::task::spawn_blocking(move || store.document_envelope(&doc_id, v)).await {
        Ok(Ok(Some(e))) => Some(e),
        _ => None,
    }
}

/// Submit what a page form made, audited as `what`, through the API's path; back to
/// the case page with `done`, or the refusal as a page.
pub(super) async fn submit_from_page(
    sw: &Arc<Switch>,
    edge: &HttpEdge,
    ctx: &Ctx,
    caller: &Caller,
    submission: Submission,
    what: String,
    back: String,
) -> Response {
    let entry = crate::api::audit_entry(caller, "submit", what);
    let sw2 = sw.clone();
    match tokio::task::spawn_blocking(move || submit_keyed(&sw2, submission, Some(entry), None))
        .await
    {
        Ok(Ok(_)) => see_other_to(&back, None),
        Ok(Err(e)) => {
            let resp = crate::api::submit_failed(edge, e);
            let status = resp.status();
            let why = super::problem_detail(resp).await;
            error_page(ctx, status, why.as_deref())
        }
        Err(_) => error_page(ctx, StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

#[derive(Debug, Deserialize)]
pub struct ReminderForm {
    csrf: String,
    from: String,
    to: String,
    related: String,
}

/// `POST /cases/{caseId}/reminder`: send an X009 about one of our requests, built
/// from the request's own person block, if the BUC allows it now.
#[allow(clippy::too_many_arguments)]
pub async fn reminder(
    State(sw): State<Arc<Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    Extension(remote): Extension<Caller>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ReminderForm>, FormRejection>,
) -> Response {
    let (f, caller, ctx, path, d) = match case_form(
        &sw,
        &auth,
        &remote,
        &case_id,
        &headers,
        form,
        |f: &ReminderForm| &f.csrf,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (Ok(from), Ok(to), Ok(related)) = (
        InstitutionId::parse(&f.from),
        InstitutionId::parse(&f.to),
        DocumentId::parse(&f.related),
    ) else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let x009 = SedType::parse("X009").ok();
    let Some(sed) = x009.filter(|x| offered(&sw, &caller, &d, &from, x, &to, Some(&related)))
    else {
        return error_page(
            &ctx,
            StatusCode::CONFLICT,
            Some(t(ctx.lang, "case.no_actions")),
        );
    };
    // The person block comes from the request being reminded of.
    let Some((doc, _)) = d
        .documents
        .iter()
        .find(|(doc, _)| doc.document_id == related)
    else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let Some(envelope) = stored_envelope(&sw, doc).await else {
        return error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None);
    };
    let Some(body) = x009_body(&d.case.sed_version, &envelope, doc.sed.as_str(), &related) else {
        return error_page(
            &ctx,
            StatusCode::CONFLICT,
            Some(t(ctx.lang, "case.sed_unreadable")),
        );
    };
    let submission = Submission {
        from,
        to,
        buc: d.case.buc.clone(),
        sed,
        version: None,
        case_id: Some(d.case.case_id.clone()),
        document_id: None,
        related: Some(related),
        body: body.into_bytes(),
        reference: None,
    };
    submit_from_page(
        &sw,
        &edge,
        &ctx,
        &caller,
        submission,
        format!("page reminder {}", d.case.case_id),
        format!("{path}?done=reminder#actions"),
    )
    .await
}

/// An X009 about `related` (a `sed`) with the person block of that SED.
fn x009_body(
    version: &crate::ids::SedVersion,
    envelope: &[u8],
    sed: &str,
    related: &DocumentId,
) -> Option<String> {
    let p = context_person(envelope, sed)?;
    let (g, v) = version.generation_and_version();
    let esc = crate::sed::xml::escape;
    Some(format!(
        "<sed:X009 xmlns:sed=\"{}\" sedGVer=\"{g}\" sedVer=\"{v}\"><sed:ContextPerson>{p}</sed:ContextPerson>\
<sed:Reminder><sed:Item><sed:SedType>{}</sed:SedType><sed:DocumentID>{}</sed:DocumentID>\
<sed:Description>Reply to our {}</sed:Description></sed:Item></sed:Reminder></sed:X009>",
        version.namespace(),
        esc(sed),
        esc(related.as_str()),
        esc(sed),
    ))
}

/// The content of an X-SED's `ContextPerson` (family name, forename, birth date,
/// PINs) from the person block of a stored SED (`sed`: its type).
pub(super) fn context_person(envelope: &[u8], sed: &str) -> Option<String> {
    let root = super::sed_view::read(envelope, sed)?;
    let person = find(&root, &["ContextPerson", "PersonIdentification"])?;
    let mut p = String::new();
    for name in [
        "FamilyName",
        "Forename",
        "DateBirth",
        "PINPersonInEachInstitution",
    ] {
        if let Some(f) = person.children.iter().find(|c| c.name == name) {
            write_field(&mut p, f);
        }
    }
    Some(p)
}

fn find<'a>(f: &'a super::sed_view::Field, names: &[&str]) -> Option<&'a super::sed_view::Field> {
    if names.contains(&f.name.as_str()) {
        return Some(f);
    }
    f.children.iter().find_map(|c| find(c, names))
}

fn write_field(out: &mut String, f: &super::sed_view::Field) {
    let esc = crate::sed::xml::escape;
    out.push_str(&format!("<sed:{}>", f.name));
    if f.children.is_empty() {
        out.push_str(&esc(&f.text));
    } else {
        for c in &f.children {
            write_field(out, c);
        }
    }
    out.push_str(&format!("</sed:{}>", f.name));
}

/// Why a resend did not happen.
#[derive(Debug)]
pub enum ResendError {
    NotFound,
    NotFailed,
    Store(StoreError),
}

/// Resend a failed message: in one transaction, the row locked, the caller's right
/// to its case checked, compare-and-set `failed` → `queued` (`Tx::outbox_resend`),
/// the case's history and the audit entry.
pub fn resend(sw: &Switch, caller: &Caller, message_id: &str) -> Result<(), ResendError> {
    let mut tx = sw.store.begin().map_err(ResendError::Store)?;
    let mut row = None;
    for kind in [OutboxKind::Sed, OutboxKind::National, OutboxKind::Notice] {
        if let Some(m) = tx
            .outbox_lock_by_message_id(message_id, kind)
            .map_err(ResendError::Store)?
        {
            row = Some(m);
            break;
        }
    }
    let Some(m) = row else {
        return Err(ResendError::NotFound);
    };
    // Someone who may not see the message's case learns nothing of it.
    let visible = match &m.case_id {
        Some(c) => {
            caller.sees_all()
                || tx
                    .participants(c)
                    .map_err(ResendError::Store)?
                    .iter()
                    .any(|p| caller.acts_for(&p.institution))
        }
        None => caller.sees_all(),
    };
    if !visible {
        return Err(ResendError::NotFound);
    }
    if m.status != OutboxStatus::Failed || !tx.outbox_resend(m.id).map_err(ResendError::Store)? {
        return Err(ResendError::NotFailed);
    }
    if let Some(case_id) = &m.case_id {
        tx.history_append(
            case_id,
            &HistoryEntry {
                at: crate::store::now_rfc3339(),
                event: "resent".into(),
                detail: format!(
                    "{} to {} sent again by {}",
                    if m.kind == OutboxKind::Sed {
                        "SED".to_owned()
                    } else {
                        m.kind.to_string()
                    },
                    m.routing_key,
                    caller.subject
                ),
                from_state: None,
                to_state: None,
                message_id: Some(m.message_id.clone()),
                document_id: m.document_id.as_ref().map(|d| d.to_string()),
            },
        )
        .map_err(ResendError::Store)?;
    }
    tx.audit_append(&crate::api::audit_entry(
        caller,
        "resend",
        format!("message {message_id}"),
    ))
    .map_err(ResendError::Store)?;
    tx.commit().map_err(ResendError::Store)
}

/// `POST /api/v1/messages/{messageId}/resend`: 202, 404 (no such message the
/// caller may see), 409 (the message has not failed).
#[utoipa::path(
    post,
    path = "/api/v1/messages/{messageId}/resend",
    operation_id = "resendMessage",
    tag = "messages",
    summary = "Send a failed message again with a fresh retry schedule, recorded in the case's history and the audit log",
    params(("messageId" = String, Path, description = "The message id of the failed message")),
    responses(
        (status = 202, description = "Queued again"),
        (status = 404, description = "No such message in a case the caller takes part in (`resourceNotFound`)", body = crate::api::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message has not failed, or its body was pruned by retention (`notFailed`)", body = crate::api::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable; nothing changed", body = crate::api::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["handle"]))
)]
pub async fn api_resend(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(message_id): Path<String>,
) -> Response {
    if message_id.is_empty() || message_id.len() > 256 {
        return Problem::not_found("no such message".into()).into_response();
    }
    let sw2 = sw.clone();
    match tokio::task::spawn_blocking(move || resend(&sw2, &caller, &message_id)).await {
        Ok(Ok(())) => StatusCode::ACCEPTED.into_response(),
        Ok(Err(ResendError::NotFound)) => {
            Problem::not_found("no such message".into()).into_response()
        }
        Ok(Err(ResendError::NotFailed)) => Problem::new(
            StatusCode::CONFLICT,
            "urn:problem-type:eessi-switch:notFailed",
            "Only a failed message whose body is still kept can be sent again",
            None,
        )
        .into_response(),
        Ok(Err(ResendError::Store(e))) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ResendForm {
    csrf: String,
    case: String,
}

/// `POST /messages/{messageId}/resend`: the page's resend button.
pub async fn page_resend(
    State(sw): State<Arc<Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(remote): Extension<Caller>,
    Path(message_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ResendForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        let ctx = Ctx::new(&headers, None, sw.country.as_str(), "/");
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let back = CaseId::parse(&f.case)
        .map(|c| format!("/cases/{c}"))
        .unwrap_or_else(|_| "/".into());
    let (caller, ctx) =
        match page_caller(&sw, &auth, &headers, &remote, &f.csrf, Scope::Handle, &back) {
            Ok(c) => c,
            Err(r) => return r,
        };
    let sw2 = sw.clone();
    match tokio::task::spawn_blocking(move || resend(&sw2, &caller, &message_id)).await {
        Ok(Ok(())) => see_other_to(&format!("{back}?done=resend#messages"), None),
        Ok(Err(ResendError::NotFound)) => error_page(&ctx, StatusCode::NOT_FOUND, None),
        Ok(Err(ResendError::NotFailed)) => error_page(&ctx, StatusCode::CONFLICT, None),
        Ok(Err(ResendError::Store(_))) => error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None),
        Err(_) => error_page(&ctx, StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /cases/{caseId}/local-close`: the page's "close for our side only" button,
/// through the API's own local closure (`POST /api/v1/cases/{caseId}/local-close`).
pub async fn local_close(
    State(sw): State<Arc<Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(remote): Extension<Caller>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let path = format!(
        "/cases/{}",
        CaseId::parse(&case_id)
            .map(|c| c.to_string())
            .unwrap_or_default()
    );
    let Ok(Form(f)) = form else {
        let ctx = Ctx::new(&headers, None, sw.country.as_str(), &path);
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let (caller, ctx) =
        match page_caller(&sw, &auth, &headers, &remote, &f.csrf, Scope::Handle, &path) {
            Ok(c) => c,
            Err(r) => return r,
        };
    let resp = crate::api::local_close(State(sw.clone()), Extension(caller), Path(case_id)).await;
    let status = resp.status();
    if status.is_success() {
        return see_other_to(&format!("{path}?done=closed"), None);
    }
    if status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND {
        return error_page(
            &ctx,
            StatusCode::NOT_FOUND,
            Some(t(ctx.lang, "error.not_visible")),
        );
    }
    let why = super::problem_detail(resp).await;
    error_page(&ctx, status, why.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_carries_the_person_of_the_request_and_is_valid_against_its_schema() {
        let xml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/sed/4.2/A003.xml"
        ))
        .unwrap();
        let related = DocumentId::parse("3f2a9c4e8b1d4f6a9e7c2b5d8a0f1e3c").unwrap();
        let version = crate::ids::SedVersion::parse("4.2").unwrap();
        let body = x009_body(&version, xml.as_bytes(), "A003", &related).unwrap();
        assert!(
            body.contains("<sed:FamilyName>Verhoeven</sed:FamilyName>"),
            "{body}"
        );
        assert!(body.contains("<sed:PINPersonInEachInstitution><sed:PersonalIdentificationNumber><sed:Country>BE</sed:Country>"), "{body}");
        assert!(
            !body.contains("Sex"),
            "only the context person's fields: {body}"
        );
        let doc = crate::sed::xml::parse(body.as_bytes(), &crate::sed::xml::XmlLimits::default())
            .unwrap();
        let schema = crate::sed::validate::sed_schema_path(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/sed-schemas")),
            &version,
            &SedType::parse("X009").unwrap(),
        );
        crate::sed::validate::validate_document(&schema, &doc).expect("the X009 is valid");
        assert!(
            constant_time_eq(b"ab", b"ab")
                && !constant_time_eq(b"ab", b"ac")
                && !constant_time_eq(b"a", b"ab")
        );
    }
}
