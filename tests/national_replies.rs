//! Replies and updates through national formats, end to end on real `serve`
//! processes: a national message answering a received SED, or updating a sent
//! one, goes through the same submission path as `POST /api/v1/documents` with
//! `relatedDocumentId` / `documentId`, so the BUC's rules and refusals are the
//! same (issue 10, item 5).

mod common;

use common::*;

/// Grant the reply adapters to the institutions the tests send as.
fn grant_reply_adapters(config: &std::path::Path) {
    let text = std::fs::read_to_string(config).unwrap();
    let start = text.find("adapter_grants = ").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let grants = "adapter_grants = { \"onss-posting\" = [\"BE:ONSS\"], \
                  \"onss-disagreement\" = [\"BE:ONSS\"], \"inasti-decision\" = [\"BE:INASTI\"] }";
    std::fs::write(
        config,
        format!("{}{grants}{}", &text[..start], &text[end..]),
    )
    .unwrap();
}

fn national(be: &Server, adapter: &str, body: &str) -> Answer {
    request(
        "POST",
        &format!("{}/api/v1/national/{adapter}", be.base),
        &[("content-type", "application/xml")],
        Some(body.as_bytes()),
    )
}

fn sed_route(be: &Server, req: serde_json::Value) -> Answer {
    request(
        "POST",
        &format!("{}/api/v1/documents", be.base),
        &[("content-type", "application/json")],
        Some(req.to_string().as_bytes()),
    )
}

fn json(a: &Answer) -> serde_json::Value {
    serde_json::from_str(&a.body).unwrap_or_else(|_| panic!("not JSON: {a:?}"))
}

fn s(v: &serde_json::Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_owned()
}

/// The golden ONSS disagreement, sent to NL:SVB in `case`, answering `answers`.
fn disagreement(case: &str, answers: &str, reference: &str) -> String {
    let golden =
        std::fs::read_to_string(root().join("adapters/onss-disagreement/golden/national.xml"))
            .unwrap();
    let out = golden
        .replace(
            "<Receiver>FR:URSSAF</Receiver>",
            "<Receiver>NL:SVB</Receiver>",
        )
        .replace("0123456789abcdef0123456789abcdef", case)
        .replace("fedcba9876543210fedcba9876543210", answers)
        .replace("ONSS-DIS-2026-000123", reference);
    assert!(out.contains(case) && out.contains(answers) && out.contains(reference));
    out
}

/// The same problem (type, status, title, detail) by both routes.
fn same_problem(national: &Answer, sed: &Answer, status: u16) -> serde_json::Value {
    let (n, s) = (national.assert_problem(status), sed.assert_problem(status));
    for field in ["type", "status", "title", "detail", "issues"] {
        assert_eq!(n[field], s[field], "{field}: national {n} / SED {s}");
    }
    n
}

