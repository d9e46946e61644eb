//! The HTTP API for national institutions and case handlers: submit SEDs (directly
//! or in a national format through an adapter), and inspect cases, documents,
//! history, message delivery status, BUC definitions, health and metrics. Also the
//! web pages (`pages`) and the OpenAPI document.

mod actions;
pub mod auth;
mod batch;
pub mod dto;
pub mod edge;
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
use crate::store::{CaseFilter, CaseStatus, DocumentStatus, OutboxStatus};
use crate::switch::Switch;
use crate::switch::outbound::{
    IdempotencyKey, Issue, Submission, SubmitError, Submitted, submit_keyed,
};
use auth::{Access, Auth, Caller};
use dto::*;
use edge::{ApiQuery, BodyKind, HttpEdge};
use problem::Problem;

pub const OPENAPI: &str = include_str!("openapi.json");

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
            get(list_cases),
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
        .layer(Extension(auth))
        .layer(Extension(edge.clone()));
    edge::harden(router, edge).with_state(sw)
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
        .verify(token)
        .map_err(|e| Box::new(auth::unauthorized(&e)))?;
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
                return auth::forbidden(format!("the {} scope is required", scope.as_str()));
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
    match tokio::task::spawn_blocking(move || submit_keyed(&sw, s, Some(entry), key)).await {
        Ok(r) => submitted(edge, r),
        Err(_) => Problem::internal().into_response(),
    }
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

#[derive(Debug, Deserialize)]
struct CaseQuery {
    institution: Option<String>,
    /// An unknown status is refused (400) by `ApiQuery`.
    status: Option<CaseStatus>,
    limit: Option<u32>,
}

async fn list_cases(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> Response {
    let institution = match q
        .institution
        .as_deref()
        .map(InstitutionId::parse)
        .transpose()
    {
        Ok(i) => i,
        Err(e) => {
            return Problem::bad_request(vec![Issue {
                location: "query".into(),
                name: "institution".into(),
                value: q.institution.clone(),
                detail: e.to_string(),
                line: None,
            }])
            .into_response();
        }
    };
    let institution = match scoped_institution(&caller, institution) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let filter = CaseFilter {
        institution,
        status: q.status,
        limit: list_limit(q.limit),
    };
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.cases(&filter)).await {
        Ok(Ok(cases)) => axum::Json(
            cases
                .iter()
                .map(|(c, p)| CaseSummary::new(c, p))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
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

async fn get_case(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
) -> Response {
    match load_case_for(&sw, &caller, &case_id, "read-case").await {
        Ok(d) => {
            let mut dto = CaseDto::from(&d);
            dto.deadlines = deadlines_of(&sw, &d, chrono::Utc::now());
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

#[derive(Debug, Deserialize)]
struct LimitQuery {
    limit: Option<u32>,
    institution: Option<String>,
}

async fn list_dead_letters(
    State(sw): State<Arc<Switch>>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Response {
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.dead_letters(list_limit(q.limit))).await {
        Ok(Ok(list)) => {
            let out: Vec<serde_json::Value> = list
                .iter()
                .map(|d| {
                    let wm: crate::transport::WireMessage = serde_json::from_str(&d.properties).unwrap_or_default();
                    serde_json::json!({
                        "id": d.id, "messageId": d.message_id, "queue": d.queue, "deadAt": d.dead_at,
                        "reinjectedAt": d.reinjected_at, "type": wm.kind, "headers": wm.headers, "bodyBytes": d.body.len(),
                    })
                })
                .collect();
            axum::Json(out).into_response()
        }
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

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
        tx.case_set_state(
            &case.case_id,
            &case.state,
            crate::buc::definition::CLOSED,
            CaseStatus::Closed,
            Some(&case.state),
        )?;
        tx.history_append(
            &case.case_id,
            &crate::store::HistoryEntry {
                at: crate::store::now_rfc3339(),
                event: "local-close".into(),
                detail: format!("closed for this side only by {who}"),
                from_state: Some(case.state.clone()),
                to_state: Some(crate::buc::definition::CLOSED.into()),
                message_id: None,
                document_id: None,
            },
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

#[derive(Debug, Deserialize)]
struct MessageQuery {
    /// An unknown status is refused (400) by `ApiQuery`.
    status: Option<OutboxStatus>,
    limit: Option<u32>,
    /// The previous page's `nextCursor`.
    cursor: Option<i64>,
}

/// Messages, newest first, a page at a time: non-operators see the messages their
/// institution sent or received (filtered by the store before the limit).
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

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn health(State(sw): State<Arc<Switch>>) -> Response {
    if !sw.started.load(std::sync::atomic::Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "STARTING",
                "reason": "the access point's queues are not declared and consumed yet"
            })),
        )
            .into_response();
    }
    if let Some(reason) = sw.supervisor.reason() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "DOWN", "reason": reason})),
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
    let expiring: Vec<serde_json::Value> = sw
        .registry
        .expiring(chrono::Utc::now().timestamp(), sw.cert_warning_s)
        .into_iter()
        .map(|(who, until)| serde_json::json!({"owner": who, "notAfter": until}))
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
                "UP"
            } else {
                "DEGRADED"
            };
            axum::Json(serde_json::json!({
                "status": status,
                "accessPoint": sw.country.to_string(),
                "transport": sw.transport.describe(),
                "broker": sw.transport.state(),
                "outboxPending": pending,
                "outboxFailed": failed,
                "triageWaiting": triage,
                "certificatesExpiringSoon": expiring,
            }))
            .into_response()
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                serde_json::json!({"status": "DOWN", "reason": "the case store is unavailable"}),
            ),
        )
            .into_response(),
    }
}

