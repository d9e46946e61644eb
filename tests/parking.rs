//! Ordering: a `New`/`Update` that overtakes its predecessor is parked durably,
//! acknowledged, and applied when the predecessor arrives; after the parking time
//! it is refused with `UNKNOWN_CASE` (tested with a fake clock), which becomes the
//! latest answer to its message id.

mod common;

use std::sync::Arc;

use common::*;
use eessi_switch::harness::peer::{Craft, craft_with};
use eessi_switch::ids::{CaseAction, CaseId, DocumentId, Role};
use eessi_switch::store::OutboxKind;
use eessi_switch::switch::Switch;
use eessi_switch::switch::inbound::{handle, sweep_parked};
use eessi_switch::transport::{OutMessage, Transport, WireMessage};

fn wire(m: &OutMessage) -> WireMessage {
    m.delivered()
}

fn switch(dir: &std::path::Path) -> Switch {
    let config = eessi_switch::harness::demo::demo_config(&root(), "BE", dir, None).unwrap();
    Switch::build(
        &config,
        Arc::new(eessi_switch::transport::memory::MemoryBroker::new()),
    )
    .unwrap()
}

#[test]
fn an_overtaking_reply_waits_for_its_predecessor_then_both_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let be = switch(dir.path());
    let svb = signer("NL_SVB");
    let case = CaseId::random();
    // NL:SVB owns the case: A003 (Start) then an Update of it (v2), sent in that
    // order but arriving the other way round.
    let start = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &case,
        &fixture("A003"),
    );
    let update = start
        .clone()
        .action(CaseAction::Update)
        .document(start.header.document_id.clone(), 2);
    let mut update = update;
    update.message_id = eessi_switch::ids::MessageId::random().to_string();
    let (start, update) = (
        craft_with(&svb, &start).unwrap(),
        craft_with(&svb, &update).unwrap(),
    );
    assert_eq!(
        handle(&be, &wire(&update)),
        eessi_switch::switch::inbound::Disposition::Ack
    );
    assert!(
        be.store.case_detail(&case).unwrap().is_none(),
        "parked, not applied"
    );
    assert_eq!(be.store.parked_count().unwrap(), 1);
    // It was acknowledged with a receipt.
    let answers = be.store.messages(None, 100).unwrap();
    assert!(answers.iter().any(|m| m.kind == OutboxKind::Receipt
        && m.headers.get("eessi-ref-to-message-id") == Some(&update.message_id)));
    assert_eq!(
        handle(&be, &wire(&start)),
        eessi_switch::switch::inbound::Disposition::Ack
    );
    let d = be.store.case_detail(&case).unwrap().unwrap();
    assert_eq!(d.documents.len(), 1);
    assert_eq!(d.documents[0].1.len(), 2, "both versions, in order");
    assert_eq!(d.documents[0].0.latest_version, 2);
    assert!(d.history.iter().any(|h| h.event == "unparked"));
    assert_eq!(be.store.parked_count().unwrap(), 0);
}

