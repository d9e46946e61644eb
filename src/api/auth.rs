//! Authentication and authorization of the HTTP API: OAuth2-style bearer tokens
//! (JWT, RS256 only) signed by the configured issuer, with issuer, audience, expiry
//! and not-before checked (by `jsonwebtoken`), a future `iat` and an `exp` further
//! than the configured lifetime refused (here), carrying the caller's institution
//! (`inst`) and scopes (`scope`: `submit`, `read`, `handle`, `operate`).
//!
//! Every route declares its access in the route table (`api::routes`); the
//! middleware here looks the matched route up and refuses what the table does not
//! allow: a route without a policy is denied. Institution-level rules (submit only
//! as yourself, read only cases you take part in) are checked by the handlers with
//! the `Caller` this middleware attaches.

use std::collections::BTreeSet;
use std::path::Path;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::problem::Problem;
use crate::ids::InstitutionId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Send SEDs and national messages as one's institution.
    Submit,
    /// Read one's institution's cases, documents and messages.
    Read,
    /// Act on one's institution's cases as a case handler.
    Handle,
    /// Operator actions across institutions (metrics, dead letters, audit).
    Operate,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "submit" => Some(Scope::Submit),
            "read" => Some(Scope::Read),
            "handle" => Some(Scope::Handle),
            "operate" => Some(Scope::Operate),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Submit => "submit",
            Scope::Read => "read",
            Scope::Handle => "handle",
            Scope::Operate => "operate",
        }
    }
}

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (health, the OpenAPI document).
    Public,
    /// A valid token with this scope.
    Scope(Scope),
}

/// Who is calling, as the token says.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    /// The institution the caller acts for; None only when authentication is off.
    pub institution: Option<InstitutionId>,
    pub scopes: BTreeSet<Scope>,
    /// True when authentication is disabled (development): every check passes.
    pub unrestricted: bool,
    /// Where the call came from (peer address, or X-Forwarded-For), for the audit log.
    pub remote: Option<String>,
}

impl Caller {
    pub fn anonymous_dev() -> Caller {
        Caller {
            subject: "dev".into(),
            institution: None,
            scopes: BTreeSet::new(),
            unrestricted: true,
            remote: None,
        }
    }
    pub fn has(&self, scope: Scope) -> bool {
        self.unrestricted || self.scopes.contains(&scope)
    }
    /// May this caller act for `institution` (submit as it, read its cases)?
    pub fn acts_for(&self, institution: &InstitutionId) -> bool {
        self.unrestricted || self.institution.as_ref() == Some(institution)
    }
    /// Operators see every institution's cases.
    pub fn sees_all(&self) -> bool {
        self.unrestricted || self.scopes.contains(&Scope::Operate)
    }
    /// May this caller read a case with these participants?
    pub fn may_read<'a>(&self, mut participants: impl Iterator<Item = &'a InstitutionId>) -> bool {
        self.sees_all() || participants.any(|p| self.acts_for(p))
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    /// The institution id the caller acts for.
    pub inst: String,
    /// Space-separated scopes.
    pub scope: String,
}

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_S: u64 = 60;

/// The verifier configured by `[auth]`.
#[derive(Clone)]
pub struct Auth {
    key: DecodingKey,
    validation: Validation,
    max_lifetime_s: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not an RSA public key in PEM: {1}")]
    Key(String, String),
}

