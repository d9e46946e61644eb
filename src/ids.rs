//! Domain identifiers of the access-point contract, each with a `parse` constructor
//! that refuses anything the contract does not allow. Everything that crosses a
//! boundary (AMQP header, HTTP field, definition file) becomes one of these first.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a raw string is not a valid identifier; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: {rule}")]
pub struct IdError {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

fn id_error(what: &'static str, value: &str, rule: &'static str) -> IdError {
    // Cap what we echo back: error texts travel abroad and into logs.
    let value: String = value.chars().take(64).collect();
    IdError { what, value, rule }
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

/// The ids this switch makes (case, document, message) are UUIDv7: a millisecond
/// timestamp, then 74 random bits. Time-ordered keys land on the rightmost pages of
/// every B-tree they index, so a group commit of many SEDs writes a few shared pages
/// instead of a random leaf page per index per SED (issue 9 measured 150 KB written
/// per outbound SED with random v4 keys on SQLite). They reveal their creation time,
/// which the envelope states anyway; they are identifiers, never capabilities. The
/// random bits come from a thread-local generator seeded by the OS (uuid's
/// `fast-rng`), not a system call per id.
fn fresh_uuid() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

string_id!(
    /// International case id: 32 lower-case hex digits chosen by the case owner.
    CaseId
);
impl CaseId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if is_hex32(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(id_error("case id", s, "32 lower-case hex digits"))
        }
    }
    /// A new id, time-ordered (`fresh_uuid`).
    pub fn random() -> Self {
        Self(fresh_uuid().simple().to_string())
    }
}

string_id!(
    /// Document id, stable across the versions of one document.
    DocumentId
);
impl DocumentId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if is_hex32(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(id_error("document id", s, "32 lower-case hex digits"))
        }
    }
    /// A new id, time-ordered (`fresh_uuid`).
    pub fn random() -> Self {
        Self(fresh_uuid().simple().to_string())
    }
}

string_id!(
    /// AMQP `message_id`: a UUID; a retransmission reuses it.
    MessageId
);
impl MessageId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        // The contract says "UUID"; we accept any UUID spelling uuid parses, but keep
        // the sender's exact string because duplicates are matched byte for byte.
        if s.len() <= 64 && uuid::Uuid::parse_str(s).is_ok() {
            Ok(Self(s.to_owned()))
        } else {
            Err(id_error("message id", s, "a UUID"))
        }
    }
    /// A new id, time-ordered (`fresh_uuid`).
    pub fn random() -> Self {
        Self(fresh_uuid().to_string())
    }
}

string_id!(
    /// ISO 3166 alpha-2 country code naming an access point (`BE`, `NL`).
    Country
);
impl Country {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(id_error("country", s, "two upper-case letters"))
        }
    }
}

string_id!(
    /// Institution id `<country>:<local id>`, local id 1 to 16 of `A-Z 0-9 _ -`.
    InstitutionId
);
impl InstitutionId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = match s.split_once(':') {
            Some((c, local)) => {
                Country::parse(c).is_ok()
                    && (1..=16).contains(&local.len())
                    && local.bytes().all(|b| {
                        b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    })
            }
            None => false,
        };
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(id_error(
                "institution id",
                s,
                "<country>:<1-16 of A-Z 0-9 _ ->",
            ))
        }
    }
    /// The access point that serves this institution.
    pub fn country(&self) -> Country {
        // invariant: parse checked the two-letter prefix
        Country(self.0[..2].to_owned())
    }
}

string_id!(
    /// BUC type such as `LA_BUC_02` or `H_BUC_02a`; subprocesses are `AD_BUC_01`.
    BucType
);
impl BucType {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (3..=24).contains(&s.len())
            && s.contains("_BUC_")
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(id_error("BUC type", s, "like LA_BUC_02"))
        }
    }
}

string_id!(
    /// SED type such as `A003`, `DA003A`, `P3000_XX` or `X001`.
    SedType
);
impl SedType {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
        let digits = b[letters..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let rest = &s[letters + digits..];
        let ok = (1..=3).contains(&letters)
            && (3..=5).contains(&digits)
            && rest.len() <= 8
            && rest.bytes().all(|c| c.is_ascii_uppercase() || c == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(id_error("SED type", s, "like A003"))
        }
    }
}