async fn metrics(
    State(sw): State<Arc<Switch>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
) -> Response {
    let mut text = String::new();
    let expiring = sw
        .registry
        .expiring(chrono::Utc::now().timestamp(), sw.cert_warning_s)
        .len();
    text.push_str(&format!(
        "# TYPE eessi_certificates_expiring gauge\neessi_certificates_expiring {expiring}\n"
    ));
    let state = sw.transport.state();
    for (name, is) in [
        ("connected", crate::transport::BrokerState::Connected),
        ("blocked", crate::transport::BrokerState::Blocked),
    ] {
        text.push_str(&format!(
            "# TYPE eessi_broker_{name} gauge\neessi_broker_{name} {}\n",
            u8::from(state == is)
        ));
    }
    for (name, value) in sw.metrics.snapshot() {
        text.push_str(&format!(
            "# TYPE eessi_{name}_total counter\neessi_{name}_total {value}\n"
        ));
    }
    text.push_str("# TYPE eessi_limit gauge\n");
    for (name, value) in sw.limits() {
        text.push_str(&format!("eessi_limit{{name=\"{name}\"}} {value}\n"));
    }
    let queued = crate::switch::outbound::queued(&sw);
    text.push_str(&format!(
        "# TYPE eessi_submissions_queued gauge\neessi_submissions_queued {queued}\n"
    ));
    let store = sw.store.clone();
    if let Ok(Ok((parked, triage))) = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::store::StoreError>((store.parked_count()?, store.triage_waiting()?))
    })
    .await
    {
        text.push_str(&format!(
            "# TYPE eessi_parked gauge\neessi_parked {parked}\n\
             # TYPE eessi_triage_waiting gauge\neessi_triage_waiting {triage}\n"
        ));
    }
    edge.render_metrics(&mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
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

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for r in routes().iter().filter(|r| r.api) {
            let item = paths
                .get(r.path)
                .unwrap_or_else(|| panic!("{} is missing from openapi.json", r.path));
            assert!(
                item.get(r.method.to_lowercase()).is_some(),
                "{} {} is missing from openapi.json",
                r.method,
                r.path
            );
        }
        assert_eq!(
            doc["openapi"].as_str().map(|v| v.starts_with("3.")),
            Some(true)
        );
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
            "eessi_batch_items_accepted_total 0",
            "eessi_batch_items_refused_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
