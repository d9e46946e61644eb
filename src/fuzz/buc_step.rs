//! Arbitrary event sequences through the pure BUC machine, on the real
//! definitions (loaded once from buc-definitions/).
//!
//! Input decoding: byte 0 picks the BUC; then every 7 bytes are one event:
//!   0: SED (index into the BUC's own SED types; values past the end pick any
//!      catalogue SED, so SEDs foreign to the BUC are tried too)
//!   1: action (Start / New / Update)
//!   2: roles (bit 0: sender role, bit 1: receiver role)
//!   3: sender (low nibble) and receiver (high nibble) out of a fixed pool
//!   4: related document (0: none, 1: an unknown id, n: the (n-2)th document)
//!   5: document (0: a fresh id, n: the (n-1)th document of the case)
//!   6: version (0: the next one, n: n)
//! Every accepted decision is applied to an in-memory CaseView the way the
//! switch records it (state, previous state on closing, participants,
//! documents, versions, invalidation). Invariants: no panic; a decision starts
//! from the case's current state; the case is always in a state its BUC defines.

use std::path::Path;
use std::sync::OnceLock;

use crate::buc::{BucDef, CaseView, Catalogue, DocView, Effect, SedEvent, step};
use crate::ids::{CaseAction, DocumentId, InstitutionId, Role, SedType};

struct World {
    bucs: Vec<BucDef>,
    all_seds: Vec<SedType>,
    pool: Vec<InstitutionId>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
        let (cat, problems) =
            Catalogue::load_unchecked(&root.join("buc-definitions")).expect("buc-definitions/");
        assert!(problems.is_empty(), "{problems:?}");
        let pool = ["NL:SVB", "BE:ONSS", "DE:DRV", "BE:INAMI", "NL:UWV"]
            .into_iter()
            .map(|s| InstitutionId::parse(s).expect("constant id"))
            .collect();
        World {
            bucs: cat.bucs.values().cloned().collect(),
            all_seds: cat.seds.keys().cloned().collect(),
            pool,
        }
    })
}

fn doc_id(n: u64) -> DocumentId {
    DocumentId::parse(&format!("{n:032x}")).expect("32 hex digits")
}

fn role(bit: bool) -> Role {
    if bit {
        Role::Counterparty
    } else {
        Role::CaseOwner
    }
}

/// One fuzz input; panics only on a broken invariant.
pub fn run(data: &[u8]) {
    let w = world();
    let Some((&b, events)) = data.split_first() else {
        return;
    };
    let def = &w.bucs[usize::from(b) % w.bucs.len()];
    let own: Vec<&SedType> = def.sed_types().into_iter().collect();
    let mut case: Option<CaseView> = None;
    let mut next_id = 1u64;
    for e in events.chunks_exact(7) {
        let sed = match own.get(usize::from(e[0])) {
            Some(s) => (*s).clone(),
            None => w.all_seds[usize::from(e[0]) % w.all_seds.len()].clone(),
        };
        let action = match e[1] % 3 {
            0 => CaseAction::Start,
            1 => CaseAction::New,
            _ => CaseAction::Update,
        };
        let sender = w.pool[usize::from(e[3] & 0x0f) % w.pool.len()].clone();
        let receiver = w.pool[usize::from(e[3] >> 4) % w.pool.len()].clone();
        let docs = case
            .as_ref()
            .map(|c| c.documents.clone())
            .unwrap_or_default();
        let related = match e[4] {
            0 => None,
            1 => Some(doc_id(u64::MAX)),
            n => docs
                .get(usize::from(n - 2) % docs.len().max(1))
                .map(|d| d.id.clone()),
        };
        let existing = match e[5] {
            0 => None,
            n => docs.get(usize::from(n - 1) % docs.len().max(1)),
        };
        let document_id = match existing {
            Some(d) => d.id.clone(),
            None => {
                next_id += 1;
                doc_id(next_id)
            }
        };
        let version = match (e[6], existing) {
            (0, Some(d)) => d.latest_version + 1,
            (0, None) => 1,
            (n, _) => u32::from(n),
        };
        let event = SedEvent {
            action,
            sed,
            document_id,
            version,
            sender,
            sender_role: role(e[2] & 1 == 1),
            receiver,
            receiver_role: role(e[2] & 2 == 2),
            related,
            subject: None,
            children: (e[2] & 4 == 4).then_some(u32::from(e[2] >> 3)),
        };
        let Ok(d) = step(def, case.as_ref(), &event) else {
            continue;
        };
        assert!(
            def.states.contains_key(&d.to_state),
            "{}: {:?} leads to undefined state {}",
            def.id,
            event,
            d.to_state
        );
        match case.as_mut() {
            Some(c) => {
                // A Start into an existing (multilateral) case opens a conversation of
                // its own, from the BUC's initial state; anything else moves on from
                // the current one.
                let expected_from = if event.action == CaseAction::Start {
                    def.initial.as_str()
                } else {
                    c.state.as_str()
                };
                assert_eq!(d.from_state.as_deref(), Some(expected_from), "{}", def.id);
                if d.closes {
                    c.previous_state = Some(c.state.clone());
                }
                c.state = d.to_state.clone();
            }
            None => {
                assert!(d.from_state.is_none());
                case = Some(CaseView {
                    state: d.to_state.clone(),
                    previous_state: None,
                    participants: vec![(event.sender.clone(), event.sender_role)],
                    documents: vec![],
                });
            }
        }
        let Some(c) = case.as_mut() else {
            unreachable!("the case exists once a decision is applied")
        };
        if d.adds_participant {
            c.participants
                .push((event.receiver.clone(), event.receiver_role));
        }
        if d.new_document {
            c.documents.push(DocView {
                id: event.document_id.clone(),
                sed: event.sed.clone(),
                sender: event.sender.clone(),
                receiver: event.receiver.clone(),
                latest_version: event.version,
                cancelled: false,
                related: event.related.clone(),
            });
        } else if let Some(doc) = c.documents.iter_mut().find(|x| x.id == event.document_id) {
            doc.latest_version = event.version;
        }
        if d.effect == Some(Effect::Invalidate)
            && let Some(r) = &event.related
            && let Some(doc) = c.documents.iter_mut().find(|x| &x.id == r)
        {
            doc.cancelled = true;
        }
        assert!(def.states.contains_key(&c.state), "{}: {}", def.id, c.state);
    }
}
