//! The switch's own races, made deterministic: a publish outcome recorded after a
//! receipt or error already settled the SED (the relay's record race), two
//! instances answering one redelivered message id, group-commit fallback and panic
//! isolation. Each runs on both store backends where the store decides the outcome.

use std::sync::Arc;

use super::Switch;
use super::inbound::{Disposition, handle};
use super::outbound::{Submission, submit};
use super::relay::{Outcome, record};
use crate::harness::peer::{Craft, craft_with};
use crate::ids::{BucType, CaseAction, CaseId, InstitutionId, MessageId, SedType};
use crate::store::postgres::PostgresStore;
use crate::store::tests::Scratch;
use crate::store::{OutboxKind, OutboxMessage, OutboxStatus};
use crate::transport::memory::MemoryBroker;
use crate::transport::{OutMessage, PublishOutcome, WireMessage};

pub(super) fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// NL:SVB's signer (test PKI), as a foreign peer signs.
pub(super) fn nl_svb() -> crate::signing::Signer {
    crate::signing::Signer::from_files(
        &root().join("fixtures/pki/NL_SVB.key.pem"),
        &root().join("fixtures/pki/NL_SVB.crt.pem"),
    )
    .unwrap()
}

/// A switch for `country` on SQLite under `dir`, or on the scratch PostgreSQL
/// database when one is given.
pub(super) fn switch(country: &str, dir: &std::path::Path, pg: Option<&Scratch>) -> Arc<Switch> {
    let mut config = crate::harness::demo::demo_config(&root(), country, dir, None).unwrap();
    config.retry.attempts_max = 1;
    let mut sw = Switch::build(&config, Arc::new(MemoryBroker::new())).unwrap();
    if let Some(pg) = pg {
        sw.store = Arc::new(PostgresStore::connect(pg.config()).unwrap());
    }
    Arc::new(sw)
}

/// An outbox row as the broker delivers it.
fn wire_of(m: &OutboxMessage) -> WireMessage {
    OutMessage {
        exchange: m.exchange.clone(),
        routing_key: m.routing_key.clone(),
        message_id: m.message_id.clone(),
        kind: match m.kind {
            OutboxKind::National => "sed".into(),
            k => k.as_str().into(),
        },
        timestamp: m.timestamp,
        headers: m.headers.clone(),
        body: m.body.clone(),
    }
    .delivered()
}

pub(super) fn wire(m: &OutMessage) -> WireMessage {
    m.delivered()
}

/// `handle`, retried in place while it says Wait, as the lanes do.
pub(super) fn handle_until_settled(sw: &Switch, m: &WireMessage) -> Disposition {
    for _ in 0..200 {
        match handle(sw, m) {
            Disposition::Wait(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            d => return d,
        }
    }
    panic!("still waiting after 200 attempts");
}

fn a009(be: &Arc<Switch>) -> String {
    let body = std::fs::read(root().join("fixtures/sed/4.2/A009.xml")).unwrap();
    submit(
        be,
        Submission {
            from: InstitutionId::parse("BE:ONSS").unwrap(),
            to: InstitutionId::parse("NL:SVB").unwrap(),
            buc: BucType::parse("LA_BUC_04").unwrap(),
            sed: SedType::parse("A009").unwrap(),
            version: None,
            case_id: None,
            document_id: None,
            related: None,
            body,
            reference: None,
        },
    )
    .unwrap()
    .message_id
}

/// The SED `message_id`'s row at BE, and BE's rows of `kind`.
fn sed_row(sw: &Switch, message_id: &str) -> OutboxMessage {
    sw.store
        .messages(None, 1000)
        .unwrap()
        .into_iter()
        .find(|m| m.kind == OutboxKind::Sed && m.message_id == message_id)
        .expect("the SED's outbox row")
}

pub(super) fn rows_of(sw: &Switch, k: OutboxKind) -> Vec<OutboxMessage> {
    sw.store
        .messages(None, 1000)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == k)
        .collect()
}

/// NL answers the SED as its access point would; the answer (receipt or error) as
/// it arrives back at BE.
fn nl_answers(nl: &Switch, sed: &WireMessage) -> WireMessage {
    assert_eq!(handle(nl, sed), Disposition::Ack);
    let answer = nl
        .store
        .messages(None, 1000)
        .unwrap()
        .into_iter()
        .find(|m| {
            (m.kind == OutboxKind::Receipt || m.kind == OutboxKind::Error)
                && m.headers.get("eessi-ref-to-message-id") == sed.message_id.as_ref()
        })
        .expect("NL's answer");
    wire_of(&answer)
}

pub(super) fn history_events(sw: &Switch, case_id: &CaseId) -> Vec<String> {
    sw.store
        .case_detail(case_id)
        .unwrap()
        .unwrap()
        .history
        .into_iter()
        .map(|h| h.event)
        .collect()
}

fn count(events: &[String], e: &str) -> usize {
    events.iter().filter(|x| *x == e).count()
}

/// The receipt commits while the relay's publish is in flight (the broker confirmed,
/// the relay has not recorded it yet); then the schedule would give up. Neither the
/// late `sent` nor the give-up changes the delivered SED, and nobody is told it failed.
fn a_receipt_that_overtakes_the_relay_stands(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be, nl) = (switch("BE", dir.path(), pg), switch("NL", dir.path(), None));
    let mid = a009(&be);
    let claim = be.store.outbox_claim(None, 10, u64::MAX, 60_000).unwrap();
    assert_eq!(claim.messages.len(), 1);
    let sed = claim.messages[0].clone();
    assert_eq!(sed.message_id, mid);
    // The broker delivered it; NL's receipt reaches BE before the relay records.
    let receipt = nl_answers(&nl, &wire_of(&sed));
    assert_eq!(receipt.kind.as_deref(), Some("receipt"));
    assert_eq!(handle(&be, &receipt), Disposition::Ack);
    assert_eq!(sed_row(&be, &mid).status, OutboxStatus::Delivered);

    record(
        &be,
        &claim.messages,
        vec![Outcome::Published(PublishOutcome::Confirmed)],
    )
    .unwrap();
    let after = sed_row(&be, &mid);
    assert_eq!(after.status, OutboxStatus::Delivered, "the receipt stands");
    assert_eq!(
        be.metrics
            .relay_stale_outcomes
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Not due again: nothing to retransmit, even hours later.
    let later = crate::store::now_ms() + 3_600_000;
    assert!(
        be.store
            .outbox_claim(Some(later), 10, u64::MAX, 60_000)
            .unwrap()
            .messages
            .iter()
            .all(|m| m.kind != OutboxKind::Sed)
    );
    // The schedule giving up on the claimed row (attempts_max = 1) changes nothing.
    record(&be, &claim.messages, vec![Outcome::GiveUp]).unwrap();
    assert_eq!(sed_row(&be, &mid).status, OutboxStatus::Delivered);
    assert!(
        rows_of(&be, OutboxKind::Notice).is_empty(),
        "no false failure notice"
    );
    let events = history_events(&be, sed.case_id.as_ref().unwrap());
    assert_eq!(count(&events, "delivered"), 1, "{events:?}");
    assert_eq!(count(&events, "failed"), 0, "{events:?}");
}

