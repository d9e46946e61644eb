//! The administrative SEDs' rights as the reference defines them ("EESSI – RINA –
//! BUC Technical Specifications", 2020, cited [RINA-TS §x]), played through the
//! switch in both directions on the shipped BUC definitions: each rule once with
//! Belgium as the offender (we refuse to send it: `ProtocolViolation` before
//! anything is signed or stored) and once with a foreign institution as the
//! offender and Belgium as the receiver (we refuse it received: a signed error
//! `PROTOCOL_VIOLATION`). Where a rule forbids something only in some cases, the
//! table also has the allowed case, so that a refusal of everything would fail.
//!
//! A scenario is written in roles: the case owner `O`, a counterparty `C` and a
//! second counterparty `C2`. Belgium plays one of them; foreign institutions
//! (NL:SVB, DE:DRV) the others. Belgium only sees the messages it sends or
//! receives, so a step addressed to `Others` is sent to every other participant
//! and Belgium receives (or sends) its copy.

use std::collections::HashMap;
use std::sync::Arc;

use super::Switch;
use super::inbound::Disposition;
use super::outbound::{Submission, SubmitError, submit};
use super::tests::{handle_until_settled, root, switch};
use crate::harness::peer::{Craft, craft_with};
use crate::ids::{BucType, CaseAction, CaseId, DocumentId, InstitutionId, Role, SedType};
use crate::store::OutboxKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    O,
    C,
    C2,
}
use Who::{C, C2, O};

#[derive(Debug, Clone, Copy)]
enum To {
    One(Who),
    /// Every other participant of the case at that point.
    Others,
}

#[derive(Debug, Clone, Copy)]
struct Step {
    by: Who,
    to: To,
    sed: &'static str,
    /// The earlier step (index in the scenario) whose document this one names.
    related: Option<usize>,
    /// The institution a participant SED names.
    subject: Option<Who>,
    /// The earlier step whose document this one sends again as a new version.
    update_of: Option<usize>,
}

const fn send(by: Who, to: To, sed: &'static str) -> Step {
    Step {
        by,
        to,
        sed,
        related: None,
        subject: None,
        update_of: None,
    }
}
const fn answer(by: Who, to: Who, sed: &'static str, of: usize) -> Step {
    Step {
        related: Some(of),
        ..send(by, To::One(to), sed)
    }
}
const fn naming(by: Who, to: To, sed: &'static str, who: Who) -> Step {
    Step {
        subject: Some(who),
        ..send(by, to, sed)
    }
}

struct Rule {
    name: &'static str,
    /// The reference's section the rule comes from.
    cite: &'static str,
    buc: &'static str,
    /// The Belgian institution in this BUC.
    be: &'static str,
    setup: Vec<Step>,
    /// Refused in both directions.
    refused: Step,
    /// Allowed after the same setup, when the rule forbids only some cases.
    allowed: Option<Step>,
}

