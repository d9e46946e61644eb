//! The API contract: a real `eessi-switch serve` (SQLite, the real RabbitMQ, `[auth]`
//! on) is driven by schemathesis from the OpenAPI document it serves
//! (`tests/contract/run`), with an operator's token holding every scope, after one
//! national submission so that a case, a document version and an adapter exist
//! to be read. Any response the document does not describe (a server error, an
//! undocumented status, media type, header or body) fails the test.

mod common;

use std::process::Command;

use common::*;

const ISSUER: &str = "eessi-switch-test-issuer";

fn token(institution: &str, scope: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = eessi_switch::api::auth::Claims {
        sub: format!("contract-{institution}"),
        iss: ISSUER.into(),
        aud: "eessi-switch".into(),
        exp: (now + 3600) as u64,
        iat: now as u64,
        inst: institution.into(),
        scope: scope.into(),
    };
    eessi_switch::api::auth::issue(
        &std::fs::read(root().join("fixtures/auth/issuer.key.pem")).unwrap(),
        &claims,
    )
    .unwrap()
}

#[test]
fn the_running_server_keeps_its_openapi_document() {
    let vhost = Vhost::new("contract");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!(
        "[auth]\nissuer = \"{ISSUER}\"\naudience = \"eessi-switch\"\npublic_key = \"{ROOT}/fixtures/auth/issuer.pub.pem\"\n"
    );
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);
    let operator = token("BE:ONSS", "submit read handle operate");

    let national = std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let answer = request(
        "POST",
        &format!("{}/api/v1/national/onss-posting", be.base),
        &[
            ("authorization", &format!("Bearer {operator}")),
            ("content-type", "application/xml"),
        ],
        Some(&national),
    );
    assert_eq!(answer.status, 202, "{}", answer.body);
    let created: serde_json::Value = serde_json::from_str(&answer.body).unwrap();

    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("contract-venv");
    let out = Command::new(root().join("tests/contract/run"))
        .arg(&be.base)
        .arg(&operator)
        .arg(&venv)
        .env("CONTRACT_CASE_ID", created["caseId"].as_str().unwrap())
        .env(
            "CONTRACT_DOCUMENT_ID",
            created["documentId"].as_str().unwrap(),
        )
        .output()
        .expect("run tests/contract/run");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found responses the document does not describe:\n{report}\nserver log:\n{}",
        be.log()
    );
    // It tested every operation it selected, and selected all.
    let after = |label: &str| -> String {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in\n{report}"))
            .trim()
            .to_owned()
    };
    let selected = after("Selected:");
    let (chosen, total) = selected.split_once('/').expect("Selected: N/M");
    assert_eq!(chosen, total, "{report}");
    assert_eq!(after("Tested:"), chosen, "{report}");
}