/// The same race with an error: the SED stays rejected and the institution gets
/// exactly one rejection notice, whatever the relay records afterwards.
fn an_error_that_overtakes_the_relay_stands(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be, nl) = (switch("BE", dir.path(), pg), switch("NL", dir.path(), None));
    let mid = a009(&be);
    let claim = be.store.outbox_claim(None, 10, u64::MAX, 60_000).unwrap();
    let sed = claim.messages[0].clone();
    // A header that differs from the signed envelope: NL answers MALFORMED.
    let mut tampered = wire_of(&sed);
    tampered
        .headers
        .insert("eessi-buc".into(), "LA_BUC_01".into());
    let error = nl_answers(&nl, &tampered);
    assert_eq!(error.kind.as_deref(), Some("error"));
    assert_eq!(handle(&be, &error), Disposition::Ack);
    assert_eq!(sed_row(&be, &mid).status, OutboxStatus::Rejected);
    assert_eq!(rows_of(&be, OutboxKind::Notice).len(), 1);

    for outcome in [
        Outcome::Published(PublishOutcome::Confirmed),
        Outcome::TransportError("connection reset".into()),
        Outcome::GiveUp,
    ] {
        record(&be, &claim.messages, vec![outcome]).unwrap();
        assert_eq!(sed_row(&be, &mid).status, OutboxStatus::Rejected);
    }
    // A redelivered error settles nothing twice.
    assert_eq!(handle(&be, &error), Disposition::Ack);
    let notices = rows_of(&be, OutboxKind::Notice);
    assert_eq!(notices.len(), 1, "one rejection notice");
    assert_eq!(
        notices[0].headers.get("eessi-status").map(String::as_str),
        Some(OutboxStatus::Rejected.as_str())
    );
}

/// Without a race the schedule still works: confirmed -> sent; no receipt within
/// the interval -> retrying -> (attempts_max = 1) failed, with one failure notice.
fn without_an_answer_the_schedule_fails_the_sed_once(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let be = switch("BE", dir.path(), pg);
    let mid = a009(&be);
    let claim = be.store.outbox_claim(None, 10, u64::MAX, 60_000).unwrap();
    record(
        &be,
        &claim.messages,
        vec![Outcome::Published(PublishOutcome::Confirmed)],
    )
    .unwrap();
    let sent = sed_row(&be, &mid);
    assert_eq!((sent.status, sent.attempts), (OutboxStatus::Sent, 1));
    let overdue = sent.next_attempt_ms + 1;
    let again = be
        .store
        .outbox_claim(Some(overdue), 10, u64::MAX, 60_000)
        .unwrap();
    assert_eq!(again.messages.len(), 1);
    assert_eq!(again.messages[0].status, OutboxStatus::Retrying);
    assert!(super::relay::exhausted(
        &be,
        &again.messages[0],
        again.now_ms
    ));
    record(&be, &again.messages, vec![Outcome::GiveUp]).unwrap();
    record(&be, &again.messages, vec![Outcome::GiveUp]).unwrap();
    assert_eq!(sed_row(&be, &mid).status, OutboxStatus::Failed);
    let notices = rows_of(&be, OutboxKind::Notice);
    assert_eq!(
        notices.len(),
        1,
        "one failure notice, however often recorded"
    );
    assert_eq!(
        notices[0].headers.get("eessi-status").map(String::as_str),
        Some(OutboxStatus::Failed.as_str())
    );
    assert_eq!(
        be.metrics
            .outbound_failed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

macro_rules! both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $check() { super::$check(None) })*
        }
        mod postgres {
            $(#[test] fn $check() { let pg = crate::store::tests::Scratch::create(); super::$check(Some(&pg)) })*
        }
    };
}

/// A delivered SED keeps its body through the duplicate window; after it, retention
/// empties it, and a late receipt is then stale (not a digest mismatch). That a
/// late error may still reject it is the store suite's
/// `prune_empties_only_settled_bodies_past_their_period`.
fn a_delivered_sed_pruned_after_the_window_still_settles_right(pg: Option<&Scratch>) {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tempfile::tempdir().unwrap();
    let (be, nl) = (switch("BE", dir.path(), pg), switch("NL", dir.path(), None));
    let mid = a009(&be);
    let sed = be
        .store
        .outbox_claim(None, 10, u64::MAX, 60_000)
        .unwrap()
        .messages[0]
        .clone();
    let receipt = nl_answers(&nl, &wire_of(&sed));
    assert_eq!(handle(&be, &receipt), Disposition::Ack);
    assert_eq!(sed_row(&be, &mid).status, OutboxStatus::Delivered);

    // Past body_days but inside the duplicate window: the body stays.
    let day = 86_400_000;
    let now = crate::store::now_ms();
    super::retention::pass(&be, now + 29 * day).unwrap();
    assert_eq!(sed_row(&be, &mid).body, sed.body);
    let stale = be.metrics.signals_stale.load(Relaxed);
    assert_eq!(handle(&be, &receipt), Disposition::Ack);
    assert_eq!(be.metrics.signals_stale.load(Relaxed), stale + 1);

    // Past the duplicate window: emptied, still delivered.
    let p = super::retention::pass(&be, now + 31 * day).unwrap();
    assert!(p.outbox_bodies >= 1, "{p:?}");
    let row = sed_row(&be, &mid);
    assert!(row.body.is_empty());
    assert_eq!(row.status, OutboxStatus::Delivered);
    assert_eq!(handle(&be, &receipt), Disposition::Ack);
    assert_eq!(be.metrics.signals_stale.load(Relaxed), stale + 2);
    assert_eq!(sed_row(&be, &mid).status, OutboxStatus::Delivered);
}

both_backends!(
    a_receipt_that_overtakes_the_relay_stands,
    an_error_that_overtakes_the_relay_stands,
    without_an_answer_the_schedule_fails_the_sed_once,
    a_delivered_sed_pruned_after_the_window_still_settles_right,
);

