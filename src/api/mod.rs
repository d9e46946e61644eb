//! The HTTP API for national institutions and case handlers: submit SEDs (directly
//! or in a national format through an adapter), and inspect cases, documents,
//! history, message delivery status, BUC definitions, health and metrics. Also the
//! web pages (`pages`) and the OpenAPI document.

mod actions;
pub mod auth;
mod batch;
pub mod cases;
pub mod dto;
pub mod edge;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod server;
mod triage;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;
use std::collections::HashMap;

use crate::ids::{BucType, CaseId, DocumentId, InstitutionId, SedType, SedVersion};
use crate::store::{DocumentStatus, OutboxStatus};
use crate::switch::Switch;
use crate::switch::outbound::{
    IdempotencyKey, Issue, Submission, SubmitError, Submitted, submit_keyed,
};
use auth::{Access, Auth, Caller};
use dto::*;
use edge::{ApiQuery, BodyKind, HttpEdge};
use problem::Problem;

/// One route: method, path template, who may call it, and the handler.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    /// Part of the JSON API (and so of the OpenAPI document), not a web page.
    pub api: bool,
    /// The media type of the body it takes (others: 415).
    pub body: BodyKind,
    pub handler: MethodRouter<Arc<Switch>>,
}

impl Route {
    fn takes(mut self, body: BodyKind) -> Route {
        self.body = body;
        self
    }
}

fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    api: bool,
    handler: MethodRouter<Arc<Switch>>,
) -> Route {
    Route {
        method,
        path,
        access,
        api,
        body: BodyKind::None,
        handler,
    }
}

/// Every route, with its access policy. The router is built from this table and the
/// authorization middleware enforces it, so a route cannot exist without a policy.
pub fn routes() -> Vec<Route> {
    use auth::Scope::*;
    vec![
        route(
            "POST",
            "/api/v1/documents",
            Access::Scope(Submit),
            true,
            post(post_document),
        )
        .takes(BodyKind::Json),
        route(
            "POST",
            "/api/v1/national/{adapter}",
            Access::Scope(Submit),
            true,
            post(post_national),
        )
        .takes(BodyKind::Xml),
        route(
            "POST",
            "/api/v1/national/{adapter}/batch",
            Access::Scope(Submit),
            true,
            post(batch::post_national_batch),
        )
        .takes(BodyKind::Ndjson),
        route(
            "GET",
            "/api/v1/cases",
            Access::Scope(Read),
            true,
            get(cases::list_cases),
        ),
        route(
            "GET",
            "/api/v1/cases/{caseId}",
            Access::Scope(Read),
            true,
            get(get_case),
        ),
        route(
            "GET",
            "/api/v1/cases/{caseId}/actions",
            Access::Scope(Read),
            true,
            get(actions::get_case_actions),
        ),
        route(
            "GET",
            "/api/v1/cases/{caseId}/documents/{documentId}/versions/{version}",
            Access::Scope(Read),
            true,
            get(get_envelope),
        ),
        route(
            "POST",
            "/api/v1/cases/{caseId}/local-close",
            Access::Scope(Handle),
            true,
            post(local_close),
        ),
        route(
            "GET",
            "/api/v1/messages",
            Access::Scope(Read),
            true,
            get(list_messages),
        ),
        route(
            "GET",
            "/api/v1/dead-letters",
            Access::Scope(Operate),
            true,
            get(list_dead_letters),
        ),
        route(
            "POST",
            "/api/v1/dead-letters/{id}/reinject",
            Access::Scope(Operate),
            true,
            post(reinject_dead_letter),
        ),
        route(
            "GET",
            "/api/v1/triage",
            Access::Scope(Operate),
            true,
            get(triage::list),
        ),
        route(
            "GET",
            "/api/v1/triage/{id}",
            Access::Scope(Operate),
            true,
            get(triage::get),
        ),
        route(
            "POST",
            "/api/v1/triage/{id}/assign",
            Access::Scope(Operate),
            true,
            post(triage::post_assign),
        )
        .takes(BodyKind::Json),
        route(
            "GET",
            "/api/v1/timers",
            Access::Scope(Operate),
            true,
            get(list_timers),
        ),
        route(
            "GET",
            "/api/v1/audit",
            Access::Scope(Operate),
            true,
            get(list_audit),
        ),
        route(
            "GET",
            "/api/v1/bucs",
            Access::Scope(Read),
            true,
            get(list_bucs),
        ),
        route(
            "GET",
            "/api/v1/openapi.json",
            Access::Public,
            true,
            get(openapi),
        ),
        route("GET", "/health", Access::Public, true, get(health)),
        route(
            "GET",
            "/metrics",
            Access::Scope(Operate),
            true,
            get(metrics),
        ),
        route(
            "POST",
            "/api/v1/messages/{messageId}/resend",
            Access::Scope(Handle),
            true,
            post(pages::act::api_resend),
        ),
        route(
            "GET",
            "/",
            Access::Scope(Read),
            false,
            get(pages::list::index),
        ),
        route(
            "GET",
            "/cases/{caseId}",
            Access::Scope(Read),
            false,
            get(pages::case::case),
        ),
        // The pages' form posts: public at the gate (the cookie counts on safe
        // methods only), each checks Origin, the session cookie, the form's token
        // and its scope itself (`pages::act::page_caller`).
        route(
            "POST",
            "/cases/{caseId}/reminder",
            Access::Public,
            false,
            post(pages::act::reminder),
        )
        .takes(BodyKind::Form),
        route(
            "POST",
            "/cases/{caseId}/local-close",
            Access::Public,
            false,
            post(pages::act::local_close),
        )
        .takes(BodyKind::Form),
        route(
            "GET",
            "/cases/{caseId}/write",
            Access::Scope(Read),
            false,
            get(pages::write::form_page),
        ),
        route(
            "POST",
            "/cases/{caseId}/write",
            Access::Public,
            false,
            post(pages::write::post),
        )
        .takes(BodyKind::Form),
        route(
            "POST",
            "/cases/{caseId}/write/check",
            Access::Public,
            false,
            post(pages::write::check),
        )
        .takes(BodyKind::Form),
        route(
            "POST",
            "/cases/{caseId}/xsed",
            Access::Public,
            false,
            post(pages::xsed::post),
        )
        .takes(BodyKind::Form),
        route(
            "POST",
            "/messages/{messageId}/resend",
            Access::Public,
            false,
            post(pages::act::page_resend),
        )
        .takes(BodyKind::Form),
        route(
            "GET",
            "/operations",
            Access::Scope(Operate),
            false,
            get(pages::ops::operations),
        ),
        route(
            "POST",
            "/triage/{id}/assign",
            Access::Public,
            false,
            post(pages::ops::assign),
        )
        .takes(BodyKind::Form),
        route(
            "POST",
            "/dead-letters/{id}/reinject",
            Access::Public,
            false,
            post(pages::ops::reinject),
        )
        .takes(BodyKind::Form),
        route(
            "POST",
            "/language",
            Access::Public,
            false,
            post(pages::language),
        )
        .takes(BodyKind::Form),
        // Signing in checks the pasted token itself (and the Origin); the cookie it
        // sets counts on GET and HEAD only.
        route(
            "GET",
            "/signin",
            Access::Public,
            false,
            get(pages::signin_form),
        ),
        route(
            "POST",
            "/signin",
            Access::Public,
            false,
            post(pages::signin),
        )
        .takes(BodyKind::Form),
        route(
            "POST",
            "/signout",
            Access::Public,
            false,
            post(pages::signout),
        ),
        route(
            "GET",
            "/style.css",
            Access::Public,
            false,
            get(pages::stylesheet),
        ),
        route(
            "GET",
            "/write.js",
            Access::Public,
            false,
            get(pages::write::script),
        ),
    ]
}

