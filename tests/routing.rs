//! Inbound routing against a real `eessi-switch serve` on the real RabbitMQ: a
//! foreign access point (played here, signing as NL) sends SEDs to Belgium, and
//! each reaches the national queue(s) the rules in `routing/belgium.toml` name,
//! once; a SED addressed to the CBSS waits in triage until an operator assigns it
//! over the API. The `routing check` command passes on the shipped rules and lists
//! every problem of a broken file.

mod common;

use std::time::Duration;

use common::*;
use eessi_switch::harness::peer::{Craft, craft_with};
use eessi_switch::ids::CaseId;
use eessi_switch::transport::{Transport, WireMessage};

/// Publish a SED signed by NL:SVB to BE's inbox; the receipt comes back.
async fn send(nl: &mut Peer, to: &str, buc: &str, sed: &str, body: &str) -> (CaseId, WireMessage) {
    let case = CaseId::random();
    let craft = Craft::new("NL:SVB", to, buc, sed, &case, body.as_bytes());
    let m = craft_with(&signer("NL_SVB"), &craft).unwrap();
    let outcome = nl.transport.publish(&m).await.unwrap();
    assert_eq!(outcome, eessi_switch::transport::PublishOutcome::Confirmed);
    let answer = nl.answer_to(&craft.message_id).await;
    assert_eq!(
        answer.kind.as_deref(),
        Some("receipt"),
        "{:?}",
        answer.headers
    );
    (case, m.delivered())
}

/// The next delivery on an institution's national queue (acked).
async fn next_delivery(t: &impl Transport, institution: &str) -> WireMessage {
    let mut q = t
        .consume(&eessi_switch::transport::national_queue(institution), 8)
        .await
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(20), q.recv())
        .await
        .unwrap_or_else(|_| panic!("nothing reached {institution} within 20 s"))
        .unwrap();
    d.acker.ack().await.unwrap();
    d.message
}

