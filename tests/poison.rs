//! The poison path, end to end, with the test-only fault hook (feature
//! `fault-hooks`): a delivery whose handling always panics is redelivered up to the
//! inbox's `x-delivery-limit`, lands in `eessi.ap.BE.dead`, is listed for operators
//! and, once the fault is gone, re-injected and applied. The switch stays UP.
#![cfg(feature = "fault-hooks")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use eessi_switch::harness::peer::{Craft, craft_with};
use eessi_switch::ids::CaseId;
use eessi_switch::transport::{PublishOutcome, Transport};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_that_always_fails_is_dead_lettered_listed_and_reinjected() {
    let vhost = Vhost::new("poison");
    let dir = tempfile::tempdir().unwrap();
    let mut peer = Peer::new(&vhost, "NL").await;
    let case = CaseId::random();
    let m = craft_with(
        &signer("NL_SVB"),
        &Craft::new(
            "NL:SVB",
            "BE:ONSS",
            "LA_BUC_02",
            "A003",
            &case,
            &fixture("A003"),
        ),
    )
    .unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut be = Server::spawn_env(
        dir.path(),
        "BE",
        config.clone(),
        port,
        &[("EESSI_FAULT_PANIC_ON", m.message_id.as_str())],
    );
    assert_eq!(
        peer.transport.publish(&m).await.unwrap(),
        PublishOutcome::Confirmed
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let dead = loop {
        let list = be.get_json("/api/v1/dead-letters");
        if let Some(d) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["messageId"] == m.message_id.as_str())
        {
            break d.clone();
        }
        assert!(
            Instant::now() < deadline,
            "never dead-lettered; log:\n{}",
            be.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(dead["queue"], "eessi.ap.BE.dead");
    let log = be.log();
    // Redelivered up to the limit (20): each attempt panicked and was requeued.
    let attempts = log.matches("handling a delivery panicked").count();
    assert!(attempts >= 20, "{attempts} attempts; log:\n{log}");
    // One message's problem: the switch is UP and the case was never touched.
    assert_eq!(be.get_json("/health")["status"], "UP");
    assert!(be.case(&case.to_string()).is_none());

    // The fault is fixed (a restart without it); the operator re-injects it.
    be.kill();
    let be = Server::spawn(dir.path(), "BE", config, port);
    let answer = request(
        "POST",
        &format!("{}/api/v1/dead-letters/{}/reinject", be.base, dead["id"]),
        &[],
        None,
    );
    assert_eq!(answer.status, 202, "{answer:?}");
    let receipt = tokio::time::timeout(Duration::from_secs(30), peer.answer_to(&m.message_id))
        .await
        .expect("an answer to the re-injected SED");
    assert_eq!(receipt.kind.as_deref(), Some("receipt"));
    be.wait_state(&case.to_string(), "awaiting_reply");
}