/// What the middleware needs of a route: its access policy and its body's media type.
type Policies = HashMap<(String, String), (Access, BodyKind)>;

/// The router; `auth` None disables authentication (development only: logged loudly).
/// `edge` holds the `[http]` settings and counters (`server::serve` shares it).
pub fn router(sw: Arc<Switch>, auth: Option<Auth>, edge: Arc<HttpEdge>) -> Router {
    let table = routes();
    let policies: Arc<Policies> = Arc::new(
        table
            .iter()
            .map(|r| ((r.method.to_owned(), r.path.to_owned()), (r.access, r.body)))
            .collect(),
    );
    let mut router = Router::new();
    // Group handlers by path: axum wants one MethodRouter per path.
    let mut by_path: Vec<(&'static str, MethodRouter<Arc<Switch>>)> = Vec::new();
    for r in table {
        match by_path.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, m)) => *m = std::mem::take(m).merge(r.handler),
            None => by_path.push((r.path, r.handler)),
        }
    }
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    let auth = auth.map(Arc::new);
    let gate = Gate {
        auth: auth.clone(),
        sw: sw.clone(),
        edge: edge.clone(),
        policies,
    };
    let router = router
        .fallback(|| async { Problem::not_found("no such resource".into()) })
        .layer(axum::middleware::from_fn(
            move |req: Request, next: axum::middleware::Next| {
                let gate = gate.clone();
                async move { authorize(gate, req, next).await }
            },
        ))
        // Refusals on page routes as pages for browsers (after the gate's own).
        .layer(axum::middleware::from_fn(pages::html_errors))
        .layer(axum::middleware::from_fn(observe))
        .layer(Extension(auth))
        .layer(Extension(edge.clone()));
    edge::harden(router, edge).with_state(sw)
}

/// Time every request into `eessi_http_request_duration_seconds`, by its matched
/// route (the template, never the ids in the path) and status class.
async fn observe(req: Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let response = next.run(req).await;
    crate::telemetry::http(
        method.as_str(),
        route.as_ref().map(|r| r.as_str()),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// What the authorization middleware consults.
#[derive(Clone)]
struct Gate {
    auth: Option<Arc<Auth>>,
    sw: Arc<Switch>,
    edge: Arc<HttpEdge>,
    policies: Arc<Policies>,
}

/// Verify a token as a bearer token is verified: signature, issuer, audience, times,
/// and an institution this access point serves (unless the caller operates).
pub fn authenticate(auth: &Auth, sw: &Switch, token: &str) -> Result<Caller, Box<Response>> {
    let caller = auth
        .check(token)
        .map_err(|e| Box::new(auth::token_refused(&e)))?;
    if !caller.sees_all() && !caller.institution.as_ref().is_some_and(|i| sw.is_served(i)) {
        return Err(Box::new(auth::forbidden(format!(
            "{} is not an institution this access point serves",
            caller
                .institution
                .as_ref()
                .map_or("the token's institution".to_owned(), |i| i.to_string())
        ))));
    }
    Ok(caller)
}

async fn authorize(gate: Gate, mut req: Request, next: axum::middleware::Next) -> Response {
    let matched = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let (access, body) = match matched {
        // No route matched: the fallback answers 404.
        None => (Access::Public, BodyKind::None),
        Some(path) => match gate.policies.get(&(req.method().as_str().to_owned(), path)) {
            Some(a) => *a,
            // Another method on a known path: axum answers 405.
            None => (Access::Public, BodyKind::None),
        },
    };
    // The sign-in cookie authenticates safe requests only: a foreign page can make
    // a browser send it with a POST, never with an Authorization header (CSRF).
    let safe = req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD;
    let caller = match (&gate.auth, access) {
        (None, _) => Caller::anonymous_dev(),
        (Some(_), Access::Public) => Caller {
            subject: "anonymous".into(),
            institution: None,
            scopes: Default::default(),
            unrestricted: false,
            remote: None,
        },
        (Some(a), Access::Scope(scope)) => {
            let Some(token) = auth::bearer(req.headers(), safe) else {
                return auth::unauthorized(if safe {
                    "a bearer token (or the sign-in cookie) is required"
                } else {
                    "a bearer token in the Authorization header is required"
                });
            };
            let caller = match authenticate(a, &gate.sw, &token) {
                Ok(c) => c,
                Err(r) => return *r,
            };
            if !caller.has(scope) {
                return auth::missing_scope(scope);
            }
            caller
        }
    };
    if let Err(p) = body.check(req.headers()) {
        return p.into_response();
    }
    let mut caller = caller;
    caller.remote = gate.edge.client(req.headers(), edge::peer(&req));
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// A listing's page size: 100 unless asked, never more than 999 (one read is bounded
/// whatever the query string says).
fn list_limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(100).clamp(1, 999)
}

/// Read the whole body, refusing more than the configured limit before reading it all.
async fn read_body(sw: &Switch, body: Body) -> Result<Bytes, Problem> {
    axum::body::to_bytes(body, sw.limits.body_bytes_max)
        .await
        .map_err(|_| Problem::too_large(sw.limits.body_bytes_max))
}

fn parse_field<T>(
    issues: &mut Vec<Issue>,
    name: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, crate::ids::IdError>,
) -> Option<T> {
    match parse(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let shown: String = value.chars().take(64).collect();
            issues.push(Issue {
                location: "body".into(),
                name: name.into(),
                value: Some(shown),
                detail: e.to_string(),
                line: None,
            });
            None
        }
    }
}

/// A refused submission as a problem; configuration faults are counted (the
/// problem does not carry their detail, the log does).
fn submit_failed(edge: &HttpEdge, e: SubmitError) -> Response {
    if matches!(e, SubmitError::Overloaded) {
        // 503 with Retry-After, like the HTTP concurrency cap.
        return edge::overloaded();
    }
    refusal(edge, e).into_response()
}

/// The problem a refused submission is answered with (alone, or as a batch item's).
fn refusal(edge: &HttpEdge, e: SubmitError) -> Problem {
    if matches!(e, SubmitError::Configuration(_)) {
        edge.metrics
            .configuration_faults
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    Problem::from(e)
}

async fn run_submit(
    sw: Arc<Switch>,
    edge: &HttpEdge,
    caller: &Caller,
    s: Submission,
    key: Option<IdempotencyKey>,
) -> Response {
    // Audited in the submission's own transaction: both commit, or neither.
    let entry = audit_entry(caller, "submit", String::new());
    let case_id = s.case_id.clone();
    let sw2 = sw.clone();
    match tokio::task::spawn_blocking(move || submit_keyed(&sw2, s, Some(entry), key)).await {
        // A SED the BUC does not allow now: refused with what it allows.
        Ok(Err(SubmitError::ProtocolViolation(why))) => {
            let mut p = refusal(edge, SubmitError::ProtocolViolation(why));
            if let Some(c) = case_id {
                p.allowed = allowed_now(&sw, caller, &c).await.map(Box::new);
            }
            p.into_response()
        }
        Ok(r) => submitted(edge, r),
        Err(_) => Problem::internal().into_response(),
    }
}

/// What the caller's institutions may send in the case now (None if it cannot be
/// read, or is not the caller's to see).
async fn allowed_now(
    sw: &Arc<Switch>,
    caller: &Caller,
    case_id: &CaseId,
) -> Option<Vec<dto::ParticipantActionsDto>> {
    let store = sw.store.clone();
    let id = case_id.clone();
    let d = tokio::task::spawn_blocking(move || store.case_detail(&id))
        .await
        .ok()?
        .ok()??;
    if !caller.may_read(d.participants.iter().map(|p| &p.institution)) {
        return None;
    }
    Some(actions::actions_of(sw, caller, &d).participants)
}

/// `202` with the ids (and `Idempotent-Replayed: true` for the answer of an earlier
/// request with the same key), or the refusal as a problem.
fn submitted(edge: &HttpEdge, r: Result<Submitted, SubmitError>) -> Response {
    match r {
        Ok(done) => {
            let replayed = done.replayed;
            let mut resp = (StatusCode::ACCEPTED, axum::Json(done)).into_response();
            if replayed {
                resp.headers_mut().insert(
                    header::HeaderName::from_static("idempotent-replayed"),
                    header::HeaderValue::from_static("true"),
                );
            }
            resp
        }
        Err(e) => submit_failed(edge, e),
    }
}

/// A JSON request body, or the `400` that says why it is not one.
fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| {
        Problem::bad_request(vec![Issue::body(
            "body",
            format!("not a valid request: {e}"),
            None,
        )])
    })
}

