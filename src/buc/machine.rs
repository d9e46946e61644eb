//! The pure BUC state machine: `step(definition, case, event) -> Decision`.
//!
//! No IO, no clock, no store: the caller hands in a view of the case as it stands
//! and the SED that wants to enter it; `step` says whether the protocol allows it,
//! and if so what the case becomes. The switch's inbound and outbound paths both go
//! through here, so a SED the protocol forbids is refused the same way whether a
//! Belgian institution or a foreign access point sends it.

use crate::buc::definition::{BucDef, CLOSED, Effect, ReplyTo, Target, is_administrative};
use crate::ids::{CaseAction, DocumentId, InstitutionId, Role, SedType};

/// What `step` needs to know about one document already in the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocView {
    pub id: DocumentId,
    pub sed: SedType,
    pub sender: InstitutionId,
    pub receiver: InstitutionId,
    pub latest_version: u32,
    pub cancelled: bool,
    /// The document this one answers (its RelatedDocument), if any.
    pub related: Option<DocumentId>,
}

/// What `step` needs to know about the case. Two views are equal when `step`
/// would decide the same from both (the switch keeps participants and documents
/// sorted by id, so the order rows were read in does not matter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseView {
    pub state: String,
    /// The state before the case was closed, for a reopening (X004).
    pub previous_state: Option<String>,
    pub participants: Vec<(InstitutionId, Role)>,
    pub documents: Vec<DocView>,
}

impl CaseView {
    pub fn role_of(&self, who: &InstitutionId) -> Option<Role> {
        self.participants
            .iter()
            .find(|(i, _)| i == who)
            .map(|(_, r)| *r)
    }
    pub fn document(&self, id: &DocumentId) -> Option<&DocView> {
        self.documents.iter().find(|d| &d.id == id)
    }
    /// Whether the case holds a document from or to `who`: a starter to an
    /// institution with none opens its conversation (`Start`).
    pub fn converses_with(&self, who: &InstitutionId) -> bool {
        self.documents
            .iter()
            .any(|d| &d.sender == who || &d.receiver == who)
    }
}

/// A SED that wants to enter a case (inbound or outbound alike).
#[derive(Debug, Clone)]
pub struct SedEvent {
    pub action: CaseAction,
    pub sed: SedType,
    pub document_id: DocumentId,
    pub version: u32,
    pub sender: InstitutionId,
    pub sender_role: Role,
    pub receiver: InstitutionId,
    pub receiver_role: Role,
    pub related: Option<DocumentId>,
    /// The institution a participant SED (X005, X006, X007) names, read from the
    /// SED at its definition's `subject` path before `step`.
    pub subject: Option<InstitutionId>,
    /// How many sub-documents a bulk (master) document carries: the elements at
    /// its catalogue `children` path, counted before `step` (None: not a bulk
    /// type, or not counted).
    pub children: Option<u32>,
}

/// What the case becomes when the event is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub from_state: Option<String>,
    pub to_state: String,
    /// True when this SED creates the document (Start/New), false for a new version.
    pub new_document: bool,
    /// True when the receiver joins the case as a new participant.
    pub adds_participant: bool,
    pub closes: bool,
    /// What the SED does besides moving the state (from its definition).
    pub effect: Option<Effect>,
    /// For participant effects: where the institution id is in the SED.
    pub subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The protocol does not allow this SED now, from this sender, in this role.
    #[error("{0}")]
    ProtocolViolation(String),
    /// `New`/`Update` for a case this side has never seen.
    #[error("the case is not known")]
    UnknownCase,
    /// `Update` or a related document that this case does not hold.
    #[error("document {0} is not known in this case")]
    UnknownDocument(DocumentId),
    /// An `Update` whose previous version has not been applied (it may be in flight).
    #[error("version {expected} must come before version {got}")]
    VersionGap { expected: u32, got: u32 },
}

fn violation(msg: impl Into<String>) -> StepError {
    StepError::ProtocolViolation(msg.into())
}