#[test]
fn a_national_reply_or_update_follows_the_buc_rules_of_a_sed_submission() {
    let vhost = Vhost::new("replies");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    grant_reply_adapters(&config);
    let be = Server::spawn(dir.path(), "BE", config, port);
    let nl = Server::start(dir.path(), "NL", &vhost, &Retry::default());

    // NL decides (A003); BE:ONSS receives it and disagrees in its national format.
    let a003 = nl.send("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", None, None);
    let (case, a003_id) = (s(&a003, "caseId"), s(&a003, "documentId"));
    be.wait_state(&case, "awaiting_reply");
    let reply = national(
        &be,
        "onss-disagreement",
        &disagreement(&case, &a003_id, "DIS-1"),
    );
    assert_eq!(reply.status, 202, "{reply:?}");
    let reply = json(&reply);
    assert_eq!(s(&reply, "caseId"), case);
    be.wait_message(&case, &s(&reply, "messageId"), "delivered");
    let at_nl = nl.wait_state(&case, "disagreed");
    let a004 = at_nl["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["sed"] == "A004")
        .expect("NL holds the A004");
    assert_eq!(a004["documentId"], reply["documentId"]);
    assert_eq!(a004["relatedDocumentId"], a003_id.as_str(), "{a004}");

    // A reply naming a document the case does not hold: the SED route's 400 with a
    // referencedResourceNotFound issue.
    let nowhere = "00000000000000000000000000000abc";
    let a004_body = String::from_utf8(fixture("A004")).unwrap();
    let sed_reply = |related: &str| {
        serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A004",
            "caseId": case, "relatedDocumentId": related, "body": a004_body})
    };
    let p = same_problem(
        &national(
            &be,
            "onss-disagreement",
            &disagreement(&case, nowhere, "DIS-2"),
        ),
        &sed_route(&be, sed_reply(nowhere)),
        400,
    );
    assert_eq!(p["issues"][0]["name"], "relatedDocumentId", "{p}");
    assert!(
        p["issues"][0]["detail"].as_str().unwrap().contains(nowhere),
        "{p}"
    );
    // A reply the BUC does not allow now (the case is disagreed; an A004 may not
    // answer an A004 either): the SED route's 409.
    let own = s(&reply, "documentId");
    let p = same_problem(
        &national(
            &be,
            "onss-disagreement",
            &disagreement(&case, &own, "DIS-3"),
        ),
        &sed_route(&be, sed_reply(&own)),
        409,
    );
    assert_eq!(p["type"], "urn:problem-type:eessi-switch:protocolViolation");
    // Refused replies made nothing, and left their references free.
    let at_be = be.case(&case).unwrap();
    assert_eq!(at_be["documents"].as_array().unwrap().len(), 2, "{at_be}");
    assert_eq!(at_be["state"], "disagreed");

    // An update of a sent document, through the national format: version 2 of it.
    let posting =
        std::fs::read_to_string(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let first = national(&be, "onss-posting", &posting);
    assert_eq!(first.status, 202, "{first:?}");
    let first = json(&first);
    let (case, doc) = (s(&first, "caseId"), s(&first, "documentId"));
    let update = posting.replace(
        "<Receiver>NL:SVB</Receiver>",
        &format!(
            "<Receiver>NL:SVB</Receiver>\n  <CaseId>{case}</CaseId>\n  \
             <UpdatesDocumentId>{doc}</UpdatesDocumentId>"
        ),
    );
    let v2 = national(&be, "onss-posting", &update);
    assert_eq!(v2.status, 202, "{v2:?}");
    let v2 = json(&v2);
    assert_eq!(
        (s(&v2, "caseId"), s(&v2, "documentId")),
        (case.clone(), doc)
    );
    assert_eq!(v2["documentVersion"], 2, "{v2}");
    be.wait_message(&case, &s(&v2, "messageId"), "delivered");
    let at_nl = nl.wait_state(&case, "notified");
    let versions: Vec<u64> = at_nl["documents"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2], "{at_nl}");
    // Updating a document the case does not hold: the SED route's 400 again.
    let p = same_problem(
        &national(
            &be,
            "onss-posting",
            &update.replace(&s(&v2, "documentId"), nowhere),
        ),
        &sed_route(
            &be,
            serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_04", "sed": "A009",
                "caseId": case, "documentId": nowhere,
                "body": String::from_utf8(fixture("A009")).unwrap()}),
        ),
        400,
    );
    assert_eq!(p["issues"][0]["name"], "documentId", "{p}");
    assert!(
        p["issues"][0]["detail"].as_str().unwrap().contains(nowhere),
        "{p}"
    );
}

/// The institution's reference over HTTP: the same message again is answered with
/// the first ids (`Idempotent-Replayed: true`), another message under it is a 409
/// problem of its own type, distinct from the header key's 422.
#[test]
fn a_national_reference_is_answered_once_and_not_reused() {
    let vhost = Vhost::new("reference");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let posting = std::fs::read_to_string(root().join("fixtures/national/onss-posting.xml"))
        .unwrap()
        .replace(
            "<Receiver>NL:SVB</Receiver>",
            "<Receiver>NL:SVB</Receiver>\n  <Reference>LIMOSA-2026-1</Reference>",
        );
    let first = national(&be, "onss-posting", &posting);
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = national(&be, "onss-posting", &posting);
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(json(&again), json(&first));
    let other = posting.replace("<LastName>Janssens</LastName>", "<LastName>Jans</LastName>");
    assert_ne!(other, posting);
    let p = national(&be, "onss-posting", &other).assert_problem(409);
    assert_eq!(p["type"], "urn:problem-type:eessi-switch:referenceReused");
    assert_eq!(be.get_json("/api/v1/cases").as_array().unwrap().len(), 1);
}
