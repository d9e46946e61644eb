//! The SBDH envelope of the access-point contract: rendering an unsigned envelope
//! around a SED, and reading one back with every structural rule of the contract's
//! check 3 (root children, leaving out signatures, are exactly the header then one
//! SED; every header field present once and well-formed).

use libxml::readonly::RoNode;
use libxml::tree::Document;

use crate::ids::{
    BucType, CaseAction, CaseId, DocumentId, InstitutionId, Role, SedType, SedVersion,
    parse_document_version,
};
use crate::sed::xml::{DECLARATION_LINE, elements, escape_text, is, ns};
use crate::signing::dsig::DS;

pub const SBDH: &str = "http://eessi.dgempl.ec.europa.eu/namespaces/sbdh";
pub const AUTHORITY: &str = "urn:eu:europa:ec:dgempl:eessi:ir";
pub const STANDARD: &str = "urn:eu:europa:ec:dgempl:eessi:sed";

/// Everything the envelope header says about its SED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub sender: InstitutionId,
    pub sender_role: Role,
    pub receiver: InstitutionId,
    pub receiver_role: Role,
    pub version: SedVersion,
    pub document_id: DocumentId,
    pub sed: SedType,
    /// `CreationDateAndTime`, kept as written.
    pub created: String,
    pub case_id: CaseId,
    pub buc: BucType,
    pub action: CaseAction,
    pub document_version: u32,
    pub related: Option<DocumentId>,
}

