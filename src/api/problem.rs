//! `application/problem+json` (RFC 9457) as the Belgif REST guide profiles it:
//! `type` a `urn:problem-type:belgif:<type>` where the guide defines one
//! (`badRequest`, `noAccessToken`, `invalidAccessToken`, `expiredAccessToken`,
//! `missingScope`, `missingPermission`, `resourceNotFound`, `payloadTooLarge`,
//! `serviceUnavailable`, `internalServerError`), ours under
//! `urn:problem-type:eessi-switch:<type>` only where it defines none; `title`,
//! `status`, `detail`, an `instance` naming this occurrence (`urn:uuid:`, logged
//! with every server error so an operator finds it), and for a bad request the
//! located `issues[]`, each with its own `type` and `title`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::switch::outbound::{Issue, SubmitError};

/// The Belgif namespace of problem types.
pub const BELGIF: &str = "urn:problem-type:belgif:";
/// Ours, for what the Belgif guide has no type for.
pub const OURS: &str = "urn:problem-type:eessi-switch:";

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "urn:problem-type:belgif:badRequest",
    "title": "Bad Request",
    "status": 400,
    "detail": "The input message is incorrect",
    "instance": "urn:uuid:0192f1d2-8a6b-7c3e-9d4f-5a6b7c8d9e0f",
    "issues": [{
        "type": "urn:problem-type:belgif:input-validation:schemaViolation",
        "title": "Input isn't valid with respect to schema",
        "in": "body",
        "name": "to",
        "value": "NL-SVB",
        "detail": "not an institution id (CC:ID)"
    }]
}))]
pub struct Problem {
    /// `urn:problem-type:belgif:...`, or `urn:problem-type:eessi-switch:...` where
    /// the Belgif guide defines no type.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: Box<str>,
    pub title: &'static str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub detail: Option<Box<str>>,
    /// This occurrence (`urn:uuid:...`); a server error's log line names it too.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub instance: Option<Box<str>>,
    /// What is wrong with the input, each located (`in`, `name`, `value`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<ProblemIssue>,
    /// `missingScope`: the scopes the operation needs.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "scopes")]
    #[schema(value_type = Option<Vec<String>>)]
    pub required_scopes: Option<&'static str>,
    /// `protocolViolation` in a case: what the BUC lets each of the caller's
    /// institutions send in it now (as `GET /api/v1/cases/{caseId}/actions`).
    /// (Boxed: a problem is the error of many `Result`s, and is kept small.)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::api::dto::ParticipantActionsDto>>)]
    pub allowed: Option<Box<Vec<crate::api::dto::ParticipantActionsDto>>>,
}

/// One of a bad request's `issues[]` (Belgif: an issue is typed like a problem,
/// without `status` and `instance`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemIssue {
    /// `urn:problem-type:belgif:input-validation:schemaViolation`, or ours:
    /// `urn:problem-type:eessi-switch:input-validation:sedVersion` (a data-model
    /// version the receiver does not accept).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    /// `body`, `path`, `query` or `header`.
    #[serde(rename = "in")]
    pub location: String,
    /// The field, header, or XML element (path) concerned.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub detail: String,
    /// The line of the XML body, where the issue is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl From<&Issue> for ProblemIssue {
    fn from(i: &Issue) -> ProblemIssue {
        let (kind, title) = if i.name == "sedVersion" {
            (
                "urn:problem-type:eessi-switch:input-validation:sedVersion",
                "Data-model version not accepted",
            )
        } else {
            (
                "urn:problem-type:belgif:input-validation:schemaViolation",
                "Input isn't valid with respect to schema",
            )
        };
        ProblemIssue {
            kind,
            title,
            location: i.location.clone(),
            name: i.name.clone(),
            value: i.value.clone(),
            detail: i.detail.clone(),
            line: i.line,
        }
    }
}

fn scopes<S: Serializer>(scope: &Option<&'static str>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(scope.iter())
}

