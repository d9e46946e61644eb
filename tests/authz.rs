//! Authorization over HTTP against a real `eessi-switch serve` with `[auth]` on:
//! every route of the router's own table is called without a token, with a token
//! lacking the scope, with another institution's token and with the owner's; a
//! route missing from this test's expectations fails the test, so no new route
//! can skip it.

mod common;

use std::collections::BTreeMap;

use common::*;

const ISSUER: &str = "eessi-switch-test-issuer";

fn token(institution: &str, scope: &str, ttl_s: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = eessi_switch::api::auth::Claims {
        sub: format!("handler-of-{institution}"),
        iss: ISSUER.into(),
        aud: "eessi-switch".into(),
        exp: (now + ttl_s).max(0) as u64,
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

fn call(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let with_auth = |r: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match bearer {
        Some(t) => r.header("authorization", &format!("Bearer {t}")),
        None => r,
    };
    let mut resp = match method {
        "GET" => with_auth(agent.get(url)).call().unwrap(),
        "POST" => {
            let r = agent.post(url).header("content-type", content_type);
            let r = match bearer {
                Some(t) => r.header("authorization", &format!("Bearer {t}")),
                None => r,
            };
            r.send(body).unwrap()
        }
        other => panic!("no test for method {other}"),
    };
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// How a route must treat a caller of another institution.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Other {
    /// Refused with 403.
    Forbidden,
    /// Allowed, but shows nothing of the owner's institution.
    Filtered,
    /// Allowed: not institution data (the BUC catalogue).
    Shared,
}

/// (request body, content type, success status for the owner, treatment of another institution)
type Expect = (Vec<u8>, &'static str, u16, Other);

#[test]
fn every_route_refuses_what_the_token_does_not_allow() {
    let vhost = Vhost::new("authz");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!(
        "[auth]\nissuer = \"{ISSUER}\"\naudience = \"eessi-switch\"\npublic_key = \"{ROOT}/fixtures/auth/issuer.pub.pem\"\n"
    );
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);

    let onss = token("BE:ONSS", "submit read handle", 600);
    let onss_read_only = token("BE:ONSS", "read", 600);
    let onem = token("BE:ONEM", "submit read handle", 600);
    let operator = token("BE:ONSS", "read operate", 600);
    let expired = token("BE:ONSS", "submit read", -3600);

    // ONSS creates a case through the adapter (its own national message says BE:ONSS).
    let national = std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let (status, text) = call(
        "POST",
        &format!("{}/api/v1/national/onss-posting", be.base),
        Some(&onss),
        "application/xml",
        &national,
    );
    assert_eq!(status, 202, "{text}");
    let created: serde_json::Value = serde_json::from_str(&text).unwrap();
    let case_id = created["caseId"].as_str().unwrap().to_owned();
    let doc_id = created["documentId"].as_str().unwrap().to_owned();
    let sed_request = serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A003", "body": String::from_utf8(fixture("A003")).unwrap()}).to_string();

    // (request body, content type, success status for the owner, treatment of another institution)
    let mut expectations: BTreeMap<(&str, &str), Expect> = BTreeMap::new();
    expectations.insert(
        ("POST", "/api/v1/documents"),
        (
            sed_request.clone().into_bytes(),
            "application/json",
            202,
            Other::Forbidden,
        ),
    );
    expectations.insert(
        ("POST", "/api/v1/national/{adapter}"),
        (national.clone(), "application/xml", 202, Other::Forbidden),
    );
    expectations.insert(("GET", "/api/v1/cases"), (vec![], "", 200, Other::Filtered));
    expectations.insert(
        ("GET", "/api/v1/cases/{caseId}"),
        (vec![], "", 200, Other::Forbidden),
    );
    expectations.insert(
        (
            "GET",
            "/api/v1/cases/{caseId}/documents/{documentId}/versions/{version}",
        ),
        (vec![], "", 200, Other::Forbidden),
    );
    expectations.insert(
        ("GET", "/api/v1/messages"),
        (vec![], "", 200, Other::Filtered),
    );
    expectations.insert(
        ("POST", "/api/v1/cases/{caseId}/local-close"),
        (vec![], "application/json", 204, Other::Forbidden),
    );
    expectations.insert(
        ("GET", "/api/v1/dead-letters"),
        (vec![], "", 200, Other::Forbidden),
    );
    // No dead letter 1 exists: an authorized caller gets 404, the others 401/403.
    expectations.insert(
        ("POST", "/api/v1/dead-letters/{id}/reinject"),
        (vec![], "application/json", 404, Other::Forbidden),
    );
    expectations.insert(
        ("GET", "/api/v1/audit"),
        (vec![], "", 200, Other::Forbidden),
    );
    expectations.insert(("GET", "/api/v1/bucs"), (vec![], "", 200, Other::Shared));
    expectations.insert(("GET", "/metrics"), (vec![], "", 200, Other::Forbidden));
    expectations.insert(("GET", "/"), (vec![], "", 200, Other::Filtered));
    expectations.insert(
        ("GET", "/cases/{caseId}"),
        (vec![], "", 200, Other::Forbidden),
    );

    let mut checked = 0;
    for r in eessi_switch::api::routes() {
        let url = format!(
            "{}{}",
            be.base,
            r.path
                .replace("{caseId}", &case_id)
                .replace("{documentId}", &doc_id)
                .replace("{version}", "1")
                .replace("{adapter}", "onss-posting")
                .replace("{id}", "1")
        );
        if r.access == eessi_switch::api::auth::Access::Public {
            let (status, text) = call(r.method, &url, None, "", b"");
            assert_eq!(status, 200, "{} {} is public: {text}", r.method, r.path);
            checked += 1;
            continue;
        }
        let (body, ct, ok_status, other) = expectations
            .get(&(r.method, r.path))
            .unwrap_or_else(|| {
                panic!(
                    "{} {} has no authorization test: add it here",
                    r.method, r.path
                )
            })
            .clone();
        let name = format!("{} {}", r.method, r.path);
        // No token, an expired one, a forged one: 401.
        assert_eq!(
            call(r.method, &url, None, ct, &body).0,
            401,
            "{name} without a token"
        );
        assert_eq!(
            call(r.method, &url, Some(&expired), ct, &body).0,
            401,
            "{name} with an expired token"
        );
        let forged = format!("{}x", &onss[..onss.len() - 1]);
        assert_eq!(
            call(r.method, &url, Some(&forged), ct, &body).0,
            401,
            "{name} with a forged signature"
        );
        // The scope is missing: 403.
        let wrong_scope = if r.access
            == eessi_switch::api::auth::Access::Scope(eessi_switch::api::auth::Scope::Operate)
        {
            &onss
        } else if r.method == "POST" {
            &onss_read_only
        } else {
            &token("BE:ONSS", "submit", 600)
        };
        let (status, text) = call(r.method, &url, Some(wrong_scope), ct, &body);
        assert_eq!(status, 403, "{name} without its scope: {text}");
        assert!(
            text.contains("urn:problem-type:belgif:missingPermission"),
            "{name}: {text}"
        );
        // Another institution.
        let (status, text) = call(r.method, &url, Some(&onem), ct, &body);
        match other {
            Other::Forbidden => assert_eq!(status, 403, "{name} for another institution: {text}"),
            Other::Filtered => {
                assert_eq!(status, 200, "{name} for another institution: {text}");
                assert!(
                    !text.contains(&case_id) && !text.contains("BE:ONSS"),
                    "{name} leaks ONSS's data to ONEM: {text}"
                );
            }
            Other::Shared => assert_eq!(status, 200, "{name}: {text}"),
        }
        // Asking explicitly for another institution's cases is refused.
        if r.path == "/api/v1/cases" {
            assert_eq!(
                call(
                    "GET",
                    &format!("{url}?institution=BE:ONSS"),
                    Some(&onem),
                    "",
                    b""
                )
                .0,
                403
            );
        }
        // The owner (or an operator for operator routes).
        let owner = if r.access
            == eessi_switch::api::auth::Access::Scope(eessi_switch::api::auth::Scope::Operate)
        {
            &operator
        } else {
            &onss
        };
        let (status, text) = call(r.method, &url, Some(owner), ct, &body);
        assert_eq!(status, ok_status, "{name} for its owner: {text}");
        if other == Other::Filtered {
            assert!(
                text.contains(&case_id),
                "{name} must show the owner its case: {text}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, eessi_switch::api::routes().len());
    // Every read of the case was audited, with who, which institution and from where;
    // the audit log has no route that writes.
    let (status, text) = call(
        "GET",
        &format!("{}/api/v1/audit", be.base),
        Some(&operator),
        "",
        b"",
    );
    assert_eq!(status, 200, "{text}");
    let audit: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reads: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"].as_str().is_some_and(|t| t.contains(&case_id)))
        .collect();
    assert!(
        reads.iter().any(|e| e["action"] == "read-case"
            && e["institution"] == "BE:ONSS"
            && e["remote"]
                .as_str()
                .is_some_and(|r| r.starts_with("127.0.0.1"))),
        "{audit}"
    );
    assert!(
        reads.iter().any(|e| e["action"] == "read-document"),
        "{audit}"
    );
    assert!(reads.iter().any(|e| e["action"] == "submit"), "{audit}");
    assert!(
        !reads.iter().any(|e| e["institution"] == "BE:ONEM"),
        "refused reads are not reads: {audit}"
    );
    for method in ["POST", "PUT", "DELETE"] {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let status = match method {
            "POST" => agent
                .post(&format!("{}/api/v1/audit", be.base))
                .header("authorization", &format!("Bearer {operator}"))
                .send(b"{}")
                .unwrap()
                .status(),
            "PUT" => agent
                .put(&format!("{}/api/v1/audit", be.base))
                .header("authorization", &format!("Bearer {operator}"))
                .send(b"{}")
                .unwrap()
                .status(),
            _ => agent
                .delete(&format!("{}/api/v1/audit", be.base))
                .header("authorization", &format!("Bearer {operator}"))
                .call()
                .unwrap()
                .status(),
        };
        assert_eq!(
            status.as_u16(),
            405,
            "{method} /api/v1/audit must not exist"
        );
    }
    // The operator sees every institution's cases.
    let (status, text) = call(
        "GET",
        &format!("{}/api/v1/cases?institution=BE:ONSS", be.base),
        Some(&operator),
        "",
        b"",
    );
    assert_eq!(status, 200);
    assert!(text.contains(&case_id));
}
