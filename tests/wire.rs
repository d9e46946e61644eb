//! Two real `eessi-switch serve` processes (BE and NL) on the real RabbitMQ, each
//! in its own virtual host per test: every BUC walked in both directions, national
//! delivery checked with the independent tools, and the contract's error codes
//! over the wire for hostile input, with nothing applied.

mod common;

use common::*;
use eessi_switch::harness::peer::{Craft, craft_with};
use eessi_switch::ids::{CaseAction, CaseId, DocumentId, Role};
use eessi_switch::transport::Transport;

fn id(v: &serde_json::Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_buc_in_both_directions_between_two_switches() {
    let vhost = Vhost::new("bucs");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let nl = Server::start(dir.path(), "NL", &vhost, &Retry::default());

    // LA_BUC_04, BE -> NL, from ONSS's national format through the adapter.
    let national = std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let (status, text) = post(
        &format!("{}/api/v1/national/onss-posting", be.base),
        "application/xml",
        &national,
    );
    assert_eq!(status, 202, "{text}");
    let a: serde_json::Value = serde_json::from_str(&text).unwrap();
    be.wait_message(&id(&a, "caseId"), &id(&a, "messageId"), "delivered");
    let at_nl = nl.wait_state(&id(&a, "caseId"), "notified");
    assert_eq!(at_nl["documents"][0]["sed"], "A009");
    assert_eq!(at_nl["documents"][0]["direction"], "in");

    // LA_BUC_04, NL -> BE.
    let a = nl.send("NL:SVB", "BE:ONSS", "LA_BUC_04", "A009", None, None);
    nl.wait_message(&id(&a, "caseId"), &id(&a, "messageId"), "delivered");
    be.wait_state(&id(&a, "caseId"), "notified");

    // LA_BUC_02 owned by BE: A003, disagreement A004, then approval A012, closure X001.
    let a003 = be.send("BE:INASTI", "NL:SVB", "LA_BUC_02", "A003", None, None);
    let case = id(&a003, "caseId");
    nl.wait_state(&case, "awaiting_reply");
    // Each side is offered what its BUC allows it now: the owner may update, remind
    // of or invalidate its decision, not answer it; the counterparty answers it.
    let offered = |s: &Server, who: &str| -> Vec<String> {
        let a = s.get_json(&format!("/api/v1/cases/{case}/actions"));
        let p = a["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["institution"] == who)
            .unwrap_or_else(|| panic!("{who} has no actions: {a}"))
            .clone();
        p["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                format!(
                    "{} {}",
                    x["sed"].as_str().unwrap(),
                    x["action"].as_str().unwrap()
                )
            })
            .collect()
    };
    let owner = offered(&be, "BE:INASTI");
    for want in ["A003 Update", "X009 New", "X008 New", "X001 New"] {
        assert!(owner.contains(&want.to_owned()), "{want}: {owner:?}");
    }
    assert!(
        !owner
            .iter()
            .any(|a| a.starts_with("A004") || a.starts_with("A012")),
        "{owner:?}"
    );
    let counterparty = offered(&nl, "NL:SVB");
    for want in ["A004 New", "A012 New", "X012 New"] {
        assert!(
            counterparty.contains(&want.to_owned()),
            "{want}: {counterparty:?}"
        );
    }
    assert!(
        !counterparty.contains(&"X001 New".to_owned()),
        "{counterparty:?}"
    );
    let a004 = nl.send(
        "NL:SVB",
        "BE:INASTI",
        "LA_BUC_02",
        "A004",
        Some(&case),
        Some(&id(&a003, "documentId")),
    );
    be.wait_state(&case, "disagreed");
    nl.wait_message(&case, &id(&a004, "messageId"), "delivered");
    // The approval answers the decision (A003), to its sender: a reply goes to the
    // sender of what it answers [RINA-TS §5.1.4].
    nl.send(
        "NL:SVB",
        "BE:INASTI",
        "LA_BUC_02",
        "A012",
        Some(&case),
        Some(&id(&a003, "documentId")),
    );
    be.wait_state(&case, "agreed");
    let x001 = be.send(
        "BE:INASTI",
        "NL:SVB",
        "LA_BUC_02",
        "X001",
        Some(&case),
        None,
    );
    be.wait_message(&case, &id(&x001, "messageId"), "delivered");
    let closed_nl = nl.wait_state(&case, "closed");
    assert_eq!(closed_nl["status"], "closed");
    let closed_be = be.wait_state(&case, "closed");
    assert_eq!(closed_be["documents"].as_array().unwrap().len(), 4);
    let events: Vec<&str> = closed_be["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events.iter().filter(|e| **e == "sed-sent").count(),
        2,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| **e == "sed-received").count(),
        2,
        "{events:?}"
    );
    // A closed case accepts nothing more, at the sender already.
    let body = String::from_utf8(fixture("A004")).unwrap();
    let (status, p) = nl.post_json(
        "/api/v1/documents",
        &serde_json::json!({"from": "NL:SVB", "to": "BE:INASTI", "buc": "LA_BUC_02", "sed": "A004", "caseId": case, "body": body}),
    );
    assert_eq!(status, 409, "{p}");
    assert_eq!(p["type"], "urn:problem-type:eessi-switch:protocolViolation");

    // LA_BUC_02 owned by NL, approved by BE, closed by NL.
    let a003 = nl.send("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", None, None);
    let case = id(&a003, "caseId");
    be.wait_state(&case, "awaiting_reply");
    be.send(
        "BE:ONSS",
        "NL:SVB",
        "LA_BUC_02",
        "A012",
        Some(&case),
        Some(&id(&a003, "documentId")),
    );
    nl.wait_state(&case, "agreed");
    nl.send("NL:SVB", "BE:ONSS", "LA_BUC_02", "X001", Some(&case), None);
    be.wait_state(&case, "closed");

    // H_BUC_01 both ways.
    let h001 = be.send("BE:INAMI", "NL:UWV", "H_BUC_01", "H001", None, None);
    let case = id(&h001, "caseId");
    nl.wait_state(&case, "awaiting_reply");
    nl.send(
        "NL:UWV",
        "BE:INAMI",
        "H_BUC_01",
        "H002",
        Some(&case),
        Some(&id(&h001, "documentId")),
    );
    be.wait_state(&case, "answered");
    let h001 = nl.send("NL:SVB", "BE:ONSS", "H_BUC_01", "H001", None, None);
    let case = id(&h001, "caseId");
    be.wait_state(&case, "awaiting_reply");
    let h002 = be.send(
        "BE:ONSS",
        "NL:SVB",
        "H_BUC_01",
        "H002",
        Some(&case),
        Some(&id(&h001, "documentId")),
    );
    nl.wait_state(&case, "answered");
    be.wait_message(&case, &id(&h002, "messageId"), "delivered");

    // The SED delivered to NL:SVB's national queue verifies with xmlsec1 and its
    // SED validates with xmllint, independently of this code.
    let peer = eessi_switch::transport::amqp::AmqpTransport::connect(&vhost.url())
        .await
        .unwrap();
    let mut national = peer
        .consume(&eessi_switch::transport::national_queue("NL:SVB"), 16)
        .await
        .unwrap();
    let d = tokio::time::timeout(std::time::Duration::from_secs(10), national.recv())
        .await
        .unwrap()
        .unwrap();
    d.acker.ack().await.unwrap();
    let envelope = dir.path().join("from-queue.xml");
    std::fs::write(&envelope, &d.message.body).unwrap();
    let sender = d.message.headers["eessi-from"].replace(':', "_");
    let cert = root().join(format!("fixtures/pki/{sender}.crt.pem"));
    let (ok, out) = tool(
        "xmlsec1",
        &[
            "--verify",
            "--pubkey-cert-pem",
            cert.to_str().unwrap(),
            envelope.to_str().unwrap(),
        ],
    );
    assert!(ok, "xmlsec1 refused the delivered SED: {out}");
    let (ok, out) = tool(
        "xmllint",
        &[
            "--noout",
            "--schema",
            &format!("{ROOT}/sed-schemas/envelope.xsd"),
            envelope.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let sed = d.message.headers["eessi-sed"].clone();
    let sed_only = dir.path().join("sed-only.xml");
    let (ok, xml) = tool(
        "xmllint",
        &["--xpath", "/*/*[2]", envelope.to_str().unwrap()],
    );
    assert!(ok, "{xml}");
    std::fs::write(&sed_only, xml).unwrap();
    let (ok, out) = tool(
        "xmllint",
        &[
            "--noout",
            "--schema",
            &format!("{ROOT}/sed-schemas/4.2/{sed}.xsd"),
            sed_only.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");

    // BE's submissions went out through the relay's fresh lane (handed over by the
    // committer, not claimed back from the store), and every one was delivered.
    let metrics = request("GET", &format!("{}/metrics", be.base), &[], None).body;
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("eessi_{name}_total ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert!(counter("relay_fresh_rounds") > 0, "{metrics}");
    assert!(counter("outbound_submitted") > 0, "{metrics}");
}

/// One hostile message: what the peer sends and the code it must get back.
struct Case {
    name: &'static str,
    message: eessi_switch::transport::OutMessage,
    expect: &'static str,
}

fn start(from: &str, to: &str, buc: &str, sed: &str) -> Craft {
    Craft::new(from, to, buc, sed, &CaseId::random(), &fixture(sed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_input_over_the_wire_gets_the_contract_answer_and_changes_nothing() {
    let vhost = Vhost::new("hostile");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let mut nl = Peer::new(&vhost, "NL").await;
    let svb = signer("NL_SVB");

    let good = |c: &Craft| craft_with(&svb, c).unwrap();
    let mut cases = Vec::new();

    let mut m = good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003"));
    let text = String::from_utf8(m.body.clone()).unwrap();
    m.body = text
        .replacen("<sed:FamilyName>", "<sed:FamilyName>X", 1)
        .into_bytes();
    assert_ne!(m.body, text.as_bytes(), "tampering must change the body");
    cases.push(Case {
        name: "tampered body",
        message: m,
        expect: "SIGNATURE_INVALID",
    });

    let rogue = signer("ROGUE_NL_SVB");
    cases.push(Case {
        name: "unknown signer",
        message: craft_with(&rogue, &start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003")).unwrap(),
        expect: "SIGNATURE_INVALID",
    });

    let uwv = signer("NL_UWV");
    cases.push(Case {
        name: "signed by another institution",
        message: craft_with(&uwv, &start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003")).unwrap(),
        expect: "SIGNATURE_INVALID",
    });

    let bad_date =
        std::fs::read(root().join("fixtures/sed/4.2/invalid/A003-bad-date.xml")).unwrap();
    let c = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &CaseId::random(),
        &bad_date,
    );
    cases.push(Case {
        name: "schema-invalid SED",
        message: good(&c),
        expect: "SCHEMA_INVALID",
    });

    cases.push(Case {
        name: "SED not allowed in the state (A004 starts nothing)",
        message: good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A004")),
        expect: "PROTOCOL_VIOLATION",
    });
    cases.push(Case {
        name: "counterparty cannot start",
        message: good(
            &start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003")
                .roles(Role::Counterparty, Role::CaseOwner),
        ),
        expect: "PROTOCOL_VIOLATION",
    });
    cases.push(Case {
        name: "unknown recipient",
        message: good(&start("NL:SVB", "BE:NOBODY", "LA_BUC_02", "A003")),
        expect: "UNKNOWN_RECIPIENT",
    });
    cases.push(Case {
        name: "recipient does not handle the BUC",
        message: good(&start("NL:SVB", "BE:SFP", "LA_BUC_02", "A003")),
        expect: "UNKNOWN_RECIPIENT",
    });

    let mut m = good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003"));
    m.headers.insert("eessi-sed".into(), "A004".into());
    cases.push(Case {
        name: "header differs from the envelope",
        message: m,
        expect: "MALFORMED",
    });

    let mut m = good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003"));
    m.headers.remove("eessi-document-id");
    cases.push(Case {
        name: "missing header",
        message: m,
        expect: "MALFORMED",
    });

    let mut m = good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003"));
    m.body = b"<sbdh:StandardBusinessDocument xmlns:sbdh=\"http://eessi.dgempl.ec.europa.eu/namespaces/sbdh\"><unclosed>".to_vec();
    cases.push(Case {
        name: "not well-formed",
        message: m,
        expect: "MALFORMED",
    });

    let mut m = good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003"));
    m.body = b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>".to_vec();
    cases.push(Case {
        name: "DOCTYPE with an external entity",
        message: m,
        expect: "MALFORMED",
    });

    let mut m = good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003"));
    m.body = vec![b' '; 10 * 1024 * 1024 + 1];
    cases.push(Case {
        name: "one byte over 10 MiB",
        message: m,
        expect: "TOO_LARGE",
    });

    let mut c = start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003");
    c.body = String::from_utf8(fixture("A003"))
        .unwrap()
        .replace("ns/4_2", "ns/4_1")
        .into_bytes();
    let mut m = good(&c);
    // The SED element's namespace no longer matches version 4.2.
    m.headers.insert("eessi-sed-version".into(), "4.2".into());
    cases.push(Case {
        name: "SED in the wrong namespace",
        message: m,
        expect: "MALFORMED",
    });

    let mut c = start("NL:SVB", "BE:ONSS", "LA_BUC_99", "A003");
    c.header.buc = eessi_switch::ids::BucType::parse("LA_BUC_99").unwrap();
    cases.push(Case {
        name: "unknown BUC",
        message: good(&c),
        expect: "UNSUPPORTED",
    });

    let sent: Vec<(String, &str, &str)> = {
        let mut v = Vec::new();
        for c in &cases {
            be_publish(&nl, &c.message).await;
            v.push((c.message.message_id.clone(), c.name, c.expect));
        }
        v
    };
    for (mid, name, expect) in &sent {
        eprintln!("waiting for the answer to: {name}");
        let answer = nl.answer_to(mid).await;
        assert_eq!(
            answer.kind.as_deref(),
            Some("error"),
            "{name}: expected an error, got {:?}",
            answer.kind
        );
        assert_eq!(
            answer.headers.get("eessi-error-code").map(String::as_str),
            Some(*expect),
            "{name}"
        );
        let body = String::from_utf8(answer.body.clone()).unwrap();
        assert!(
            body.contains(&format!("<sig:Code>{expect}</sig:Code>")),
            "{name}: {body}"
        );
        assert!(
            !body.contains("passwd") && !body.contains("Dupont"),
            "{name}: the error leaks input: {body}"
        );
        // The error is signed by BE's access point key, verifiably with xmlsec1.
        let f = dir.path().join("error.xml");
        std::fs::write(&f, &answer.body).unwrap();
        let (ok, out) = tool(
            "xmlsec1",
            &[
                "--verify",
                "--pubkey-cert-pem",
                &format!("{ROOT}/fixtures/pki/AP_BE.crt.pem"),
                f.to_str().unwrap(),
            ],
        );
        assert!(ok, "{name}: {out}");
    }
    // Nothing was applied.
    let cases_at_be = be.get_json("/api/v1/cases");
    assert_eq!(cases_at_be.as_array().unwrap().len(), 0, "{cases_at_be}");

    // A message without message_id cannot be answered: it is dead-lettered, not dropped.
    let mut m = good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003"));
    m.message_id = String::new();
    be_publish(&nl, &m).await;
    // The switch copies it from the dead-letter queue for operators, who can re-inject it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let dead = loop {
        let list = be.get_json("/api/v1/dead-letters");
        if let Some(d) = list.as_array().unwrap().first() {
            break d.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never listed as a dead letter"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(dead["bodyBytes"], m.body.len());
    let (ok, out) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &[
            "dead-letters",
            "list",
            "--config",
            be.config.to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("eessi.ap.BE.dead"), "{out}");
    let (ok, out) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &[
            "dead-letters",
            "reinject",
            &dead["id"].to_string(),
            "--config",
            be.config.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    // Still without a message id, it comes back to the dead-letter queue: listed twice.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while be
        .get_json("/api/v1/dead-letters")
        .as_array()
        .unwrap()
        .len()
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the re-injected message never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // The switch still serves: a valid A003 is accepted and answered with a receipt.
    let ok = start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003");
    let m = good(&ok);
    be_publish(&nl, &m).await;
    let receipt = nl.answer_to(&m.message_id).await;
    assert_eq!(receipt.kind.as_deref(), Some("receipt"));

    // A duplicate message_id gets the identical receipt, byte for byte, and no second effect.
    be_publish(&nl, &m).await;
    let again = nl.answer_to(&m.message_id).await;
    assert_eq!(again.body, receipt.body);
    assert_eq!(again.message_id, receipt.message_id);
    assert_eq!(again.headers, receipt.headers);
    // The same message_id with another body: CONFLICT.
    let mut other = good(&start("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003"));
    other.message_id = m.message_id.clone();
    be_publish(&nl, &other).await;
    let conflict = nl.answer_to(&m.message_id).await;
    assert_eq!(
        conflict.headers.get("eessi-error-code").map(String::as_str),
        Some("CONFLICT")
    );
    // The same document version under a new message_id: a receipt, no second effect;
    // with other content: CONFLICT.
    let mut replay = ok.clone();
    replay.message_id = eessi_switch::ids::MessageId::random().to_string();
    let r = good(&replay);
    be_publish(&nl, &r).await;
    assert_eq!(
        nl.answer_to(&r.message_id).await.kind.as_deref(),
        Some("receipt")
    );
    let mut changed = ok.clone();
    changed.message_id = eessi_switch::ids::MessageId::random().to_string();
    changed.body = String::from_utf8(fixture("A003"))
        .unwrap()
        .replacen("<sed:Forename>", "<sed:Forename>Y", 1)
        .into_bytes();
    let r = good(&changed);
    be_publish(&nl, &r).await;
    let a = nl.answer_to(&r.message_id).await;
    assert_eq!(
        a.headers.get("eessi-error-code").map(String::as_str),
        Some("CONFLICT")
    );

    let case = be
        .case(ok.header.case_id.as_str())
        .expect("the valid case exists");
    assert_eq!(case["documents"].as_array().unwrap().len(), 1, "{case}");
    assert_eq!(
        case["documents"][0]["versions"].as_array().unwrap().len(),
        1
    );
    let received = case["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["event"] == "sed-received")
        .count();
    assert_eq!(received, 1, "applied exactly once: {case}");
    assert_eq!(be.get_json("/api/v1/cases").as_array().unwrap().len(), 1);

    // A reply to a document not received yet is parked and acknowledged, not applied.
    let reply = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &ok.header.case_id,
        &fixture("A003"),
    )
    .action(CaseAction::New)
    .related(DocumentId::random());
    let m = good(&reply);
    be_publish(&nl, &m).await;
    let a = nl.answer_to(&m.message_id).await;
    assert_eq!(a.kind.as_deref(), Some("receipt"));
    let case = be.case(ok.header.case_id.as_str()).unwrap();
    assert_eq!(
        case["documents"].as_array().unwrap().len(),
        1,
        "parked, not applied: {case}"
    );
}

async fn be_publish(peer: &Peer, m: &eessi_switch::transport::OutMessage) {
    let outcome = peer.transport.publish(m).await.unwrap();
    assert_eq!(outcome, eessi_switch::transport::PublishOutcome::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sed_without_receipt_is_retransmitted_then_failed_and_the_institution_told() {
    let vhost = Vhost::new("retry");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(
        dir.path(),
        "BE",
        &vhost,
        &Retry {
            interval_ms: 300,
            attempts_max: 3,
            window_ms: 20_000,
        },
    );
    // DE's inbox does not exist: every publish comes back as a return.
    let a = be.send("BE:ONSS", "DE:TK", "LA_BUC_02", "A003", None, None);
    let case = id(&a, "caseId");
    be.wait_message(&case, &id(&a, "messageId"), "failed");
    let c = be.case(&case).unwrap();
    let m = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "sed")
        .unwrap()
        .clone();
    assert_eq!(m["attempts"], 3, "{m}");
    assert!(m["lastError"].as_str().unwrap().contains("returned"), "{m}");
    assert!(
        c["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["event"] == "failed")
    );
    // The failure notice reaches ONSS's national queue.
    let t = eessi_switch::transport::amqp::AmqpTransport::connect(&vhost.url())
        .await
        .unwrap();
    let mut q = t
        .consume(&eessi_switch::transport::national_queue("BE:ONSS"), 4)
        .await
        .unwrap();
    let d = tokio::time::timeout(std::time::Duration::from_secs(10), q.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message.kind.as_deref(), Some("notice"));
    assert_eq!(
        d.message.headers.get("eessi-ref-to-message-id"),
        Some(&id(&a, "messageId"))
    );
    d.acker.ack().await.unwrap();
    // The failed message is listed for handlers.
    let failed = be.get_json("/api/v1/messages?status=failed");
    assert_eq!(failed["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_peer_receives_a_retransmission_with_the_same_message_id_when_it_stays_silent() {
    let vhost = Vhost::new("silent");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(
        dir.path(),
        "BE",
        &vhost,
        &Retry {
            interval_ms: 500,
            attempts_max: 4,
            window_ms: 30_000,
        },
    );
    let mut nl = Peer::new(&vhost, "NL").await;
    let a = be.send("BE:ONSS", "NL:SVB", "LA_BUC_02", "A003", None, None);
    let first = nl.next().await;
    let second = nl.next().await;
    assert_eq!(first.message_id, second.message_id);
    assert_eq!(first.body, second.body);
    assert_eq!(
        first.message_id.as_deref(),
        Some(id(&a, "messageId").as_str())
    );
    // Now NL answers with a valid receipt signed by its access point: delivered.
    let h = &first.headers;
    let receipt = eessi_switch::sed::signal::render_receipt(
        &eessi_switch::ids::MessageId::parse(first.message_id.as_deref().unwrap()).unwrap(),
        &DocumentId::parse(&h["eessi-document-id"]).unwrap(),
        1,
        &eessi_switch::switch::sha256_b64(&first.body),
        "2026-11-27T10:15:01Z",
    );
    let body = eessi_switch::signing::sign(receipt.as_bytes(), &signer("AP_NL")).unwrap();
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("eessi-from".to_owned(), "NL".to_owned());
    headers.insert("eessi-to".to_owned(), "BE:ONSS".to_owned());
    headers.insert("eessi-case-id".to_owned(), h["eessi-case-id"].clone());
    headers.insert(
        "eessi-ref-to-message-id".to_owned(),
        first.message_id.clone().unwrap(),
    );
    let m = eessi_switch::transport::OutMessage {
        exchange: "eessi.ap".into(),
        routing_key: "BE".into(),
        message_id: eessi_switch::ids::MessageId::random().to_string(),
        kind: "receipt".into(),
        timestamp: 0,
        headers,
        body,
    };
    be_publish(&nl, &m).await;
    be.wait_message(&id(&a, "caseId"), &id(&a, "messageId"), "delivered");
}

fn send_body(s: &Server, req: serde_json::Value) -> serde_json::Value {
    let (status, answer) = s.post_json("/api/v1/documents", &req);
    assert_eq!(status, 202, "{req}: {answer}");
    answer
}

fn participants(c: &serde_json::Value) -> Vec<String> {
    let mut p: Vec<String> = c["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["institution"].as_str().unwrap().to_owned())
        .collect();
    p.sort();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multilateral_case_with_update_participants_invalidation_closure_and_reopening() {
    let vhost = Vhost::new("admin");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let nl = Server::start(dir.path(), "NL", &vhost, &Retry::default());
    let sed = |name: &str| String::from_utf8(fixture(name)).unwrap();

    // H001 to NL:SVB, then an Update (version 2) of the same document.
    let h001 = be.send("BE:ONSS", "NL:SVB", "H_BUC_01", "H001", None, None);
    let case = id(&h001, "caseId");
    let doc = id(&h001, "documentId");
    nl.wait_state(&case, "awaiting_reply");
    let v2 = send_body(
        &be,
        serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "H_BUC_01", "sed": "H001", "caseId": case, "documentId": doc, "body": sed("H001").replace("2026-", "2027-")}),
    );
    assert_eq!(v2["documentVersion"], 2);
    let at_nl = nl.wait_for(&case, "version 2 arrives", |c| {
        c["documents"][0]["versions"].as_array().unwrap().len() == 2
    });
    assert_eq!(at_nl["documents"][0]["latestVersion"], 2);

    // X005 adds NL:UWV; the case owner then opens the conversation with it (Start).
    send_body(
        &be,
        serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "H_BUC_01", "sed": "X005", "caseId": case, "body": sed("X005").replace("DE:DRV", "NL:UWV")}),
    );
    nl.wait_for(&case, "NL:UWV joins", |c| {
        participants(c).contains(&"NL:UWV".to_owned())
    });
    assert!(participants(&be.case(&case).unwrap()).contains(&"NL:UWV".to_owned()));
    let to_uwv = send_body(
        &be,
        serde_json::json!({"from": "BE:ONSS", "to": "NL:UWV", "buc": "H_BUC_01", "sed": "H001", "caseId": case, "body": sed("H001")}),
    );
    be.wait_message(&case, &id(&to_uwv, "messageId"), "delivered");
    nl.wait_for(&case, "the second conversation", |c| {
        c["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["receiver"] == "NL:UWV")
    });
    // Each counterparty has its own conversation, in its own state.
    let conversations = |c: &serde_json::Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = c["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["counterparty"].as_str().unwrap().to_owned(),
                    x["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let both = |s: &str| {
        vec![
            ("NL:SVB".to_owned(), s.to_owned()),
            ("NL:UWV".to_owned(), "awaiting_reply".to_owned()),
        ]
    };
    assert_eq!(
        conversations(&be.case(&case).unwrap()),
        both("awaiting_reply")
    );
    // X006 removes it again, on both sides.
    send_body(
        &be,
        serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "H_BUC_01", "sed": "X006", "caseId": case, "body": sed("X006").replace("DE:DRV", "NL:UWV")}),
    );
    nl.wait_for(&case, "NL:UWV leaves", |c| {
        !participants(c).contains(&"NL:UWV".to_owned())
    });
    be.wait_for(&case, "NL:UWV leaves", |c| {
        !participants(c).contains(&"NL:UWV".to_owned())
    });

    // NL:SVB approves (H002), then invalidates its approval (X008): cancelled on both sides,
    // and it can no longer be answered.
    let h002 = send_body(
        &nl,
        serde_json::json!({"from": "NL:SVB", "to": "BE:ONSS", "buc": "H_BUC_01", "sed": "H002", "caseId": case, "relatedDocumentId": doc, "body": sed("H002")}),
    );
    be.wait_state(&case, "answered");
    // NL:SVB answered; NL:UWV's conversation still awaits its answer.
    assert_eq!(conversations(&be.case(&case).unwrap()), both("answered"));
    let h002_doc = id(&h002, "documentId");
    send_body(
        &nl,
        serde_json::json!({"from": "NL:SVB", "to": "BE:ONSS", "buc": "H_BUC_01", "sed": "X008", "caseId": case, "relatedDocumentId": h002_doc, "body": sed("X008")}),
    );
    let at_be = be.wait_for(&case, "the H002 is cancelled", |c| {
        c["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["documentId"] == h002_doc.as_str() && d["status"] == "cancelled")
    });
    assert!(
        at_be["history"].as_array().unwrap().iter().any(
            |h| h["event"] == "effect" && h["detail"].as_str().unwrap().contains("invalidated")
        )
    );
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "H_BUC_01", "sed": "X010", "caseId": case, "relatedDocumentId": h002_doc, "body": sed("X010")}));
    assert_eq!(status, 409, "answering an invalidated document: {p}");

    // Closure, then reopening: X002 request, X003 reply, X004 back to the state before.
    send_body(
        &be,
        serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "H_BUC_01", "sed": "X001", "caseId": case, "body": sed("X001")}),
    );
    nl.wait_state(&case, "closed");
    let x002 = send_body(
        &nl,
        serde_json::json!({"from": "NL:SVB", "to": "BE:ONSS", "buc": "H_BUC_01", "sed": "X002", "caseId": case, "body": sed("X002")}),
    );
    be.wait_for(&case, "X002 arrives", |c| {
        c["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["sed"] == "X002")
    });
    assert_eq!(be.case(&case).unwrap()["state"], "closed");
    send_body(
        &be,
        serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "H_BUC_01", "sed": "X003", "caseId": case, "relatedDocumentId": id(&x002, "documentId"), "body": sed("X003")}),
    );
    nl.wait_for(&case, "X003 arrives", |c| {
        c["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["sed"] == "X003")
    });
    // The requester decides, once every other participant answered [RINA-TS §6.2.2.42];
    // the case owner may not (it did not ask).
    let (status, p) = be.post_json(
        "/api/v1/documents",
        &serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "H_BUC_01", "sed": "X004", "caseId": case, "body": sed("X004")}),
    );
    assert_eq!(
        status, 409,
        "X004 from a participant that did not ask to reopen: {p}"
    );
    send_body(
        &nl,
        serde_json::json!({"from": "NL:SVB", "to": "BE:ONSS", "buc": "H_BUC_01", "sed": "X004", "caseId": case, "body": sed("X004")}),
    );
    let reopened = be.wait_state(&case, "answered");
    assert_eq!(reopened["status"], "open");
    assert_eq!(nl.wait_state(&case, "answered")["status"], "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_within_its_bound_and_a_restart_loses_nothing() {
    let vhost = Vhost::new("term");
    let dir = tempfile::tempdir().unwrap();
    let mut be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let mut cases = Vec::new();
    for _ in 0..5 {
        // NL has no inbox yet: every SED is returned and stays in the outbox, retrying.
        cases.push(id(
            &be.send("BE:ONSS", "NL:SVB", "LA_BUC_02", "A003", None, None),
            "caseId",
        ));
    }
    let started = std::time::Instant::now();
    let (ok, out) = tool("kill", &["-TERM", &be.child.id().to_string()]);
    assert!(ok, "{out}");
    let status = be.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}\n{}", be.log());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(be.log().contains("stopped cleanly"), "{}", be.log());
    // Restart on the same store: every case and every message is still there.
    let config = be.config.clone();
    let port: u16 = be.base.rsplit(':').next().unwrap().parse().unwrap();
    drop(be);
    let be = Server::spawn(dir.path(), "BE", config, port);
    for c in &cases {
        let case = be.case(c).expect("the case survived the restart");
        assert_eq!(
            case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["kind"] == "sed")
                .count(),
            1
        );
    }
    // Once NL's access point exists, the outbox delivers them.
    let _nl = Server::start(dir.path(), "NL", &vhost, &Retry::default());
    for c in &cases {
        be.wait_for(c, "delivery after the restart", |case| {
            case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["kind"] == "sed" && m["status"] == "delivered")
        });
    }
}