/// A submitting request's body (bounded) and its idempotency key, if any.
async fn keyed_body(
    sw: &Switch,
    caller: &Caller,
    req: Request,
) -> Result<(Bytes, Option<IdempotencyKey>), Problem> {
    let (parts, body) = req.into_parts();
    let bytes = read_body(sw, body).await?;
    let key = idempotency_key(
        caller,
        &parts.headers,
        &parts.method,
        parts.uri.path(),
        &bytes,
    )?;
    Ok((bytes, key))
}

/// The request's `Idempotency-Key` (IETF httpapi draft: a structured-field string;
/// a bare token is taken as well), scoped to the caller, with the digest of the
/// request (method, path, body). Absent: None; unusable: a `400`.
fn idempotency_key(
    caller: &Caller,
    headers: &axum::http::HeaderMap,
    method: &axum::http::Method,
    path: &str,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = |detail: &str| {
        Problem::bad_request(vec![Issue {
            location: "header".into(),
            name: "Idempotency-Key".into(),
            value: None,
            detail: detail.into(),
            line: None,
        }])
    };
    let text = value.to_str().map_err(|_| bad("not visible ASCII"))?.trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    check_key(caller, key).map_err(bad)?;
    Ok(Some(IdempotencyKey {
        scope: caller.subject.clone(),
        key: key.to_owned(),
        request_sha256: request_digest(method.as_str(), path, body),
    }))
}

/// An idempotency key (header or batch item) is 1 to 255 visible ASCII characters,
/// held under a caller identity that may hold keys.
fn check_key(caller: &Caller, key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be 1 to 255 visible ASCII characters");
    }
    // The rows of national references and Starts share the table: a caller
    // whose identity looks like their scope would share their key space.
    if crate::switch::outbound::reserved_scope(&caller.subject) {
        return Err("this caller's identity cannot hold idempotency keys");
    }
    Ok(())
}

/// The digest that tells one request from another under one key: method, path and
/// body. A batch item is digested as the single request it stands for, so the two
/// routes replay each other's submissions.
fn request_digest(method: &str, path: &str, body: &[u8]) -> String {
    let mut digest = openssl::sha::Sha256::new();
    digest.update(method.as_bytes());
    digest.update(b" ");
    digest.update(path.as_bytes());
    digest.update(b"\n");
    digest.update(body);
    hex::encode(digest.finish())
}