/// Decide whether `event` may enter `case` (None: the case does not exist yet).
pub fn step(
    def: &BucDef,
    case: Option<&CaseView>,
    event: &SedEvent,
) -> Result<Decision, StepError> {
    if event.sender_role == event.receiver_role {
        return Err(violation(format!(
            "sender and receiver cannot both be {}",
            event.sender_role
        )));
    }
    bulk_content(def, event)?;
    match (event.action, case) {
        (CaseAction::Start, Some(case)) => start_conversation(def, case, event),
        (CaseAction::Start, None) => start(def, event),
        (_, None) => Err(StepError::UnknownCase),
        (CaseAction::New, Some(case)) => new_document(def, case, event),
        (CaseAction::Update, Some(case)) => update(def, case, event),
    }
}

/// A bulk (master) document goes with at least one sub-document, unless its type
/// may be sent without ([RINA-TS §5.3, §5.10]).
fn bulk_content(def: &BucDef, event: &SedEvent) -> Result<(), StepError> {
    let Some(p) = def.params(&event.sed) else {
        return Ok(());
    };
    if p.bulk && !p.without_bulk && event.children == Some(0) {
        return Err(violation(format!(
            "{} is a bulk document and carries no sub-document [RINA-TS §5.3, §5.10]",
            event.sed
        )));
    }
    Ok(())
}

fn start(def: &BucDef, event: &SedEvent) -> Result<Decision, StepError> {
    if event.sender_role != Role::CaseOwner {
        return Err(violation("only the case owner starts a case"));
    }
    if event.version != 1 {
        return Err(violation("the first document of a case must be version 1"));
    }
    if event.related.is_some() {
        return Err(violation(
            "the first document of a case cannot answer another one",
        ));
    }
    let t = def
        .starters()
        .find(|t| t.sed == event.sed)
        .ok_or_else(|| violation(format!("{} does not start a {} case", event.sed, def.id)))?;
    Ok(Decision {
        from_state: None,
        to_state: target(&t.to, &def.initial),
        new_document: true,
        adds_participant: true,
        closes: false,
        effect: t.effect,
        subject: t.subject.clone(),
    })
}

/// A multilateral case owner opens the conversation with one more counterparty:
/// the starter again, to an institution that has no document in the case yet
/// (for that counterparty it is the first document of the case).
fn start_conversation(
    def: &BucDef,
    case: &CaseView,
    event: &SedEvent,
) -> Result<Decision, StepError> {
    if def.bilateral {
        return Err(violation(format!(
            "{} is bilateral: Start for a case that already exists",
            def.id
        )));
    }
    if case.state == CLOSED {
        return Err(violation("the case is closed"));
    }
    if case.role_of(&event.sender) != Some(Role::CaseOwner) || event.sender_role != Role::CaseOwner
    {
        return Err(violation("only the case owner starts a conversation"));
    }
    if case.converses_with(&event.receiver) {
        return Err(violation(
            "Start for a case the receiver already takes part in",
        ));
    }
    if case.document(&event.document_id).is_some() {
        return Err(violation("Start with a document the case already holds"));
    }
    let mut d = start(def, event)?;
    // A conversation of its own: from the BUC's initial state to where the starter leads.
    d.from_state = Some(def.initial.clone());
    d.adds_participant = case.role_of(&event.receiver).is_none();
    Ok(d)
}

