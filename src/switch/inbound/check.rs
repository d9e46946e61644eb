//! Check: what can be known of a delivery without the store, on the caller's
//! blocking thread before any transaction opens. For a SED, checks 2 to 8 of the
//! contract in their order (size, properties and headers, well-formed XML and the
//! envelope, signature, headers against the signed envelope, known BUC/SED/version,
//! schema, a recipient we serve); for a receipt or error, its verification. Every
//! XML and RSA operation of reading a delivery happens here, and so does the
//! signing of its most likely answer (`answer::Answers::presign`).

use super::super::{Metrics, Switch, sha256_hex};
use super::answer::Answers;
use crate::ids::{
    BucType, CaseAction, CaseId, Country, DocumentId, InstitutionId, MessageId, SedType,
    SedVersion, parse_document_version,
};
use crate::sed::envelope::{self, Header};
use crate::sed::signal::{self, ErrorCode, Signal};
use crate::sed::validate::{self, ValidateError};
use crate::sed::xml::{self, C14nScope, XmlError};
use crate::signing::dsig;
use crate::transport::WireMessage;

/// A refusal: the contract's code and an English detail free of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub detail: String,
}

pub(crate) fn refuse(code: ErrorCode, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        detail: detail.into(),
    }
}

/// A SED that passed checks 2–8.
#[derive(Debug, Clone)]
pub struct CheckedSed {
    pub header: Header,
    /// SHA-256 (hex) of the SED element's exclusive C14N.
    pub content_sha256: String,
    /// The institution id at the definition's `subject` path, for participant effects.
    pub subject: Option<String>,
    /// A bulk document's sub-documents (`Switch::children_path`).
    pub children: Option<u32>,
    /// The persons it names, for the case's person index (personal data).
    pub persons: Vec<crate::store::PersonKey>,
    /// Who gets it on their national queues (the routing rules' decision), each
    /// in the form it chose; empty when it goes to triage.
    pub deliveries: Vec<(InstitutionId, Delivery)>,
    /// The rule that decided (deliveries) or why it waits in triage.
    pub routed: Routed,
    /// For a rule that follows the case: the institutions the case's earlier
    /// SEDs went to, as read before the transaction (or why that read failed),
    /// for the transaction to confirm.
    pub followed: Option<Result<Vec<InstitutionId>, String>>,
}

/// The routing decision of a checked SED, as the transaction needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// Delivered by this rule.
    Rule(String),
    /// Kept in the triage queue for an operator, for this reason.
    Triage(String),
}

/// How the receiving Belgian institution gets a SED (`[national_formats]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The signed envelope as it arrived.
    Envelope,
    /// Its national format, made by this adapter from the SED (and the envelope's
    /// sender, receiver and case id).
    National { adapter: String, body: Vec<u8> },
    /// A national format was chosen, but this SED does not map to it (a code with
    /// no national counterpart, a value the national type is narrower for): the
    /// envelope is delivered instead, saying which adapter failed and at which SED
    /// paths (never the values). The SED itself was valid: it is not refused abroad.
    Unmappable {
        adapter: String,
        fields: Vec<String>,
    },
}

/// A delivery after its checks.
pub(crate) enum Prepared {
    /// Nobody can be answered.
    DeadLetter(String),
    Signal {
        message_id: String,
        signal: Result<Signal, String>,
    },
    Sed(Box<PreparedSed>),
}

pub(crate) struct PreparedSed {
    pub message_id: String,
    pub body_sha: String,
    pub checked: Result<CheckedSed, Refusal>,
    /// The answers signed so far: the receipt of a SED that passed, the error of
    /// one that did not; any other (a refusal at checks 9 or 10) is signed when the
    /// transaction asks for it (`answer::Need`), outside it.
    pub answers: Answers,
}

pub(crate) fn prepare(sw: &Switch, m: &WireMessage) -> Prepared {
    let _timer = crate::telemetry::stage(crate::telemetry::Stage::InboundCheck).start();
    Metrics::inc(&sw.metrics.inbound_received);
    let Some(message_id) = m.message_id.clone().filter(|s| !s.is_empty()) else {
        return Prepared::DeadLetter("no message_id".into());
    };
    if matches!(m.kind.as_deref(), Some("receipt") | Some("error")) {
        Metrics::inc(&sw.metrics.signals_received);
        return Prepared::Signal {
            message_id,
            signal: read_signal(sw, m),
        };
    }
    let from = match m.headers.get("eessi-from").map(|f| InstitutionId::parse(f)) {
        Some(Ok(f)) => f,
        _ => {
            return Prepared::DeadLetter("eessi-from missing or not an institution id".into());
        }
    };
    let checked = check(sw, m);
    let mut answers = Answers::new(&message_id, &from);
    answers.presign(sw, m, &checked);
    Prepared::Sed(Box::new(PreparedSed {
        message_id,
        body_sha: sha256_hex(&m.body),
        checked,
        answers,
    }))
}