fn rules() -> Vec<Rule> {
    let p2000 = || send(O, To::One(C), "P2000");
    let a003 = || send(O, To::One(C), "A003");
    let a009 = || send(O, To::One(C), "A009");
    // O starts with C, then adds C2 (X005, to every participant): three participants.
    let three = || {
        vec![
            p2000(),
            naming(O, To::Others, "X005", C2),
            send(O, To::One(C2), "P2000"),
        ]
    };
    vec![
        Rule {
            name: "the global close (X001) is the case owner's",
            cite: "[RINA-TS §6.2.1.5, §6.2.2.35]",
            buc: "LA_BUC_04",
            be: "BE:ONSS",
            setup: vec![a009()],
            refused: send(C, To::One(O), "X001"),
            allowed: Some(send(O, To::One(C), "X001")),
        },
        Rule {
            name: "X004 comes from the participant who asked to reopen",
            cite: "[RINA-TS §6.2.2.39-45]",
            buc: "LA_BUC_04",
            be: "BE:ONSS",
            setup: vec![
                a009(),
                send(O, To::One(C), "X001"),
                answer(C, O, "X002", 1),
                answer(O, C, "X003", 2),
            ],
            refused: send(O, To::One(C), "X004"),
            allowed: Some(send(C, To::One(O), "X004")),
        },
        Rule {
            name: "X004 waits until every participant answered the request",
            cite: "[RINA-TS §6.2.2.42]",
            buc: "LA_BUC_04",
            be: "BE:ONSS",
            setup: vec![a009(), send(O, To::One(C), "X001"), answer(C, O, "X002", 1)],
            refused: send(C, To::One(O), "X004"),
            allowed: None,
        },
        Rule {
            name: "X003 answers a reopening request its sender received",
            cite: "[RINA-TS §6.2.2.40-41]",
            buc: "LA_BUC_04",
            be: "BE:ONSS",
            setup: vec![a009(), send(O, To::One(C), "X001"), answer(C, O, "X002", 1)],
            refused: answer(C, O, "X003", 2),
            allowed: Some(answer(O, C, "X003", 2)),
        },
        Rule {
            name: "X008 invalidates only the sender's own document",
            cite: "[RINA-TS §6.2.2.15-16]",
            buc: "P_BUC_01",
            be: "BE:SFP",
            setup: vec![p2000()],
            refused: answer(C, O, "X008", 0),
            allowed: Some(answer(O, C, "X008", 0)),
        },
        Rule {
            name: "a counterparty removes only itself where the BUC says removeMeOnly",
            cite: "[RINA-TS §4.2, §6.2.2.25]",
            buc: "P_BUC_01",
            be: "BE:SFP",
            setup: three(),
            refused: naming(C, To::One(O), "X006", C2),
            allowed: Some(naming(C, To::One(O), "X006", C)),
        },
        Rule {
            name: "without removeMeOnly only the case owner removes participants",
            cite: "[RINA-TS §4.2]",
            buc: "LA_BUC_02",
            be: "BE:ONSS",
            setup: vec![
                a003(),
                naming(O, To::Others, "X005", C2),
                send(O, To::One(C2), "A003"),
            ],
            refused: naming(C, To::One(O), "X006", C),
            allowed: Some(naming(O, To::One(C), "X006", C2)),
        },
        Rule {
            name: "no X006 while the case has only two participants",
            cite: "[RINA-TS §6.1.5.1, §6.2.2.27]",
            buc: "P_BUC_01",
            be: "BE:SFP",
            setup: vec![p2000()],
            refused: naming(O, To::One(C), "X006", C),
            allowed: None,
        },
        Rule {
            name: "a bilateral BUC takes no X005, whichever institution it adds",
            cite: "[RINA-TS §4.1]",
            buc: "LA_BUC_04",
            be: "BE:ONSS",
            setup: vec![a009()],
            refused: naming(O, To::One(C), "X005", C2),
            allowed: None,
        },
        Rule {
            name: "X005 does not add an institution already in the case",
            cite: "[RINA-TS §6.2.2.21]",
            buc: "P_BUC_01",
            be: "BE:SFP",
            setup: vec![p2000()],
            refused: naming(O, To::One(C), "X005", C),
            allowed: Some(naming(O, To::One(C), "X005", C2)),
        },
        Rule {
            name: "X011 rejects only a SED whose type has hasReject",
            cite: "[RINA-TS §5.5, §6.2.2.17]",
            buc: "P_BUC_01",
            be: "BE:SFP",
            setup: vec![p2000()],
            refused: answer(C, O, "X011", 0),
            allowed: None,
        },
        Rule {
            name: "X011 rejects a received SED whose type has hasReject",
            cite: "[RINA-TS §3.1.3.2.5, §5.5, §6.2.2.17]",
            buc: "AW_BUC_10b",
            be: "BE:FEDRIS",
            setup: vec![send(O, To::One(C), "DA053")],
            refused: answer(O, C, "X011", 0),
            allowed: Some(answer(C, O, "X011", 0)),
        },
        Rule {
            name: "X012 asks to clarify only a document its sender received",
            cite: "[RINA-TS §5.5.2, §6.2.2.18-19]",
            buc: "P_BUC_01",
            be: "BE:SFP",
            setup: vec![p2000()],
            refused: answer(O, C, "X012", 0),
            allowed: Some(answer(C, O, "X012", 0)),
        },
        Rule {
            name: "X009 reminds only of a request that awaits an answer",
            cite: "[RINA-TS §2 (H_BUC_05), AD_BUC_07 UNCERTAIN]",
            buc: "LA_BUC_04",
            be: "BE:ONSS",
            setup: vec![a009()],
            refused: answer(O, C, "X009", 0),
            allowed: None,
        },
        Rule {
            name: "X009 reminds of the sender's own request",
            cite: "[RINA-TS §2 (H_BUC_05), AD_BUC_07 UNCERTAIN]",
            buc: "LA_BUC_02",
            be: "BE:ONSS",
            setup: vec![a003()],
            refused: answer(C, O, "X009", 0),
            allowed: Some(answer(O, C, "X009", 0)),
        },
        Rule {
            name: "X009 reminds of a business request, never of a reminder",
            cite: "[RINA-TS §6.2.2, AD_BUC_07 UNCERTAIN]",
            buc: "LA_BUC_02",
            be: "BE:ONSS",
            setup: vec![a003(), answer(O, C, "X009", 0)],
            refused: answer(O, C, "X009", 1),
            allowed: Some(answer(O, C, "X009", 0)),
        },
        Rule {
            name: "X007 forwards only to an institution of the sender's country",
            cite: "[RINA-TS §6.2.2.29-31]",
            buc: "P_BUC_01",
            be: "BE:SFP",
            setup: vec![p2000()],
            refused: naming(C, To::One(O), "X007", C2),
            allowed: None,
        },
        Rule {
            name: "X010 answers a reminder its sender received",
            cite: "[RINA-TS §2 (H_BUC_05), AD_BUC_07]",
            buc: "LA_BUC_02",
            be: "BE:ONSS",
            setup: vec![a003(), answer(O, C, "X009", 0)],
            refused: answer(O, C, "X010", 1),
            allowed: Some(answer(C, O, "X010", 1)),
        },
        Rule {
            name: "X013 answers a clarification request its sender received",
            cite: "[RINA-TS §6.2.2.18-20]",
            buc: "P_BUC_01",
            be: "BE:SFP",
            setup: vec![p2000(), answer(C, O, "X012", 0)],
            refused: answer(C, O, "X013", 1),
            allowed: Some(answer(O, C, "X013", 1)),
        },
        Rule {
            name: "an administrative SED takes no new version",
            cite: "[RINA-TS §5.5, §6.2.2.5]",
            buc: "LA_BUC_02",
            be: "BE:ONSS",
            setup: vec![a003(), answer(O, C, "X009", 0)],
            refused: Step {
                update_of: Some(1),
                ..answer(O, C, "X009", 0)
            },
            allowed: Some(Step {
                update_of: Some(0),
                ..send(O, To::One(C), "A003")
            }),
        },
    ]
}