/// Two BE instances on one PostgreSQL database get the same redelivered message id
/// at once: one effect commits, and both put the same answer bytes on the wire.
#[test]
fn two_instances_racing_on_one_message_id_send_one_answer() {
    let pg = Scratch::create();
    let dir = tempfile::tempdir().unwrap();
    let be1 = switch("BE", dir.path(), Some(&pg));
    let be2 = switch("BE", dir.path(), Some(&pg));
    let svb = nl_svb();
    let a003 = std::fs::read(root().join("fixtures/sed/4.2/A003.xml")).unwrap();
    let mut raced = Vec::new();
    for _ in 0..8 {
        let case = CaseId::random();
        let start = Craft::new("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", &case, &a003);
        let mut update = start
            .clone()
            .action(CaseAction::Update)
            .document(start.header.document_id.clone(), 2);
        update.message_id = MessageId::random().to_string();
        let start = craft_with(&svb, &start).unwrap();
        assert_eq!(handle_until_settled(&be1, &wire(&start)), Disposition::Ack);
        let update = wire(&craft_with(&svb, &update).unwrap());
        // Both instances take the same delivery at the same moment.
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = [be1.clone(), be2.clone()]
            .into_iter()
            .map(|sw| {
                let (b, m) = (barrier.clone(), update.clone());
                std::thread::spawn(move || {
                    b.wait();
                    handle_until_settled(&sw, &m)
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), Disposition::Ack);
        }
        raced.push((case, update.message_id.unwrap()));
    }
    let messages = be1.store.messages(None, 10_000).unwrap();
    for (case, mid) in raced {
        let answers: Vec<&OutboxMessage> = messages
            .iter()
            .filter(|m| {
                m.kind != OutboxKind::National
                    && m.headers.get("eessi-ref-to-message-id") == Some(&mid)
            })
            .collect();
        assert_eq!(answers.len(), 2, "each instance sends the answer once");
        assert!(answers.iter().all(|a| a.kind == OutboxKind::Receipt));
        assert_eq!(
            (&answers[0].message_id, &answers[0].body),
            (&answers[1].message_id, &answers[1].body),
            "the same answer, byte for byte"
        );
        // One effect: version 2 once, one national delivery of it.
        let d = be1.store.case_detail(&case).unwrap().unwrap();
        assert_eq!(d.documents[0].1.len(), 2);
        let deliveries = messages
            .iter()
            .filter(|m| {
                m.kind == OutboxKind::National && m.headers.get("eessi-message-id") == Some(&mid)
            })
            .count();
        assert_eq!(deliveries, 1, "one national delivery");
    }
    let dups = |sw: &Switch| {
        sw.metrics
            .inbound_duplicates
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(
        dups(&be1) + dups(&be2),
        8,
        "the loser answered each as a duplicate"
    );
}

#[cfg(feature = "fault-hooks")]
fn nl_start(svb: &crate::signing::Signer) -> (CaseId, WireMessage) {
    let a003 = std::fs::read(root().join("fixtures/sed/4.2/A003.xml")).unwrap();
    let case = CaseId::random();
    let start = Craft::new("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", &case, &a003);
    (case, wire(&craft_with(svb, &start).unwrap()))
}

#[cfg(feature = "fault-hooks")]
mod panics {
    use super::*;

    /// A panic while handling one delivery of a group-committed batch fails that
    /// delivery only: its neighbours commit, no lock stays poisoned, the store goes on.
    fn a_panic_is_one_deliverys_problem(pg: Option<&Scratch>) {
        let dir = tempfile::tempdir().unwrap();
        let be = switch("BE", dir.path(), pg);
        let svb = nl_svb();
        let batch: Vec<(CaseId, WireMessage)> = (0..3).map(|_| nl_start(&svb)).collect();
        crate::faults::register(batch[1].1.message_id.as_deref().unwrap());
        let ms: Vec<Arc<WireMessage>> = batch.iter().map(|(_, m)| Arc::new(m.clone())).collect();
        let ds = crate::switch::inbound::handle_batch(&be, &ms);
        assert_eq!(ds[0], Disposition::Ack);
        assert!(
            matches!(&ds[1], Disposition::Retry(why) if why.contains("panicked")),
            "{ds:?}"
        );
        assert_eq!(ds[2], Disposition::Ack);
        let exists = |c: &CaseId| be.store.case_detail(c).unwrap().is_some();
        assert!(
            exists(&batch[0].0) && exists(&batch[2].0),
            "the neighbours committed"
        );
        assert!(!exists(&batch[1].0), "the panicking one changed nothing");
        // Alone, too, it fails without harm, again and again (towards the delivery limit).
        for _ in 0..3 {
            assert!(matches!(handle(&be, &batch[1].1), Disposition::Retry(_)));
        }
        assert!(!exists(&batch[1].0));
        // The store (SQLite's single writer included) keeps working.
        let (next, m) = nl_start(&svb);
        assert_eq!(handle(&be, &m), Disposition::Ack);
        assert!(exists(&next));
    }

    both_backends!(a_panic_is_one_deliverys_problem);
}

/// Parking is bounded: past the per-case cap (and the per-access-point cap), a
/// message that would be parked is refused with UNKNOWN_CASE at once, and counted.
#[test]
fn parking_is_capped_per_case_and_per_access_point() {
    use crate::ids::{DocumentId, Role};
    let dir = tempfile::tempdir().unwrap();
    let mut be = switch("BE", dir.path(), None);
    let bounds = &mut Arc::get_mut(&mut be).expect("not shared yet").bounds;
    bounds.parked_per_case_max = 2;
    bounds.parked_per_access_point_max = 3;
    let svb = nl_svb();
    let a004 = std::fs::read(root().join("fixtures/sed/4.2/A004.xml")).unwrap();
    let orphan = |case: &CaseId| {
        let c = Craft::new("NL:SVB", "BE:ONSS", "LA_BUC_02", "A004", case, &a004)
            .roles(Role::Counterparty, Role::CaseOwner)
            .action(CaseAction::New)
            .related(DocumentId::random());
        wire(&craft_with(&svb, &c).unwrap())
    };
    let answer_code = |m: &WireMessage| {
        be.store
            .messages(None, 1000)
            .unwrap()
            .into_iter()
            .find(|a| a.headers.get("eessi-ref-to-message-id") == m.message_id.as_ref())
            .map(|a| {
                a.headers
                    .get("eessi-error-code")
                    .cloned()
                    .unwrap_or_else(|| a.kind.to_string())
            })
            .unwrap()
    };
    let (one, two) = (CaseId::random(), CaseId::random());
    let sent: Vec<WireMessage> = [&one, &one, &one, &two, &two]
        .into_iter()
        .map(orphan)
        .collect();
    for m in &sent {
        assert_eq!(handle(&be, m), Disposition::Ack);
    }
    let codes: Vec<String> = sent.iter().map(answer_code).collect();
    assert_eq!(
        codes,
        [
            "receipt",
            "receipt",
            "UNKNOWN_CASE",
            "receipt",
            "UNKNOWN_CASE"
        ],
        "per case: 2; per access point: 3"
    );
    assert_eq!(be.store.parked_count().unwrap(), 3);
    assert_eq!(
        be.metrics
            .parked_refused_cap
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    // The bytes parked from one access point are bounded too.
    let mut be = be;
    let bounds = &mut Arc::get_mut(&mut be).expect("not shared").bounds;
    bounds.parked_per_case_max = 100;
    bounds.parked_per_access_point_max = 100;
    bounds.parked_bytes_per_access_point_max = 1;
    let m = orphan(&CaseId::random());
    assert_eq!(handle(&be, &m), Disposition::Ack);
    let code = be
        .store
        .messages(None, 1000)
        .unwrap()
        .into_iter()
        .find(|a| a.headers.get("eessi-ref-to-message-id") == m.message_id.as_ref())
        .and_then(|a| a.headers.get("eessi-error-code").cloned());
    assert_eq!(code.as_deref(), Some("UNKNOWN_CASE"));
    assert_eq!(be.store.parked_count().unwrap(), 3);
}

/// Make the database itself refuse to store any version of `document`: a store
/// failure that is nobody's answer (not a refusal), for the batch fallback test.
fn refuse_versions_of(be_dir: &std::path::Path, pg: Option<&Scratch>, document: &str) {
    match pg {
        None => {
            let c = rusqlite::Connection::open(be_dir.join("be.db")).unwrap();
            c.execute_batch(&format!(
                "CREATE TRIGGER refuse_doc BEFORE INSERT ON document_versions \
                 WHEN NEW.document_id = '{document}' \
                 BEGIN SELECT RAISE(ABORT, 'injected store failure'); END;"
            ))
            .unwrap();
        }
        Some(pg) => {
            let mut c = pg.config().connect(::postgres::NoTls).unwrap();
            c.batch_execute(&format!(
                "CREATE FUNCTION refuse_doc() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected store failure'; END $$; \
                 CREATE TRIGGER refuse_doc BEFORE INSERT ON document_versions FOR EACH ROW \
                 WHEN (NEW.document_id = '{document}') EXECUTE FUNCTION refuse_doc();"
            ))
            .unwrap();
        }
    }
}

/// A group commit whose transaction fails for one delivery (a store failure, not
/// its answer) is rolled back and redone one delivery at a time: the neighbours
/// commit, the failing one is retried (towards the delivery limit), nothing half
/// applied.
fn a_store_failure_in_a_batch_fails_that_delivery_only(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let be = switch("BE", dir.path(), pg);
    let svb = nl_svb();
    let a003 = std::fs::read(root().join("fixtures/sed/4.2/A003.xml")).unwrap();
    let starts: Vec<Craft> = (0..3)
        .map(|_| {
            Craft::new(
                "NL:SVB",
                "BE:ONSS",
                "LA_BUC_02",
                "A003",
                &CaseId::random(),
                &a003,
            )
        })
        .collect();
    refuse_versions_of(dir.path(), pg, starts[1].header.document_id.as_str());
    let ms: Vec<Arc<WireMessage>> = starts
        .iter()
        .map(|c| Arc::new(wire(&craft_with(&svb, c).unwrap())))
        .collect();
    let ds = super::inbound::handle_batch(&be, &ms);
    assert_eq!(ds[0], Disposition::Ack);
    assert!(matches!(&ds[1], Disposition::Retry(_)), "{ds:?}");
    assert_eq!(ds[2], Disposition::Ack);
    let exists = |c: &Craft| be.store.case_detail(&c.header.case_id).unwrap().is_some();
    assert!(exists(&starts[0]) && exists(&starts[2]));
    assert!(!exists(&starts[1]), "nothing of it half-applied");
    // Its answer was not stored either: a redelivery is handled afresh.
    let answered = be
        .store
        .messages(None, 1000)
        .unwrap()
        .into_iter()
        .filter(|m| m.headers.get("eessi-ref-to-message-id") == ms[1].message_id.as_ref())
        .count();
    assert_eq!(answered, 0);
}

mod store_failures {
    use super::*;

    both_backends!(a_store_failure_in_a_batch_fails_that_delivery_only);
}

/// A group commit that panics takes down its own batch only: its submissions are
/// answered (nothing applied), and the committer commits the next one.
#[cfg(feature = "fault-hooks")]
#[test]
fn a_panicking_submission_leaves_the_group_commit_working() {
    let dir = tempfile::tempdir().unwrap();
    let be = switch("BE", dir.path(), None);
    let doomed = CaseId::random();
    crate::faults::register(doomed.as_str());
    let body = std::fs::read(root().join("fixtures/sed/4.2/A009.xml")).unwrap();
    let submission = |case_id: Option<CaseId>| Submission {
        from: InstitutionId::parse("BE:ONSS").unwrap(),
        to: InstitutionId::parse("NL:SVB").unwrap(),
        buc: BucType::parse("LA_BUC_04").unwrap(),
        sed: SedType::parse("A009").unwrap(),
        version: None,
        case_id,
        document_id: None,
        related: None,
        body: body.clone(),
        reference: None,
    };
    let r = submit(&be, submission(Some(doomed.clone())));
    assert!(
        matches!(&r, Err(super::outbound::SubmitError::Store(e)) if e.to_string().contains("nothing was applied")),
        "the panicking batch's submission is told nothing was applied: {r:?}"
    );
    assert!(be.store.case_detail(&doomed).unwrap().is_none());
    // The committer survived that panic; the next submission commits.
    let ok = submit(&be, submission(None)).expect("a later submission");
    assert!(be.store.case_detail(&ok.case_id).unwrap().is_some());
}

/// A submission is decided and signed outside the transaction; if its case moves
/// before it commits (here: another version of the same document commits first),
/// the committer refuses the stale plan and the submission is planned and signed
/// again, so the versions stay in order and nothing is lost.
mod replan {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn a_submission_whose_case_moved_is_planned_again(pg: Option<&Scratch>) {
        use crate::switch::outbound::{Committed, commit, plan};
        let dir = tempfile::tempdir().unwrap();
        let be = switch("BE", dir.path(), pg);
        let first = a009(&be);
        let row = sed_row(&be, &first);
        let (case_id, document_id) = (row.case_id.unwrap(), row.document_id.unwrap());
        let update = Submission {
            from: InstitutionId::parse("BE:ONSS").unwrap(),
            to: InstitutionId::parse("NL:SVB").unwrap(),
            buc: BucType::parse("LA_BUC_04").unwrap(),
            sed: SedType::parse("A009").unwrap(),
            version: None,
            case_id: Some(case_id.clone()),
            document_id: Some(document_id.clone()),
            related: None,
            body: std::fs::read(root().join("fixtures/sed/4.2/A009.xml")).unwrap(),
            reference: None,
        };
        // Two plans from the same snapshot: both would be version 2. The stale one
        // carries an idempotency key: its refusal at commit gives the key back.
        let key = crate::switch::outbound::IdempotencyKey {
            scope: "tester".into(),
            key: "update-1".into(),
            request_sha256: "ab".repeat(32),
        };
        let stale = plan(&be, &update, &mut None).unwrap().with_key(&key);
        let fresh = plan(&be, &update, &mut None).unwrap();
        let Committed::Done(v2) = commit(&be, fresh).unwrap() else {
            panic!("the first plan commits");
        };
        assert_eq!(v2.document_version, 2);
        assert!(
            matches!(commit(&be, stale), Ok(Committed::Moved)),
            "a plan made before the case moved does not commit"
        );
        // Through `submit`, the next plan starts from the case as it now is; under
        // the same key (free again), and a retry of it is answered, not applied.
        use crate::switch::outbound::{SubmitError, submit_keyed};
        let replanned = be.metrics.submissions_replanned.load(Relaxed);
        let v3 = submit_keyed(&be, update.clone(), None, Some(key.clone())).unwrap();
        assert_eq!(v3.document_version, 3);
        assert!(!v3.replayed);
        assert_eq!(be.metrics.submissions_replanned.load(Relaxed), replanned);
        let retry = submit_keyed(&be, update.clone(), None, Some(key.clone())).unwrap();
        assert!(retry.replayed);
        assert_eq!(
            (retry.case_id.clone(), retry.document_id.clone()),
            (v3.case_id.clone(), v3.document_id.clone())
        );
        assert_eq!(
            (retry.document_version, &retry.message_id),
            (3, &v3.message_id)
        );
        let other = crate::switch::outbound::IdempotencyKey {
            request_sha256: "cd".repeat(32),
            ..key.clone()
        };
        assert!(matches!(
            submit_keyed(&be, update, None, Some(other)),
            Err(SubmitError::KeyReused)
        ));
        let detail = be.store.case_detail(&case_id).unwrap().unwrap();
        let (_, versions) = detail
            .documents
            .iter()
            .find(|(d, _)| d.document_id == document_id)
            .unwrap();
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    both_backends!(a_submission_whose_case_moved_is_planned_again);
}

/// A Belgian institution that chose its national format for a SED type receives
/// that SED in it, built from the SED and the envelope (the adapter's golden file,
/// with this exchange's sender and receiver), and says so in `eessi-format`; a SED
/// type it did not choose arrives as the signed envelope, stored once. A choice
/// naming an adapter of another SED type, or an institution of another access
/// point, stops the start with every problem listed.
#[test]
fn a_received_sed_reaches_its_institution_in_the_national_format_it_chose() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::harness::demo::demo_config(&root(), "BE", dir.path(), None).unwrap();
    let onss = InstitutionId::parse("BE:ONSS").unwrap();
    let inasti = InstitutionId::parse("BE:INASTI").unwrap();
    let a003 = SedType::parse("A003").unwrap();
    config.national_formats.insert(
        inasti,
        [(a003.clone(), "inasti-decision".to_owned())].into(),
    );
    let be = Arc::new(Switch::build(&config, Arc::new(MemoryBroker::new())).unwrap());
    let golden = root().join("adapters/inasti-decision/golden");
    let sed = std::fs::read(golden.join("received.sed.xml")).unwrap();
    let case = CaseId::parse("0123456789abcdef0123456789abcdef").unwrap();
    let start = Craft::new("NL:SVB", "BE:INASTI", "LA_BUC_02", "A003", &case, &sed);
    let delivered = wire(&craft_with(&nl_svb(), &start).unwrap());
    assert_eq!(handle_until_settled(&be, &delivered), Disposition::Ack);
    let national = rows_of(&be, OutboxKind::National);
    assert_eq!(national.len(), 1);
    let d = &national[0];
    assert_eq!(d.routing_key, "BE:INASTI");
    assert_eq!(
        d.headers["eessi-routing"],
        "rule: to the addressed institution"
    );
    assert_eq!(d.headers["eessi-format"], "inasti-decision");
    assert_eq!(d.body_version, None);
    // The inbound delivery builds it with everything the envelope says
    // (`received_to_national`): sender, receiver, case id and this document's id,
    // which a national reply names.
    let expected = std::fs::read_to_string(golden.join("received.national.xml"))
        .unwrap()
        .replace(
            "<DocumentId>00112233445566778899aabbccddeeff</DocumentId>",
            &format!("<DocumentId>{}</DocumentId>", start.header.document_id),
        )
        .replace("<Sender>DE:DRV</Sender>", "<Sender>NL:SVB</Sender>");
    assert_eq!(String::from_utf8(d.body.clone()).unwrap(), expected);
    assert_eq!(
        be.metrics
            .national_unmappable
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    // Another SED type (no choice made): the envelope as it arrived.
    let a009 = std::fs::read(root().join("fixtures/sed/4.2/A009.xml")).unwrap();
    let posting = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_04",
        "A009",
        &CaseId::random(),
        &a009,
    );
    let delivered = wire(&craft_with(&nl_svb(), &posting).unwrap());
    assert_eq!(handle_until_settled(&be, &delivered), Disposition::Ack);
    let envelope = rows_of(&be, OutboxKind::National)
        .into_iter()
        .find(|m| m.headers["eessi-sed"] == "A009")
        .expect("the A009's delivery");
    assert_eq!(envelope.headers["eessi-format"], "sed");
    assert_eq!(envelope.body, delivered.body);
    assert_eq!(envelope.body_version, Some(1));

    // Choices that cannot hold: refused at start, all of them.
    config.national_formats.insert(
        onss,
        [(
            SedType::parse("A009").unwrap(),
            "inasti-decision".to_owned(),
        )]
        .into(),
    );
    config.national_formats.insert(
        InstitutionId::parse("NL:SVB").unwrap(),
        [(a003, "nowhere".to_owned())].into(),
    );
    let err = Switch::build(&config, Arc::new(MemoryBroker::new()))
        .err()
        .expect("refused")
        .to_string();
    for part in [
        "adapter inasti-decision is for A003, not A009",
        "NL:SVB is not an institution of access point BE",
        "no adapter \"nowhere\"",
    ] {
        assert!(err.contains(part), "{part:?} missing from {err:?}");
    }
}

/// Routing on the received path: a decision for a person employed in one State
/// and self-employed in another (art. 13(3)) reaches ONSS and INASTI, each once
/// with its own message id; a SED addressed to the CBSS is accepted, waits in
/// triage with no delivery, and an operator's assignment delivers it once
/// (a second assignment is refused), audited; a redelivery of that SED from
/// abroad is answered as a duplicate and makes no second entry.
#[test]
fn received_seds_fan_out_and_unplaced_ones_wait_in_triage_until_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::harness::demo::demo_config(&root(), "BE", dir.path(), None).unwrap();
    let be = Arc::new(Switch::build(&config, Arc::new(MemoryBroker::new())).unwrap());

    let a003 = std::fs::read_to_string(root().join("fixtures/sed/4.2/A003.xml"))
        .unwrap()
        .replace("<sed:RelevantArticle>13_1_a<", "<sed:RelevantArticle>13_3<");
    let start = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &CaseId::random(),
        a003.as_bytes(),
    );
    let delivered = wire(&craft_with(&nl_svb(), &start).unwrap());
    assert_eq!(handle_until_settled(&be, &delivered), Disposition::Ack);
    let national = rows_of(&be, OutboxKind::National);
    let mut to: Vec<&str> = national.iter().map(|m| m.routing_key.as_str()).collect();
    to.sort();
    assert_eq!(to, vec!["BE:INASTI", "BE:ONSS"]);
    assert_ne!(national[0].message_id, national[1].message_id);
    for m in &national {
        assert_eq!(m.body, delivered.body, "the envelope as it arrived");
        assert!(
            m.headers["eessi-routing"].contains("13(3)"),
            "{:?}",
            m.headers
        );
    }

    let h001 = std::fs::read(root().join("fixtures/sed/4.2/H001.xml")).unwrap();
    let case = CaseId::random();
    let ask = Craft::new("NL:SVB", "BE:CBSS", "H_BUC_01", "H001", &case, &h001);
    let delivered = wire(&craft_with(&nl_svb(), &ask).unwrap());
    assert_eq!(handle_until_settled(&be, &delivered), Disposition::Ack);
    // Accepted (a receipt goes back), applied to its case, delivered to nobody.
    assert!(be.store.case_detail(&case).unwrap().is_some());
    assert_eq!(rows_of(&be, OutboxKind::National).len(), 2);
    let waiting = be
        .store
        .triage_list(Some(crate::store::TriageStatus::Waiting), 10)
        .unwrap();
    assert_eq!(waiting.len(), 1);
    let entry = &waiting[0];
    assert_eq!(
        (entry.case_id.clone(), entry.sed.as_str()),
        (case.clone(), "H001")
    );
    assert_eq!(entry.addressed, "BE:CBSS");
    // The same SED again from abroad: a duplicate, no second entry.
    assert_eq!(handle_until_settled(&be, &delivered), Disposition::Ack);
    assert_eq!(be.store.triage_list(None, 10).unwrap().len(), 1);

    let actor = crate::store::AuditEntry {
        at: crate::store::now_rfc3339(),
        subject: "operator-1".into(),
        institution: None,
        action: String::new(),
        target: String::new(),
        remote: None,
    };
    // An institution that is not competent for H_BUC_01 cannot take it.
    let fons = InstitutionId::parse("BE:FONS").unwrap();
    assert!(matches!(
        super::triage::assign(&be, entry.id, &fons, &actor),
        Err(super::triage::AssignError::Refused(_))
    ));
    let onss = InstitutionId::parse("BE:ONSS").unwrap();
    let id = super::triage::assign(&be, entry.id, &onss, &actor).expect("assigned");
    let again = super::triage::assign(
        &be,
        entry.id,
        &InstitutionId::parse("BE:SFP").unwrap(),
        &actor,
    );
    assert!(
        matches!(again, Err(super::triage::AssignError::NotWaiting { .. })),
        "{again:?}"
    );
    let out: Vec<OutboxMessage> = rows_of(&be, OutboxKind::National)
        .into_iter()
        .filter(|m| m.message_id == id)
        .collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].routing_key, "BE:ONSS");
    assert_eq!(out[0].body, delivered.body);
    assert_eq!(out[0].headers["eessi-sed"], "H001");
    assert!(out[0].headers["eessi-routing"].starts_with("triage: assigned by operator-1"));
    let settled = be.store.triage_get(entry.id).unwrap().unwrap();
    assert_eq!(settled.status, crate::store::TriageStatus::Delivered);
    assert_eq!(settled.assigned_to.as_deref(), Some("BE:ONSS"));
    let audit = be.store.audit_list(None, 10).unwrap();
    assert!(
        audit.iter().any(|a| a.action == "triage-assign"
            && a.target == format!("triage {} to BE:ONSS", entry.id)),
        "{audit:?}"
    );
    assert_eq!(be.store.triage_waiting().unwrap(), 0);
}

