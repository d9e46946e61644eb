//! Tests driven by the definitions themselves: for every BUC, its main flow is
//! walked to a final state between two switches (in-process transport, so the
//! whole catalogue runs in seconds; the RabbitMQ tests cover the wire), and a SED
//! the protocol forbids is sent straight onto the transport and refused with
//! `PROTOCOL_VIOLATION`, nothing applied. Plus a property test of `step` over
//! random event sequences, and the catalogue page kept current.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use eessi_switch::buc::{
    BucDef, CaseView, Catalogue, DocView, Party, SedEvent, Target, Transition, step,
};
use eessi_switch::harness::peer::{Craft, craft_sed};
use eessi_switch::ids::{CaseAction, CaseId, DocumentId, InstitutionId, Role, SedType};
use eessi_switch::switch::Switch;
use eessi_switch::switch::outbound::{Submission, submit};

fn catalogue() -> Catalogue {
    Catalogue::load_unchecked(&root().join("buc-definitions"))
        .unwrap()
        .0
}

#[test]
fn the_catalogue_page_is_current() {
    let (ok, out) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &[
            "buc",
            "catalogue",
            "--definitions",
            &format!("{ROOT}/buc-definitions"),
        ],
    );
    assert!(ok, "{out}");
    let committed = std::fs::read_to_string(root().join("docs/bucs.md")).unwrap();
    assert!(
        committed == out,
        "docs/bucs.md is stale: run `cargo run -- buc catalogue > docs/bucs.md`"
    );
}

#[test]
fn the_catalogue_is_complete_enough() {
    let cat = catalogue();
    assert!(cat.bucs.len() >= 90, "{} BUCs", cat.bucs.len());
    for sector in ["LA", "P", "FB", "H", "S", "AW", "UB", "R", "M"] {
        assert!(
            cat.bucs.values().any(|b| b.sector == sector),
            "no {sector} BUC"
        );
    }
    for n in 1..=12 {
        assert!(
            cat.subprocess_titles
                .contains_key(&format!("AD_BUC_{n:02}")),
            "AD_BUC_{n:02} missing"
        );
    }
    let (ok, out) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &[
            "buc",
            "list",
            "--json",
            "--definitions",
            &format!("{ROOT}/buc-definitions"),
        ],
    );
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list.as_array().unwrap().len(), cat.bucs.len());
    for (format, marker) in [
        ("mermaid", "stateDiagram-v2"),
        ("dot", "digraph"),
        ("text", "transitions:"),
    ] {
        let (ok, out) = tool(
            env!("CARGO_BIN_EXE_eessi-switch"),
            &[
                "buc",
                "show",
                "P_BUC_01",
                "--format",
                format,
                "--definitions",
                &format!("{ROOT}/buc-definitions"),
            ],
        );
        assert!(ok && out.contains(marker), "{format}: {out}");
    }
}

/// The shortest path of the BUC's own transitions from its initial state to a final one.
fn main_flow(def: &BucDef) -> Vec<&Transition> {
    let mut prev: BTreeMap<&str, (&str, &Transition)> = BTreeMap::new();
    let mut queue = VecDeque::from([def.initial.as_str()]);
    let mut seen = vec![def.initial.as_str()];
    while let Some(st) = queue.pop_front() {
        if def.states[st].is_final {
            let mut path = Vec::new();
            let mut cur = st;
            while let Some((p, t)) = prev.get(cur) {
                path.push(*t);
                cur = p;
            }
            path.reverse();
            return path;
        }
        for t in def
            .transitions
            .iter()
            .filter(|t| t.origin.is_none() && t.applies_in(st))
        {
            if let Target::State(to) = &t.to
                && !seen.contains(&to.as_str())
            {
                seen.push(to);
                prev.insert(to, (st, t));
                queue.push_back(to);
            }
        }
    }
    panic!("{}: no final state reachable", def.id);
}