#[test]
fn a_parked_message_gets_unknown_case_after_the_parking_time() {
    let dir = tempfile::tempdir().unwrap();
    let be = switch(dir.path());
    let svb = signer("NL_SVB");
    let orphan = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A004",
        &CaseId::random(),
        &fixture("A004"),
    )
    .roles(Role::Counterparty, Role::CaseOwner)
    .action(CaseAction::New)
    .related(DocumentId::random());
    let m = craft_with(&svb, &orphan).unwrap();
    assert_eq!(
        handle(&be, &wire(&m)),
        eessi_switch::switch::inbound::Disposition::Ack
    );
    let now = chrono::Utc::now().timestamp_millis();
    // Before the parking time: nothing happens.
    assert_eq!(sweep_parked(&be, now + be.park_ms - 60_000).unwrap(), 0);
    assert_eq!(be.store.parked_count().unwrap(), 1);
    // After it (fake clock): UNKNOWN_CASE, referring to the same message id.
    assert_eq!(sweep_parked(&be, now + be.park_ms + 1).unwrap(), 1);
    assert_eq!(be.store.parked_count().unwrap(), 0);
    let errors: Vec<_> = be
        .store
        .messages(None, 100)
        .unwrap()
        .into_iter()
        .filter(|x| x.kind == OutboxKind::Error)
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0]
            .headers
            .get("eessi-error-code")
            .map(String::as_str),
        Some("UNKNOWN_CASE")
    );
    assert_eq!(
        errors[0].headers.get("eessi-ref-to-message-id"),
        Some(&m.message_id)
    );
    // A retransmission of the same message now gets that error, byte for byte.
    assert_eq!(
        handle(&be, &wire(&m)),
        eessi_switch::switch::inbound::Disposition::Ack
    );
    let again: Vec<_> = be
        .store
        .messages(None, 100)
        .unwrap()
        .into_iter()
        .filter(|x| x.kind == OutboxKind::Error)
        .collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].body, again[1].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reordered_messages_over_the_wire_end_in_the_same_case() {
    let vhost = Vhost::new("reorder");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let mut nl = Peer::new(&vhost, "NL").await;
    let svb = signer("NL_SVB");
    // Ten cases; in each, the update overtakes the start on the wire.
    let mut cases = Vec::new();
    for _ in 0..10 {
        let case = CaseId::random();
        let start = Craft::new(
            "NL:SVB",
            "BE:ONSS",
            "LA_BUC_02",
            "A003",
            &case,
            &fixture("A003"),
        );
        let mut update = start
            .clone()
            .action(CaseAction::Update)
            .document(start.header.document_id.clone(), 2);
        update.message_id = eessi_switch::ids::MessageId::random().to_string();
        let (s, u) = (
            craft_with(&svb, &start).unwrap(),
            craft_with(&svb, &update).unwrap(),
        );
        nl.transport.publish(&u).await.unwrap();
        nl.transport.publish(&s).await.unwrap();
        cases.push((case, s.message_id, u.message_id));
    }
    for (case, s, u) in &cases {
        assert_eq!(nl.answer_to(u).await.kind.as_deref(), Some("receipt"));
        assert_eq!(nl.answer_to(s).await.kind.as_deref(), Some("receipt"));
        // The update waited in the parking lot for its start; it applies right after.
        let c = be.wait_for(case.as_str(), "both versions", |c| {
            c["documents"][0]["versions"].as_array().map(Vec::len) == Some(2)
        });
        assert_eq!(c["state"], "awaiting_reply", "{c}");
    }
}

#[test]
fn an_update_that_overtakes_the_previous_version_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let be = switch(dir.path());
    let svb = signer("NL_SVB");
    let case = CaseId::random();
    let start = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &case,
        &fixture("A003"),
    );
    let version = |v: u32| {
        let mut c = start
            .clone()
            .action(CaseAction::Update)
            .document(start.header.document_id.clone(), v);
        c.message_id = eessi_switch::ids::MessageId::random().to_string();
        craft_with(&svb, &c).unwrap()
    };
    let (v1, v2, v3) = (craft_with(&svb, &start).unwrap(), version(2), version(3));
    // A redelivery carries the broker's own non-string header: not the sender's fault.
    let mut redelivered = wire(&v1);
    redelivered.non_string_headers = vec!["x-delivery-count".into()];
    assert_eq!(
        handle(&be, &redelivered),
        eessi_switch::switch::inbound::Disposition::Ack
    );
    assert_eq!(
        handle(&be, &wire(&v3)),
        eessi_switch::switch::inbound::Disposition::Ack
    );
    assert_eq!(be.store.parked_count().unwrap(), 1, "v3 waits for v2");
    assert_eq!(
        handle(&be, &wire(&v2)),
        eessi_switch::switch::inbound::Disposition::Ack
    );
    let d = be.store.case_detail(&case).unwrap().unwrap();
    assert_eq!(d.documents[0].0.latest_version, 3);
    let versions: Vec<u32> = d.documents[0].1.iter().map(|v| v.version).collect();
    assert_eq!(versions, [1, 2, 3]);
    // A sender's own non-string header is still refused.
    let mut bad = wire(&version(4));
    bad.non_string_headers = vec!["eessi-document-version".into()];
    handle(&be, &bad);
    let errors = be
        .store
        .messages(None, 100)
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == OutboxKind::Error)
        .count();
    assert_eq!(errors, 1);
}