/// Idempotent submission without a header key: the institution's reference in a
/// national message, and a Start under the client's case id. Concurrent identical
/// submissions make one case and all get its ids (on PostgreSQL from two instances
/// sharing the database, so the race crosses transactions); another message under
/// the same reference or case id is refused as such, not applied.
mod retried {
    use super::*;
    use crate::store::CaseFilter;
    use crate::switch::outbound::{
        CASE_START_SCOPE, IdempotencyKey, SubmitError, Submitted, start_key, submit_keyed,
    };

    /// One instance on SQLite; two on one PostgreSQL database.
    fn instances(dirs: &[tempfile::TempDir; 2], pg: Option<&Scratch>) -> Vec<Arc<Switch>> {
        match pg {
            None => vec![switch("BE", dirs[0].path(), None)],
            Some(pg) => dirs
                .iter()
                .map(|d| switch("BE", d.path(), Some(pg)))
                .collect(),
        }
    }

    /// `n` submissions at once, spread over the instances.
    fn race(
        instances: &[Arc<Switch>],
        n: usize,
        make: impl Fn(&Switch) -> Submission + Sync,
    ) -> Vec<Result<Submitted, SubmitError>> {
        let barrier = std::sync::Barrier::new(n);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let sw = &instances[i % instances.len()];
                    let (make, barrier) = (&make, &barrier);
                    scope.spawn(move || {
                        let s = make(sw);
                        barrier.wait();
                        submit_keyed(sw, s, None, None)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// All answered with one submission's ids, made once.
    fn one_submission(answers: Vec<Result<Submitted, SubmitError>>) -> Submitted {
        let answers: Vec<Submitted> = answers
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{e:?}")))
            .collect();
        assert_eq!(
            answers.iter().filter(|a| !a.replayed).count(),
            1,
            "{answers:?}"
        );
        for a in &answers {
            assert_eq!(
                (
                    &a.case_id,
                    &a.document_id,
                    a.document_version,
                    &a.message_id
                ),
                (
                    &answers[0].case_id,
                    &answers[0].document_id,
                    1,
                    &answers[0].message_id
                ),
                "{answers:?}"
            );
        }
        answers.into_iter().find(|a| !a.replayed).unwrap()
    }

    fn cases(sw: &Switch) -> usize {
        sw.store
            .cases(&CaseFilter {
                institution: None,
                status: None,
                limit: 1000,
                ..Default::default()
            })
            .unwrap()
            .len()
    }

    fn national(sw: &Switch, text: &str) -> Submission {
        let t = sw
            .adapters
            .get("onss-posting")
            .unwrap()
            .translate(text.as_bytes(), &sw.limits, &sw.versions[0])
            .unwrap_or_else(|e| panic!("{e}"));
        Submission::national("onss-posting", t, text.as_bytes())
    }

    fn eight_identical_national_submissions_with_one_reference_make_one_case(pg: Option<&Scratch>) {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let be = instances(&dirs, pg);
        let text = std::fs::read_to_string(root().join("fixtures/national/onss-posting.xml"))
            .unwrap()
            .replace(
                "<Receiver>NL:SVB</Receiver>",
                "<Receiver>NL:SVB</Receiver>\n  <Reference>LIMOSA-7</Reference>",
            );
        let first = one_submission(race(&be, 8, |sw| national(sw, &text)));
        assert_eq!(cases(&be[0]), 1);
        let row = be[0]
            .store
            .idempotency_get("national-ref:BE:ONSS:onss-posting", "LIMOSA-7")
            .unwrap()
            .expect("the reference is recorded");
        assert_eq!(row.message_id, first.message_id);

        // Later: the same message again, also under a new header key (the reference
        // answers; the key is not recorded, since it made nothing).
        let key = IdempotencyKey {
            scope: "tester".into(),
            key: "k-1".into(),
            request_sha256: "ab".repeat(32),
        };
        let again = submit_keyed(&be[0], national(&be[0], &text), None, Some(key.clone())).unwrap();
        assert!(again.replayed);
        assert_eq!(again.message_id, first.message_id);
        assert_eq!(be[0].store.idempotency_get("tester", "k-1").unwrap(), None);
        // Another message under that reference: refused as such, nothing made.
        let other = text.replace("<LastName>Janssens</LastName>", "<LastName>Jans</LastName>");
        assert_ne!(other, text);
        assert!(matches!(
            submit_keyed(&be[0], national(&be[0], &other), None, None),
            Err(SubmitError::ReferenceReused)
        ));
        // A new reference is a new message; the reference of another institution
        // or adapter is another one's (its scope differs).
        let next = text.replace("LIMOSA-7", "LIMOSA-8");
        let made = submit_keyed(&be[0], national(&be[0], &next), None, None).unwrap();
        assert!(!made.replayed);
        assert_ne!(made.case_id, first.case_id);
        assert_eq!(cases(&be[0]), 2);
    }

    fn eight_concurrent_retries_of_a_start_under_one_case_id_make_one_case(pg: Option<&Scratch>) {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let be = instances(&dirs, pg);
        let case_id = CaseId::random();
        let body = std::fs::read(root().join("fixtures/sed/4.2/A009.xml")).unwrap();
        let start = |body: &[u8]| onss_start(&case_id, "NL:SVB", "LA_BUC_04", "A009", body);
        let first = one_submission(race(&be, 8, |_| start(&body)));
        assert_eq!(first.case_id, case_id);
        assert_eq!(cases(&be[0]), 1);
        assert!(
            be[0]
                .store
                .idempotency_get(
                    CASE_START_SCOPE,
                    &start_key(&case_id, &InstitutionId::parse("NL:SVB").unwrap())
                )
                .unwrap()
                .is_some()
        );
        let again = submit_keyed(&be[0], start(&body), None, None).unwrap();
        assert!(again.replayed);
        assert_eq!(again.document_id, first.document_id);
        // Another Start under that case id: the id is taken, which the caller can
        // tell from a protocol refusal.
        let other = String::from_utf8(body.clone())
            .unwrap()
            .replace("Janssens", "Jans");
        match submit_keyed(&be[0], start(other.as_bytes()), None, None) {
            Err(SubmitError::CaseExists(c, why)) => {
                assert_eq!(c, case_id);
                assert!(why.contains("A009"), "{why}");
            }
            other => panic!("expected CaseExists, got {other:?}"),
        }
        let detail = be[0].store.case_detail(&case_id).unwrap().unwrap();
        assert_eq!(detail.documents.len(), 1);
    }

    /// A Start from BE:ONSS to `to` under the client's own `case_id`.
    fn onss_start(case_id: &CaseId, to: &str, buc: &str, sed: &str, body: &[u8]) -> Submission {
        Submission {
            from: InstitutionId::parse("BE:ONSS").unwrap(),
            to: InstitutionId::parse(to).unwrap(),
            buc: BucType::parse(buc).unwrap(),
            sed: SedType::parse(sed).unwrap(),
            version: None,
            case_id: Some(case_id.clone()),
            document_id: None,
            related: None,
            body: body.to_vec(),
            reference: None,
        }
    }

    /// A multilateral case owner starts one conversation per counterparty under the
    /// same case id: each Start is its own request, retried on its own.
    fn each_conversation_start_under_a_case_id_is_retried_on_its_own(pg: Option<&Scratch>) {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let be = &instances(&dirs, pg)[0];
        let case_id = CaseId::random();
        let body = std::fs::read(root().join("fixtures/sed/4.2/A003.xml")).unwrap();
        let start = |to: &str, body: &[u8]| onss_start(&case_id, to, "LA_BUC_02", "A003", body);
        let nl = submit_keyed(be, start("NL:SVB", &body), None, None).unwrap();
        let de = submit_keyed(be, start("DE:DRV", &body), None, None).unwrap();
        assert!(!nl.replayed && !de.replayed);
        assert_ne!(nl.document_id, de.document_id);
        for (to, first) in [("NL:SVB", &nl), ("DE:DRV", &de)] {
            let again = submit_keyed(be, start(to, &body), None, None).unwrap();
            assert!(again.replayed, "{to}");
            assert_eq!(
                (&again.document_id, &again.message_id),
                (&first.document_id, &first.message_id)
            );
        }
        let other = String::from_utf8(body.clone()).unwrap().replacen(
            "</sed:FamilyName>",
            "x</sed:FamilyName>",
            1,
        );
        assert_ne!(other.as_bytes(), &body[..]);
        assert!(matches!(
            submit_keyed(be, start("DE:DRV", other.as_bytes()), None, None),
            Err(SubmitError::CaseExists(c, _)) if c == case_id
        ));
        let detail = be.store.case_detail(&case_id).unwrap().unwrap();
        assert_eq!(detail.documents.len(), 2);
        assert_eq!(cases(be), 1);

        // A counterparty sending the starter in a case it takes part in: a SED the
        // case does not admit from it, not a taken case id.
        let theirs = CaseId::random();
        let received = Craft::new("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", &theirs, &body);
        let received = wire(&craft_with(&nl_svb(), &received).unwrap());
        assert_eq!(handle_until_settled(be, &received), Disposition::Ack);
        let mut back = start("NL:SVB", &body);
        back.case_id = Some(theirs);
        assert!(matches!(
            submit_keyed(be, back, None, None),
            Err(SubmitError::ProtocolViolation(_))
        ));
    }

    both_backends!(
        eight_identical_national_submissions_with_one_reference_make_one_case,
        eight_concurrent_retries_of_a_start_under_one_case_id_make_one_case,
        each_conversation_start_under_a_case_id_is_retried_on_its_own,
    );
}

/// The shipped local configuration of BE starts: its routing rules, national
/// formats and adapter grants hold against the registry, the adapters and the
/// catalogue.
#[test]
fn the_shipped_belgian_configuration_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::config::Config::load(&root().join("fixtures/config/be.toml")).unwrap();
    config.store_url = format!("sqlite://{}", dir.path().join("be.db").display());
    let be = Switch::build(&config, Arc::new(MemoryBroker::new())).unwrap();
    assert!(be.routing.rules.len() > 10);
    assert!(be.national_formats.len() >= 10);
    // It speaks both data-model versions (the catalogue's schemas exist for each).
    assert_eq!(be.versions, vec![version("4.2"), version("4.3")]);
}

/// A liaison body's case stays with the institution that took it: a family-benefit
/// claim addressed to Family Benefits Belgium for a child in Namur goes to the
/// Walloon body, and a later SED of that case (F004, no child in it) follows it
/// there, saying so; a claim no region rule places stays with FBB, and so does its
/// case's later SED.
#[test]
fn a_later_sed_of_a_liaison_case_follows_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::harness::demo::demo_config(&root(), "BE", dir.path(), None).unwrap();
    let be = Arc::new(Switch::build(&config, Arc::new(MemoryBroker::new())).unwrap());
    let f001 = std::fs::read_to_string(root().join("fixtures/sed/4.2/F001.xml")).unwrap();
    let f004 = std::fs::read(root().join("fixtures/sed/4.2/F004.xml")).unwrap();
    let deliveries_of = |case: &CaseId| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = rows_of(&be, OutboxKind::National)
            .into_iter()
            .filter(|m| m.case_id.as_ref() == Some(case))
            .map(|m| (m.headers["eessi-sed"].clone(), m.routing_key.clone()))
            .collect();
        v.sort();
        v
    };
    for (postcode, first_goes_to) in [("5000", "BE:FAMIWAL"), ("1050-and-9000", "BE:FBB")] {
        let body = if postcode == "5000" {
            f001.replace(
                "<sed:PostalCode>9000</sed:PostalCode>",
                "<sed:PostalCode>5000</sed:PostalCode>",
            )
        } else {
            // A second child in Brussels: no single region.
            let start = f001.find("<sed:Child>").unwrap();
            let end = f001.find("</sed:Child>").unwrap() + "</sed:Child>".len();
            let child = f001[start..end].replace(
                "<sed:PostalCode>9000</sed:PostalCode>",
                "<sed:PostalCode>1050</sed:PostalCode>",
            );
            format!("{}\n  {}{}", &f001[..end], child, &f001[end..])
        };
        let case = CaseId::random();
        let first = Craft::new(
            "NL:SVB",
            "BE:FBB",
            "FB_BUC_01",
            "F001",
            &case,
            body.as_bytes(),
        );
        let delivered = wire(&craft_with(&nl_svb(), &first).unwrap());
        assert_eq!(handle_until_settled(&be, &delivered), Disposition::Ack);
        let later = Craft::new("NL:SVB", "BE:FBB", "FB_BUC_01", "F004", &case, &f004)
            .action(CaseAction::New);
        let delivered = wire(&craft_with(&nl_svb(), &later).unwrap());
        assert_eq!(handle_until_settled(&be, &delivered), Disposition::Ack);
        assert_eq!(
            deliveries_of(&case),
            vec![
                ("F001".to_owned(), first_goes_to.to_owned()),
                ("F004".to_owned(), first_goes_to.to_owned()),
            ],
            "{postcode}"
        );
        let f004_row = rows_of(&be, OutboxKind::National)
            .into_iter()
            .find(|m| m.case_id.as_ref() == Some(&case) && m.headers["eessi-sed"] == "F004")
            .unwrap();
        assert!(
            f004_row.headers["eessi-routing"].ends_with("(following the case)"),
            "{:?}",
            f004_row.headers
        );
    }
}