/// Which side plays what in one run of a scenario.
struct Cast {
    be_role: Who,
    ids: HashMap<Who, InstitutionId>,
}

impl Cast {
    fn new(be_role: Who, be: &str) -> Cast {
        // Foreign institutions competent for the BUC's sector in the test registry.
        let mut foreign = if be == "BE:FEDRIS" {
            ["NL:UWV", "DE:TK"]
        } else {
            ["NL:SVB", "DE:DRV"]
        }
        .into_iter();
        let ids = [O, C, C2]
            .into_iter()
            .map(|w| {
                let id = if w == be_role {
                    be
                } else {
                    foreign.next().unwrap()
                };
                (w, InstitutionId::parse(id).unwrap())
            })
            .collect();
        Cast { be_role, ids }
    }
}

fn role(w: Who) -> Role {
    if w == O {
        Role::CaseOwner
    } else {
        Role::Counterparty
    }
}

/// The fixture body of `sed`, naming `subject` in its participant element.
fn body(sed: &str, subject: Option<&InstitutionId>) -> Vec<u8> {
    let text = std::fs::read_to_string(root().join(format!("fixtures/sed/4.2/{sed}.xml"))).unwrap();
    let Some(who) = subject else {
        return text.into_bytes();
    };
    // The participant element comes first: its InstitutionID is the first one after it.
    let start = ["AddParticipant", "RemoveParticipant", "ForwardTo"]
        .iter()
        .find_map(|e| text.find(&format!("<sed:{e}>")))
        .expect("a participant element");
    let open = "<sed:InstitutionID>";
    let at = start + text[start..].find(open).unwrap() + open.len();
    let end = at + text[at..].find('<').unwrap();
    format!("{}{}{}", &text[..at], who, &text[end..]).into_bytes()
}

