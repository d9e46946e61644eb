//! Web pages for case handlers: the list of cases and one case's timeline, server
//! rendered (no script, no inline style: the Content-Security-Policy allows
//! neither), every value escaped; and the sign-in page, which sets the token
//! cookie the pages authenticate with.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

use super::auth::{Auth, Caller};
use super::edge::{ApiQuery, HttpEdge, same_origin};
use super::problem::Problem;
use crate::switch::outbound::Issue;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::sed::xml::escape;
use crate::store::CaseFilter;
use crate::switch::Switch;

/// The pages' one stylesheet (`GET /style.css`).
const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#eee}\
.failed,.rejected{color:#b00}.delivered{color:#070}code{font-size:90%}\
form.inline{display:inline}textarea{width:100%;font-family:monospace}\n";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<link rel=\"stylesheet\" href=\"/style.css\"></head>\
<body><p><a href=\"/\">cases</a> · <a href=\"/api/v1/openapi.json\">API</a> · <a href=\"/signin\">sign in</a> · \
<form class=\"inline\" method=\"post\" action=\"/signout\"><button type=\"submit\">sign out</button></form></p>\
<h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    ))
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

pub async fn signin_form() -> Response {
    page(
        "Sign in",
        "<form method=\"post\" action=\"/signin\"><p><label for=\"token\">Paste your access token</label></p>\
<p><textarea id=\"token\" name=\"token\" rows=\"6\" required></textarea></p>\
<p><button type=\"submit\">Sign in</button></p></form>",
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct SigninForm {
    token: String,
}

/// The sign-in cookie: never readable by scripts, never sent cross-site.
fn cookie(value: &str, max_age: Option<u32>, secure: bool) -> HeaderValue {
    let mut c = format!(
        "{}={value}; HttpOnly; SameSite=Strict; Path=/",
        super::auth::COOKIE
    );
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={s}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    // invariant: a verified token is base64url and dots, valid in a header
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cross_site() -> Response {
    super::auth::forbidden("the form must be posted from this site (Origin does not match Host)")
}

fn see_other(location: &'static str, set_cookie: HeaderValue) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, HeaderValue::from_static(location)),
            (header::SET_COOKIE, set_cookie),
        ],
    )
        .into_response()
}

/// `POST /signin`: the pasted token is verified exactly as a bearer token is, then
/// set as the cookie. A foreign page's form (another Origin) cannot sign a
/// browser in with the attacker's token.
pub async fn signin(
    State(sw): State<Arc<crate::switch::Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    Extension(remote): Extension<Caller>,
    headers: HeaderMap,
    form: Result<Form<SigninForm>, FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let Some(auth) = auth else {
        return Problem::not_found(
            "authentication is off on this access point: there is nothing to sign in to".into(),
        )
        .into_response();
    };
    let token = match form {
        Ok(Form(f)) => f.token.trim().to_owned(),
        Err(e) => {
            return Problem::bad_request(vec![Issue::body("token", e.body_text(), None)])
                .into_response();
        }
    };
    let mut caller = match super::authenticate(&auth, &sw, &token) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    caller.remote = remote.remote;
    if super::audit(&sw, &caller, "signin", "web pages".into())
        .await
        .is_err()
    {
        tracing::error!(subject = %caller.subject, "could not audit a sign-in");
    }
    see_other("/", cookie(&token, None, edge.config.cookie_secure))
}

/// `POST /signout`: the cookie is cleared.
pub async fn signout(Extension(edge): Extension<Arc<HttpEdge>>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    see_other("/signin", cookie("", Some(0), edge.config.cookie_secure))
}

#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    institution: Option<String>,
    status: Option<crate::store::CaseStatus>,
}

pub async fn index(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<IndexQuery>,
) -> Response {
    let asked = q
        .institution
        .as_deref()
        .and_then(|i| crate::ids::InstitutionId::parse(i).ok());
    let institution = match super::scoped_institution(&caller, asked) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let filter = CaseFilter {
        institution,
        status: q.status,
        limit: 200,
        ..Default::default()
    };
    let store = sw.store.clone();
    let cases = match tokio::task::spawn_blocking(move || store.cases(&filter)).await {
        Ok(Ok(c)) => c,
        _ => return page("Cases", "<p>The case store is unavailable.</p>").into_response(),
    };
    let mut rows = String::new();
    for (c, parts) in &cases {
        let who: Vec<String> = parts
            .iter()
            .map(|p| format!("{} ({})", escape(p.institution.as_str()), p.role))
            .collect();
        rows.push_str(&format!(
            "<tr><td><a href=\"/cases/{id}\"><code>{id}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(c.buc.as_str()),
            escape(&c.state),
            escape(c.status.as_str()),
            who.join(", "),
            escape(&c.updated_at),
            id = escape(c.case_id.as_str()),
        ));
    }
    let body = format!(
        "<p>Access point {} · {} case(s)</p><table id=\"cases\"><tr><th>case</th><th>BUC</th><th>state</th><th>status</th><th>participants</th><th>updated</th></tr>{rows}</table>",
        escape(sw.country.as_str()),
        cases.len()
    );
    page("Cases", &body).into_response()
}

pub async fn case(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
) -> Response {
    let d = match super::load_case_for(&sw, &caller, &case_id, "read-case-page").await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let mut body = format!(
        "<p>{} · state <b>{}</b> · {} · data model {}</p><h2>Participants</h2><ul>",
        escape(d.case.buc.as_str()),
        escape(&d.case.state),
        escape(d.case.status.as_str()),
        escape(d.case.sed_version.as_str())
    );
    for p in &d.participants {
        body.push_str(&format!(
            "<li>{} ({})</li>",
            escape(p.institution.as_str()),
            p.role
        ));
    }
    body.push_str("</ul><h2>Documents</h2><table id=\"documents\"><tr><th>document</th><th>SED</th><th>from → to</th><th>direction</th><th>status</th><th>versions</th></tr>");
    for (doc, versions) in &d.documents {
        let links: Vec<String> = versions
            .iter()
            .map(|v| {
                format!(
                    "<a href=\"/api/v1/cases/{}/documents/{}/versions/{}\">v{}</a>",
                    escape(d.case.case_id.as_str()),
                    escape(doc.document_id.as_str()),
                    v.version,
                    v.version
                )
            })
            .collect();
        body.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(doc.document_id.as_str()),
            escape(doc.sed.as_str()),
            escape(doc.sender.as_str()),
            escape(doc.receiver.as_str()),
            escape(doc.direction.as_str()),
            escape(doc.status.as_str()),
            links.join(" ")
        ));
    }
    body.push_str("</table><h2>Messages</h2><table id=\"messages\"><tr><th>message</th><th>kind</th><th>to</th><th>status</th><th>attempts</th><th>last error</th></tr>");
    for m in &d.messages {
        body.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{st}\">{st}</td><td>{}</td><td>{}</td></tr>",
            escape(&m.message_id),
            escape(m.kind.as_str()),
            escape(&m.routing_key),
            m.attempts,
            escape(m.last_error.as_deref().unwrap_or("")),
            st = escape(m.status.as_str()),
        ));
    }
    body.push_str("</table><h2>History</h2><table id=\"history\"><tr><th>at</th><th>event</th><th>state</th><th>detail</th></tr>");
    for h in &d.history {
        let states = match (&h.from_state, &h.to_state) {
            (Some(a), Some(b)) => format!("{} → {}", escape(a), escape(b)),
            (None, Some(b)) => format!("→ {}", escape(b)),
            _ => String::new(),
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{states}</td><td>{}</td></tr>",
            escape(&h.at),
            escape(&h.event),
            escape(&h.detail)
        ));
    }
    body.push_str("</table>");
    page(&format!("Case {}", d.case.case_id), &body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_when_configured() {
        let plain = cookie("tok", None, false);
        assert_eq!(
            plain.to_str().unwrap(),
            "eessi_token=tok; HttpOnly; SameSite=Strict; Path=/"
        );
        let secure = cookie("", Some(0), true);
        assert_eq!(
            secure.to_str().unwrap(),
            "eessi_token=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
        );
    }
}