fn header<'a>(m: &'a WireMessage, name: &str) -> Result<&'a str, Refusal> {
    m.headers
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| refuse(ErrorCode::Malformed, format!("header {name} is missing")))
}

fn parsed<T, E: std::fmt::Display>(r: Result<T, E>, name: &str) -> Result<T, Refusal> {
    r.map_err(|e| {
        refuse(
            ErrorCode::Malformed,
            format!("header {name} is malformed: {e}"),
        )
    })
}

/// Checks 2 to 8 of the contract, in order.
pub fn check(sw: &Switch, m: &WireMessage) -> Result<CheckedSed, Refusal> {
    // 2. Size, before any parsing.
    if m.body.len() > sw.limits.body_bytes_max {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!(
                "body of {} bytes exceeds {} bytes",
                m.body.len(),
                sw.limits.body_bytes_max
            ),
        ));
    }
    // 3. Properties and headers, then well-formed XML and the envelope structure.
    // The contract's headers must be strings; headers the broker adds itself (a
    // quorum queue's `x-delivery-count` on a redelivery, a long) are not the sender's.
    if let Some(bad) = m.non_string_headers.iter().find(|h| !h.starts_with("x-")) {
        return Err(refuse(
            ErrorCode::Malformed,
            format!("header {bad} is not a string"),
        ));
    }
    if m.message_id
        .as_deref()
        .map(MessageId::parse)
        .is_none_or(|r| r.is_err())
    {
        return Err(refuse(ErrorCode::Malformed, "message_id is not a UUID"));
    }
    if m.kind.as_deref() != Some("sed") {
        return Err(refuse(
            ErrorCode::Malformed,
            "type must be sed, receipt or error",
        ));
    }
    if m.content_type.as_deref() != Some("application/xml") {
        return Err(refuse(
            ErrorCode::Malformed,
            "content_type must be application/xml",
        ));
    }
    if m.timestamp.is_none() {
        return Err(refuse(ErrorCode::Malformed, "timestamp is missing"));
    }
    if m.app_id.as_deref().is_none_or(str::is_empty) {
        return Err(refuse(ErrorCode::Malformed, "app_id is missing"));
    }
    let h_from = parsed(InstitutionId::parse(header(m, "eessi-from")?), "eessi-from")?;
    let h_to = parsed(InstitutionId::parse(header(m, "eessi-to")?), "eessi-to")?;
    let h_case = parsed(CaseId::parse(header(m, "eessi-case-id")?), "eessi-case-id")?;
    let h_buc = parsed(BucType::parse(header(m, "eessi-buc")?), "eessi-buc")?;
    let h_sed = parsed(SedType::parse(header(m, "eessi-sed")?), "eessi-sed")?;
    let h_version = parsed(
        SedVersion::parse(header(m, "eessi-sed-version")?),
        "eessi-sed-version",
    )?;
    let h_doc = parsed(
        DocumentId::parse(header(m, "eessi-document-id")?),
        "eessi-document-id",
    )?;
    let h_dv = parsed(
        parse_document_version(header(m, "eessi-document-version")?),
        "eessi-document-version",
    )?;
    let h_action = parsed(
        CaseAction::parse(header(m, "eessi-case-action")?),
        "eessi-case-action",
    )?;
    let doc = xml::parse(&m.body, &sw.limits).map_err(|e| match e {
        XmlError::TooLarge { .. } => refuse(ErrorCode::TooLarge, e.to_string()),
        // The parser's own message may quote the input (personal data): abroad
        // goes only the kind of fault and its line.
        XmlError::NotWellFormed { line, .. } => refuse(
            ErrorCode::Malformed,
            format!(
                "not well-formed XML{}",
                line.map(|l| format!(" at line {l}")).unwrap_or_default()
            ),
        ),
        other => refuse(ErrorCode::Malformed, other.to_string()),
    })?;
    let (env, sed_node) =
        envelope::read(&doc).map_err(|e| refuse(ErrorCode::Malformed, e.to_string()))?;

    // 4. Signature, with the registry's certificate for the envelope's Sender.
    let trusted = sw
        .registry
        .institution(&env.sender)
        .map(|i| i.certificates.as_slice())
        .unwrap_or(&[]);
    dsig::verify(&doc, trusted).map_err(|e| refuse(ErrorCode::SignatureInvalid, e.to_string()))?;

    // 5. Headers against the signed envelope; the SED element against its type.
    let mismatches: Vec<&str> = [
        ("eessi-from", h_from == env.sender),
        ("eessi-to", h_to == env.receiver),
        ("eessi-case-id", h_case == env.case_id),
        ("eessi-buc", h_buc == env.buc),
        ("eessi-sed", h_sed == env.sed),
        ("eessi-sed-version", h_version == env.version),
        ("eessi-document-id", h_doc == env.document_id),
        ("eessi-document-version", h_dv == env.document_version),
        ("eessi-case-action", h_action == env.action),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(n, _)| n)
    .collect();
    if !mismatches.is_empty() {
        return Err(refuse(
            ErrorCode::Malformed,
            format!(
                "header(s) {} differ from the signed envelope",
                mismatches.join(", ")
            ),
        ));
    }
    if sed_node.get_name() != env.sed.as_str() || xml::ns(sed_node) != env.version.namespace() {
        return Err(refuse(
            ErrorCode::Malformed,
            format!(
                "the SED element is not {} of version {}",
                env.sed, env.version
            ),
        ));
    }

    // 6. Known BUC, SED type and data-model version.
    if sw.catalogue.get(&env.buc).is_none() {
        return Err(refuse(
            ErrorCode::Unsupported,
            format!("unknown BUC type {}", env.buc),
        ));
    }
    if !sw.catalogue.seds.contains_key(&env.sed) {
        return Err(refuse(
            ErrorCode::Unsupported,
            format!("unknown SED type {}", env.sed),
        ));
    }
    if !sw.versions.contains(&env.version) {
        return Err(refuse(
            ErrorCode::Unsupported,
            format!("unsupported data-model version {}", env.version),
        ));
    }

    // 7. Schema. Violations abroad name lines and elements, never values.
    let schema = validate::sed_schema_path(&sw.schemas, &env.version, &env.sed);
    let node = find_node(&doc, sed_node)
        .ok_or_else(|| refuse(ErrorCode::Malformed, "the SED element cannot be located"))?;
    if let Err(e) = validate::validate_element(&schema, &node) {
        return Err(match e {
            ValidateError::Invalid(vs) => {
                let places: Vec<String> = vs
                    .iter()
                    .take(20)
                    .map(|v| {
                        format!(
                            "line {} element {}",
                            v.line.unwrap_or(0),
                            v.element.as_deref().unwrap_or("?")
                        )
                    })
                    .collect();
                refuse(
                    ErrorCode::SchemaInvalid,
                    format!("{} schema violation(s) at: {}", vs.len(), places.join("; ")),
                )
            }
            other => refuse(ErrorCode::Unsupported, other.to_string()),
        });
    }

    // 8. A recipient we serve, handling this BUC in this role.
    let served = sw.is_served(&env.receiver)
        && sw
            .registry
            .institution(&env.receiver)
            .is_some_and(|i| i.handles(&env.buc, env.receiver_role));
    if !served {
        return Err(refuse(
            ErrorCode::UnknownRecipient,
            format!(
                "{} is not served here for {} as {}",
                env.receiver, env.buc, env.receiver_role
            ),
        ));
    }
    let content = xml::c14n(&doc, C14nScope::Subtree(sed_node))
        .map_err(|e| refuse(ErrorCode::Malformed, e.to_string()))?;
    let subject = sw
        .subject_path(&env.buc, &env.sed)
        .and_then(|p| super::super::record::subject_at(sed_node, p));
    let children = sw
        .children_path(&env.sed)
        .map(|p| super::super::record::count_at(sed_node, p));
    let persons = crate::sed::person::persons(sed_node);
    // Routing reads the content on the document parsed here, outside any
    // transaction; each receiving institution's form is made here too.
    let route = sw
        .routing
        .route(&env.buc, &env.sed, &env.receiver, &doc, sed_node);
    // A later SED of a case goes where the case's earlier SEDs went (read outside
    // any transaction: the earlier deliveries committed before this SED, which
    // answers or follows them). The transaction reads them again and retries on a
    // difference, or on this read's failure: a store fault is never an answer.
    let followed = route.follow_case().then(|| {
        sw.store
            .case_national_destinations(&env.case_id)
            .map_err(|e| e.to_string())
    });
    let route = match &followed {
        Some(Ok(earlier)) if !earlier.is_empty() => crate::route::Route::Deliver {
            rule: format!("{} (following the case)", route.rule()),
            to: earlier.clone(),
            follow_case: true,
        },
        _ => route,
    };
    // Each receiving institution's form is made here too.
    let (deliveries, routed) = match route {
        crate::route::Route::Deliver { rule, to, .. } => (
            to.into_iter()
                .map(|who| {
                    let d = delivery(sw, &env, &who, sed_node);
                    (who, d)
                })
                .collect(),
            Routed::Rule(rule),
        ),
        crate::route::Route::Triage { reason, .. } => (Vec::new(), Routed::Triage(reason)),
    };
    Ok(CheckedSed {
        header: env,
        content_sha256: sha256_hex(&content),
        subject,
        children,
        persons,
        deliveries,
        routed,
        followed,
    })
}

