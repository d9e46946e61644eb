//! Web pages for case handlers, server rendered with `maud` (every interpolated
//! value escaped unless marked otherwise; no inline script or style: the
//! Content-Security-Policy allows neither, so the pages' one stylesheet is served
//! from the binary). Words come from the catalogues (`i18n`) in the user's
//! language; times are Brussels local time (`fmt`).
//!
//! - `list.rs`: the case list with its filter form;
//! - `case.rs`: one case (diagram, participants, documents with each SED rendered
//!   readably by `sed_view.rs`, delivery of every message, deadlines, timeline,
//!   the actions the BUC allows now);
//! - `act.rs`: the actions' form posts, through the same paths as the API;
//! - this file: the page shell, sign-in and sign-out, the language choice, the
//!   stylesheet, and error pages (`html_errors`).

pub mod act;
pub mod case;
pub mod diagram;
pub mod fmt;
pub mod i18n;
pub mod list;
pub mod ops;
pub mod sed_view;
pub mod write;
pub mod xsed;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::auth::{Auth, Caller};
use super::edge::{HttpEdge, same_origin};
use i18n::{LANG_COOKIE, Lang, t, tf};

/// The pages' one stylesheet (`GET /style.css`).
const STYLE: &str = include_str!("style.css");

/// What every page knows of its request: the language, who is signed in, the
/// form token, the country of this access point.
pub struct Ctx {
    pub lang: Lang,
    pub who: Option<String>,
    /// The token page forms carry (`csrf_of` the sign-in cookie); empty without one.
    pub csrf: String,
    pub country: String,
    /// The path of the page (the language selector comes back to it).
    pub path: String,
    /// The caller operates (the header links the operations page).
    pub operator: bool,
}

impl Ctx {
    pub fn new(headers: &HeaderMap, caller: Option<&Caller>, country: &str, path: &str) -> Ctx {
        Ctx {
            lang: Lang::of(headers),
            who: caller
                .filter(|c| c.subject != "anonymous")
                .map(|c| c.subject.clone()),
            csrf: super::auth::cookie(headers)
                .map(|c| csrf_of(&c))
                .unwrap_or_default(),
            country: country.to_owned(),
            path: path.to_owned(),
            operator: caller.is_some_and(|c| c.has(super::auth::Scope::Operate)),
        }
    }
}

/// The path of a case's page (`/cases/` alone for what is not a case id).
pub fn case_path(case_id: &str) -> String {
    format!(
        "/cases/{}",
        crate::ids::CaseId::parse(case_id)
            .map(|c| c.to_string())
            .unwrap_or_default()
    )
}

/// A case as the caller may see it, or its error page: a case that is not there
/// and one that is not the caller's get the same page, so it does not tell which.
pub async fn visible_case(
    sw: &Arc<crate::switch::Switch>,
    caller: &Caller,
    case_id: &str,
    ctx: &Ctx,
) -> Result<crate::store::CaseDetail, Response> {
    match super::load_case_for(sw, caller, case_id, "read-case-page").await {
        Ok(d) => Ok(d),
        Err(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
            Err(error_page(ctx, StatusCode::SERVICE_UNAVAILABLE, None))
        }
        Err(_) => Err(error_page(
            ctx,
            StatusCode::NOT_FOUND,
            Some(t(ctx.lang, "error.not_visible")),
        )),
    }
}

/// The form token of a session: a digest of its sign-in cookie, which a foreign
/// page cannot read, so it cannot make a form post that carries it.
pub fn csrf_of(cookie: &str) -> String {
    hex::encode(openssl::sha::sha256(
        format!("eessi-switch page form\0{cookie}").as_bytes(),
    ))
}

/// A cookie's value in the request.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The page shell: landmarks, skip link, language, the header's navigation and
/// language selector, `main` with the page's `h1`, the footer.
pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    let lang = ctx.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t(lang, "app.name")) }
                link rel="stylesheet" href="/style.css";
            }
            body {
                a class="skip" href="#main" { (t(lang, "nav.skip")) }
                header {
                    p class="brand" { a href="/" { (t(lang, "app.name")) } }
                    nav aria-label=(t(lang, "nav.main")) {
                        ul {
                            li { a href="/" { (t(lang, "nav.cases")) } }
                            @if ctx.operator {
                                li { a href="/operations" { (t(lang, "nav.operations")) } }
                            }
                            li { a href="/api/v1/openapi.json" { (t(lang, "nav.api")) } }
                            @if let Some(who) = &ctx.who {
                                li { span class="who" { (tf(lang, "nav.signed_in_as", &[("who", who)])) } }
                                li {
                                    form method="post" action="/signout" {
                                        button type="submit" { (t(lang, "nav.signout")) }
                                    }
                                }
                            } @else {
                                li { a href="/signin" { (t(lang, "nav.signin")) } }
                            }
                        }
                    }
                    form class="language" method="post" action="/language" {
                        label for="lang" { (t(lang, "nav.language")) }
                        select id="lang" name="lang" {
                            @for l in Lang::ALL {
                                option value=(l.code()) lang=(l.code()) selected[l == lang] {
                                    (t(l, &format!("lang.{}", l.code())))
                                }
                            }
                        }
                        input type="hidden" name="back" value=(ctx.path);
                        button type="submit" { (t(lang, "nav.language_apply")) }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer {
                    @if !ctx.country.is_empty() {
                        p { (tf(lang, "footer.access_point", &[("country", &ctx.country)])) }
                    }
                }
            }
        }
    }
}

