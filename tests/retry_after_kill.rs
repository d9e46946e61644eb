//! A kill between a submission's commit and its answer (issue 10, item 6): `serve`
//! aborts right after the group commit (test-only hook `EESSI_FAULT_ABORT_AFTER_COMMIT`,
//! feature `fault-hooks`), so the client gets no answer; it restarts on the same
//! database and the client retries. The retry must be answered with the ids the
//! lost answer had (`Idempotent-Replayed: true`), and the store must hold one case:
//! for a national message with the institution's reference, and for a Start under
//! the client's case id with neither a key nor a reference.
#![cfg(feature = "fault-hooks")]

mod common;

use common::*;

const HOOK: &str = "EESSI_FAULT_ABORT_AFTER_COMMIT";

/// A POST that may get no answer at all (the server dies on it).
fn post_or_nothing(url: &str, content_type: &str, body: &[u8]) -> Option<Answer> {
    try_request("POST", url, &[("content-type", content_type)], Some(body))
}

/// Start BE with the abort hook on `id`; send `body` to `path`, which kills it
/// after the commit; start it again on the same database (hook still set: a
/// replay commits nothing and does not abort); retry. Returns the retry's answer
/// and the restarted server.
fn killed_then_retried(
    tag: &str,
    id: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (Answer, Server, Vhost, tempfile::TempDir) {
    let vhost = Vhost::new(tag);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut be = Server::spawn_env(dir.path(), "BE", config.clone(), port, &[(HOOK, id)]);
    let url = format!("{}{path}", be.base);
    let lost = post_or_nothing(&url, content_type, body);
    assert!(lost.is_none(), "answered although killed: {lost:?}");
    let status = be.child.wait().unwrap();
    assert!(!status.success(), "serve did not die: {status:?}");
    assert!(
        be.log().contains("fault hook: aborting after a commit"),
        "{}",
        be.log()
    );
    drop(be);
    let be = Server::spawn_env(dir.path(), "BE", config, port, &[(HOOK, id)]);
    let retry = post_or_nothing(&url, content_type, body).expect("the retry is answered");
    (retry, be, vhost, dir)
}

/// The one case the store holds, and its one document.
fn the_one_case(be: &Server) -> serde_json::Value {
    let cases = be.get_json("/api/v1/cases");
    assert_eq!(cases.as_array().unwrap().len(), 1, "{cases}");
    let case = be
        .case(cases[0]["caseId"].as_str().unwrap())
        .expect("the case");
    assert_eq!(case["documents"].as_array().unwrap().len(), 1, "{case}");
    case
}

/// The retry's ids are those the committed submission has: case, document,
/// version and the SED's message id.
fn assert_answer_names(retry: &Answer, case: &serde_json::Value) {
    assert_eq!(retry.status, 202, "{retry:?}");
    assert_eq!(
        retry.header("idempotent-replayed"),
        Some("true"),
        "{retry:?}"
    );
    let a: serde_json::Value = serde_json::from_str(&retry.body).unwrap();
    let doc = &case["documents"][0];
    assert_eq!(a["caseId"], case["caseId"], "{a} / {case}");
    assert_eq!(a["documentId"], doc["documentId"], "{a} / {case}");
    assert_eq!(a["documentVersion"], 1);
    assert_eq!(
        a["messageId"], doc["versions"][0]["messageId"],
        "{a} / {case}"
    );
    let sed_messages: Vec<&serde_json::Value> = case["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "sed")
        .collect();
    assert_eq!(sed_messages.len(), 1, "{case}");
    assert_eq!(sed_messages[0]["messageId"], a["messageId"]);
}

#[test]
fn a_national_message_with_a_reference_retried_after_a_kill_is_answered_once() {
    let reference = "LIMOSA-KILL-1";
    let body = std::fs::read_to_string(root().join("fixtures/national/onss-posting.xml"))
        .unwrap()
        .replace(
            "<Receiver>NL:SVB</Receiver>",
            &format!("<Receiver>NL:SVB</Receiver>\n  <Reference>{reference}</Reference>"),
        );
    let (retry, be, _vhost, _dir) = killed_then_retried(
        "kill-ref",
        reference,
        "/api/v1/national/onss-posting",
        "application/xml",
        body.as_bytes(),
    );
    let case = the_one_case(&be);
    assert_answer_names(&retry, &case);
}

#[test]
fn a_start_under_its_case_id_retried_after_a_kill_is_answered_once() {
    let case_id = "6b1d1d8c0e2a4f7e9c3b5a7d9e1f3a5c";
    let a009 = String::from_utf8(fixture("A009")).unwrap();
    let start = |body: &str| {
        serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_04", "sed": "A009",
            "caseId": case_id, "body": body})
        .to_string()
    };
    let (retry, be, _vhost, _dir) = killed_then_retried(
        "kill-start",
        case_id,
        "/api/v1/documents",
        "application/json",
        start(&a009).as_bytes(),
    );
    let case = the_one_case(&be);
    assert_eq!(case["caseId"], case_id);
    assert_answer_names(&retry, &case);
    // Another Start under that case id: the id is taken, which is not a protocol
    // refusal; nothing is added.
    let other = a009.replace("Janssens", "Jans");
    assert_ne!(other, a009);
    let p = request(
        "POST",
        &format!("{}/api/v1/documents", be.base),
        &[("content-type", "application/json")],
        Some(start(&other).as_bytes()),
    )
    .assert_problem(409);
    assert_eq!(p["type"], "urn:problem-type:eessi-switch:caseExists", "{p}");
    the_one_case(&be);
}
