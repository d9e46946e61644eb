//! Authentication and authorization of the HTTP API: OAuth2-style bearer tokens
//! (JWT, RS256 only) signed by the configured issuer, with issuer, audience and
//! expiry checked (by `jsonwebtoken`), carrying the caller's institution (`inst`)
//! and scopes (`scope`: `submit`, `read`, `handle`, `operate`).
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

/// The verifier configured by `[auth]`.
#[derive(Clone)]
pub struct Auth {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not an RSA public key in PEM: {1}")]
    Key(String, String),
}

impl Auth {
    pub fn new(public_key: &Path, issuer: &str, audience: &str) -> Result<Auth, AuthError> {
        let pem = std::fs::read(public_key)
            .map_err(|e| AuthError::Read(public_key.display().to_string(), e))?;
        let key = DecodingKey::from_rsa_pem(&pem)
            .map_err(|e| AuthError::Key(public_key.display().to_string(), e.to_string()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Auth { key, validation })
    }

    /// Verify a bearer token into a caller.
    pub fn verify(&self, token: &str) -> Result<Caller, String> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| format!("invalid token: {e}"))?;
        let c = data.claims;
        let institution =
            InstitutionId::parse(&c.inst).map_err(|e| format!("invalid token: {e}"))?;
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

/// Issue a token (the dev-only `eessi-switch token` command and tests).
pub fn issue(private_key_pem: &[u8], claims: &Claims) -> Result<String, String> {
    let key = EncodingKey::from_rsa_pem(private_key_pem).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).map_err(|e| e.to_string())
}

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

pub fn forbidden(detail: impl Into<String>) -> Response {
    Problem::new(
        StatusCode::FORBIDDEN,
        "urn:problem-type:belgif:missingPermission",
        "Missing Permission",
        detail.into(),
    )
    .into_response()
}

/// The bearer token of a request: the Authorization header, or the `eessi_token`
/// cookie (so that the web pages work in a browser).
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_owned());
    }
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())?
        .split(';')
        .find_map(|kv| kv.trim().strip_prefix("eessi_token=").map(str::to_owned))
}
