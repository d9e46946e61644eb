//! `application/problem+json` (RFC 9457) in the Belgif style: `type` as a
//! `urn:problem-type:...`, `title`, `status`, `detail`, and located `issues[]`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::switch::outbound::{Issue, SubmitError};

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Issue>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &str,
        title: &str,
        detail: impl Into<Option<String>>,
    ) -> Problem {
        Problem {
            kind: kind.to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            issues: vec![],
        }
    }
    pub fn bad_request(issues: Vec<Issue>) -> Problem {
        Problem {
            kind: "urn:problem-type:belgif:badRequest".into(),
            title: "Bad Request".into(),
            status: 400,
            detail: Some("The input message is incorrect".into()),
            issues,
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
    /// 413, 408...): its standard reason as the title.
    pub fn from_status(status: StatusCode) -> Problem {
        let title = status.canonical_reason().unwrap_or("Error");
        let kind = match status {
            StatusCode::NOT_FOUND => "urn:problem-type:belgif:resourceNotFound".to_owned(),
            StatusCode::PAYLOAD_TOO_LARGE => "urn:problem-type:belgif:payloadTooLarge".to_owned(),
            StatusCode::BAD_REQUEST => "urn:problem-type:belgif:badRequest".to_owned(),
            _ => format!("urn:problem-type:eessi-switch:http{}", status.as_u16()),
        };
        Problem::new(status, &kind, title, None)
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
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
            SubmitError::CaseNotFound(c) => Problem::not_found(format!("case {c} does not exist")),
            SubmitError::DocumentNotFound(d) => {
                Problem::not_found(format!("document {d} does not exist in this case"))
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