/// The error code of the answer `sw` stored for the received message `m`, if an
/// error.
fn error_code_answering(sw: &Switch, m: &WireMessage) -> Option<String> {
    sw.store
        .messages(None, 1000)
        .unwrap()
        .into_iter()
        .find(|a| a.headers.get("eessi-ref-to-message-id") == m.message_id.as_ref())
        .and_then(|a| a.headers.get("eessi-error-code").cloned())
}

fn version(v: &str) -> crate::ids::SedVersion {
    crate::ids::SedVersion::parse(v).unwrap()
}

pub(super) fn fixture_of(v: &str, sed: &str) -> Vec<u8> {
    std::fs::read(root().join(format!("fixtures/sed/{v}/{sed}.xml"))).unwrap()
}

/// A SED submission of LA_BUC_02 from `from` to `to` (a Start unless `case` is given).
pub(super) fn la02(
    from: &str,
    to: &str,
    sed: &str,
    case: Option<&CaseId>,
    body: Vec<u8>,
) -> Submission {
    Submission {
        from: InstitutionId::parse(from).unwrap(),
        to: InstitutionId::parse(to).unwrap(),
        buc: BucType::parse("LA_BUC_02").unwrap(),
        sed: SedType::parse(sed).unwrap(),
        version: None,
        case_id: case.cloned(),
        document_id: None,
        related: None,
        body,
        reference: None,
    }
}

