//! The national side over HTTP against a real `eessi-switch serve`: bad input gets
//! `application/problem+json` with every issue located and changes nothing; the
//! OpenAPI document and the web pages are served.

mod common;

use common::*;

fn problem(status: u16, text: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(v["status"], status, "{v}");
    assert!(
        v["type"].as_str().unwrap().starts_with("urn:problem-type:"),
        "{v}"
    );
    v
}

#[test]
fn bad_national_input_is_refused_with_located_issues_and_nothing_changes() {
    let vhost = Vhost::new("api");
    let dir = tempfile::tempdir().unwrap();
    let be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let url = format!("{}/api/v1/national/onss-posting", be.base);

    for entry in std::fs::read_dir(root().join("fixtures/national/invalid")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.starts_with("onss-posting") {
            continue;
        }
        let (status, text) = post(&url, "application/xml", &std::fs::read(&path).unwrap());
        assert_eq!(status, 400, "{name}: {text}");
        let p = problem(400, &text);
        assert_eq!(p["type"], "urn:problem-type:belgif:badRequest");
        let issues = p["issues"].as_array().unwrap();
        assert!(!issues.is_empty(), "{name}: {p}");
        assert!(
            issues
                .iter()
                .all(|i| i["in"] == "body" && i["name"].is_string() && i["detail"].is_string()),
            "{name}: {p}"
        );
        assert!(
            !text.contains("/etc/passwd") || name.contains("doctype"),
            "{name} leaks input: {text}"
        );
    }
    // A schema-invalid SED body names every violation with its line and element.
    let bad = std::fs::read_to_string(
        root().join("fixtures/sed/4.2/invalid/A003-missing-familyname.xml"),
    )
    .unwrap();
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A003", "body": bad}));
    assert_eq!(status, 400, "{p}");
    assert!(
        p["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["line"].as_u64().is_some_and(|l| l > 1) && i["name"].is_string()),
        "{p}"
    );
    // Bad identifiers: every one reported.
    let good = String::from_utf8(fixture("A003")).unwrap();
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "be:onss", "to": "XX", "buc": "LA BUC", "sed": "A003", "body": good}));
    assert_eq!(status, 400);
    let names: Vec<&str> = p["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["from", "to", "buc"], "{p}");
    // An institution BE does not serve, a BUC it does not handle.
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "NL:SVB", "to": "BE:ONSS", "buc": "LA_BUC_02", "sed": "A003", "body": good}));
    assert_eq!(status, 400, "{p}");
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "BE:SFP", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A003", "body": good}));
    assert_eq!(status, 400, "{p}");
    // Not JSON at all; unknown field; unknown adapter; unknown case; too large.
    let (status, text) = post(
        &format!("{}/api/v1/documents", be.base),
        "application/json",
        b"{not json",
    );
    problem(400, &text);
    assert_eq!(status, 400);
    let (status, _) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A003", "body": good, "extra": 1}));
    assert_eq!(status, 400);
    let (status, text) = post(
        &format!("{}/api/v1/national/no-such-adapter", be.base),
        "application/xml",
        b"<a/>",
    );
    assert_eq!(status, 404);
    problem(404, &text);
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A004", "caseId": "0123456789abcdef0123456789abcdef", "body": String::from_utf8(fixture("A004")).unwrap()}));
    assert_eq!(status, 404, "{p}");
    let big = vec![b'a'; 10 * 1024 * 1024 + 10];
    let (status, text) = post(&url, "application/xml", &big);
    assert_eq!(status, 413);
    problem(413, &text);
    // A SED the protocol does not allow: 409, nothing stored.
    let a004 = String::from_utf8(fixture("A004")).unwrap();
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A004", "body": a004}));
    assert_eq!(status, 409, "{p}");

    // Nothing was applied, and the switch still serves.
    assert_eq!(be.get_json("/api/v1/cases").as_array().unwrap().len(), 0);
    assert_eq!(
        be.get_json("/api/v1/messages")["messages"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (status, text) = post(
        &url,
        "application/xml",
        &std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap(),
    );
    assert_eq!(status, 202, "{text}");
    let a: serde_json::Value = serde_json::from_str(&text).unwrap();
    let case_id = a["caseId"].as_str().unwrap();

    // OpenAPI, pages, CLI.
    let doc = be.get_json("/api/v1/openapi.json");
    assert!(doc["paths"]["/api/v1/documents"]["post"].is_object());
    let (status, html) = try_get(&format!("{}/", be.base)).unwrap();
    assert_eq!(status, 200);
    assert!(html.contains(case_id), "the case list shows the case");
    let (status, html) = try_get(&format!("{}/cases/{case_id}", be.base)).unwrap();
    assert_eq!(status, 200);
    assert!(html.contains("A009") && html.contains("History"));
    let (status, env) = try_get(&format!(
        "{}/api/v1/cases/{case_id}/documents/{}/versions/1",
        be.base,
        a["documentId"].as_str().unwrap()
    ))
    .unwrap();
    assert_eq!(status, 200);
    assert!(env.contains("<ds:Signature"));
    let (ok, out) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &[
            "case",
            "show",
            case_id,
            "--config",
            be.config.to_str().unwrap(),
        ],
    );
    assert!(
        ok && out.contains("A009") && out.contains("sed-sent"),
        "{out}"
    );
    let (status, _) = try_get(&format!("{}/api/v1/cases/not-a-case-id", be.base)).unwrap();
    assert_eq!(status, 400);
    let (status, _) = try_get(&format!(
        "{}/api/v1/cases/0123456789abcdef0123456789abcdef",
        be.base
    ))
    .unwrap();
    assert_eq!(status, 404);
}

#[test]
fn certificates_expiring_within_the_configured_window_show_in_health_and_metrics() {
    let vhost = Vhost::new("certs");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    // The test certificates are valid 20 years: a 30-day window lists none, a
    // 100-year window lists every one (13 institutions and access points here).
    let be = Server::spawn(dir.path(), "BE", config.clone(), port);
    assert_eq!(
        be.get_json("/health")["certificatesExpiringSoon"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    drop(be);
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[store]",
        "cert_warning_days = 36500\n[store]",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);
    let listed = be.get_json("/health")["certificatesExpiringSoon"]
        .as_array()
        .unwrap()
        .len();
    assert!(listed >= 10, "{listed}");
    let (_, metrics) = try_get(&format!("{}/metrics", be.base)).unwrap();
    assert!(
        metrics.contains(&format!("eessi_certificates_expiring {listed}")),
        "{metrics}"
    );
}