fn registry_for_all(dir: &std::path::Path) -> std::path::PathBuf {
    let pki = root().join("fixtures/pki");
    let mut text = String::new();
    for c in ["BE", "NL"] {
        text += &format!(
            "[[access_point]]\ncountry = \"{c}\"\ncertificates = [\"{}/AP_{c}.crt.pem\"]\n",
            pki.display()
        );
    }
    for i in ["BE_ONSS", "NL_SVB"] {
        text += &format!(
            "[[institution]]\nid = \"{}\"\nname = \"test\"\ncertificates = [\"{}/{i}.crt.pem\"]\ncompetences = [{{ buc = \"*\", roles = [\"CaseOwner\", \"Counterparty\"] }}]\n",
            i.replacen('_', ":", 1),
            pki.display()
        );
    }
    let path = dir.join("registry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_buc_walks_its_main_flow_both_ways_and_refuses_a_forbidden_sed() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_for_all(dir.path());
    let broker = eessi_switch::transport::memory::MemoryBroker::new();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut switches = Vec::new();
    for c in ["BE", "NL"] {
        let mut config =
            eessi_switch::harness::demo::demo_config(&root(), c, dir.path(), None).unwrap();
        config.registry = registry.clone();
        // This registry has two institutions that handle everything: every SED
        // goes to the one it is addressed to (routing has tests of its own).
        config.routing = None;
        let sw = Arc::new(Switch::build(&config, Arc::new(broker.clone())).unwrap());
        sw.declare().await.unwrap();
        tokio::spawn(sw.clone().run(64, stop_rx.clone()));
        switches.push(sw);
    }
    let (be, nl) = (switches[0].clone(), switches[1].clone());
    let (onss, svb) = (
        InstitutionId::parse("BE:ONSS").unwrap(),
        InstitutionId::parse("NL:SVB").unwrap(),
    );
    let cat = catalogue();
    let mut walked = 0;
    let mut walked_back = 0;
    // Each BUC's main flow with Belgium as the case owner, then with the Netherlands
    // as the owner (Belgium sends the counterparty's SEDs and receives the owner's).
    let walks = [true, false]
        .into_iter()
        .flat_map(|be_owns| cat.bucs.values().map(move |def| (be_owns, def)));
    for (be_owns, def) in walks {
        let flow = main_flow(def);
        assert!(!flow.is_empty(), "{}: empty main flow", def.id);
        let mut case: Option<CaseId> = None;
        let mut docs: Vec<(SedType, DocumentId)> = Vec::new();
        for t in &flow {
            let by_owner = t.by != Party::Counterparty;
            let by_be = by_owner == be_owns;
            let (sw, from, to) = if by_be {
                (&be, &onss, &svb)
            } else {
                (&nl, &svb, &onss)
            };
            let related = docs
                .iter()
                .rev()
                .find(|(s, _)| t.answers.contains(s))
                .map(|(_, d)| d.clone());
            let s = Submission {
                from: from.clone(),
                to: to.clone(),
                buc: def.id.clone(),
                sed: t.sed.clone(),
                version: None,
                case_id: case.clone(),
                document_id: None,
                related,
                body: fixture(t.sed.as_str()),
                reference: None,
            };
            let sw2 = sw.clone();
            let done = tokio::task::spawn_blocking(move || submit(&sw2, s))
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{} {}: {e:?}", def.id, t.sed));
            case = Some(done.case_id.clone());
            docs.push((t.sed.clone(), done.document_id));
            let Target::State(expected) = &t.to else {
                unreachable!()
            };
            let peer = if by_be { &nl } else { &be };
            let cid = done.case_id.clone();
            wait_until(
                &format!("{} {} reaching {expected} at the receiver", def.id, t.sed),
                || {
                    peer.store
                        .case_detail(&cid)
                        .unwrap()
                        .is_some_and(|d| &d.case.state == expected)
                },
            )
            .await;
        }
        let case = case.unwrap();
        if !be_owns {
            walked_back += 1;
            continue;
        }
        let before = be.store.case_detail(&case).unwrap().unwrap();
        // A SED the counterparty may not send now (the BUC's own or, failing that, any other).
        let state = before.case.state.clone();
        let allowed = |sed: &SedType| {
            def.transitions
                .iter()
                .any(|t| &t.sed == sed && t.applies_in(&state) && t.by.allows(Role::Counterparty))
        };
        let forbidden = def
            .transitions
            .iter()
            .map(|t| t.sed.clone())
            .chain(cat.seds.keys().cloned())
            .find(|s| !allowed(s) && root().join(format!("fixtures/sed/4.2/{s}.xml")).is_file())
            .unwrap();
        let craft = Craft::new(
            "NL:SVB",
            "BE:ONSS",
            def.id.as_str(),
            forbidden.as_str(),
            &case,
            &fixture(forbidden.as_str()),
        )
        .roles(Role::Counterparty, Role::CaseOwner)
        .action(CaseAction::New);
        let m = craft_sed(&nl, &craft).unwrap();
        nl.transport.publish(&m).await.unwrap();
        wait_until(&format!("{} refusing {forbidden}", def.id), || {
            be.store
                .case_detail(&case)
                .unwrap()
                .unwrap()
                .history
                .iter()
                .any(|h| {
                    h.event == "sed-refused"
                        && h.message_id.as_deref() == Some(m.message_id.as_str())
                })
        })
        .await;
        let after = be.store.case_detail(&case).unwrap().unwrap();
        let refusal = after
            .history
            .iter()
            .find(|h| h.event == "sed-refused")
            .unwrap();
        assert!(
            refusal.detail.starts_with("PROTOCOL_VIOLATION"),
            "{}: {}",
            def.id,
            refusal.detail
        );
        assert_eq!(after.case.state, before.case.state, "{}", def.id);
        assert_eq!(
            after.documents.len(),
            before.documents.len(),
            "{}: the refused SED was applied",
            def.id
        );
        walked += 1;
    }
    assert_eq!(walked, cat.bucs.len());
    assert_eq!(walked_back, cat.bucs.len());
}

/// A view of a case kept in memory, updated only by accepted decisions.
fn apply(view: &mut Option<CaseView>, e: &SedEvent, d: &eessi_switch::buc::Decision) {
    let v = view.get_or_insert_with(|| CaseView {
        state: String::new(),
        previous_state: None,
        participants: vec![(e.sender.clone(), e.sender_role)],
        documents: vec![],
    });
    if d.closes {
        v.previous_state = d.from_state.clone();
    }
    v.state = d.to_state.clone();
    if d.adds_participant && v.role_of(&e.receiver).is_none() {
        v.participants.push((e.receiver.clone(), e.receiver_role));
    }
    if d.new_document {
        v.documents.push(DocView {
            id: e.document_id.clone(),
            sed: e.sed.clone(),
            sender: e.sender.clone(),
            receiver: e.receiver.clone(),
            latest_version: e.version,
            cancelled: false,
            related: e.related.clone(),
        });
    } else if let Some(doc) = v.documents.iter_mut().find(|x| x.id == e.document_id) {
        doc.latest_version = e.version;
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 400, ..Default::default() })]
    #[test]
    fn random_event_sequences_never_panic_and_never_leave_a_defined_state(
        buc_pick in 0usize..1000,
        events in proptest::collection::vec((0usize..1000, 0u8..3, proptest::bool::ANY, 0usize..4, 0usize..3), 1..40)
    ) {
        let cat = CATALOGUE.get_or_init(catalogue);
        let def = cat.bucs.values().nth(buc_pick % cat.bucs.len()).unwrap();
        let seds: Vec<&SedType> = def.sed_types().into_iter().collect();
        let institutions = ["BE:ONSS", "NL:SVB", "NL:UWV", "DE:DRV"].map(|i| InstitutionId::parse(i).unwrap());
        let mut view: Option<CaseView> = None;
        for (sed_pick, action, by_owner, who, related_pick) in events {
            let sed = seds[sed_pick % seds.len()].clone();
            let action = [CaseAction::Start, CaseAction::New, CaseAction::Update][usize::from(action)];
            let (sender_role, receiver_role) = if by_owner { (Role::CaseOwner, Role::Counterparty) } else { (Role::Counterparty, Role::CaseOwner) };
            let sender = if by_owner { institutions[0].clone() } else { institutions[1 + who % 3].clone() };
            let receiver = if by_owner { institutions[1 + who % 3].clone() } else { institutions[0].clone() };
            let docs = view.as_ref().map(|v| v.documents.clone()).unwrap_or_default();
            let related = if related_pick == 0 || docs.is_empty() { None } else { Some(docs[related_pick % docs.len()].id.clone()) };
            let (document_id, version) = match (action, docs.first()) {
                (CaseAction::Update, Some(d)) => (d.id.clone(), d.latest_version + 1),
                _ => (DocumentId::random(), 1),
            };
            let subject = Some(institutions[(who + 1) % 4].clone());
            let e = SedEvent { action, sed, document_id, version, sender, sender_role, receiver, receiver_role, related, subject, children: None };
            // A refused event is never applied: only accepted decisions reach `apply`.
            match step(def, view.as_ref(), &e) {
                Ok(d) => {
                    proptest::prop_assert!(def.states.contains_key(&d.to_state), "{}: undefined state {}", def.id, d.to_state);
                    if view.is_none() {
                        proptest::prop_assert_eq!(e.action, CaseAction::Start, "only a Start creates a case");
                    }
                    apply(&mut view, &e, &d);
                }
                Err(eessi_switch::buc::StepError::UnknownCase) => {
                    proptest::prop_assert!(view.is_none() && e.action != CaseAction::Start, "UnknownCase for a known case or a Start");
                }
                Err(eessi_switch::buc::StepError::UnknownDocument(d)) => {
                    proptest::prop_assert!(!docs.iter().any(|x| x.id == d), "UnknownDocument for a known document");
                }
                Err(eessi_switch::buc::StepError::VersionGap { expected, got }) => {
                    proptest::prop_assert!(got > expected, "a gap goes forward");
                }
                Err(eessi_switch::buc::StepError::ProtocolViolation(_)) => {}
            }
            if let Some(v) = &view {
                proptest::prop_assert!(def.states.contains_key(&v.state));
            }
        }
    }
}