string_id!(
    /// Data-model version `4.2` or `4.3`; the SED namespace uses `4_2`.
    SedVersion
);
impl SedVersion {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = match s.split_once('.') {
            Some((a, b)) => {
                (1..=2).contains(&a.len())
                    && (1..=2).contains(&b.len())
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            }
            None => false,
        };
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(id_error("data-model version", s, "like 4.2"))
        }
    }
    /// The data-model (CDM) versions that exist: 4.0 to 4.2 in NAV's case files,
    /// 4.3 in RINA 6.3, 4.4 in NAV's code since ([FAG-BUC], [CAT], [M-SED]; domain notes
    /// §3.2). A registry that says an access point accepts another is refused.
    /// UNCERTAIN: no public list of CDM releases was found; a later one is added here
    /// when it is published (the switch needs its schemas to speak it anyway).
    pub const KNOWN: [&'static str; 5] = ["4.0", "4.1", "4.2", "4.3", "4.4"];

    /// Whether this is one of the `KNOWN` versions.
    pub fn is_known(&self) -> bool {
        Self::KNOWN.contains(&self.0.as_str())
    }

    /// `http://ec.europa.eu/eessi/ns/4_2` for `4.2`.
    pub fn namespace(&self) -> String {
        format!("http://ec.europa.eu/eessi/ns/{}", self.0.replace('.', "_"))
    }
    /// The `sedGVer`/`sedVer` pair of the SED root element.
    pub fn generation_and_version(&self) -> (&str, &str) {
        // invariant: parse checked the dot
        self.0.split_once('.').unwrap_or((&self.0, ""))
    }
}

/// A participant's role in a case, as in the SBDH `ContactTypeIdentifier`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Role {
    CaseOwner,
    Counterparty,
}

impl Role {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        match s {
            "CaseOwner" => Ok(Role::CaseOwner),
            "Counterparty" => Ok(Role::Counterparty),
            _ => Err(id_error("role", s, "CaseOwner or Counterparty")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CaseOwner => "CaseOwner",
            Role::Counterparty => "Counterparty",
        }
    }
    pub fn other(self) -> Role {
        match self {
            Role::CaseOwner => Role::Counterparty,
            Role::Counterparty => Role::CaseOwner,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `eessi-case-action`: what a document does to its case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum CaseAction {
    Start,
    New,
    Update,
}

impl CaseAction {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        match s {
            "Start" => Ok(CaseAction::Start),
            "New" => Ok(CaseAction::New),
            "Update" => Ok(CaseAction::Update),
            _ => Err(id_error("case action", s, "Start, New or Update")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            CaseAction::Start => "Start",
            CaseAction::New => "New",
            CaseAction::Update => "Update",
        }
    }
}

impl fmt::Display for CaseAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parse a document version: a decimal integer >= 1 without sign or leading zeros.
pub fn parse_document_version(s: &str) -> Result<u32, IdError> {
    let ok = !s.is_empty()
        && s.len() <= 9
        && s.bytes().all(|b| b.is_ascii_digit())
        && !s.starts_with('0');
    match (ok, s.parse::<u32>()) {
        (true, Ok(v)) => Ok(v),
        _ => Err(id_error("document version", s, "a decimal integer >= 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_contract_forms_and_refuse_others() {
        assert!(CaseId::parse("9a2b7c4d1e0f4a3b8c6d5e4f3a2b1c0d").is_ok());
        assert!(CaseId::parse("9A2B7C4D1E0F4A3B8C6D5E4F3A2B1C0D").is_err());
        assert!(CaseId::parse("9a2b").is_err());
        assert!(InstitutionId::parse("BE:ONEM").is_ok());
        assert!(InstitutionId::parse("NL:SVB").is_ok());
        assert!(InstitutionId::parse("be:ONEM").is_err());
        assert!(InstitutionId::parse("BE:").is_err());
        assert!(InstitutionId::parse("BE:ABCDEFGHIJKLMNOPQ").is_err());
        assert!(InstitutionId::parse("BE:onem").is_err());
        assert_eq!(
            InstitutionId::parse("DE:DRV").unwrap().country().as_str(),
            "DE"
        );
        assert!(SedType::parse("A003").is_ok());
        assert!(SedType::parse("DA003A").is_ok());
        assert!(SedType::parse("P3000_XX").is_ok());
        assert!(SedType::parse("a003").is_err());
        assert!(SedType::parse("A03").is_err());
        assert!(BucType::parse("H_BUC_02a").is_ok());
        assert!(BucType::parse("LA BUC").is_err());
        assert_eq!(
            SedVersion::parse("4.2").unwrap().namespace(),
            "http://ec.europa.eu/eessi/ns/4_2"
        );
        assert!(SedVersion::parse("4").is_err());
        let v43 = SedVersion::parse("4.3").unwrap();
        assert_eq!(v43.namespace(), "http://ec.europa.eu/eessi/ns/4_3");
        assert_eq!(v43.generation_and_version(), ("4", "3"));
        assert!(v43.is_known());
        assert!(!SedVersion::parse("4.21").unwrap().is_known());
        assert_eq!(parse_document_version("1"), Ok(1));
        assert!(parse_document_version("01").is_err());
        assert!(parse_document_version("0").is_err());
        assert!(parse_document_version("-1").is_err());
        assert!(MessageId::parse(&MessageId::random().to_string()).is_ok());
        assert!(MessageId::parse("not-a-uuid").is_err());
    }
}