pub fn html_response(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        m.into_string(),
    )
        .into_response()
}

/// An error as a page in the user's language.
pub fn error_page(ctx: &Ctx, status: StatusCode, detail: Option<&str>) -> Response {
    let lang = ctx.lang;
    let key = format!("error.{}", status.as_u16());
    let title = if i18n::has(&key) {
        t(lang, &key)
    } else {
        t(lang, "error.other")
    };
    html_response(
        status,
        page(
            ctx,
            title,
            html! {
                @if let Some(d) = detail { p class="error" role="alert" { (d) } }
                p { a href="/" { (t(lang, "error.back")) } }
                @if status == StatusCode::UNAUTHORIZED {
                    p { a href="/signin" { (t(lang, "nav.signin")) } }
                }
            },
        ),
    )
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// Errors on page routes become pages: a browser that asks for HTML (`Accept`)
/// on a path that is not the JSON API gets the refusal as a page in its language
/// (a missing sign-in as a redirect to the sign-in page) instead of problem JSON.
/// API clients, and every `/api/` path, keep problem+json.
pub async fn html_errors(req: Request, next: axum::middleware::Next) -> Response {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let path = req.uri().path().to_owned();
    let is_page = !path.starts_with("/api/") && path != "/metrics" && path != "/health";
    if !wants_html || !is_page {
        return next.run(req).await;
    }
    let headers = req.headers().clone();
    let get = req.method() == axum::http::Method::GET;
    let resp = next.run(req).await;
    let status = resp.status();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/problem+json") || c.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !is_problem {
        return resp;
    }
    if status == StatusCode::UNAUTHORIZED && get {
        return see_other_to("/signin", None);
    }
    let ctx = Ctx::new(&headers, None, "", &path);
    // The problem's own detail is English and may name internals: the page says
    // what the status means in the user's language; a case page's refusal is the
    // same whether the case exists or not.
    let detail = if path.starts_with("/cases/")
        && (status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND)
    {
        return error_page(
            &ctx,
            StatusCode::NOT_FOUND,
            Some(t(ctx.lang, "error.not_visible")),
        );
    } else {
        problem_detail(resp).await
    };
    error_page(&ctx, status, detail.as_deref())
}

/// The `detail` (and located issues) of a problem+json response, as one line.
pub(super) async fn problem_detail(resp: Response) -> Option<String> {
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let mut out = v.get("detail").and_then(|d| d.as_str()).map(str::to_owned);
    if let Some(issues) = v.get("issues").and_then(|i| i.as_array()) {
        let list: Vec<String> = issues
            .iter()
            .take(20)
            .filter_map(|i| {
                Some(format!(
                    "{}: {}",
                    i.get("name")?.as_str()?,
                    i.get("detail")?.as_str()?
                ))
            })
            .collect();
        if !list.is_empty() {
            out = Some(list.join("; "));
        }
    }
    out
}

