//! Receipt and error signals (`urn:eessi:ap:signal:1`): rendering the unsigned
//! documents and reading signed ones back. Signing and verification are
//! `signing::dsig`'s, with the access point's key.

use libxml::tree::Document;

use crate::ids::{DocumentId, MessageId, parse_document_version};
use crate::sed::xml::{DECLARATION_LINE, elements, escape_text, is, ns};
use crate::signing::dsig::DS;

pub const SIGNAL: &str = "urn:eessi:ap:signal:1";

/// The contract's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Malformed,
    TooLarge,
    SignatureInvalid,
    SchemaInvalid,
    UnknownRecipient,
    Unsupported,
    ProtocolViolation,
    UnknownCase,
    Conflict,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::Malformed,
        ErrorCode::TooLarge,
        ErrorCode::SignatureInvalid,
        ErrorCode::SchemaInvalid,
        ErrorCode::UnknownRecipient,
        ErrorCode::Unsupported,
        ErrorCode::ProtocolViolation,
        ErrorCode::UnknownCase,
        ErrorCode::Conflict,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "MALFORMED",
            ErrorCode::TooLarge => "TOO_LARGE",
            ErrorCode::SignatureInvalid => "SIGNATURE_INVALID",
            ErrorCode::SchemaInvalid => "SCHEMA_INVALID",
            ErrorCode::UnknownRecipient => "UNKNOWN_RECIPIENT",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::ProtocolViolation => "PROTOCOL_VIOLATION",
            ErrorCode::UnknownCase => "UNKNOWN_CASE",
            ErrorCode::Conflict => "CONFLICT",
        }
    }
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signal as read from a (verified) document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    Receipt {
        ref_to: String,
        document_id: DocumentId,
        document_version: u32,
        digest_b64: String,
        received_at: String,
    },
    Error {
        ref_to: String,
        code: ErrorCode,
        detail: String,
    },
}

impl Signal {
    pub fn ref_to(&self) -> &str {
        match self {
            Signal::Receipt { ref_to, .. } | Signal::Error { ref_to, .. } => ref_to,
        }
    }
}

/// The declaration line, then the receipt in canonical form (`dsig::sign_rendered`).
pub fn render_receipt(
    ref_to: &MessageId,
    document_id: &DocumentId,
    version: u32,
    digest_b64: &str,
    received_at: &str,
) -> String {
    format!(
        "{DECLARATION_LINE}<sig:Receipt xmlns:sig=\"{SIGNAL}\"><sig:RefToMessageId>{}</sig:RefToMessageId>\
<sig:DocumentId>{document_id}</sig:DocumentId><sig:DocumentVersion>{version}</sig:DocumentVersion>\
<sig:Digest>{}</sig:Digest><sig:ReceivedAt>{}</sig:ReceivedAt></sig:Receipt>\n",
        escape_text(ref_to.as_str()),
        escape_text(digest_b64),
        escape_text(received_at)
    )
}

/// The declaration line, then the error in canonical form (`dsig::sign_rendered`).
/// `detail` must be free of personal data: callers pass fixed English texts.
pub fn render_error(ref_to: &str, code: ErrorCode, detail: &str) -> String {
    format!(
        "{DECLARATION_LINE}<sig:Error xmlns:sig=\"{SIGNAL}\"><sig:RefToMessageId>{}</sig:RefToMessageId>\
<sig:Code>{code}</sig:Code><sig:Detail>{}</sig:Detail></sig:Error>\n",
        escape_text(ref_to),
        escape_text(detail)
    )
}

/// Read a signal document (its signature is checked separately).
pub fn read(doc: &Document) -> Result<Signal, String> {
    let root = doc.get_root_readonly().ok_or("no root element")?;
    if ns(root) != SIGNAL {
        return Err("not a signal document".into());
    }
    let parts: Vec<_> = elements(root)
        .into_iter()
        .filter(|c| !is(*c, DS, "Signature"))
        .collect();
    let names: Vec<String> = parts.iter().map(|p| p.get_name()).collect();
    if parts.iter().any(|p| ns(*p) != SIGNAL) {
        return Err("unexpected element in a signal".into());
    }
    let t = |i: usize| parts[i].get_content();
    match root.get_name().as_str() {
        "Receipt"
            if names
                == [
                    "RefToMessageId",
                    "DocumentId",
                    "DocumentVersion",
                    "Digest",
                    "ReceivedAt",
                ] =>
        {
            Ok(Signal::Receipt {
                ref_to: t(0),
                document_id: DocumentId::parse(&t(1)).map_err(|e| e.to_string())?,
                document_version: parse_document_version(&t(2)).map_err(|e| e.to_string())?,
                digest_b64: t(3),
                received_at: t(4),
            })
        }
        "Error" if names == ["RefToMessageId", "Code", "Detail"] => Ok(Signal::Error {
            ref_to: t(0),
            code: ErrorCode::parse(&t(1)).ok_or("unknown error code")?,
            detail: t(2),
        }),
        other => Err(format!(
            "{other} is not a receipt or error of the expected shape"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sed::xml::{XmlLimits, parse};

    #[test]
    fn receipts_and_errors_round_trip() {
        let m = MessageId::random();
        let d = DocumentId::random();
        let r = render_receipt(&m, &d, 2, "AAAA", "2026-11-27T10:15:01Z");
        let got = read(&parse(r.as_bytes(), &XmlLimits::default()).unwrap()).unwrap();
        assert_eq!(
            got,
            Signal::Receipt {
                ref_to: m.to_string(),
                document_id: d,
                document_version: 2,
                digest_b64: "AAAA".into(),
                received_at: "2026-11-27T10:15:01Z".into()
            }
        );
        let e = render_error("x<y", ErrorCode::Conflict, "a & b");
        let got = read(&parse(e.as_bytes(), &XmlLimits::default()).unwrap()).unwrap();
        assert_eq!(
            got,
            Signal::Error {
                ref_to: "x<y".into(),
                code: ErrorCode::Conflict,
                detail: "a & b".into()
            }
        );
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }
}