/// The `sedVersion` problem a refused submission names.
fn version_problem(r: Result<super::outbound::Submitted, super::outbound::SubmitError>) -> String {
    match r {
        Err(super::outbound::SubmitError::Invalid(issues)) => {
            assert_eq!(issues.len(), 1, "{issues:?}");
            assert_eq!(issues[0].name, "sedVersion", "{issues:?}");
            issues[0].detail.clone()
        }
        other => panic!("expected a sedVersion problem, got {other:?}"),
    }
}

/// CDM 4.3 end to end, in process: BE starts an LA_BUC_02 case with a 4.3 A003 (the
/// body's namespace says the version), NL's switch applies it as a 4.3 case and
/// answers with a receipt; NL's 4.3 A012 reply is applied at BE. The case keeps
/// its version: a 4.2 SED for it is refused on both sides, and a national message
/// for it is translated into 4.3.
#[test]
fn a_4_3_case_runs_end_to_end_and_keeps_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let (be, nl) = (
        switch("BE", dir.path(), None),
        switch("NL", dir.path(), None),
    );
    assert_eq!(be.versions, vec![version("4.2"), version("4.3")]);
    let sent = submit(
        &be,
        la02("BE:ONSS", "NL:SVB", "A003", None, fixture_of("4.3", "A003")),
    )
    .unwrap();
    let case = sent.case_id.clone();
    let version_at = |sw: &Switch| {
        sw.store
            .case_detail(&case)
            .unwrap()
            .unwrap()
            .case
            .sed_version
    };
    assert_eq!(version_at(&be), version("4.3"));
    let sed = wire_of(&sed_row(&be, &sent.message_id));
    assert_eq!(sed.headers["eessi-sed-version"], "4.3");
    let answer = nl_answers(&nl, &sed);
    assert_eq!(
        answer.kind.as_deref(),
        Some("receipt"),
        "{:?}",
        answer.headers
    );
    assert_eq!(version_at(&nl), version("4.3"));

    // NL replies in 4.3; BE applies it.
    let mut reply = la02(
        "NL:SVB",
        "BE:ONSS",
        "A012",
        Some(&case),
        fixture_of("4.3", "A012"),
    );
    reply.related = Some(sent.document_id.clone());
    let replied = submit(&nl, reply.clone()).unwrap();
    let reply_sed = wire_of(&sed_row(&nl, &replied.message_id));
    assert_eq!(reply_sed.headers["eessi-sed-version"], "4.3");
    assert_eq!(handle_until_settled(&be, &reply_sed), Disposition::Ack);
    assert_eq!(error_code_answering(&be, &reply_sed), None);
    assert_eq!(
        be.store
            .case_detail(&case)
            .unwrap()
            .unwrap()
            .documents
            .len(),
        2
    );
    assert_eq!(version_at(&be), version("4.3"));

    // A 4.2 SED for the 4.3 case: refused before signing, whether the body or
    // the submission names the version.
    let mut in_4_2 = reply.clone();
    in_4_2.sed = SedType::parse("A004").unwrap();
    in_4_2.body = fixture_of("4.2", "A004");
    let why = version_problem(submit(&nl, in_4_2.clone()));
    assert_eq!(
        why,
        "the case uses data-model version 4.3; this SED is of version 4.2"
    );
    in_4_2.version = Some(version("4.2"));
    let why = version_problem(submit(&nl, in_4_2));
    assert_eq!(why, "the case uses data-model version 4.3, not 4.2");

    // A national message for the case is made in its version; a new case to NL
    // in the first version spoken that NL accepts.
    let svb = InstitutionId::parse("NL:SVB").unwrap();
    let onss = InstitutionId::parse("BE:ONSS").unwrap();
    assert_eq!(
        super::outbound::national_version(&nl, Some(&case), &onss).unwrap(),
        version("4.3")
    );
    assert_eq!(
        super::outbound::national_version(&be, None, &svb).unwrap(),
        version("4.2")
    );
}