fn new_document(def: &BucDef, case: &CaseView, event: &SedEvent) -> Result<Decision, StepError> {
    check_roles(def, case, event)?;
    if case.document(&event.document_id).is_some() {
        return Err(violation(
            "New for a document the case already holds; use Update",
        ));
    }
    if event.version != 1 {
        return Err(violation("a new document must be version 1"));
    }
    let related = match &event.related {
        Some(id) => {
            let doc = case
                .document(id)
                .ok_or_else(|| StepError::UnknownDocument(id.clone()))?;
            if doc.cancelled {
                return Err(violation(format!(
                    "document {id} was invalidated and cannot be answered"
                )));
            }
            Some(doc)
        }
        None => None,
    };
    let candidates: Vec<_> = def
        .transitions
        .iter()
        .filter(|t| t.sed == event.sed && t.applies_in(&case.state))
        .collect();
    if candidates.is_empty() {
        return Err(violation(format!(
            "{} is not allowed in state {} of {}",
            event.sed, case.state, def.id
        )));
    }
    let by_role: Vec<_> = candidates
        .iter()
        .filter(|t| t.by.allows(event.sender_role))
        .collect();
    if by_role.is_empty() {
        return Err(violation(format!(
            "{} may not send {} in state {}",
            event.sender_role, event.sed, case.state
        )));
    }
    // A reply names the document it answers; it must be of a type the definition
    // lets it answer. A SED sent without RelatedDocument is accepted (the contract
    // makes the scope optional), but one that names the wrong document is not.
    let chosen = match related {
        Some(doc) => by_role
            .iter()
            .find(|t| t.answers.is_empty() || t.answers.contains(&doc.sed))
            .ok_or_else(|| violation(format!("{} cannot answer {}", event.sed, doc.sed)))?,
        None => by_role[0],
    };
    admin_rights(def, case, event, related)?;
    if let Some(doc) = related
        && !chosen.answers.is_empty()
        && def
            .params(&event.sed)
            .is_some_and(|p| p.reply_to == ReplyTo::Sender)
        && event.receiver != doc.sender
    {
        return Err(violation(format!(
            "{} answers {} and goes to its sender only ({}) [RINA-TS §5.1.4]",
            event.sed, doc.sed, doc.sender
        )));
    }
    let to_state = match &chosen.to {
        Target::Previous => case
            .previous_state
            .clone()
            .ok_or_else(|| violation("the case has no state to return to"))?,
        other => target(other, &case.state),
    };
    Ok(Decision {
        from_state: Some(case.state.clone()),
        closes: to_state == CLOSED && case.state != CLOSED,
        to_state,
        new_document: true,
        adds_participant: case.role_of(&event.receiver).is_none(),
        effect: chosen.effect,
        subject: chosen.subject.clone(),
    })
}

fn update(def: &BucDef, case: &CaseView, event: &SedEvent) -> Result<Decision, StepError> {
    if case.state == CLOSED {
        return Err(violation("the case is closed"));
    }
    let doc = case
        .document(&event.document_id)
        .ok_or_else(|| StepError::UnknownDocument(event.document_id.clone()))?;
    // A new version only of a type with hasMultipleVersions; an administrative SED
    // is never sent again as a new version [RINA-TS §5.5, §6.2.2.5].
    if !def.params(&doc.sed).is_some_and(|p| p.versions) {
        return Err(violation(format!(
            "{} takes no new version in {} [RINA-TS §5.5]",
            doc.sed, def.id
        )));
    }
    if doc.sed != event.sed {
        return Err(violation(format!(
            "Update changes the SED type of {} from {} to {}",
            doc.id, doc.sed, event.sed
        )));
    }
    if doc.sender != event.sender {
        return Err(violation("only the sender of a document may update it"));
    }
    if doc.cancelled {
        return Err(violation("the document was invalidated"));
    }
    if event.version > doc.latest_version + 1 {
        return Err(StepError::VersionGap {
            expected: doc.latest_version + 1,
            got: event.version,
        });
    }
    if event.version != doc.latest_version + 1 {
        return Err(violation(format!(
            "Update must carry version {} (got {})",
            doc.latest_version + 1,
            event.version
        )));
    }
    if case.role_of(&event.sender) != Some(event.sender_role) {
        return Err(violation(
            "the sender's role does not match its role in the case",
        ));
    }
    Ok(Decision {
        from_state: Some(case.state.clone()),
        to_state: case.state.clone(),
        new_document: false,
        adds_participant: false,
        closes: false,
        effect: None,
        subject: None,
    })
}

/// The administrative SEDs that name the document they concern (RelatedDocument):
/// `admin_rights` refuses them without one.
pub const NAMES_A_DOCUMENT: [&str; 7] = ["X003", "X008", "X009", "X010", "X011", "X012", "X013"];

