//! The HTTP edge: what every request meets before a handler and every response
//! after it. Security headers, a problem+json body on every refusal, the request
//! body limit, the concurrency cap (503 with `Retry-After` beyond it), the media
//! type a route accepts, the client address for the audit log (`X-Forwarded-For`
//! only from a trusted proxy), the sign-in origin check, the adapter grants, and
//! the counters `/metrics` shows for all of these and for the connection bounds
//! that `server` enforces.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;

use super::problem::Problem;
use crate::config::HttpConfig;
use crate::ids::InstitutionId;
use crate::switch::outbound::Issue;

/// The Content-Security-Policy of every response: nothing but our own origin, no
/// framing, forms post only to us.
pub const CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Seconds a client refused for overload is asked to wait.
pub const RETRY_AFTER_S: u64 = 1;

/// Counters of the edge, shown on `/metrics`.
#[derive(Debug, Default)]
pub struct EdgeMetrics {
    /// Requests refused with 503 because `concurrency_max` were in hand.
    pub overload_refused: AtomicU64,
    /// Connections refused because `connections_max` were open.
    pub connections_refused: AtomicU64,
    /// Connections closed after `idle_timeout_ms` without a request.
    pub connections_idle_closed: AtomicU64,
    /// Submissions that met a configuration fault (500, detail in the log).
    pub configuration_faults: AtomicU64,
    /// Items of batch requests, by their answer (`api::batch`): submitted now,
    /// answered with an earlier submission's ids (same key and message), refused.
    pub batch_items_accepted: AtomicU64,
    pub batch_items_replayed: AtomicU64,
    pub batch_items_refused: AtomicU64,
}

/// The edge's settings, counters and the two semaphores that bound it.
#[derive(Debug)]
pub struct HttpEdge {
    pub config: HttpConfig,
    pub body_bytes_max: usize,
    pub metrics: EdgeMetrics,
    /// One permit per request being handled.
    pub(crate) requests: Arc<Semaphore>,
    /// One permit per open connection.
    pub(crate) connections: Arc<Semaphore>,
}

impl HttpEdge {
    pub fn new(config: HttpConfig, body_bytes_max: usize) -> HttpEdge {
        HttpEdge {
            requests: Arc::new(Semaphore::new(config.concurrency_max)),
            connections: Arc::new(Semaphore::new(config.connections_max)),
            config,
            body_bytes_max,
            metrics: EdgeMetrics::default(),
        }
    }

    /// Requests in hand now (the one asking included).
    pub fn in_flight(&self) -> usize {
        self.config
            .concurrency_max
            .saturating_sub(self.requests.available_permits())
    }

    /// Connections open now.
    pub fn connections_open(&self) -> usize {
        self.config
            .connections_max
            .saturating_sub(self.connections.available_permits())
    }