pub(super) fn see_other_to(location: &str, set_cookie: Option<HeaderValue>) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    let loc = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    r.headers_mut().insert(header::LOCATION, loc);
    if let Some(c) = set_cookie {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

/// A path of ours to come back to (never another site: `//host` or a scheme).
fn local_path(back: &str) -> &str {
    let ok = back.starts_with('/')
        && !back.starts_with("//")
        && !back.starts_with("/\\")
        && back.len() <= 512
        && back.chars().all(|c| c.is_ascii_graphic());
    if ok { back } else { "/" }
}

pub async fn signin_form(
    State(sw): State<Arc<crate::switch::Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(&headers, None, sw.country.as_str(), "/signin");
    signin_page(&ctx, auth.is_some(), None, StatusCode::OK)
}

fn signin_page(ctx: &Ctx, auth_on: bool, refused: Option<&str>, status: StatusCode) -> Response {
    let lang = ctx.lang;
    html_response(
        status,
        page(
            ctx,
            t(lang, "signin.title"),
            html! {
                @if !auth_on {
                    p { (t(lang, "signin.off")) }
                } @else {
                    @if let Some(why) = refused {
                        p class="error" role="alert" id="token-error" { (tf(lang, "signin.refused", &[("why", why)])) }
                    }
                    p { (t(lang, "signin.intro")) }
                    form method="post" action="/signin" class="stack" {
                        label for="token" { (t(lang, "signin.token_label")) }
                        p id="token-help" class="help" { (t(lang, "signin.token_help")) }
                        textarea id="token" name="token" rows="6" required
                            autocomplete="off" spellcheck="false"
                            aria-describedby=(if refused.is_some() { "token-help token-error" } else { "token-help" })
                            aria-invalid=[refused.map(|_| "true")] {}
                        button type="submit" { (t(lang, "signin.submit")) }
                    }
                }
            },
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct SigninForm {
    token: String,
}

/// A cookie: never readable by scripts, never sent cross-site.
fn cookie(
    name: &str,
    value: &str,
    max_age: Option<u32>,
    secure: bool,
    http_only: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; SameSite=Strict; Path=/");
    if http_only {
        c = format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/");
    }
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={s}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    // invariant: a verified token is base64url and dots, a language code letters:
    // valid in a header
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn session_cookie(value: &str, max_age: Option<u32>, secure: bool) -> HeaderValue {
    cookie(super::auth::COOKIE, value, max_age, secure, true)
}

fn cross_site(ctx: &Ctx) -> Response {
    error_page(
        ctx,
        StatusCode::FORBIDDEN,
        Some(t(ctx.lang, "error.cross_site")),
    )
}

/// `POST /signin`: the pasted token is verified exactly as a bearer token is, then
/// set as the cookie. A foreign page's form (another Origin) cannot sign a
/// browser in with the attacker's token. A refused token shows the form again
/// with the reason.
pub async fn signin(
    State(sw): State<Arc<crate::switch::Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    Extension(remote): Extension<Caller>,
    headers: HeaderMap,
    form: Result<Form<SigninForm>, FormRejection>,
) -> Response {
    let ctx = Ctx::new(&headers, None, sw.country.as_str(), "/signin");
    if !same_origin(&headers) {
        return cross_site(&ctx);
    }
    let Some(auth) = auth else {
        return signin_page(&ctx, false, None, StatusCode::NOT_FOUND);
    };
    let token = match form {
        Ok(Form(f)) => f.token.trim().to_owned(),
        Err(e) => {
            return signin_page(&ctx, true, Some(&e.body_text()), StatusCode::BAD_REQUEST);
        }
    };
    let mut caller = match super::authenticate(&auth, &sw, &token) {
        Ok(c) => c,
        Err(r) => {
            let status = r.status();
            let why = problem_detail(*r).await;
            return signin_page(&ctx, true, Some(why.as_deref().unwrap_or("")), status);
        }
    };
    caller.remote = remote.remote;
    if super::audit(&sw, &caller, "signin", "web pages".into())
        .await
        .is_err()
    {
        tracing::error!(subject = %caller.subject, "could not audit a sign-in");
    }
    see_other_to(
        "/",
        Some(session_cookie(&token, None, edge.config.cookie_secure)),
    )
}

/// `POST /signout`: the cookie is cleared.
pub async fn signout(
    State(sw): State<Arc<crate::switch::Switch>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers) {
        let ctx = Ctx::new(&headers, None, sw.country.as_str(), "/signout");
        return cross_site(&ctx);
    }
    see_other_to(
        "/signin",
        Some(session_cookie("", Some(0), edge.config.cookie_secure)),
    )
}

#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// `POST /language`: the user's choice of language, kept a year in a cookie, then
/// back to the page it was made on.
pub async fn language(
    State(sw): State<Arc<crate::switch::Switch>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    headers: HeaderMap,
    form: Result<Form<LanguageForm>, FormRejection>,
) -> Response {
    let ctx = Ctx::new(&headers, None, sw.country.as_str(), "/");
    if !same_origin(&headers) {
        return cross_site(&ctx);
    }
    let Ok(Form(f)) = form else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let Some(lang) = Lang::parse(&f.lang) else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    see_other_to(
        local_path(&f.back),
        Some(cookie(
            LANG_COOKIE,
            lang.code(),
            Some(365 * 24 * 3600),
            edge.config.cookie_secure,
            false,
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_when_configured() {
        let plain = session_cookie("tok", None, false);
        assert_eq!(
            plain.to_str().unwrap(),
            "eessi_token=tok; HttpOnly; SameSite=Strict; Path=/"
        );
        let secure = session_cookie("", Some(0), true);
        assert_eq!(
            secure.to_str().unwrap(),
            "eessi_token=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
        );
    }

    #[test]
    fn the_language_selector_comes_back_only_to_our_own_pages() {
        assert_eq!(local_path("/cases/abc?x=1"), "/cases/abc?x=1");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path("/a b"), "/");
    }

    #[test]
    fn the_shell_has_landmarks_a_skip_link_a_viewport_and_escapes_values() {
        let ctx = Ctx {
            lang: Lang::Nl,
            who: Some("<script>".into()),
            csrf: String::new(),
            country: "BE".into(),
            path: "/".into(),
            operator: false,
        };
        let s = page(&ctx, "a <b> title", html! { p { "x" } }).into_string();
        for needle in [
            "<html lang=\"nl\">",
            "name=\"viewport\"",
            "<header>",
            "<nav aria-label=\"Hoofdmenu\">",
            "<main id=\"main\"",
            "<footer>",
            "class=\"skip\" href=\"#main\"",
            "a &lt;b&gt; title",
            "&lt;script&gt;",
        ] {
            assert!(s.contains(needle), "{needle} missing in {s}");
        }
        assert!(!s.contains("<script>"));
        assert!(!s.contains("style="));
    }

    #[test]
    fn the_form_token_depends_on_the_session() {
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a").len(), 64);
    }
}