/// One run: Belgium in its role, the case built by the setup, one more step.
struct Run {
    be: Arc<Switch>,
    cast: Cast,
    buc: BucType,
    case_id: Option<CaseId>,
    docs: Vec<Option<DocumentId>>,
    participants: Vec<Who>,
    _dir: tempfile::TempDir,
}

/// What happened to the last step at Belgium (the texts are read through `Debug`
/// in failure messages).
#[derive(Debug)]
#[expect(dead_code, reason = "the variants' texts are printed through Debug")]
enum Outcome {
    /// Belgium sent it / received it with a receipt.
    Accepted,
    /// Belgium refused to send it, as a protocol violation.
    RefusedToSend(String),
    /// Belgium answered it with a signed error of this code.
    AnsweredWith(String),
    /// The step does not concern Belgium (a foreign-to-foreign copy).
    NotSeen,
    Other(String),
}

impl Run {
    fn new(rule: &Rule, be_role: Who) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let be = switch("BE", dir.path(), None);
        Run {
            be,
            cast: Cast::new(be_role, rule.be),
            buc: BucType::parse(rule.buc).unwrap(),
            case_id: None,
            docs: Vec::new(),
            participants: vec![O],
            _dir: dir,
        }
    }

    fn play(&mut self, s: &Step) -> Outcome {
        let receivers: Vec<Who> = match s.to {
            To::One(w) => vec![w],
            To::Others => self
                .participants
                .iter()
                .copied()
                .filter(|w| *w != s.by)
                .collect(),
        };
        let mut outcome = Outcome::NotSeen;
        let mut doc = None;
        for to in receivers {
            let (o, d) = self.one(s, to);
            if !matches!(o, Outcome::NotSeen) {
                outcome = o;
                doc = d.or(doc);
            }
            if !self.participants.contains(&to) {
                self.participants.push(to);
            }
        }
        if let (Some(who), "X005") = (s.subject, s.sed)
            && matches!(outcome, Outcome::Accepted)
            && !self.participants.contains(&who)
        {
            self.participants.push(who);
        }
        self.docs.push(doc);
        outcome
    }

    fn one(&mut self, s: &Step, to: Who) -> (Outcome, Option<DocumentId>) {
        let be_role = self.cast.be_role;
        if s.by != be_role && to != be_role {
            return (Outcome::NotSeen, None);
        }
        let from = self.cast.ids[&s.by].clone();
        let receiver = self.cast.ids[&to].clone();
        let related = s.related.and_then(|i| self.docs[i].clone());
        let update = s.update_of.and_then(|i| self.docs[i].clone());
        let subject = s.subject.map(|w| self.cast.ids[&w].clone());
        let body = body(s.sed, subject.as_ref());
        if s.by == be_role {
            let r = submit(
                &self.be,
                Submission {
                    from,
                    to: receiver,
                    buc: self.buc.clone(),
                    sed: SedType::parse(s.sed).unwrap(),
                    version: None,
                    case_id: self.case_id.clone(),
                    document_id: update,
                    related,
                    body,
                    reference: None,
                },
            );
            return match r {
                Ok(done) => {
                    self.case_id = Some(done.case_id);
                    (Outcome::Accepted, Some(done.document_id))
                }
                Err(SubmitError::ProtocolViolation(why)) => (Outcome::RefusedToSend(why), None),
                Err(e) => (Outcome::Other(format!("{e:?}")), None),
            };
        }
        // A foreign institution sends it to Belgium, signed with its test key.
        let case_id = self.case_id.get_or_insert_with(CaseId::random).clone();
        let mut craft = Craft::new(
            from.as_str(),
            receiver.as_str(),
            self.buc.as_str(),
            s.sed,
            &case_id,
            &body,
        );
        let h = &mut craft.header;
        h.sender_role = role(s.by);
        h.receiver_role = role(to);
        h.related = related;
        let first = self.docs.iter().all(Option::is_none);
        h.action = match &update {
            Some(_) => CaseAction::Update,
            None if first => CaseAction::Start,
            // A starter to a participant Belgium has no document with yet.
            None if s.sed == "P2000" || s.sed == "A003" => CaseAction::Start,
            None => CaseAction::New,
        };
        if let Some(d) = &update {
            h.document_id = d.clone();
            let latest = self
                .be
                .store
                .case_detail(&case_id)
                .unwrap()
                .unwrap()
                .documents
                .into_iter()
                .find(|(doc, _)| &doc.document_id == d)
                .map(|(doc, _)| doc.latest_version)
                .unwrap();
            h.document_version = latest + 1;
        }
        let doc_id = h.document_id.clone();
        let key = format!("fixtures/pki/{}.key.pem", from.as_str().replace(':', "_"));
        let cert = format!("fixtures/pki/{}.crt.pem", from.as_str().replace(':', "_"));
        let signer =
            crate::signing::Signer::from_files(&root().join(key), &root().join(cert)).unwrap();
        let wire = craft_with(&signer, &craft).unwrap().delivered();
        if handle_until_settled(&self.be, &wire) != Disposition::Ack {
            return (Outcome::Other("not acknowledged".into()), None);
        }
        let answer = self
            .be
            .store
            .messages(None, 10_000)
            .unwrap()
            .into_iter()
            .find(|m| {
                matches!(m.kind, OutboxKind::Receipt | OutboxKind::Error)
                    && m.headers.get("eessi-ref-to-message-id") == wire.message_id.as_ref()
            })
            .expect("Belgium's answer");
        match answer.kind {
            OutboxKind::Receipt => (Outcome::Accepted, Some(doc_id)),
            _ => (
                Outcome::AnsweredWith(
                    answer
                        .headers
                        .get("eessi-error-code")
                        .cloned()
                        .unwrap_or_default(),
                ),
                None,
            ),
        }
    }
}