#[utoipa::path(
    post,
    path = "/api/v1/documents",
    operation_id = "submitDocument",
    tag = "submit",
    summary = "Send a SED from a Belgian institution",
    description = "A Start with a `caseId` this switch does not hold starts that case; sent again with the same sender, receiver, BUC, SED and body (a retry whose answer was lost), it gets the first answer (`Idempotent-Replayed: true`) within the duplicate window; another Start under that case id is a 409 `caseExists`.",
    params(("Idempotency-Key" = Option<String>, Header, description = "IETF httpapi Idempotency-Key: a retry with the same key and the same request gets the first answer (the same case, document and message ids; `Idempotent-Replayed: true`), never a second submission; the same key with another request is a 422. Keys are per caller and kept for the duplicate window. A national message's own reference is idempotent the same way, with a 409 for another message.", min_length = 1, max_length = 257, example = "\"8e03978e-40d5-43e8-bc93-6894a57f9324\"")),
    request_body(content = SubmitDocument, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted: validated, signed, stored and queued for sending", body = crate::switch::outbound::Submitted, headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer of an earlier submission (same Idempotency-Key, reference or Start), not a new one"))),
        (status = 400, description = "The request is not a valid submission: `badRequest` with located `issues[]` (a field, a SED schema violation with its line, a data-model version the receiver does not accept, a `caseId`, `documentId` or `relatedDocumentId` that names nothing: `referencedResourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token does not act for the sender (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The BUC does not allow this SED now (`protocolViolation`), or a Start names a case id that exists and another request started (`caseExists`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used with another request (`idempotencyKeyReused`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["submit"]))
)]
async fn post_document(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    req: Request,
) -> Response {
    let (bytes, key) = match keyed_body(&sw, &caller, req).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let dto: SubmitDocument = match json_body(&bytes) {
        Ok(d) => d,
        Err(p) => return p.into_response(),
    };
    let mut issues = Vec::new();
    let from = parse_field(&mut issues, "from", &dto.from, InstitutionId::parse);
    let to = parse_field(&mut issues, "to", &dto.to, InstitutionId::parse);
    let buc = parse_field(&mut issues, "buc", &dto.buc, BucType::parse);
    let sed = parse_field(&mut issues, "sed", &dto.sed, SedType::parse);
    let version = dto
        .sed_version
        .as_deref()
        .and_then(|v| parse_field(&mut issues, "sedVersion", v, SedVersion::parse));
    let case_id = dto
        .case_id
        .as_deref()
        .and_then(|v| parse_field(&mut issues, "caseId", v, CaseId::parse));
    let document_id = dto
        .document_id
        .as_deref()
        .and_then(|v| parse_field(&mut issues, "documentId", v, DocumentId::parse));
    let related = dto
        .related_document_id
        .as_deref()
        .and_then(|v| parse_field(&mut issues, "relatedDocumentId", v, DocumentId::parse));
    let (Some(from), Some(to), Some(buc), Some(sed), true) =
        (from, to, buc, sed, issues.is_empty())
    else {
        return Problem::bad_request(issues).into_response();
    };
    if !caller.acts_for(&from) {
        return auth::forbidden(format!("the token does not allow submitting as {from}"));
    }
    run_submit(
        sw,
        &edge,
        &caller,
        Submission {
            from,
            to,
            buc,
            sed,
            version,
            case_id,
            document_id,
            related,
            body: dto.body.into_bytes(),
            reference: None,
        },
        key,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/national/{adapter}",
    operation_id = "submitNational",
    tag = "submit",
    summary = "Send a national message; the named adapter translates it into a SED",
    description = "The adapter's national message (its README and XSD in adapters/<name>/). Besides the SED's content it may carry its case id, the document it answers (a reply: the SED's related document), the document of the institution's it updates (a new version), and the institution's own reference: the same message sent again under that reference gets the first answer (the same ids, `Idempotent-Replayed: true`), another message under it a 409 `referenceReused`. The BUC rules and refusals are those of `POST /api/v1/documents` with `relatedDocumentId` and `documentId`. With both an Idempotency-Key and a reference, either one that names a committed submission answers.",
    params(("adapter" = String, Path, description = "The national adapter (`adapters/<name>/`)", example = "onss-posting"), ("Idempotency-Key" = Option<String>, Header, description = "IETF httpapi Idempotency-Key: a retry with the same key and the same request gets the first answer (the same case, document and message ids; `Idempotent-Replayed: true`), never a second submission; the same key with another request is a 422. Keys are per caller and kept for the duplicate window. A national message's own reference is idempotent the same way, with a 409 for another message.", min_length = 1, max_length = 257, example = "\"8e03978e-40d5-43e8-bc93-6894a57f9324\"")),
    request_body(description = "The national message (XML)", content(("application/xml"), ("text/xml"))),
    responses(
        (status = 202, description = "Accepted: translated, validated, signed, stored and queued for sending", body = crate::switch::outbound::Submitted, headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer of an earlier submission (same Idempotency-Key, reference or Start), not a new one"))),
        (status = 400, description = "The message is not valid: `badRequest` with `issues[]` named by national paths (national schema or mapping), with lines where the XML has them; a case or document it names that does not exist is a `referencedResourceNotFound` issue", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's institution may not use this adapter, or the message's sender is not the caller's (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such adapter (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The BUC does not allow this SED now (`protocolViolation`), a Start names a case id that exists and another message started (`caseExists`), or the institution's reference was used with another message (`referenceReused`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used with another request (`idempotencyKeyReused`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["submit"]))
)]
async fn post_national(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    Path(adapter): Path<String>,
    req: Request,
) -> Response {
    if let Err(r) = national_gate(&sw, &edge, &caller, &adapter) {
        return *r;
    }
    let (bytes, key) = match keyed_body(&sw, &caller, req).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let sw2 = sw.clone();
    let edge2 = edge.clone();
    let result = tokio::task::spawn_blocking(move || {
        submit_national(&sw2, &edge2, &caller, &adapter, &bytes, key)
    })
    .await;
    match result {
        Ok(r) => submitted(&edge, r),
        Err(_) => Problem::internal().into_response(),
    }
}

/// What a national route checks before it reads the body: the adapter exists, and
/// the caller's institution is granted it (the message is not even read for
/// another; each message's sender is checked again by `submit_national`).
fn national_gate(
    sw: &Switch,
    edge: &HttpEdge,
    caller: &Caller,
    adapter: &str,
) -> Result<(), Box<Response>> {
    if sw.adapters.get(adapter).is_none() {
        return Err(Box::new(
            Problem::not_found(format!(
                "no adapter named {adapter:?}; known: {}",
                sw.adapters.names().join(", ")
            ))
            .into_response(),
        ));
    }
    if let Some(own) = &caller.institution
        && !edge.granted(adapter, own)
    {
        return Err(Box::new(auth::forbidden(format!(
            "{own} may not use the national adapter {adapter}"
        ))));
    }
    Ok(())
}

/// One national message, as `POST /api/v1/national/{adapter}` takes it and as each
/// batch item is taken: translated by the adapter, its sender checked against the
/// caller and the adapter's grants, and submitted under `key` with the caller's
/// audit entry. Blocking: XML work and the wait for the group commit.
fn submit_national(
    sw: &Arc<Switch>,
    edge: &HttpEdge,
    caller: &Caller,
    adapter: &str,
    message: &[u8],
    key: Option<IdempotencyKey>,
) -> Result<Submitted, SubmitError> {
    let a = sw
        .adapters
        .get(adapter)
        .ok_or_else(|| SubmitError::Invalid(vec![]))?;
    let mut t = a
        .translate(message, &sw.limits, &sw.versions[0])
        .map_err(adapt_issues)?;
    // Translated again into the case's version, or one the receiver accepts, when
    // that is not the first version spoken (the version decides the namespace).
    let version = crate::switch::outbound::national_version(sw, t.case_id.as_ref(), &t.to)?;
    if version != sw.versions[0] {
        t = a
            .translate(message, &sw.limits, &version)
            .map_err(adapt_issues)?;
    }
    if !caller.acts_for(&t.from) {
        return Err(SubmitError::Forbidden(format!(
            "the token does not allow submitting as {}",
            t.from
        )));
    }
    // A sender this access point does not serve is bad input, refused by `submit`.
    if sw.is_served(&t.from) && !edge.granted(adapter, &t.from) {
        return Err(SubmitError::Forbidden(format!(
            "{} may not use the national adapter {adapter}",
            t.from
        )));
    }
    // Audited in the submission's own transaction: both commit, or neither.
    let entry = audit_entry(caller, "submit", String::new());
    // Its reply, update and reference facts go the way a SED submission's do.
    let sed_xml = t.sed_xml.clone();
    match submit_keyed(
        sw,
        Submission::national(adapter, t, message),
        Some(entry),
        key,
    ) {
        // A SED the schema refuses, made from a valid national message: each
        // violation named by the national field it came from, not a SED path.
        Err(SubmitError::Invalid(issues)) => Err(SubmitError::Invalid(
            issues
                .into_iter()
                .map(|i| national_issue(a, &sed_xml, i))
                .collect(),
        )),
        other => other,
    }
}

/// An issue of the SED built from a national message, told in the national
/// message's terms: the national path of the field its element came from, when
/// the mapping traces it; the SED element otherwise, said to be the SED's.
fn national_issue(a: &crate::adapt::Adapter, sed_xml: &str, mut i: Issue) -> Issue {
    let Some(line) = i.line else {
        return i;
    };
    match a.national_path_of(sed_xml, line, &i.name) {
        Some(path) => i.name = path,
        None => i.name = format!("SED {}", i.name),
    }
    i.line = None;
    i.detail = format!("the SED made from this message: {}", i.detail);
    i
}

/// Every adapter problem as a located issue; a broken adapter definition is a
/// configuration fault, not the caller's.
fn adapt_issues(e: crate::adapt::AdaptError) -> SubmitError {
    use crate::adapt::AdaptError;
    let issues = match e {
        AdaptError::Xml(x) => {
            let line = match &x {
                crate::sed::xml::XmlError::NotWellFormed { line, .. } => *line,
                _ => None,
            };
            vec![Issue::body("body", x.to_string(), line)]
        }
        AdaptError::NationalInvalid(vs) => vs
            .into_iter()
            .map(|v| {
                Issue::body(
                    v.element.unwrap_or_else(|| "body".into()),
                    v.message,
                    v.line,
                )
            })
            .collect(),
        AdaptError::Mapping(ms) => ms
            .into_iter()
            .map(|m| Issue {
                location: "body".into(),
                name: m.field,
                value: m.value,
                detail: m.message,
                line: None,
            })
            .collect(),
        // A submission never builds a national message: the output variant
        // cannot happen here, and would be the adapter's fault if it did.
        definition @ (AdaptError::Definition { .. } | AdaptError::NationalOutputInvalid(_)) => {
            return SubmitError::Configuration(definition.to_string());
        }
    };
    SubmitError::Invalid(issues)
}

fn path_issue(name: &str, value: &str, e: impl std::fmt::Display) -> Problem {
    Problem::bad_request(vec![Issue {
        location: "path".into(),
        name: name.into(),
        value: Some(value.chars().take(64).collect()),
        detail: e.to_string(),
        line: None,
    }])
}

/// Which institution's cases a caller may list: its own unless it operates.
pub fn scoped_institution(
    caller: &Caller,
    asked: Option<InstitutionId>,
) -> Result<Option<InstitutionId>, Box<Response>> {
    if caller.sees_all() {
        return Ok(asked);
    }
    match (asked, &caller.institution) {
        (Some(a), Some(own)) if &a != own => Err(Box::new(auth::forbidden(format!(
            "the token does not allow reading {a}'s cases"
        )))),
        (_, own) => Ok(own.clone()),
    }
}

/// Load a case the caller may read (403 otherwise).
pub async fn load_case_for(
    sw: &Arc<Switch>,
    caller: &Caller,
    raw: &str,
    action: &str,
) -> Result<crate::store::CaseDetail, Box<Response>> {
    let d = load_case(sw, raw)
        .await
        .map_err(|p| Box::new(p.into_response()))?;
    if !caller.may_read(d.participants.iter().map(|p| &p.institution)) {
        // A refused read is recorded too (someone looked where they may not); the
        // refusal stands even when the audit log is down.
        let refused = format!("refused-{action}");
        if audit(sw, caller, &refused, d.case.case_id.to_string())
            .await
            .is_err()
        {
            tracing::error!(case_id = %d.case.case_id, "could not audit a refused read");
        }
        return Err(Box::new(auth::forbidden(
            "the token's institution does not take part in this case",
        )));
    }
    audit(sw, caller, action, d.case.case_id.to_string()).await?;
    Ok(d)
}

pub async fn load_case(sw: &Arc<Switch>, raw: &str) -> Result<crate::store::CaseDetail, Problem> {
    let id = CaseId::parse(raw).map_err(|e| path_issue("caseId", raw, e))?;
    let store = sw.store.clone();
    let id2 = id.clone();
    match tokio::task::spawn_blocking(move || store.case_detail(&id2)).await {
        Ok(Ok(Some(d))) => Ok(d),
        Ok(Ok(None)) => Err(Problem::not_found(format!("case {id} does not exist"))),
        Ok(Err(e)) => Err(Problem::unavailable(e.to_string())),
        Err(_) => Err(Problem::internal()),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/cases/{caseId}",
    operation_id = "getCase",
    tag = "cases",
    summary = "One case: participants, documents and versions, history, message status, conversations and deadlines",
    description = "The read is audited; it is refused (503) when it cannot be.",
    params(("caseId" = String, Path, description = "The international case id", pattern = "^[0-9a-f]{32}$", example = "9a2b7c4d1e0f4a3b8c6d5e4f3a2b1c0d")),
    responses(
        (status = 200, description = "The case", body = CaseDto),
        (status = 400, description = "Not a case id (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's institution does not take part in this case (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"]))
)]
async fn get_case(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
) -> Response {
    match load_case_for(&sw, &caller, &case_id, "read-case").await {
        Ok(d) => {
            let mut dto = CaseDto::from(&d);
            dto.deadlines = deadlines_of(&sw, &d, chrono::Utc::now());
            let timers = &d.timers;
            // An offered reminder counts while its document's answer is still awaited.
            dto.reminder_offered = timers.iter().any(|t| {
                t.what == crate::store::TimerKind::Offer
                    && t.status == crate::store::TimerStatus::Fired
                    && dto.deadlines.iter().any(|dl| {
                        matches!(dl, crate::buc::deadline::Deadline::Reply { document_id, overdue: true, .. }
                            if document_id.as_str() == t.subject)
                    })
            });
            dto.timers = timers.iter().map(dto::TimerDto::from).collect();
            axum::Json(dto).into_response()
        }
        Err(r) => *r,
    }
}

/// The case's pending deadlines from its BUC definition, at `now`.
pub fn deadlines_of(
    sw: &Switch,
    d: &crate::store::CaseDetail,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<crate::buc::deadline::Deadline> {
    let Some(def) = sw.catalogue.get(&d.case.buc) else {
        return Vec::new();
    };
    let docs: Vec<_> = d
        .documents
        .iter()
        .filter_map(|(doc, _)| {
            let at = chrono::DateTime::parse_from_rfc3339(&doc.created_at)
                .ok()?
                .with_timezone(&chrono::Utc);
            Some(crate::buc::deadline::DocTiming {
                id: doc.document_id.clone(),
                sed: doc.sed.clone(),
                at,
                related: doc.related.clone(),
                cancelled: doc.status == DocumentStatus::Cancelled,
            })
        })
        .collect();
    crate::buc::deadline::deadlines(def, &d.case.state, &docs, now)
}

/// Record an audited action. Reads are refused (503) when they cannot be audited:
/// an unaudited read of personal data is worse than no read.
fn audit_entry(caller: &Caller, action: &str, target: String) -> crate::store::AuditEntry {
    crate::store::AuditEntry {
        at: crate::store::now_rfc3339(),
        subject: caller.subject.clone(),
        institution: caller.institution.as_ref().map(|i| i.to_string()),
        action: action.to_owned(),
        target,
        remote: caller.remote.clone(),
    }
}

pub async fn audit(
    sw: &Arc<Switch>,
    caller: &Caller,
    action: &str,
    target: String,
) -> Result<(), Box<Response>> {
    let entry = audit_entry(caller, action, target);
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.audit_append(&entry)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Box::new(
            Problem::unavailable("the audit log is unavailable; nothing was read".into())
                .into_response(),
        )),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LimitQuery {
    /// At most this many entries (100 unless asked; at most 999).
    #[param(minimum = 1, maximum = 999)]
    limit: Option<u32>,
    /// Only this institution's entries.
    #[param(example = "BE:ONSS")]
    institution: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeadLetterQuery {
    /// At most this many entries (100 unless asked; at most 999).
    #[param(minimum = 1, maximum = 999)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/dead-letters",
    operation_id = "listDeadLetters",
    tag = "operations",
    summary = "Dead-lettered messages (operators), newest first",
    params(DeadLetterQuery),
    responses(
        (status = 200, description = "Newest first: headers and size, never the body", body = Vec<DeadLetterDto>),
        (status = 400, description = "A bad query parameter (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["operate"]))
)]
async fn list_dead_letters(
    State(sw): State<Arc<Switch>>,
    ApiQuery(q): ApiQuery<DeadLetterQuery>,
) -> Response {
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.dead_letters(list_limit(q.limit))).await {
        Ok(Ok(list)) => {
            let out: Vec<DeadLetterDto> = list
                .iter()
                .map(|d| {
                    let wm: crate::transport::WireMessage =
                        serde_json::from_str(&d.properties).unwrap_or_default();
                    DeadLetterDto {
                        id: d.id,
                        message_id: d.message_id.clone(),
                        queue: d.queue.clone(),
                        dead_at: d.dead_at.clone(),
                        reinjected_at: d.reinjected_at.clone(),
                        kind: wm.kind,
                        headers: wm.headers,
                        body_bytes: d.body.len(),
                    }
                })
                .collect();
            axum::Json(out).into_response()
        }
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/dead-letters/{id}/reinject",
    operation_id = "reinjectDeadLetter",
    tag = "operations",
    summary = "Publish a dead letter back to this access point's inbox (operators), audited",
    params(("id" = i64, Path, description = "The dead letter's id")),
    responses(
        (status = 202, description = "Re-injected"),
        (status = 400, description = "Not a dead-letter id (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dead letter (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log, the store or the broker is unavailable; nothing was re-injected", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["operate"]))
)]
async fn reinject_dead_letter(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return path_issue("id", &id, "not a dead-letter id").into_response();
    };
    if let Err(r) = audit(&sw, &caller, "reinject", format!("dead-letter {id}")).await {
        return *r;
    }
    match crate::switch::deadletter::reinject(&sw, id).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(crate::switch::deadletter::ReinjectError::NotFound(_)) => {
            Problem::not_found(format!("no dead letter {id}")).into_response()
        }
        Err(e) => Problem::unavailable(e.to_string()).into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "listAudit",
    tag = "operations",
    summary = "The audit log: every read of a case or document and every handler action (operators; read-only)",
    params(LimitQuery),
    responses(
        (status = 200, description = "Newest first", body = Vec<crate::store::AuditEntry>),
        (status = 400, description = "A bad query parameter (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["operate"]))
)]
async fn list_audit(State(sw): State<Arc<Switch>>, ApiQuery(q): ApiQuery<LimitQuery>) -> Response {
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || {
        store.audit_list(q.institution.as_deref(), list_limit(q.limit))
    })
    .await
    {
        Ok(Ok(list)) => axum::Json(list).into_response(),
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

/// A case handler closes the case for our side only (no SED is sent; the other
/// participants keep it open). X001 is the global closure.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{caseId}/local-close",
    operation_id = "localClose",
    tag = "cases",
    summary = "Close the case for our side only (a case handler action; no SED is sent)",
    params(("caseId" = String, Path, description = "The international case id", pattern = "^[0-9a-f]{32}$", example = "9a2b7c4d1e0f4a3b8c6d5e4f3a2b1c0d")),
    responses(
        (status = 204, description = "Closed locally"),
        (status = 400, description = "Not a case id (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's institution does not take part in this case (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The case is already closed (`protocolViolation`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["handle"]))
)]
pub(crate) async fn local_close(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
) -> Response {
    let d = match load_case_for(&sw, &caller, &case_id, "local-close").await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    if d.case.state == crate::buc::definition::CLOSED {
        return Problem::new(
            StatusCode::CONFLICT,
            "urn:problem-type:eessi-switch:protocolViolation",
            "The case is already closed",
            None,
        )
        .into_response();
    }
    let who = caller.subject.clone();
    let sw2 = sw.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(), crate::store::StoreError> {
        let mut tx = sw2.store.begin()?;
        let Some(case) = tx.case_lock(&d.case.case_id)? else {
            return Ok(());
        };
        if case.state == crate::buc::definition::CLOSED {
            // Closed meanwhile (the check above read it before this transaction).
            return Ok(());
        }
        crate::switch::record::close_locally(
            &mut *tx,
            sw2.catalogue.get(&case.buc),
            &case,
            &sw2.country,
            &format!("closed for this side only by {who}"),
        )?;
        tx.commit()
    })
    .await;
    match result {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/cases/{caseId}/documents/{documentId}/versions/{version}",
    operation_id = "getEnvelope",
    tag = "cases",
    summary = "The signed envelope of one document version, as sent or received",
    params(
        ("caseId" = String, Path, description = "The international case id", pattern = "^[0-9a-f]{32}$", example = "9a2b7c4d1e0f4a3b8c6d5e4f3a2b1c0d"),
        ("documentId" = String, Path, description = "The document id", pattern = "^[0-9a-f]{32}$"),
        ("version" = u32, Path, description = "The document version, from 1", minimum = 1),
    ),
    responses(
        (status = 200, description = "The envelope (XML)", body = String, content_type = "application/xml"),
        (status = 400, description = "Not a case id (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's institution does not take part in this case (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or the case holds no such document version (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"]))
)]
async fn get_envelope(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path((case_id, document_id, version)): Path<(String, String, String)>,
) -> Response {
    let d = match load_case_for(&sw, &caller, &case_id, "read-document").await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    // The case (which the caller may read) must hold this version; only then is its
    // envelope loaded.
    let found = d
        .documents
        .iter()
        .filter(|(doc, _)| doc.document_id.as_str() == document_id)
        .flat_map(|(doc, vs)| vs.iter().map(move |v| (doc.document_id.clone(), v.version)))
        .find(|(_, v)| v.to_string() == version);
    let Some((doc, v)) = found else {
        return Problem::not_found(format!(
            "document {document_id} version {version} is not in case {case_id}"
        ))
        .into_response();
    };
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.document_envelope(&doc, v)).await {
        Ok(Ok(Some(envelope))) => (
            [
                (header::CONTENT_TYPE, "application/xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            envelope,
        )
            .into_response(),
        Ok(Ok(None)) => Problem::not_found(format!(
            "document {document_id} version {version} is not in case {case_id}"
        ))
        .into_response(),
        _ => Problem::unavailable("the case store is unavailable".into()).into_response(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MessageQuery {
    /// Only messages in this status. An unknown status is refused (400) by `ApiQuery`.
    status: Option<OutboxStatus>,
    /// The page size (100 unless asked; at most 999).
    #[param(minimum = 1, maximum = 999)]
    limit: Option<u32>,
    /// The previous page's `nextCursor`.
    cursor: Option<i64>,
}

/// Messages, newest first, a page at a time: non-operators see the messages their
/// institution sent or received (filtered by the store before the limit).
#[utoipa::path(
    get,
    path = "/api/v1/messages",
    operation_id = "listMessages",
    tag = "messages",
    summary = "Outbound messages and their delivery status, a page at a time",
    description = "Stuck messages: status=retrying or failed. Newest first; an institution sees the messages it sent or received.",
    params(MessageQuery),
    responses(
        (status = 200, description = "One page of messages, newest first", body = MessagePage),
        (status = 400, description = "A bad query parameter (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token names no institution (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"]))
)]
async fn list_messages(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<MessageQuery>,
) -> Response {
    let institution = if caller.sees_all() {
        None
    } else {
        match caller.institution.clone() {
            Some(i) => Some(i),
            None => return auth::forbidden("the token names no institution"),
        }
    };
    let limit = list_limit(q.limit);
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || {
        // One more than asked tells whether another page follows.
        store.messages_page(q.status, institution.as_ref(), q.cursor, limit + 1)
    })
    .await
    {
        Ok(Ok(mut ms)) => {
            let next_cursor = if ms.len() > limit as usize {
                ms.truncate(limit as usize);
                ms.last().map(|m| m.id)
            } else {
                None
            };
            axum::Json(MessagePage {
                messages: ms.iter().map(MessageDto::from).collect(),
                next_cursor,
            })
            .into_response()
        }
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TimerQuery {
    /// Only timers in this status.
    #[param(value_type = Option<crate::store::TimerStatus>)]
    status: Option<String>,
    /// Only timers due before this time (RFC 3339).
    #[param(example = "2026-03-01T00:00:00Z")]
    due_before: Option<String>,
    /// At most this many timers (100 unless asked; at most 999).
    #[param(minimum = 1, maximum = 999)]
    limit: Option<u32>,
}

/// `GET /api/v1/timers?status=&due_before=&limit=` (operators): durable timers,
/// soonest due first; `due_before` is RFC 3339.
#[utoipa::path(
    get,
    path = "/api/v1/timers",
    operation_id = "listTimers",
    tag = "operations",
    summary = "Durable timers (operators), soonest due first",
    params(TimerQuery),
    responses(
        (status = 200, description = "Timers, soonest due first", body = Vec<dto::TimerDto>),
        (status = 400, description = "A bad query parameter (`badRequest`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["operate"]))
)]
async fn list_timers(State(sw): State<Arc<Switch>>, ApiQuery(q): ApiQuery<TimerQuery>) -> Response {
    let issue = |name: &str, value: &Option<String>, detail: String| {
        Problem::bad_request(vec![crate::switch::outbound::Issue {
            location: "query".into(),
            name: name.into(),
            value: value.clone(),
            detail,
            line: None,
        }])
        .into_response()
    };
    let status = match q
        .status
        .as_deref()
        .map(str::parse::<crate::store::TimerStatus>)
    {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            return issue(
                "status",
                &q.status,
                format!("{e}; one of pending, firing, fired, cancelled, failed"),
            );
        }
    };
    let due_before_ms = match q.due_before.as_deref() {
        None => None,
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(t.timestamp_millis()),
            Err(_) => {
                return issue(
                    "due_before",
                    &q.due_before,
                    "not an RFC 3339 time (e.g. 2026-03-01T00:00:00Z)".into(),
                );
            }
        },
    };
    let filter = crate::store::TimerFilter {
        status,
        due_before_ms,
        limit: list_limit(q.limit),
    };
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.timers(&filter)).await {
        Ok(Ok(list)) => {
            axum::Json(list.iter().map(dto::TimerDto::from).collect::<Vec<_>>()).into_response()
        }
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/bucs",
    operation_id = "listBucs",
    tag = "cases",
    summary = "The BUC definitions loaded",
    responses(
        (status = 200, description = "BUCs", body = Vec<BucSummary>),
        (status = 503, description = "Too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"]))
)]
async fn list_bucs(State(sw): State<Arc<Switch>>) -> Response {
    let list: Vec<BucSummary> = sw
        .catalogue
        .bucs
        .values()
        .map(|d| BucSummary {
            buc: d.id.to_string(),
            sector: d.sector.clone(),
            title: d.title.clone(),
            bilateral: d.bilateral,
            states: d.states.len(),
            seds: d.sed_types().into_iter().map(|s| s.to_string()).collect(),
        })
        .collect();
    axum::Json(list).into_response()
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    summary = "This document",
    responses(
        (status = 200, description = "The OpenAPI document, generated from the routes and wire types", body = Object, content_type = "application/json"),
        (status = 503, description = "Too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "operations",
    summary = "Health",
    description = "`UP`; `DEGRADED` when the broker is not connected or the triage queue is over its alarm; 503 `STARTING` (queues not consumed yet) or `DOWN` (a background task stopped, or the store is unavailable) with a reason.",
    responses(
        (status = 200, description = "Up or degraded", body = HealthDto),
        (status = 503, description = "Starting or down (or too many requests in hand: a problem)", content((HealthDto = "application/json"), (Problem = "application/problem+json"))),
    ),
    security(())
)]
async fn health(State(sw): State<Arc<Switch>>) -> Response {
    if !sw.started.load(std::sync::atomic::Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(HealthDto::down(
                HealthStatus::Starting,
                "the access point's queues are not declared and consumed yet",
            )),
        )
            .into_response();
    }
    if let Some(reason) = sw.supervisor.reason() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(HealthDto::down(HealthStatus::Down, reason)),
        )
            .into_response();
    }
    let store = sw.store.clone();
    let counts = tokio::task::spawn_blocking(move || {
        store
            .ping()
            .and_then(|_| Ok((store.outbox_unsettled_counts()?, store.triage_waiting()?)))
    })
    .await;
    let expiring: Vec<ExpiringCertificate> = sw
        .registry
        .expiring(chrono::Utc::now().timestamp(), sw.cert_warning_s)
        .into_iter()
        .map(|(owner, not_after)| ExpiringCertificate { owner, not_after })
        .collect();
    match counts {
        Ok(Ok((c, triage))) => {
            let pending: u64 = c
                .iter()
                .filter(|((_, s), _)| matches!(s, OutboxStatus::Queued | OutboxStatus::Retrying))
                .map(|(_, n)| n)
                .sum();
            let failed: u64 = c
                .iter()
                .filter(|((_, s), _)| *s == OutboxStatus::Failed)
                .map(|(_, n)| n)
                .sum();
            let triage_alarm = triage > u64::from(sw.bounds.triage_waiting_alarm);
            let status = if sw.transport.state() == crate::transport::BrokerState::Connected
                && !triage_alarm
            {
                HealthStatus::Up
            } else {
                HealthStatus::Degraded
            };
            axum::Json(HealthDto {
                status,
                reason: None,
                access_point: Some(sw.country.to_string()),
                transport: Some(sw.transport.describe()),
                broker: Some(sw.transport.state()),
                outbox_pending: Some(pending),
                outbox_failed: Some(failed),
                triage_waiting: Some(triage),
                certificates_expiring_soon: Some(expiring),
            })
            .into_response()
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(HealthDto::down(
                HealthStatus::Down,
                "the case store is unavailable",
            )),
        )
            .into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics (text exposition format 0.0.4)",
    description = "Counters (`eessi_<name>_total`), the configured bounds (`eessi_limit{name=...}`), gauges, and latency histograms: `eessi_http_request_duration_seconds` by route and status class, `eessi_stage_duration_seconds` by pipeline stage.",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 503, description = "Too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["operate"]))
)]
async fn metrics(
    State(sw): State<Arc<Switch>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
) -> Response {
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
    let gauge = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    let store = sw.store.clone();
    let counts = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::store::StoreError>((store.parked_count()?, store.triage_waiting()?))
    })
    .await;
    // One registry for this scrape, of the values as they are now and the
    // process's latency histograms (`telemetry`).
    let mut registry = prometheus_client::registry::Registry::with_prefix("eessi");
    let expiring = sw
        .registry
        .expiring(chrono::Utc::now().timestamp(), sw.cert_warning_s)
        .len();
    registry.register(
        "certificates_expiring",
        "Certificates that expire within the warning window",
        gauge(expiring as u64),
    );
    let state = sw.transport.state();
    registry.register(
        "broker_connected",
        "1 while the broker connection is up",
        gauge(u64::from(state == crate::transport::BrokerState::Connected)),
    );
    registry.register(
        "broker_blocked",
        "1 while the broker refuses publishes (resource alarm)",
        gauge(u64::from(state == crate::transport::BrokerState::Blocked)),
    );
    for (name, value) in sw
        .metrics
        .snapshot()
        .into_iter()
        .chain(sw.timer_metrics.snapshot())
    {
        registry.register(name, name.replace('_', " "), ConstCounter::new(value));
    }
    let limits = Family::<[(&'static str, &'static str); 1], Gauge>::default();
    for (name, value) in sw.limits() {
        limits
            .get_or_create(&[("name", name)])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
    registry.register("limit", "The configured bounds", limits);
    registry.register(
        "submissions_queued",
        "Submissions waiting for the committer",
        gauge(crate::switch::outbound::queued(&sw) as u64),
    );
    if let Ok(Ok((parked, triage))) = counts {
        registry.register(
            "parked",
            "Received SEDs parked for their predecessor",
            gauge(parked),
        );
        registry.register(
            "triage_waiting",
            "Received SEDs waiting for an operator",
            gauge(triage),
        );
    }
    edge.register_metrics(&mut registry);
    registry.register_collector(Box::new(crate::telemetry::Collector));
    let mut text = String::new();
    if prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).is_err() {
        return Problem::internal().into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listing_reads_a_bounded_page() {
        assert_eq!(list_limit(None), 100);
        assert_eq!(list_limit(Some(0)), 1);
        assert_eq!(list_limit(Some(u32::MAX)), 999);
    }

    /// Header keys are scoped by the caller: a caller whose identity is a scope of
    /// the switch's own rows (national references, Starts) may not hold keys, so
    /// no key can stand for a reference or a Start.
    #[test]
    fn a_header_key_never_shares_a_scope_with_references_or_starts() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("idempotency-key", "\"k-1\"".parse().unwrap());
        let key = |subject: &str| {
            let caller = Caller {
                subject: subject.into(),
                ..Caller::anonymous_dev()
            };
            idempotency_key(&caller, &headers, &axum::http::Method::POST, "/p", b"x")
        };
        let ok = key("BE:ONSS").unwrap().expect("a key");
        assert_eq!((ok.scope.as_str(), ok.key.as_str()), ("BE:ONSS", "k-1"));
        for reserved in ["national-ref:BE:ONSS:onss-posting", "case-start"] {
            let refused = key(reserved).expect_err("refused");
            assert_eq!(refused.status, 400);
        }
    }

    #[tokio::test]
    async fn metrics_show_the_limits_and_the_retention_periods() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut config = crate::harness::demo::demo_config(&root, "BE", dir.path(), None).unwrap();
        config.retention.body_days = 7;
        let sw = Arc::new(
            Switch::build(
                &config,
                Arc::new(crate::transport::memory::MemoryBroker::new()),
            )
            .unwrap(),
        );
        let edge = Arc::new(HttpEdge::new(Default::default(), config.body_bytes_max));
        let r = metrics(State(sw), Extension(edge)).await;
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        for line in [
            "eessi_limit{name=\"relay_claim_rows\"} 256",
            "eessi_limit{name=\"retention_body_days\"} 7",
            "eessi_limit{name=\"retention_duplicate_window_days\"} 30",
            "eessi_limit{name=\"retention_history_days\"} 400",
            "eessi_retention_outbox_bodies_pruned_total 0",
            "eessi_limit{name=\"batch_items_max\"} 1000",
            "eessi_limit{name=\"batch_concurrency\"} 16",
            "eessi_limit{name=\"batch_body_bytes_max\"} 33554432",
            "eessi_limit{name=\"case_page_max\"} 1000",
            "eessi_batch_items_accepted_total 0",
            "eessi_batch_items_refused_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}

#[cfg(test)]
mod metrics_tests {
    use super::*;
    use tower::ServiceExt;

    /// A line-by-line reading of the Prometheus text format (0.0.4): every sample
    /// of a family declared by `# TYPE`, with a well-formed name, labels and value.
    /// Returns the samples (name with labels, value).
    fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
        let is_name = |n: &str| {
            !n.is_empty()
                && n.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
                })
        };
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# ") {
                let mut words = rest.splitn(3, ' ');
                let (kind, name, tail) = (words.next(), words.next(), words.next());
                assert!(name.is_some_and(is_name), "bad comment: {line}");
                if kind == Some("TYPE") {
                    let t = tail.expect("a type");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "{line}"
                    );
                    types.insert(name.unwrap_or_default().to_owned(), t.to_owned());
                } else {
                    assert_eq!(kind, Some("HELP"), "{line}");
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
            };
            let name = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("closed labels");
                    for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                        let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
                        assert!(is_name(k), "bad label {k} in {line}");
                        assert!(!v.contains('\n'), "{line}");
                    }
                    name
                }
                None => series,
            };
            assert!(is_name(name), "bad name: {line}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
                })
                .unwrap_or(name);
            assert!(types.contains_key(family), "{name} has no # TYPE");
            samples.push((series.to_owned(), value));
        }
        samples
    }

    /// `/metrics` is Prometheus text, with the counters the harness reads, the
    /// limits, and the latency histograms: the request just made counted under its
    /// route, and every pipeline stage present.
    #[tokio::test]
    async fn metrics_are_prometheus_text_with_latency_histograms() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let config = crate::harness::demo::demo_config(&root, "BE", dir.path(), None).unwrap();
        let sw = Arc::new(
            Switch::build(
                &config,
                Arc::new(crate::transport::memory::MemoryBroker::new()),
            )
            .unwrap(),
        );
        let edge = Arc::new(HttpEdge::new(Default::default(), config.body_bytes_max));
        let app = router(sw, None, edge);
        let get = |path: &str| axum::http::Request::get(path).body(Body::empty()).unwrap();
        let r = app.clone().oneshot(get("/api/v1/bucs")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app.oneshot(get("/metrics")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = String::from_utf8(
            axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        let samples: HashMap<String, f64> = parse_prometheus(&text).into_iter().collect();
        let bucs = "eessi_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/bucs\",status=\"2xx\"}";
        assert!(
            samples.get(bucs).is_some_and(|n| *n >= 1.0),
            "{bucs} in\n{text}"
        );
        assert!(
            samples.contains_key(
                "eessi_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/bucs\",status=\"2xx\",le=\"+Inf\"}"
            ),
            "{text}"
        );
        for stage in crate::telemetry::Stage::ALL {
            let count = format!(
                "eessi_stage_duration_seconds_count{{stage=\"{}\"}}",
                stage.as_str()
            );
            assert!(samples.contains_key(&count), "{count} in\n{text}");
        }
        for series in [
            "eessi_inbound_received_total",
            "eessi_batch_items_accepted_total",
            "eessi_http_overload_refused_total",
            "eessi_limit{name=\"batch_items_max\"}",
            "eessi_broker_connected",
        ] {
            assert!(samples.contains_key(series), "{series} in\n{text}");
        }
    }
}