/// A 4.2 case refuses a 4.3 SED: from a Belgian institution (a 422-style problem,
/// nothing signed or stored), and from abroad (the apply path's protocol
/// violation, nothing applied).
#[test]
fn a_4_2_case_refuses_a_4_3_sed() {
    let dir = tempfile::tempdir().unwrap();
    let be = switch("BE", dir.path(), None);
    let sent = submit(
        &be,
        la02("BE:ONSS", "NL:SVB", "A003", None, fixture_of("4.2", "A003")),
    )
    .unwrap();
    let case = sent.case_id.clone();
    let rows = be.store.messages(None, 1000).unwrap().len();
    let mut again = la02(
        "BE:ONSS",
        "NL:SVB",
        "A003",
        Some(&case),
        fixture_of("4.3", "A003"),
    );
    let why = version_problem(submit(&be, again.clone()));
    assert_eq!(
        why,
        "the case uses data-model version 4.2; this SED is of version 4.3"
    );
    again.version = Some(version("4.3"));
    let why = version_problem(submit(&be, again));
    assert_eq!(why, "the case uses data-model version 4.2, not 4.3");
    assert_eq!(be.store.messages(None, 1000).unwrap().len(), rows);

    // NL answers the 4.2 case with a 4.3 A012: PROTOCOL_VIOLATION, not applied.
    let mut reply = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A012",
        &case,
        &fixture_of("4.3", "A012"),
    )
    .roles(crate::ids::Role::Counterparty, crate::ids::Role::CaseOwner)
    .action(CaseAction::New)
    .related(sent.document_id.clone());
    reply.header.version = version("4.3");
    let m = wire(&craft_with(&nl_svb(), &reply).unwrap());
    assert_eq!(handle_until_settled(&be, &m), Disposition::Ack);
    assert_eq!(
        error_code_answering(&be, &m).as_deref(),
        Some("PROTOCOL_VIOLATION")
    );
    let detail = be.store.case_detail(&case).unwrap().unwrap();
    assert_eq!(detail.documents.len(), 1);
    assert_eq!(detail.case.sed_version, version("4.2"));
}