/// The national format `who` chose for this SED type, made here, outside any
/// transaction, from the SED element as checked (not parsed again). The national
/// message names the envelope's receiver (the case's Belgian participant), also
/// when the routing delivers it to another institution.
pub(crate) fn delivery(
    sw: &Switch,
    env: &Header,
    who: &InstitutionId,
    sed: libxml::readonly::RoNode,
) -> Delivery {
    let Some(name) = sw
        .national_formats
        .get(who)
        .and_then(|by_sed| by_sed.get(&env.sed))
    else {
        return Delivery::Envelope;
    };
    let Some(adapter) = sw.adapters.get(name) else {
        // Checked at start-up; a missing adapter is a deployment fault.
        return Delivery::Unmappable {
            adapter: name.clone(),
            fields: Vec::new(),
        };
    };
    // With everything the envelope says: the parties, the case, the document's id
    // (what a reply names), what it answers and whether it updates one.
    match adapter.received_to_national(Some(sed), env, &sw.limits) {
        Ok(national) => Delivery::National {
            adapter: name.clone(),
            body: national.into_bytes(),
        },
        Err(e) => {
            use crate::adapt::AdaptError;
            // Paths and element names only: the issues' values and libxml2's
            // messages may hold personal data.
            let fields = match &e {
                AdaptError::Mapping(issues) => issues.iter().map(|i| i.field.clone()).collect(),
                AdaptError::NationalOutputInvalid(vs) => vs
                    .iter()
                    .map(|v| format!("national {}", v.element.as_deref().unwrap_or("?")))
                    .collect(),
                _ => vec!["the SED could not be read again".to_owned()],
            };
            tracing::warn!(
                adapter = %name,
                sed = %env.sed,
                fields = fields.len(),
                "a received SED does not map to its institution's national format; delivered as the envelope"
            );
            Metrics::inc(&sw.metrics.national_unmappable);
            Delivery::Unmappable {
                adapter: name.clone(),
                fields,
            }
        }
    }
}