    /// The edge's part of `/metrics`, into the scrape's registry.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.config;
        let m = &self.metrics;
        for (name, help, value) in [
            (
                "http_requests_in_flight",
                "Requests being handled",
                self.in_flight() as u64,
            ),
            (
                "http_concurrency_max",
                "The concurrency cap",
                c.concurrency_max as u64,
            ),
            (
                "http_connections_open",
                "Open connections",
                self.connections_open() as u64,
            ),
            (
                "http_connections_max",
                "The connection cap",
                c.connections_max as u64,
            ),
            (
                "http_header_read_timeout_ms",
                "The header read timeout",
                c.header_read_timeout_ms,
            ),
            (
                "http_idle_timeout_ms",
                "The idle timeout",
                c.idle_timeout_ms,
            ),
            (
                "http_body_bytes_max",
                "The body limit",
                self.body_bytes_max as u64,
            ),
        ] {
            registry.register(
                name,
                help,
                ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)),
            );
        }
        for (name, help, value) in [
            (
                "http_overload_refused",
                "Requests refused with 503 over the concurrency cap",
                g(&m.overload_refused),
            ),
            (
                "http_connections_refused",
                "Connections refused over the connection cap",
                g(&m.connections_refused),
            ),
            (
                "http_connections_idle_closed",
                "Connections closed idle",
                g(&m.connections_idle_closed),
            ),
            (
                "configuration_faults",
                "Submissions that met a configuration fault",
                g(&m.configuration_faults),
            ),
            (
                "batch_items_accepted",
                "Batch items submitted",
                g(&m.batch_items_accepted),
            ),
            (
                "batch_items_replayed",
                "Batch items answered with an earlier submission",
                g(&m.batch_items_replayed),
            ),
            (
                "batch_items_refused",
                "Batch items refused",
                g(&m.batch_items_refused),
            ),
        ] {
            registry.register(name, help, ConstCounter::new(value));
        }
    }

    /// Where a request came from, for the audit log: the socket peer, unless the
    /// peer is a trusted proxy; then the nearest `X-Forwarded-For` entry that is not
    /// itself a trusted proxy (entries further left are the client's own claims).
    pub fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<String> {
        let peer = peer?;
        let trusted = |ip: &IpAddr| self.config.trusted_proxies.contains(ip);
        if !trusted(&peer.ip()) {
            return Some(peer.to_string());
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|h| h.trim().parse::<IpAddr>().ok())
            .collect();
        match hops.iter().rev().find(|ip| !trusted(ip)) {
            Some(ip) => Some(ip.to_string()),
            None => Some(hops.first().map_or(peer.to_string(), |ip| ip.to_string())),
        }
    }

    /// May `institution` submit through the national adapter `adapter`?
    pub fn granted(&self, adapter: &str, institution: &InstitutionId) -> bool {
        self.config
            .adapter_grants
            .get(adapter)
            .is_some_and(|list| list.contains(institution))
    }
}

/// Wrap the router in the edge's layers (innermost first): the body limit of the
/// extractors (the submission handlers read theirs with the same limit), the
/// concurrency cap with load shedding, the problem+json rewriting of bare
/// refusals, and the security headers on every response.
pub fn harden<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    edge: Arc<HttpEdge>,
) -> Router<S> {
    let shed = edge.clone();
    router
        // Bodies are read up to the limit, then refused (413). tower-http's
        // RequestBodyLimit would refuse from Content-Length before reading a byte,
        // and closing on the unread body resets the connection before most
        // clients read the answer: they saw a broken pipe instead of the 413.
        .layer(axum::extract::DefaultBodyLimit::max(edge.body_bytes_max))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |_: tower::BoxError| {
                    let edge = shed.clone();
                    async move {
                        edge.metrics
                            .overload_refused
                            .fetch_add(1, Ordering::Relaxed);
                        overloaded()
                    }
                }))
                .layer(tower::load_shed::LoadShedLayer::new())
                .layer(tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(
                    edge.requests.clone(),
                )),
        )
        .layer(axum::middleware::map_response(ensure_problem))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // No referrer to other sites (page addresses carry case ids); our own
        // pages keep theirs, since with `no-referrer` Chromium sends `Origin: null`
        // on a same-site form post, which `same_origin` rightly refuses.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Case data is personal data: no cache keeps it unless a route says so.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// 503 for a request beyond `concurrency_max`.
pub fn overloaded() -> Response {
    let mut r =
        Problem::unavailable("too many requests are being handled; try again shortly".into())
            .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    r
}

/// A refusal answered by a layer or by axum itself (405, 413, a path rejection...)
/// comes without a body of ours: give it one, keeping the headers that matter.
/// Answers that already are ours (problem+json, health's JSON) pass unchanged.
async fn ensure_problem(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let bare = match res.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.as_bytes().starts_with(b"text/plain"),
    };
    if !bare {
        return res;
    }
    let (parts, _) = res.into_parts();
    let mut out = Problem::from_status(status).into_response();
    for h in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
}