impl Header {
    /// The AMQP headers a sender puts on the `sed` message carrying this envelope
    /// (the contract: each must equal the signed envelope's value).
    pub fn wire_headers(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("eessi-from", self.sender.to_string()),
            ("eessi-to", self.receiver.to_string()),
            ("eessi-case-id", self.case_id.to_string()),
            ("eessi-buc", self.buc.to_string()),
            ("eessi-sed", self.sed.to_string()),
            ("eessi-sed-version", self.version.to_string()),
            ("eessi-document-id", self.document_id.to_string()),
            ("eessi-document-version", self.document_version.to_string()),
            ("eessi-case-action", self.action.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed envelope: {0}")]
pub struct EnvelopeError(pub String);

fn bad(m: impl Into<String>) -> EnvelopeError {
    EnvelopeError(m.into())
}

/// Render an unsigned envelope holding `sed_xml` (one element, no XML declaration):
/// the declaration line, then the envelope. When `sed_xml` is in exclusive canonical
/// form (as `outbound::prepare_body` leaves it), so is the whole envelope after the
/// declaration line, and it can be signed without parsing (`dsig::sign_rendered`).
pub fn render_unsigned(h: &Header, sed_xml: &str) -> String {
    let related = h
        .related
        .as_ref()
        .map(|r| format!("\n      <sbdh:Scope><sbdh:Type>RelatedDocument</sbdh:Type><sbdh:InstanceIdentifier>{r}</sbdh:InstanceIdentifier></sbdh:Scope>"))
        .unwrap_or_default();
    format!(
        r#"{DECLARATION_LINE}<sbdh:StandardBusinessDocument xmlns:sbdh="{SBDH}">
  <sbdh:StandardBusinessDocumentHeader>
    <sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>
    <sbdh:Sender>
      <sbdh:Identifier Authority="{AUTHORITY}">{sender}</sbdh:Identifier>
      <sbdh:ContactInformation><sbdh:ContactTypeIdentifier>{sender_role}</sbdh:ContactTypeIdentifier></sbdh:ContactInformation>
    </sbdh:Sender>
    <sbdh:Receiver>
      <sbdh:Identifier Authority="{AUTHORITY}">{receiver}</sbdh:Identifier>
      <sbdh:ContactInformation><sbdh:ContactTypeIdentifier>{receiver_role}</sbdh:ContactTypeIdentifier></sbdh:ContactInformation>
    </sbdh:Receiver>
    <sbdh:DocumentIdentification>
      <sbdh:Standard>{STANDARD}</sbdh:Standard>
      <sbdh:TypeVersion>{version}</sbdh:TypeVersion>
      <sbdh:InstanceIdentifier>{document_id}</sbdh:InstanceIdentifier>
      <sbdh:Type>{sed}</sbdh:Type>
      <sbdh:CreationDateAndTime>{created}</sbdh:CreationDateAndTime>
    </sbdh:DocumentIdentification>
    <sbdh:BusinessScope>
      <sbdh:Scope><sbdh:Type>CaseId</sbdh:Type><sbdh:InstanceIdentifier>{case_id}</sbdh:InstanceIdentifier><sbdh:Identifier>{buc}</sbdh:Identifier></sbdh:Scope>
      <sbdh:Scope><sbdh:Type>CaseAction</sbdh:Type><sbdh:InstanceIdentifier>{action}</sbdh:InstanceIdentifier></sbdh:Scope>
      <sbdh:Scope><sbdh:Type>DocumentVersion</sbdh:Type><sbdh:InstanceIdentifier>{document_version}</sbdh:InstanceIdentifier></sbdh:Scope>{related}
    </sbdh:BusinessScope>
  </sbdh:StandardBusinessDocumentHeader>
  {sed_xml}
</sbdh:StandardBusinessDocument>
"#,
        sender = h.sender,
        sender_role = h.sender_role,
        receiver = h.receiver,
        receiver_role = h.receiver_role,
        version = h.version,
        document_id = h.document_id,
        sed = h.sed,
        created = escape_text(&h.created),
        case_id = h.case_id,
        buc = h.buc,
        action = h.action,
        document_version = h.document_version,
    )
}

fn sbdh_children(node: RoNode, expected: &[&str]) -> Result<Vec<RoNode>, EnvelopeError> {
    let children = elements(node);
    let names: Vec<String> = children.iter().map(|c| c.get_name()).collect();
    if names != expected || children.iter().any(|c| ns(*c) != SBDH) {
        return Err(bad(format!(
            "{} must hold {} (found {})",
            node.get_name(),
            expected.join(", "),
            names.join(", ")
        )));
    }
    Ok(children)
}

fn text(node: RoNode) -> Result<String, EnvelopeError> {
    if !elements(node).is_empty() {
        return Err(bad(format!("{} must hold text only", node.get_name())));
    }
    Ok(node.get_content())
}

fn party(node: RoNode) -> Result<(InstitutionId, Role), EnvelopeError> {
    let c = sbdh_children(node, &["Identifier", "ContactInformation"])?;
    if c[0].get_property_no_ns("Authority").as_deref() != Some(AUTHORITY) {
        return Err(bad(format!(
            "{} Identifier must have Authority {AUTHORITY}",
            node.get_name()
        )));
    }
    let id = InstitutionId::parse(&text(c[0])?).map_err(|e| bad(e.to_string()))?;
    let ci = sbdh_children(c[1], &["ContactTypeIdentifier"])?;
    let role = Role::parse(&text(ci[0])?).map_err(|e| bad(e.to_string()))?;
    Ok((id, role))
}

/// Read the envelope structure and header (check 3 of the contract). Returns the
/// header and the SED element.
pub fn read(doc: &Document) -> Result<(Header, RoNode), EnvelopeError> {
    let root = doc
        .get_root_readonly()
        .ok_or_else(|| bad("no root element"))?;
    if !is(root, SBDH, "StandardBusinessDocument") {
        return Err(bad(
            "the root element must be sbdh:StandardBusinessDocument",
        ));
    }
    let parts: Vec<RoNode> = elements(root)
        .into_iter()
        .filter(|c| !is(*c, DS, "Signature"))
        .collect();
    if parts.len() != 2
        || !is(parts[0], SBDH, "StandardBusinessDocumentHeader")
        || ns(parts[1]) == SBDH
    {
        return Err(bad(
            "the root must hold exactly the header followed by one SED",
        ));
    }
    let h = sbdh_children(
        parts[0],
        &[
            "HeaderVersion",
            "Sender",
            "Receiver",
            "DocumentIdentification",
            "BusinessScope",
        ],
    )?;
    if text(h[0])? != "1.0" {
        return Err(bad("HeaderVersion must be 1.0"));
    }
    let (sender, sender_role) = party(h[1])?;
    let (receiver, receiver_role) = party(h[2])?;
    let di = sbdh_children(
        h[3],
        &[
            "Standard",
            "TypeVersion",
            "InstanceIdentifier",
            "Type",
            "CreationDateAndTime",
        ],
    )?;
    if text(di[0])? != STANDARD {
        return Err(bad(format!("Standard must be {STANDARD}")));
    }
    let version = SedVersion::parse(&text(di[1])?).map_err(|e| bad(e.to_string()))?;
    let document_id = DocumentId::parse(&text(di[2])?).map_err(|e| bad(e.to_string()))?;
    let sed = SedType::parse(&text(di[3])?).map_err(|e| bad(e.to_string()))?;
    let created = text(di[4])?;
    if chrono::DateTime::parse_from_rfc3339(&created).is_err() {
        return Err(bad("CreationDateAndTime is not a date-time"));
    }
    let (mut case, mut action, mut dv, mut related) = (None, None, None, None);
    for scope in elements(h[4]) {
        let c = elements(scope);
        if !is(scope, SBDH, "Scope")
            || c.len() < 2
            || c.len() > 3
            || c.iter().any(|x| ns(*x) != SBDH)
        {
            return Err(bad(
                "BusinessScope must hold Scope elements of Type, InstanceIdentifier[, Identifier]",
            ));
        }
        if c[0].get_name() != "Type"
            || c[1].get_name() != "InstanceIdentifier"
            || c.get(2).is_some_and(|x| x.get_name() != "Identifier")
        {
            return Err(bad(
                "a Scope holds Type, InstanceIdentifier and an optional Identifier",
            ));
        }
        let kind = text(c[0])?;
        let value = text(c[1])?;
        let ident = c.get(2).map(|x| text(*x)).transpose()?;
        let slot_taken = |b: bool| {
            if b {
                Err(bad(format!("scope {kind} appears twice")))
            } else {
                Ok(())
            }
        };
        match kind.as_str() {
            "CaseId" => {
                slot_taken(case.is_some())?;
                let buc =
                    ident.ok_or_else(|| bad("the CaseId scope must name the BUC in Identifier"))?;
                case = Some((
                    CaseId::parse(&value).map_err(|e| bad(e.to_string()))?,
                    BucType::parse(&buc).map_err(|e| bad(e.to_string()))?,
                ));
            }
            "CaseAction" => {
                slot_taken(action.is_some())?;
                action = Some(CaseAction::parse(&value).map_err(|e| bad(e.to_string()))?);
            }
            "DocumentVersion" => {
                slot_taken(dv.is_some())?;
                dv = Some(parse_document_version(&value).map_err(|e| bad(e.to_string()))?);
            }
            "RelatedDocument" => {
                slot_taken(related.is_some())?;
                related = Some(DocumentId::parse(&value).map_err(|e| bad(e.to_string()))?);
            }
            other => return Err(bad(format!("unknown scope type {other:?}"))),
        }
    }
    let (case_id, buc) = case.ok_or_else(|| bad("the CaseId scope is missing"))?;
    let header = Header {
        sender,
        sender_role,
        receiver,
        receiver_role,
        version,
        document_id,
        sed,
        created,
        case_id,
        buc,
        action: action.ok_or_else(|| bad("the CaseAction scope is missing"))?,
        document_version: dv.ok_or_else(|| bad("the DocumentVersion scope is missing"))?,
        related,
    };
    Ok((header, parts[1]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sed::xml::{XmlLimits, parse};

    pub fn header() -> Header {
        Header {
            sender: InstitutionId::parse("NL:SVB").unwrap(),
            sender_role: Role::CaseOwner,
            receiver: InstitutionId::parse("BE:ONSS").unwrap(),
            receiver_role: Role::Counterparty,
            version: SedVersion::parse("4.2").unwrap(),
            document_id: DocumentId::parse("3f1c0d5e9a2b47c68e0d1f2a3b4c5d6e").unwrap(),
            sed: SedType::parse("A003").unwrap(),
            created: "2026-11-27T10:15:00Z".into(),
            case_id: CaseId::parse("9a2b7c4d1e0f4a3b8c6d5e4f3a2b1c0d").unwrap(),
            buc: BucType::parse("LA_BUC_02").unwrap(),
            action: CaseAction::Start,
            document_version: 1,
            related: None,
        }
    }

    #[test]
    fn render_then_read_round_trips() {
        let mut h = header();
        h.related = Some(DocumentId::parse("00000000000000000000000000000001").unwrap());
        let xml = render_unsigned(
            &h,
            "<sed:A003 xmlns:sed=\"http://ec.europa.eu/eessi/ns/4_2\" sedGVer=\"4\" sedVer=\"2\"/>",
        );
        let doc = parse(xml.as_bytes(), &XmlLimits::default()).unwrap();
        let (back, sed) = read(&doc).unwrap();
        assert_eq!(back, h);
        assert_eq!(sed.get_name(), "A003");
    }

    #[test]
    fn structure_errors_are_reported() {
        let h = header();
        let two = render_unsigned(&h, "<x:A003 xmlns:x=\"urn:x\"/><x:A004 xmlns:x=\"urn:x\"/>");
        let doc = parse(two.as_bytes(), &XmlLimits::default()).unwrap();
        assert!(read(&doc).is_err());
        let no_case = render_unsigned(&h, "<x:A003 xmlns:x=\"urn:x\"/>").replace(
            "<sbdh:Type>CaseId</sbdh:Type>",
            "<sbdh:Type>Other</sbdh:Type>",
        );
        let doc = parse(no_case.as_bytes(), &XmlLimits::default()).unwrap();
        assert!(read(&doc).unwrap_err().0.contains("unknown scope type"));
        let bad_id =
            render_unsigned(&h, "<x:A003 xmlns:x=\"urn:x\"/>").replace(">NL:SVB<", ">nl:svb<");
        let doc = parse(bad_id.as_bytes(), &XmlLimits::default()).unwrap();
        assert!(read(&doc).unwrap_err().0.contains("institution id"));
    }
}