impl ProblemIssue {
    /// Belgif `referencedResourceNotFound`: the input names something (by its id)
    /// that does not exist.
    pub fn referenced_not_found(name: &str, value: String, detail: String) -> ProblemIssue {
        ProblemIssue {
            kind: "urn:problem-type:belgif:input-validation:referencedResourceNotFound",
            title: "Referenced resource not found",
            location: "body".into(),
            name: name.into(),
            value: Some(value),
            detail,
            line: None,
        }
    }
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &str,
        title: &'static str,
        detail: impl Into<Option<String>>,
    ) -> Problem {
        Problem {
            kind: kind.into(),
            title,
            status: status.as_u16(),
            detail: detail.into().map(String::into_boxed_str),
            instance: None,
            issues: vec![],
            required_scopes: None,
            allowed: None,
        }
    }
    pub fn bad_request(issues: Vec<Issue>) -> Problem {
        Problem::bad_request_of(issues.iter().map(ProblemIssue::from).collect())
    }
    /// A bad request with issues typed already.
    pub fn bad_request_of(issues: Vec<ProblemIssue>) -> Problem {
        Problem {
            issues,
            ..Problem::new(
                StatusCode::BAD_REQUEST,
                "urn:problem-type:belgif:badRequest",
                "Bad Request",
                "The input message is incorrect".to_owned(),
            )
        }
    }
    pub fn not_found(detail: String) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "urn:problem-type:belgif:resourceNotFound",
            "Resource Not Found",
            detail,
        )
    }
    pub fn unavailable(detail: String) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "urn:problem-type:belgif:serviceUnavailable",
            "Service is unavailable",
            detail,
        )
    }
    pub fn too_large(limit: usize) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "urn:problem-type:belgif:payloadTooLarge",
            "Payload Too Large",
            format!("the body exceeds {limit} bytes"),
        )
    }
    /// Belgif defines no type for 415: ours.
    pub fn unsupported_media_type(detail: String) -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "urn:problem-type:eessi-switch:unsupportedMediaType",
            "Unsupported Media Type",
            detail,
        )
    }
    /// An internal fault of this deployment's configuration; the detail the log
    /// has (server paths) is not repeated to the caller.
    pub fn configuration() -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "urn:problem-type:eessi-switch:configurationError",
            "Internal Configuration Error",
            "an internal configuration error occurred; the operators have been told".to_owned(),
        )
    }
    /// The problem for a status some layer answered without a body of ours (405,
    /// 413, 408...): the Belgif type and title where the guide has one, else ours
    /// named by the status, with its standard reason as the title.
    pub fn from_status(status: StatusCode) -> Problem {
        let (kind, title) = match status {
            StatusCode::BAD_REQUEST => (format!("{BELGIF}badRequest"), "Bad Request"),
            StatusCode::UNAUTHORIZED => (format!("{BELGIF}noAccessToken"), "No Access Token"),
            StatusCode::NOT_FOUND => (format!("{BELGIF}resourceNotFound"), "Resource Not Found"),
            StatusCode::PAYLOAD_TOO_LARGE => {
                (format!("{BELGIF}payloadTooLarge"), "Payload Too Large")
            }
            StatusCode::TOO_MANY_REQUESTS => {
                (format!("{BELGIF}tooManyRequests"), "Too Many Requests")
            }
            StatusCode::INTERNAL_SERVER_ERROR => (
                format!("{BELGIF}internalServerError"),
                "Internal Server Error",
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                format!("{BELGIF}serviceUnavailable"),
                "Service is unavailable",
            ),
            _ => (
                format!("{OURS}http{}", status.as_u16()),
                status.canonical_reason().unwrap_or("Error"),
            ),
        };
        Problem::new(status, &kind, title, None)
    }
    /// `missingScope` (403): the token lacks a scope the operation needs.
    pub fn missing_scope(scope: &'static str) -> Problem {
        Problem {
            required_scopes: Some(scope),
            ..Problem::new(
                StatusCode::FORBIDDEN,
                "urn:problem-type:belgif:missingScope",
                "Missing Scope",
                format!("the {scope} scope is required"),
            )
        }
    }
    pub fn internal() -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "urn:problem-type:belgif:internalServerError",
            "Internal Server Error",
            None,
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let instance = self
            .instance
            .get_or_insert_with(|| format!("urn:uuid:{}", uuid::Uuid::now_v7()).into());
        // The caller sees the instance, the operator finds it here (the detail is
        // ours: store or configuration faults say which, never a body). A 503 of
        // load shedding is not worth a line per request.
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(instance = %instance, problem = %self.kind, "answered 500");
        } else if status.is_server_error() {
            tracing::debug!(instance = %instance, status = status.as_u16(), problem = %self.kind, "answered a server error");
        }
        let mut r = (status, axum::Json(&self)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    }
}