/// What a route takes as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body is read.
    None,
    /// `application/json`.
    Json,
    /// `application/xml` or `text/xml`.
    Xml,
    /// `application/x-www-form-urlencoded` (the sign-in form).
    Form,
    /// `application/x-ndjson`: one JSON object per line (the batch channel).
    Ndjson,
}

impl BodyKind {
    fn accepts(self) -> &'static [&'static str] {
        match self {
            BodyKind::None => &[],
            BodyKind::Json => &["application/json"],
            BodyKind::Xml => &["application/xml", "text/xml"],
            BodyKind::Form => &["application/x-www-form-urlencoded"],
            BodyKind::Ndjson => &["application/x-ndjson"],
        }
    }

    /// 415 unless the request's media type (parameters aside) is one this route takes.
    pub fn check(self, headers: &HeaderMap) -> Result<(), Problem> {
        if self == BodyKind::None {
            return Ok(());
        }
        let given = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        match given {
            Some(t) if self.accepts().contains(&t.as_str()) => Ok(()),
            other => Err(Problem::unsupported_media_type(format!(
                "this route takes {} (got {})",
                self.accepts().join(" or "),
                other.map_or("no Content-Type".to_owned(), |t| {
                    t.chars().take(64).collect::<String>()
                })
            ))),
        }
    }
}

/// Does the request's `Origin` (when it has one) name the host it was sent to?
/// A browser sends `Origin` on every cross-site POST, so a foreign page's form is
/// refused; a client that sends none (curl, tests) is not a browser being abused.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// Query parameters, with a bad query string refused as a located problem+json
/// (axum's own rejection is text/plain).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| {
                Problem::bad_request(vec![Issue {
                    location: "query".into(),
                    name: "query".into(),
                    // Not echoed: a query may name a person (the case list's filters).
                    value: None,
                    detail: e.body_text(),
                    line: None,
                }])
            })
    }
}

/// The socket peer of a request (set by `server` per connection).
pub fn peer(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(trusted: &[&str]) -> HttpEdge {
        HttpEdge::new(
            HttpConfig {
                trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
                ..HttpConfig::default()
            },
            1000,
        )
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let peer: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let h = xff("203.0.113.9");
        assert_eq!(
            edge(&[]).client(&h, Some(peer)).as_deref(),
            Some("10.0.0.1:4000")
        );
        let e = edge(&["10.0.0.1", "10.0.0.2"]);
        assert_eq!(e.client(&h, Some(peer)).as_deref(), Some("203.0.113.9"));
        // The client's own claim is left of the address our proxies saw.
        assert_eq!(
            e.client(&xff("1.2.3.4, 203.0.113.9, 10.0.0.2"), Some(peer))
                .as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            e.client(&HeaderMap::new(), Some(peer)).as_deref(),
            Some("10.0.0.1:4000")
        );
    }

    #[test]
    fn media_types_are_matched_without_parameters() {
        let mut h = HeaderMap::new();
        assert!(BodyKind::Json.check(&h).is_err());
        h.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert!(BodyKind::Json.check(&h).is_ok());
        assert!(BodyKind::Xml.check(&h).is_err());
        h.insert(header::CONTENT_TYPE, "text/xml".parse().unwrap());
        assert!(BodyKind::Xml.check(&h).is_ok());
        assert!(BodyKind::None.check(&h).is_ok());
        assert!(BodyKind::Ndjson.check(&h).is_err());
        h.insert(
            header::CONTENT_TYPE,
            "application/x-ndjson".parse().unwrap(),
        );
        assert!(BodyKind::Ndjson.check(&h).is_ok());
    }

    #[test]
    fn origin_must_name_the_host() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h));
        h.insert(header::HOST, "switch.example:8080".parse().unwrap());
        h.insert(
            header::ORIGIN,
            "http://switch.example:8080".parse().unwrap(),
        );
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