static CATALOGUE: std::sync::OnceLock<Catalogue> = std::sync::OnceLock::new();

/// [RINA-TS §5.3, §5.10]: every bulk (master) SED of the catalogue names where its
/// sub-documents are, its example bodies carry at least one there (both data-model
/// versions), and `step` refuses a master counted with none, unless its BUC lets it
/// go without (U027 in UB_BUC_04), for every bulk SED that starts its BUC.
#[test]
fn every_bulk_master_carries_sub_documents_and_the_engine_counts_them() {
    let cat = catalogue();
    let mut masters = 0;
    let mut starters = 0;
    for (buc, def) in &cat.bucs {
        for (sed, p) in def.business_params() {
            if !p.bulk {
                continue;
            }
            masters += 1;
            let path = cat.seds[sed]
                .children
                .as_deref()
                .unwrap_or_else(|| panic!("{buc} {sed}: bulk without a `children` path"));
            for v in ["4.2", "4.3"] {
                let file = root().join(format!("fixtures/sed/{v}/{sed}.xml"));
                let doc = eessi_switch::sed::xml::parse(
                    &std::fs::read(&file).unwrap(),
                    &eessi_switch::sed::xml::XmlLimits::default(),
                )
                .unwrap();
                let n =
                    eessi_switch::switch::record::count_at(doc.get_root_readonly().unwrap(), path);
                assert!(n >= 1, "{}: no sub-document at {path}", file.display());
            }
            if !p.starter {
                continue;
            }
            starters += 1;
            let event = |children| SedEvent {
                action: CaseAction::Start,
                sed: sed.clone(),
                document_id: DocumentId::random(),
                version: 1,
                sender: InstitutionId::parse("BE:INAMI").unwrap(),
                sender_role: Role::CaseOwner,
                receiver: InstitutionId::parse("NL:ZIN").unwrap(),
                receiver_role: Role::Counterparty,
                related: None,
                subject: None,
                children,
            };
            assert!(step(def, None, &event(Some(2))).is_ok(), "{buc} {sed}");
            let empty = step(def, None, &event(Some(0)));
            if p.without_bulk {
                assert!(empty.is_ok(), "{buc} {sed}: may go without sub-documents");
            } else {
                assert!(
                    matches!(&empty, Err(eessi_switch::buc::StepError::ProtocolViolation(m)) if m.contains("sub-document")),
                    "{buc} {sed}: {empty:?}"
                );
            }
        }
    }
    // The reference's bulk BUCs (§5.3) hold 23 masters here, 6 of them starters.
    assert_eq!((masters, starters), (23, 6));
}