impl From<SubmitError> for Problem {
    fn from(e: SubmitError) -> Problem {
        match e {
            SubmitError::Invalid(issues) => Problem::bad_request(issues),
            // Belgif: an id in the request body that names nothing is a bad
            // request (`resourceNotFound` is for the resource of the URL).
            SubmitError::CaseNotFound(c) => {
                Problem::bad_request_of(vec![ProblemIssue::referenced_not_found(
                    "caseId",
                    c.to_string(),
                    format!("case {c} does not exist"),
                )])
            }
            SubmitError::DocumentNotFound(d, field) => {
                Problem::bad_request_of(vec![ProblemIssue::referenced_not_found(
                    field,
                    d.to_string(),
                    format!("document {d} does not exist in this case"),
                )])
            }
            SubmitError::ProtocolViolation(why) => Problem::new(
                StatusCode::CONFLICT,
                "urn:problem-type:eessi-switch:protocolViolation",
                "The BUC does not allow this SED now",
                why,
            ),
            SubmitError::Forbidden(why) => Problem::new(
                StatusCode::FORBIDDEN,
                "urn:problem-type:belgif:missingPermission",
                "Missing Permission",
                why,
            ),
            SubmitError::Configuration(e) => {
                tracing::error!(error = %e, "configuration fault while accepting a submission");
                Problem::configuration()
            }
            SubmitError::KeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "urn:problem-type:eessi-switch:idempotencyKeyReused",
                "Idempotency-Key reused",
                "this Idempotency-Key was used with another request; use a new key for a new request".to_owned(),
            ),
            SubmitError::ReferenceReused => Problem::new(
                StatusCode::CONFLICT,
                "urn:problem-type:eessi-switch:referenceReused",
                "Reference reused",
                "this institution used this reference with another message through this adapter; a new message needs a new reference".to_owned(),
            ),
            SubmitError::CaseExists(c, why) => Problem::new(
                StatusCode::CONFLICT,
                "urn:problem-type:eessi-switch:caseExists",
                "The case id is taken",
                format!(
                    "case {c} exists and this request did not start it (another sender, receiver, SED or body); starting it again is refused: {why}"
                ),
            ),
            SubmitError::Overloaded => {
                Problem::unavailable("too many submissions are waiting; try again shortly".into())
            }
            SubmitError::Store(e) => {
                tracing::error!(error = %e, "store failure while accepting a submission");
                Problem::unavailable("the case store is unavailable; nothing was applied".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(p: Problem) -> (StatusCode, String, serde_json::Value) {
        let r = p.into_response();
        let status = r.status();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, ct, serde_json::from_slice(&bytes).expect("JSON"))
    }

    /// A bad request as the Belgif guide shows one: typed, titled, located issues,
    /// and an instance naming the occurrence.
    #[tokio::test]
    async fn a_bad_request_has_typed_located_issues() {
        let (status, ct, mut v) = body_of(Problem::bad_request(vec![Issue {
            location: "path".into(),
            name: "caseId".into(),
            value: Some("xyz".into()),
            detail: "not a case id".into(),
            line: None,
        }]))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(ct, "application/problem+json");
        let instance = v
            .as_object_mut()
            .and_then(|o| o.remove("instance"))
            .unwrap_or_default();
        assert!(
            instance
                .as_str()
                .and_then(|i| i.strip_prefix("urn:uuid:"))
                .is_some_and(|u| uuid::Uuid::parse_str(u).is_ok()),
            "{instance}"
        );
        assert_eq!(
            v,
            serde_json::json!({
                "type": "urn:problem-type:belgif:badRequest",
                "title": "Bad Request",
                "status": 400,
                "detail": "The input message is incorrect",
                "issues": [{
                    "type": "urn:problem-type:belgif:input-validation:schemaViolation",
                    "title": "Input isn't valid with respect to schema",
                    "in": "path",
                    "name": "caseId",
                    "value": "xyz",
                    "detail": "not a case id"
                }]
            })
        );
    }

    #[tokio::test]
    async fn a_missing_scope_names_the_scope() {
        let (status, _, v) = body_of(Problem::missing_scope("operate")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(v["type"], "urn:problem-type:belgif:missingScope");
        assert_eq!(v["title"], "Missing Scope");
        assert_eq!(v["requiredScopes"], serde_json::json!(["operate"]));
    }

    /// Bare statuses get the Belgif type where the guide has one, ours elsewhere.
    #[test]
    fn bare_statuses_are_typed() {
        for (status, kind) in [
            (
                StatusCode::NOT_FOUND,
                "urn:problem-type:belgif:resourceNotFound",
            ),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "urn:problem-type:belgif:payloadTooLarge",
            ),
            (
                StatusCode::TOO_MANY_REQUESTS,
                "urn:problem-type:belgif:tooManyRequests",
            ),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "urn:problem-type:belgif:serviceUnavailable",
            ),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "urn:problem-type:eessi-switch:http405",
            ),
        ] {
            let p = Problem::from_status(status);
            assert_eq!((p.status, &*p.kind), (status.as_u16(), kind));
        }
        // A data-model version refusal is ours, not a schema violation.
        let i = ProblemIssue::from(&Issue::body("sedVersion", "NL does not accept 4.3", None));
        assert_eq!(
            i.kind,
            "urn:problem-type:eessi-switch:input-validation:sedVersion"
        );
    }
}
