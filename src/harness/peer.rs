//! Crafting a signed SED message exactly as a foreign access point would put it on
//! the wire, bypassing the sender's state machine. For tests, the demo's refusal
//! and the benchmark's peer: this is how a misbehaving or independent peer looks.

use std::collections::BTreeMap;

use crate::ids::{
    BucType, CaseAction, CaseId, DocumentId, InstitutionId, MessageId, Role, SedType, SedVersion,
};
use crate::sed::envelope::{Header, render_unsigned};
use crate::sed::xml::{self, C14nScope, XmlLimits};
use crate::signing::{Signer, sign};
use crate::transport::{AP_EXCHANGE, OutMessage};

/// What to put in the envelope.
#[derive(Debug, Clone)]
pub struct Craft {
    pub header: Header,
    pub body: Vec<u8>,
    pub message_id: String,
}

impl Craft {
    /// A `Start` from `from` (CaseOwner) to `to` (Counterparty), version 1.
    /// Panics on invalid ids: crafting is for tests and demos with constant ids.
    pub fn new(from: &str, to: &str, buc: &str, sed: &str, case_id: &CaseId, body: &[u8]) -> Craft {
        let id = |s: &str| InstitutionId::parse(s).unwrap_or_else(|e| panic!("{e}"));
        Craft {
            header: Header {
                sender: id(from),
                sender_role: Role::CaseOwner,
                receiver: id(to),
                receiver_role: Role::Counterparty,
                version: SedVersion::parse("4.2").unwrap_or_else(|e| panic!("{e}")),
                document_id: DocumentId::random(),
                sed: SedType::parse(sed).unwrap_or_else(|e| panic!("{e}")),
                created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                case_id: case_id.clone(),
                buc: BucType::parse(buc).unwrap_or_else(|e| panic!("{e}")),
                action: CaseAction::Start,
                document_version: 1,
                related: None,
            },
            body: body.to_vec(),
            message_id: MessageId::random().to_string(),
        }
    }
    pub fn roles(mut self, sender: Role, receiver: Role) -> Craft {
        self.header.sender_role = sender;
        self.header.receiver_role = receiver;
        self
    }
    pub fn action(mut self, a: CaseAction) -> Craft {
        self.header.action = a;
        self
    }
    pub fn document(mut self, id: DocumentId, version: u32) -> Craft {
        self.header.document_id = id;
        self.header.document_version = version;
        self
    }
    pub fn related(mut self, id: DocumentId) -> Craft {
        self.header.related = Some(id);
        self
    }
}

/// The headers a sender puts on a `sed` message for this envelope header.
pub fn sed_headers(h: &Header) -> BTreeMap<String, String> {
    h.wire_headers()
}

/// Render, sign with `signer` and wrap as an AMQP message to the receiver's country.
pub fn craft_with(signer: &Signer, c: &Craft) -> Result<OutMessage, String> {
    let doc = xml::parse(&c.body, &XmlLimits::default()).map_err(|e| e.to_string())?;
    let root = doc.get_root_readonly().ok_or("no root")?;
    let sed = xml::c14n(&doc, C14nScope::Subtree(root)).map_err(|e| e.to_string())?;
    let unsigned = render_unsigned(&c.header, &String::from_utf8_lossy(&sed));
    let body = sign(unsigned.as_bytes(), signer).map_err(|e| e.to_string())?;
    Ok(OutMessage {
        exchange: AP_EXCHANGE.into(),
        routing_key: c.header.receiver.country().to_string(),
        message_id: c.message_id.clone(),
        kind: "sed".into(),
        timestamp: chrono::Utc::now().timestamp(),
        headers: sed_headers(&c.header),
        body,
    })
}

/// Craft with the key the switch `sw` holds for the sender.
pub fn craft_sed(sw: &crate::switch::Switch, c: &Craft) -> Result<OutMessage, String> {
    let signer = sw
        .signers
        .get(&c.header.sender)
        .ok_or_else(|| format!("no key for {}", c.header.sender))?;
    craft_with(signer, c)
}