impl Auth {
    /// `max_lifetime_s`: the longest life a token may claim (`exp - iat`).
    pub fn new(
        public_key: &Path,
        issuer: &str,
        audience: &str,
        max_lifetime_s: u64,
    ) -> Result<Auth, AuthError> {
        let pem = std::fs::read(public_key)
            .map_err(|e| AuthError::Read(public_key.display().to_string(), e))?;
        let key = DecodingKey::from_rsa_pem(&pem)
            .map_err(|e| AuthError::Key(public_key.display().to_string(), e.to_string()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_S;
        Ok(Auth {
            key,
            validation,
            max_lifetime_s,
        })
    }

    /// Verify a bearer token into a caller.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        self.check(token).map_err(|e| e.detail)
    }

    /// Verify a bearer token into a caller, saying whether a refusal is for expiry
    /// (Belgif `expiredAccessToken`) or anything else (`invalidAccessToken`).
    pub fn check(&self, token: &str) -> Result<Caller, TokenRefused> {
        let invalid = |detail: String| TokenRefused {
            expired: false,
            detail,
        };
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                TokenRefused {
                    expired: matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature),
                    detail: format!("invalid token: {e}"),
                }
            })?;
        let c = data.claims;
        // `iat` 0 is a token without one.
        if c.iat > now + LEEWAY_S {
            return Err(invalid("invalid token: issued in the future".into()));
        }
        let start = if c.iat == 0 { now } else { c.iat };
        if c.exp > start.saturating_add(self.max_lifetime_s + LEEWAY_S) {
            return Err(invalid(format!(
                "invalid token: it claims a life longer than {} s",
                self.max_lifetime_s
            )));
        }
        let institution =
            InstitutionId::parse(&c.inst).map_err(|e| invalid(format!("invalid token: {e}")))?;
        let scopes = c
            .scope
            .split_whitespace()
            .filter_map(Scope::parse)
            .collect();
        Ok(Caller {
            subject: c.sub,
            institution: Some(institution),
            scopes,
            unrestricted: false,
            remote: None,
        })
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefused {
    /// Past its `exp` (and the leeway): the client should get a new one.
    pub expired: bool,
    pub detail: String,
}

/// Issue a token (the dev-only `eessi-switch token` command and tests).
pub fn issue(private_key_pem: &[u8], claims: &Claims) -> Result<String, String> {
    let key = EncodingKey::from_rsa_pem(private_key_pem).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).map_err(|e| e.to_string())
}

/// 401 `noAccessToken`: the request carries no bearer token.
pub fn unauthorized(detail: &str) -> Response {
    let mut r = Problem::new(
        StatusCode::UNAUTHORIZED,
        "urn:problem-type:belgif:noAccessToken",
        "No Access Token",
        detail.to_owned(),
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// 401 `expiredAccessToken` or `invalidAccessToken`, with the OAuth2
/// `WWW-Authenticate` error (RFC 6750 §3.1).
pub fn token_refused(e: &TokenRefused) -> Response {
    let (kind, title, challenge) = if e.expired {
        (
            "urn:problem-type:belgif:expiredAccessToken",
            "Expired Access Token",
            "Bearer error=\"invalid_token\", error_description=\"The access token expired\"",
        )
    } else {
        (
            "urn:problem-type:belgif:invalidAccessToken",
            "Invalid Access Token",
            "Bearer error=\"invalid_token\", error_description=\"The access token is invalid\"",
        )
    };
    let mut r =
        Problem::new(StatusCode::UNAUTHORIZED, kind, title, e.detail.clone()).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(challenge),
    );
    r
}

/// 403 `missingScope`: the token lacks the operation's scope.
pub fn missing_scope(scope: Scope) -> Response {
    let mut r = Problem::missing_scope(scope.as_str()).into_response();
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\"",
        scope.as_str()
    );
    if let Ok(v) = header::HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

pub fn forbidden(detail: impl Into<String>) -> Response {
    Problem::new(
        StatusCode::FORBIDDEN,
        "urn:problem-type:belgif:missingPermission",
        "Missing Permission",
        detail.into(),
    )
    .into_response()
}

/// The name of the sign-in cookie.
pub const COOKIE: &str = "eessi_token";

/// The bearer token of a request: the Authorization header, or, on a safe request
/// only (`cookie_allowed`: GET and HEAD), the `eessi_token` cookie the sign-in page
/// sets, so that the web pages work in a browser while a foreign page cannot make a
/// browser change anything with it (CSRF).
pub fn bearer(headers: &axum::http::HeaderMap, cookie_allowed: bool) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_owned());
    }
    if !cookie_allowed {
        return None;
    }
    cookie(headers)
}