/// The rights of the administrative SEDs, as the reference's common action handlers
/// define them ([RINA-TS §6.2.2]); business SEDs pass. `related` is the document
/// the SED names (already known to be in the case and not invalidated).
fn admin_rights(
    def: &BucDef,
    case: &CaseView,
    event: &SedEvent,
    related: Option<&DocView>,
) -> Result<(), StepError> {
    let sed = event.sed.as_str();
    let named = |what: &str| {
        // The allowed-actions list offers documents to name from this list.
        debug_assert!(
            NAMES_A_DOCUMENT.contains(&sed),
            "{sed} names a document: add it to NAMES_A_DOCUMENT"
        );
        related.ok_or_else(|| {
            violation(format!(
                "{sed} must name the document it {what} (RelatedDocument)"
            ))
        })
    };
    let received_by_sender = |doc: &DocView, what: &str| {
        if doc.receiver == event.sender {
            Ok(())
        } else {
            Err(violation(format!(
                "{sed} {what} only a document its sender received ({} was sent to {})",
                doc.sed, doc.receiver
            )))
        }
    };
    let allowed = |doc: &DocView, flag: fn(&crate::buc::DocParams) -> bool, what: &str| {
        if def.params(&doc.sed).is_some_and(|p| flag(&p)) {
            Ok(())
        } else {
            Err(violation(format!(
                "{} cannot be {what} in {} [RINA-TS §5.5]",
                doc.sed, def.id
            )))
        }
    };
    let of_type = |doc: &DocView, want: &str| {
        if doc.sed.as_str() == want {
            Ok(())
        } else {
            Err(violation(format!("{sed} answers {want}, not {}", doc.sed)))
        }
    };
    match sed {
        // Reopening: X003 answers an X002 addressed to its sender, back to the requester.
        "X003" => {
            let x002 = named("answers")?;
            of_type(x002, "X002")?;
            received_by_sender(x002, "answers")?;
            if event.receiver != x002.sender {
                return Err(violation(
                    "X003 goes to the participant who asked to reopen",
                ));
            }
        }
        // The requester decides, once every other participant answered [RINA-TS §6.2.2.42].
        "X004" => {
            let requests: Vec<&DocumentId> = case
                .documents
                .iter()
                .filter(|d| d.sed.as_str() == "X002" && d.sender == event.sender)
                .map(|d| &d.id)
                .collect();
            if requests.is_empty() {
                return Err(violation(
                    "X004 comes from the participant who asked to reopen the case (X002)",
                ));
            }
            for (who, _) in case.participants.iter().filter(|(i, _)| i != &event.sender) {
                let answered = case.documents.iter().any(|d| {
                    d.sed.as_str() == "X003"
                        && &d.sender == who
                        && d.receiver == event.sender
                        && d.related.as_ref().is_some_and(|r| requests.contains(&r))
                });
                if !answered {
                    return Err(violation(format!(
                        "X004 before every participant answered the reopening request ({who} has not) [RINA-TS §6.2.2.42]"
                    )));
                }
            }
        }
        // Add a participant: never in a bilateral BUC, never one already in the case.
        "X005" => {
            if def.bilateral {
                return Err(violation(format!(
                    "{} is bilateral: no participant can be added [RINA-TS §4.1]",
                    def.id
                )));
            }
            if let Some(who) = &event.subject
                && case.role_of(who).is_some()
            {
                return Err(violation(format!("{who} already takes part in the case")));
            }
        }
        // Remove a counterparty: the owner any, a counterparty itself where the BUC
        // says removeMeOnly; never down to fewer than two [RINA-TS §4.2, §6.1.5.1].
        "X006" => {
            if case.participants.len() <= 2 {
                return Err(violation(
                    "X006 with only two participants in the case [RINA-TS §6.1.5.1]",
                ));
            }
            if let Some(who) = &event.subject {
                if case.role_of(who) != Some(Role::Counterparty) {
                    return Err(violation(format!(
                        "X006 removes a counterparty of the case; {who} is not one"
                    )));
                }
                if event.sender_role == Role::Counterparty {
                    if !def.remove_me_only {
                        return Err(violation(format!(
                            "in {} only the case owner removes participants [RINA-TS §4.2]",
                            def.id
                        )));
                    }
                    if who != &event.sender {
                        return Err(violation(format!(
                            "in {} a counterparty removes only itself [RINA-TS §4.2]",
                            def.id
                        )));
                    }
                }
            }
        }
        // Forward: to an institution of the sender's country not yet in the case.
        "X007" => {
            if let Some(who) = &event.subject {
                if case.role_of(who).is_some() {
                    return Err(violation(format!("{who} already takes part in the case")));
                }
                if who.country() != event.sender.country() {
                    return Err(violation(
                        "X007 forwards the case only to an institution of the sender's country [RINA-TS §6.2.2.29]",
                    ));
                }
            }
        }
        // Invalidate: only one's own document, of a type that can be cancelled.
        "X008" => {
            let doc = named("invalidates")?;
            if doc.sender != event.sender {
                return Err(violation(format!(
                    "X008 invalidates only a document its sender sent ({} came from {})",
                    doc.sed, doc.sender
                )));
            }
            allowed(doc, |p| p.cancel, "invalidated")?;
        }
        // Reminder: of one's own request, which the BUC answers with another SED.
        "X009" => {
            let doc = named("chases")?;
            if doc.sender != event.sender {
                return Err(violation(format!(
                    "X009 reminds of a document its sender sent ({} came from {})",
                    doc.sed, doc.sender
                )));
            }
            // A reminder chases a business request; an administrative SED (another
            // X009, an X002) is not reminded of [RINA-TS §6.2.2].
            if is_administrative(&doc.sed) || !def.is_answered(&doc.sed) {
                return Err(violation(format!(
                    "{} awaits no answer in {}: there is nothing to remind of",
                    doc.sed, def.id
                )));
            }
        }
        "X010" => {
            let doc = named("answers")?;
            of_type(doc, "X009")?;
            received_by_sender(doc, "answers")?;
        }
        "X011" => {
            let doc = named("rejects")?;
            received_by_sender(doc, "rejects")?;
            allowed(doc, |p| p.reject, "rejected")?;
        }
        "X012" => {
            let doc = named("asks to clarify")?;
            received_by_sender(doc, "asks to clarify")?;
            allowed(doc, |p| p.clarify, "clarified")?;
        }
        "X013" => {
            let doc = named("answers")?;
            of_type(doc, "X012")?;
            received_by_sender(doc, "answers")?;
        }
        _ => {}
    }
    Ok(())
}