/// A SED in a version the receiver's access point does not accept (the registry:
/// DE takes 4.2 only) is refused before it is signed, naming the version and the
/// accepted ones; nothing is stored. The same SED in 4.2 goes, and an access
/// point the registry lists no versions for takes the ones this switch speaks.
#[test]
fn a_sed_in_a_version_the_receiver_does_not_accept_is_refused_before_signing() {
    let dir = tempfile::tempdir().unwrap();
    let be = switch("BE", dir.path(), None);
    let why = version_problem(submit(
        &be,
        la02("BE:ONSS", "DE:DRV", "A003", None, fixture_of("4.3", "A003")),
    ));
    assert_eq!(
        why,
        "the access point of DE does not accept data-model version 4.3 (it accepts 4.2)"
    );
    assert!(be.store.messages(None, 1000).unwrap().is_empty());
    assert!(
        be.store
            .cases(&crate::store::CaseFilter {
                institution: None,
                status: None,
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .is_empty()
    );
    // Named explicitly: the same refusal.
    let mut explicit = la02("BE:ONSS", "DE:DRV", "A003", None, fixture_of("4.3", "A003"));
    explicit.version = Some(version("4.3"));
    assert!(version_problem(submit(&be, explicit)).contains("does not accept"));
    // In 4.2 it goes.
    submit(
        &be,
        la02("BE:ONSS", "DE:DRV", "A003", None, fixture_of("4.2", "A003")),
    )
    .unwrap();
    let drv = InstitutionId::parse("DE:DRV").unwrap();
    assert_eq!(
        super::outbound::national_version(&be, None, &drv).unwrap(),
        version("4.2")
    );
    let de = switch("DE", dir.path(), None);
    let be_country = crate::ids::Country::parse("BE").unwrap();
    assert_eq!(de.registry.accepted_versions(&be_country), None);
    assert_eq!(de.versions_accepted_by(&be_country), de.versions);
}

/// A received SED in a data-model version this switch does not speak is refused
/// with the contract's UNSUPPORTED (check 6), nothing applied; a switch that speaks
/// it takes the same message.
#[test]
fn a_received_sed_in_a_version_not_spoken_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::harness::demo::demo_config(&root(), "BE", dir.path(), None).unwrap();
    config.sed_versions = vec![version("4.2")];
    let only_4_2 = Switch::build(&config, Arc::new(MemoryBroker::new())).unwrap();
    let case = CaseId::random();
    let mut start = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &case,
        &fixture_of("4.3", "A003"),
    );
    start.header.version = version("4.3");
    let m = wire(&craft_with(&nl_svb(), &start).unwrap());
    assert_eq!(handle_until_settled(&only_4_2, &m), Disposition::Ack);
    assert_eq!(
        error_code_answering(&only_4_2, &m).as_deref(),
        Some("UNSUPPORTED")
    );
    assert!(only_4_2.store.case_detail(&case).unwrap().is_none());

    let other = tempfile::tempdir().unwrap();
    let both = switch("BE", other.path(), None);
    assert_eq!(handle_until_settled(&both, &m), Disposition::Ack);
    assert_eq!(error_code_answering(&both, &m), None);
    assert_eq!(
        both.store
            .case_detail(&case)
            .unwrap()
            .unwrap()
            .case
            .sed_version,
        version("4.3")
    );
}

/// A national reply in a 4.3 case is made in 4.3: NL starts an LA_BUC_02 case
/// with INASTI in 4.3, and INASTI's national approval, translated into the
/// version `national_version` chooses (as `POST /api/v1/national/{adapter}`
/// does), goes out as a 4.3 A012. Translated in 4.2 it is refused.
#[test]
fn a_national_reply_in_a_4_3_case_is_made_in_4_3() {
    let dir = tempfile::tempdir().unwrap();
    let be = switch("BE", dir.path(), None);
    let golden = root().join("adapters/inasti-approval/golden/national.xml");
    let national = std::fs::read(golden).unwrap();
    let case = CaseId::parse("0123456789abcdef0123456789abcdef").unwrap();
    let decision = crate::ids::DocumentId::parse("fedcba9876543210fedcba9876543210").unwrap();
    let mut start = Craft::new(
        "NL:SVB",
        "BE:INASTI",
        "LA_BUC_02",
        "A003",
        &case,
        &fixture_of("4.3", "A003"),
    )
    .document(decision, 1);
    start.header.version = version("4.3");
    let m = wire(&craft_with(&nl_svb(), &start).unwrap());
    assert_eq!(handle_until_settled(&be, &m), Disposition::Ack);
    assert_eq!(error_code_answering(&be, &m), None);

    let adapter = be.adapters.get("inasti-approval").unwrap();
    let translated = |v: &crate::ids::SedVersion| {
        let t = adapter.translate(&national, &be.limits, v).unwrap();
        Submission::national("inasti-approval", t, &national)
    };
    let first = translated(&be.versions[0]);
    let v = super::outbound::national_version(&be, first.case_id.as_ref(), &first.to).unwrap();
    assert_eq!(v, version("4.3"));
    let why = version_problem(submit(&be, first));
    assert_eq!(
        why,
        "the case uses data-model version 4.3; this SED is of version 4.2"
    );
    let sent = submit(&be, translated(&v)).unwrap();
    let sed = wire_of(&sed_row(&be, &sent.message_id));
    assert_eq!(sed.headers["eessi-sed"], "A012");
    assert_eq!(sed.headers["eessi-sed-version"], "4.3");
}