fn national_rows(be: &Server, case: &CaseId) -> Vec<serde_json::Value> {
    be.case(case.as_str()).expect("the case")["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "national")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn received_seds_reach_the_institutions_the_rules_name_and_unplaced_ones_wait_in_triage() {
    let vhost = Vhost::new("routing");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let mut nl = Peer::new(&vhost, "NL").await;
    let queues = eessi_switch::transport::amqp::AmqpTransport::connect(&vhost.url())
        .await
        .unwrap();

    // Family benefits addressed to Family Benefits Belgium, the child living in
    // Namur (5000): the Walloon body receives it, the envelope as it arrived.
    let f001 = String::from_utf8(fixture("F001")).unwrap().replace(
        "<sed:PostalCode>9000</sed:PostalCode>",
        "<sed:PostalCode>5000</sed:PostalCode>",
    );
    let (case, sent) = send(&mut nl, "BE:FBB", "FB_BUC_01", "F001", &f001).await;
    let d = next_delivery(&queues, "BE:FAMIWAL").await;
    assert_eq!(d.headers["eessi-case-id"], case.as_str());
    assert_eq!(d.body, sent.body);
    assert!(
        d.headers["eessi-routing"].contains("Wallonia"),
        "{:?}",
        d.headers
    );
    assert_eq!(national_rows(&be, &case).len(), 1);

    // An art. 13(3) decision addressed to ONSS: ONSS and INASTI, each once.
    let a003 = String::from_utf8(fixture("A003"))
        .unwrap()
        .replace("<sed:RelevantArticle>13_1_a<", "<sed:RelevantArticle>13_3<");
    let (case, _) = send(&mut nl, "BE:ONSS", "LA_BUC_02", "A003", &a003).await;
    let onss = next_delivery(&queues, "BE:ONSS").await;
    let inasti = next_delivery(&queues, "BE:INASTI").await;
    assert_eq!(onss.headers["eessi-case-id"], case.as_str());
    assert_eq!(inasti.headers["eessi-case-id"], case.as_str());
    assert_ne!(onss.message_id, inasti.message_id);
    let rows = national_rows(&be, &case);
    assert_eq!(rows.len(), 2, "{rows:?}");

    // Addressed to the CBSS: accepted (the receipt above), in triage, delivered
    // to nobody until an operator assigns it.
    let h001 = String::from_utf8(fixture("H001")).unwrap();
    let (case, sent) = send(&mut nl, "BE:CBSS", "H_BUC_01", "H001", &h001).await;
    let waiting = be.get_json("/api/v1/triage?status=waiting");
    let entries = waiting.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{waiting}");
    assert_eq!(entries[0]["caseId"], case.as_str());
    assert_eq!(entries[0]["addressed"], "BE:CBSS");
    assert!(national_rows(&be, &case).is_empty());
    let health = be.get_json("/health");
    assert_eq!(health["triageWaiting"], 1, "{health}");
    let triage_id = entries[0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/triage/{triage_id}/assign");
    let (status, body) = be.post_json(&path, &serde_json::json!({"institution": "BE:FONS"}));
    assert_eq!(status, 422, "FONS is not competent for H_BUC_01: {body}");
    let (status, body) = be.post_json(&path, &serde_json::json!({"institution": "BE:ONSS"}));
    assert_eq!(status, 200, "{body}");
    let d = next_delivery(&queues, "BE:ONSS").await;
    assert_eq!(d.headers["eessi-case-id"], case.as_str());
    assert_eq!(d.body, sent.body);
    assert_eq!(d.message_id.as_deref(), body["deliveryMessageId"].as_str());
    // Once: a second assignment is a conflict and delivers nothing.
    let (status, problem) = be.post_json(&path, &serde_json::json!({"institution": "BE:SFP"}));
    assert_eq!(status, 409, "{problem}");
    assert_eq!(national_rows(&be, &case).len(), 1);
    let audit = be.get_json("/api/v1/audit");
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "triage-assign"),
        "{audit}"
    );
    let entry = be.get_json(&format!("/api/v1/triage/{triage_id}"));
    assert_eq!(entry["status"], "delivered");
    assert_eq!(entry["assignedTo"], "BE:ONSS");
    let (status, _) = try_get(&format!("{}/api/v1/triage?status=lost", be.base)).unwrap();
    assert_eq!(status, 400);

    // The CLI sees the same queue on the same store.
    let (ok, out) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &[
            "triage",
            "list",
            "--all",
            "--config",
            dir.path().join("be.toml").to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("delivered H_BUC_01 H001"), "{out}");
    assert!(out.contains("(assigned to BE:ONSS)"), "{out}");
}

#[test]
fn routing_check_passes_on_the_shipped_rules_and_lists_every_problem_of_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "BE",
        "amqp://127.0.0.1:1/%2f",
        free_port(),
        &Retry::default(),
    );
    let check = |config: &std::path::Path| {
        tool(
            env!("CARGO_BIN_EXE_eessi-switch"),
            &["routing", "check", "--config", config.to_str().unwrap()],
        )
    };
    let (ok, out) = check(&config);
    assert!(ok, "{out}");
    assert!(out.contains("rules OK"), "{out}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[[rule]]\nname = \"all\"\ndeliver = [\"addressed\"]\n\n\
         [[rule]]\nname = \"never\"\nbuc = [\"LA_BUC_*\"]\ndeliver = [\"BE:NOBODY\"]\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("{}/routing/belgium.toml", root().display()),
        broken.to_str().unwrap(),
    );
    std::fs::write(&config, text).unwrap();
    let (ok, out) = check(&config);
    assert!(!ok, "{out}");
    assert!(
        out.contains("rule \"never\": deliver BE:NOBODY is not an institution of BE"),
        "{out}"
    );
    assert!(
        out.contains("rule \"never\": unreachable: rule \"all\""),
        "{out}"
    );
    assert!(out.contains("2 problem(s)"), "{out}");
}