fn check_roles(def: &BucDef, case: &CaseView, event: &SedEvent) -> Result<(), StepError> {
    match case.role_of(&event.sender) {
        Some(r) if r == event.sender_role => {}
        Some(r) => {
            return Err(violation(format!(
                "the sender is {r} in this case, not {}",
                event.sender_role
            )));
        }
        None => return Err(violation("the sender does not take part in this case")),
    }
    match case.role_of(&event.receiver) {
        Some(r) if r == event.receiver_role => Ok(()),
        Some(r) => Err(violation(format!(
            "the receiver is {r} in this case, not {}",
            event.receiver_role
        ))),
        None if def.bilateral => Err(violation(format!(
            "{} is bilateral: it takes no further participant",
            def.id
        ))),
        None if event.receiver_role == Role::CaseOwner => {
            Err(violation("a case has only one case owner"))
        }
        None => Ok(()),
    }
}

fn target(t: &Target, current: &str) -> String {
    match t {
        Target::State(s) => s.clone(),
        // `Previous` is resolved by the caller, which knows the case's history.
        Target::Stay | Target::Previous => current.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buc::definition::{DocParams, Party, StateDef, Transition};
    use crate::ids::BucType;
    use std::collections::BTreeMap;

    fn sed(s: &str) -> SedType {
        SedType::parse(s).unwrap()
    }
    fn inst(s: &str) -> InstitutionId {
        InstitutionId::parse(s).unwrap()
    }

    fn la_buc_02() -> BucDef {
        let t = |from: &[&str], s: &str, by: Party, to: &str, answers: &[&str]| Transition {
            from: if from == ["*"] {
                None
            } else {
                Some(from.iter().map(|x| x.to_string()).collect())
            },
            sed: sed(s),
            by,
            to: if to == "." {
                Target::Stay
            } else {
                Target::State(to.into())
            },
            answers: answers.iter().map(|a| sed(a)).collect(),
            origin: None,
            reply_within_days: None,
            on_overdue: Default::default(),
            effect: None,
            subject: None,
        };
        let mut states = BTreeMap::new();
        for s in ["start", "awaiting_reply", "agreed", "disagreed", CLOSED] {
            states.insert(
                s.to_string(),
                StateDef {
                    description: String::new(),
                    is_final: s == "agreed" || s == CLOSED,
                },
            );
        }
        BucDef {
            id: BucType::parse("LA_BUC_02").unwrap(),
            sector: "LA".into(),
            title: "t".into(),
            bilateral: false,
            remove_me_only: false,
            documents: BTreeMap::new(),
            initial: "start".into(),
            states,
            transitions: vec![
                t(&["start"], "A003", Party::CaseOwner, "awaiting_reply", &[]),
                t(
                    &["awaiting_reply"],
                    "A004",
                    Party::Counterparty,
                    "disagreed",
                    &["A003"],
                ),
                t(
                    &["awaiting_reply", "disagreed"],
                    "A012",
                    Party::Counterparty,
                    "agreed",
                    &["A003", "A004"],
                ),
                t(&["*"], "X001", Party::Any, CLOSED, &[]),
            ],
            subprocesses: vec![],
            auto_close: vec![],
            file: "x".into(),
        }
    }

    fn ev(
        action: CaseAction,
        s: &str,
        doc: &str,
        from_be: bool,
        related: Option<&str>,
    ) -> SedEvent {
        let (sender, receiver) = if from_be {
            (inst("BE:ONSS"), inst("NL:SVB"))
        } else {
            (inst("NL:SVB"), inst("BE:ONSS"))
        };
        SedEvent {
            action,
            sed: sed(s),
            document_id: DocumentId::parse(&format!("{doc:0>32}")).unwrap(),
            version: 1,
            sender,
            sender_role: if from_be {
                Role::CaseOwner
            } else {
                Role::Counterparty
            },
            receiver,
            receiver_role: if from_be {
                Role::Counterparty
            } else {
                Role::CaseOwner
            },
            related: related.map(|r| DocumentId::parse(&format!("{r:0>32}")).unwrap()),
            subject: None,
            children: None,
        }
    }

    fn apply(case: &mut Option<CaseView>, e: &SedEvent, d: &Decision) {
        let c = case.get_or_insert_with(|| CaseView {
            state: String::new(),
            previous_state: None,
            participants: vec![
                (e.sender.clone(), e.sender_role),
                (e.receiver.clone(), e.receiver_role),
            ],
            documents: vec![],
        });
        c.state = d.to_state.clone();
        if d.new_document {
            c.documents.push(DocView {
                id: e.document_id.clone(),
                sed: e.sed.clone(),
                sender: e.sender.clone(),
                receiver: e.receiver.clone(),
                latest_version: 1,
                cancelled: false,
                related: e.related.clone(),
            });
        }
    }

    /// [RINA-TS §5.3, §5.10]: a bulk document goes with at least one sub-document,
    /// unless its type may be sent without; other documents are not counted.
    #[test]
    fn a_bulk_document_needs_a_sub_document_unless_it_may_go_without() {
        let mut def = la_buc_02();
        let start = |children| {
            let mut e = ev(CaseAction::Start, "A003", "1", true, None);
            e.children = children;
            e
        };
        // Not bulk: the count does not matter.
        assert!(step(&def, None, &start(Some(0))).is_ok());
        def.documents.insert(
            sed("A003"),
            DocParams {
                starter: true,
                bulk: true,
                ..DocParams::default()
            },
        );
        let refused = step(&def, None, &start(Some(0)));
        assert!(
            matches!(&refused, Err(StepError::ProtocolViolation(m)) if m.contains("sub-document")),
            "{refused:?}"
        );
        assert!(step(&def, None, &start(Some(1))).is_ok());
        assert!(step(&def, None, &start(Some(40))).is_ok());
        def.documents.get_mut(&sed("A003")).unwrap().without_bulk = true;
        assert!(step(&def, None, &start(Some(0))).is_ok());
    }

    #[test]
    fn la_buc_02_flows_and_refusals() {
        let def = la_buc_02();
        let mut case = None;
        // Counterparty cannot start; A004 does not start.
        assert!(matches!(
            step(&def, None, &ev(CaseAction::Start, "A003", "1", false, None)),
            Err(StepError::ProtocolViolation(_))
        ));
        assert!(matches!(
            step(&def, None, &ev(CaseAction::Start, "A004", "1", true, None)),
            Err(StepError::ProtocolViolation(_))
        ));
        assert_eq!(
            step(&def, None, &ev(CaseAction::New, "A004", "1", true, None)),
            Err(StepError::UnknownCase)
        );
        let e = ev(CaseAction::Start, "A003", "1", true, None);
        let d = step(&def, None, &e).unwrap();
        assert_eq!(d.to_state, "awaiting_reply");
        apply(&mut case, &e, &d);
        // CaseOwner may not approve its own decision.
        let mut wrong = ev(CaseAction::New, "A012", "2", true, Some("1"));
        wrong.related = None;
        assert!(matches!(
            step(&def, case.as_ref(), &wrong),
            Err(StepError::ProtocolViolation(_))
        ));
        // A004 answering an unknown document.
        assert_eq!(
            step(
                &def,
                case.as_ref(),
                &ev(CaseAction::New, "A004", "2", false, Some("9"))
            ),
            Err(StepError::UnknownDocument(
                DocumentId::parse(&format!("{:0>32}", "9")).unwrap()
            ))
        );
        let e = ev(CaseAction::New, "A004", "2", false, Some("1"));
        let d = step(&def, case.as_ref(), &e).unwrap();
        assert_eq!(d.to_state, "disagreed");
        apply(&mut case, &e, &d);
        // A012 answering the A003 (to its sender, the case owner).
        let e = ev(CaseAction::New, "A012", "3", false, Some("1"));
        let d = step(&def, case.as_ref(), &e).unwrap();
        assert_eq!(d.to_state, "agreed");
        apply(&mut case, &e, &d);
        // A004 no longer allowed once agreed.
        assert!(matches!(
            step(
                &def,
                case.as_ref(),
                &ev(CaseAction::New, "A004", "4", false, Some("1"))
            ),
            Err(StepError::ProtocolViolation(_))
        ));
        let e = ev(CaseAction::New, "X001", "5", true, None);
        let d = step(&def, case.as_ref(), &e).unwrap();
        assert!(d.closes);
        apply(&mut case, &e, &d);
        assert!(matches!(
            step(
                &def,
                case.as_ref(),
                &ev(CaseAction::New, "X001", "6", false, None)
            ),
            Err(StepError::ProtocolViolation(_))
        ));
    }

    #[test]
    fn updates_need_the_next_version_from_the_same_sender() {
        let def = la_buc_02();
        let mut case = None;
        let e = ev(CaseAction::Start, "A003", "1", true, None);
        let d = step(&def, None, &e).unwrap();
        apply(&mut case, &e, &d);
        let mut u = ev(CaseAction::Update, "A003", "1", true, None);
        u.version = 2;
        let d = step(&def, case.as_ref(), &u).unwrap();
        assert!(!d.new_document);
        assert_eq!(d.to_state, "awaiting_reply");
        u.version = 3;
        assert!(step(&def, case.as_ref(), &u).is_err());
        let mut other = ev(CaseAction::Update, "A003", "1", false, None);
        other.version = 2;
        assert!(step(&def, case.as_ref(), &other).is_err());
    }

    #[test]
    fn bilateral_bucs_refuse_a_second_counterparty() {
        let mut def = la_buc_02();
        def.bilateral = true;
        let mut case = None;
        let e = ev(CaseAction::Start, "A003", "1", true, None);
        let d = step(&def, None, &e).unwrap();
        apply(&mut case, &e, &d);
        let mut to_de = ev(CaseAction::New, "X001", "2", true, None);
        to_de.receiver = inst("DE:DRV");
        assert!(matches!(
            step(&def, case.as_ref(), &to_de),
            Err(StepError::ProtocolViolation(_))
        ));
        def.bilateral = false;
        assert!(step(&def, case.as_ref(), &to_de).unwrap().adds_participant);
    }
}