/// The sign-in cookie's value, if the request carries one.
pub fn cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())?
        .split(';')
        .find_map(|kv| kv.trim().strip_prefix("eessi_token=").map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "test-issuer";
    const HOUR: u64 = 3600;

    fn auth() -> Auth {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Auth::new(
            &root.join("fixtures/auth/issuer.pub.pem"),
            ISSUER,
            "eessi-switch",
            24 * HOUR,
        )
        .unwrap()
    }

    fn now() -> u64 {
        chrono::Utc::now().timestamp() as u64
    }

    /// A token with these time claims (absent when None).
    fn token(iat: Option<u64>, nbf: Option<u64>, exp: u64) -> String {
        let mut claims = serde_json::json!({
            "sub": "someone", "iss": ISSUER, "aud": "eessi-switch", "exp": exp,
            "inst": "BE:ONSS", "scope": "read",
        });
        if let Some(iat) = iat {
            claims["iat"] = iat.into();
        }
        if let Some(nbf) = nbf {
            claims["nbf"] = nbf.into();
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read(root.join("fixtures/auth/issuer.key.pem")).unwrap();
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(&pem).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn an_ordinary_token_is_accepted() {
        let a = auth();
        let n = now();
        let c = a.verify(&token(Some(n), Some(n), n + HOUR)).unwrap();
        assert_eq!(c.institution.as_ref().unwrap().as_str(), "BE:ONSS");
        assert!(c.has(Scope::Read) && !c.has(Scope::Submit));
        // Within the leeway: a clock slightly ahead of ours, a full-length life.
        a.verify(&token(Some(n + 30), Some(n + 30), n + 30 + 24 * HOUR))
            .unwrap();
        // Without iat, a life within the bound from now.
        a.verify(&token(None, None, n + 23 * HOUR)).unwrap();
    }

    #[test]
    fn a_token_not_yet_valid_is_refused() {
        let n = now();
        let e = auth()
            .verify(&token(Some(n), Some(n + 600), n + HOUR))
            .unwrap_err();
        assert!(e.contains("ImmatureSignature"), "{e}");
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let n = now();
        let e = auth()
            .verify(&token(Some(n + 600), None, n + HOUR))
            .unwrap_err();
        assert!(e.contains("issued in the future"), "{e}");
    }

    #[test]
    fn a_token_with_an_absurd_lifetime_is_refused() {
        let a = auth();
        let n = now();
        let e = a
            .verify(&token(Some(n), None, n + 10 * 365 * 24 * HOUR))
            .unwrap_err();
        assert!(e.contains("longer than 86400 s"), "{e}");
        // Issued long ago with a long life, still unexpired: refused too.
        let e = a
            .verify(&token(Some(n - 48 * HOUR), None, n + HOUR))
            .unwrap_err();
        assert!(e.contains("longer than"), "{e}");
        // No iat: exp is held against now.
        let e = a.verify(&token(None, None, n + 25 * HOUR)).unwrap_err();
        assert!(e.contains("longer than"), "{e}");
    }

    #[test]
    fn an_expired_token_is_refused_after_the_leeway() {
        let a = auth();
        let n = now();
        a.verify(&token(Some(n - HOUR), None, n - 30)).unwrap();
        let e = a
            .verify(&token(Some(n - HOUR), None, n - 2 * LEEWAY_S))
            .unwrap_err();
        assert!(e.contains("ExpiredSignature"), "{e}");
    }

    #[test]
    fn the_cookie_counts_on_safe_requests_only() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(header::COOKIE, "a=b; eessi_token=tok".parse().unwrap());
        assert_eq!(bearer(&h, true).as_deref(), Some("tok"));
        assert_eq!(bearer(&h, false), None);
        h.insert(header::AUTHORIZATION, "Bearer hdr".parse().unwrap());
        assert_eq!(bearer(&h, false).as_deref(), Some("hdr"));
    }
}