/// Play the setup with Belgium as `be_role`, then `last`.
fn run(rule: &Rule, be_role: Who, last: &Step) -> Outcome {
    let mut r = Run::new(rule, be_role);
    for (i, s) in rule.setup.iter().enumerate() {
        let o = r.play(s);
        assert!(
            matches!(o, Outcome::Accepted | Outcome::NotSeen),
            "{} ({}), Belgium as {be_role:?}: setup step {i} ({}) was not accepted: {o:?}",
            rule.name,
            rule.cite,
            s.sed
        );
    }
    r.play(last)
}

/// The role Belgium plays to receive `s` (the first receiver that is not its sender).
fn receiver_of(s: &Step) -> Who {
    match s.to {
        To::One(w) => w,
        To::Others => [O, C, C2].into_iter().find(|w| *w != s.by).unwrap(),
    }
}

#[test]
fn administrative_seds_keep_the_reference_rights_in_both_directions() {
    let rules = rules();
    let mut checked = 0;
    for rule in &rules {
        // We refuse to send it: Belgium is the offender.
        match run(rule, rule.refused.by, &rule.refused) {
            Outcome::RefusedToSend(_) => {}
            o => panic!(
                "{} {}: Belgium as {:?} sent {} ({o:?})",
                rule.name, rule.cite, rule.refused.by, rule.refused.sed
            ),
        }
        // We refuse it received: a foreign offender, Belgium the receiver.
        let be = receiver_of(&rule.refused);
        match run(rule, be, &rule.refused) {
            Outcome::AnsweredWith(code) if code == "PROTOCOL_VIOLATION" => {}
            o => panic!(
                "{} {}: Belgium as {be:?} accepted {} received ({o:?})",
                rule.name, rule.cite, rule.refused.sed
            ),
        }
        if let Some(ok) = &rule.allowed {
            for be in [ok.by, receiver_of(ok)] {
                match run(rule, be, ok) {
                    Outcome::Accepted => {}
                    o => panic!(
                        "{} {}: the allowed {} with Belgium as {be:?} was not accepted ({o:?})",
                        rule.name, rule.cite, ok.sed
                    ),
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, rules.len());
    assert!(checked >= 19, "the table lost rules: {checked}");
}