/// The owned `Node` of a read-only node (schema validation needs one).
fn find_node(
    doc: &libxml::tree::Document,
    target: libxml::readonly::RoNode,
) -> Option<libxml::tree::Node> {
    let root = doc.get_root_element()?;
    root.get_child_elements()
        .into_iter()
        .find(|n| n.node_ptr() == target.node_ptr())
}

pub(crate) fn read_signal(sw: &Switch, m: &WireMessage) -> Result<Signal, String> {
    let from = m.headers.get("eessi-from").ok_or("no eessi-from")?;
    let country = Country::parse(from).map_err(|e| e.to_string())?;
    let certs = sw
        .registry
        .access_points
        .get(&country)
        .ok_or("unknown access point")?;
    let doc = xml::parse(&m.body, &sw.limits).map_err(|e| e.to_string())?;
    dsig::verify(&doc, certs).map_err(|e| e.to_string())?;
    let s = signal::read(&doc)?;
    let expected = if matches!(s, Signal::Receipt { .. }) {
        "receipt"
    } else {
        "error"
    };
    if m.kind.as_deref() != Some(expected) {
        return Err(format!(
            "type {:?} does not match the {expected} it carries",
            m.kind
        ));
    }
    if m.headers.get("eessi-ref-to-message-id").map(String::as_str) != Some(s.ref_to()) {
        return Err("eessi-ref-to-message-id differs from RefToMessageId".into());
    }
    Ok(s)
}
