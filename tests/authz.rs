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
        .max_redirects(0)
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
    /// Answered as if it did not exist (404): another institution's message.
    Hidden,
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
    let message_id = created["messageId"].as_str().unwrap().to_owned();
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
    // A batch of that message: 200 with its items' answers for ONSS; ONEM is not
    // granted the adapter, so the batch is refused before any item is read.
    let batch = serde_json::json!({"message": String::from_utf8(national.clone()).unwrap()})
        .to_string()
        + "\n";
    expectations.insert(
        ("POST", "/api/v1/national/{adapter}/batch"),
        (
            batch.into_bytes(),
            "application/x-ndjson",
            200,
            Other::Forbidden,
        ),
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
        ("GET", "/api/v1/cases/{caseId}/actions"),
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
    // No triage entry 1 exists: an operator gets 404 (and the list), the others 401/403.
    expectations.insert(
        ("GET", "/api/v1/triage"),
        (vec![], "", 200, Other::Forbidden),
    );
    expectations.insert(
        ("GET", "/api/v1/triage/{id}"),
        (vec![], "", 404, Other::Forbidden),
    );
    expectations.insert(
        ("POST", "/api/v1/triage/{id}/assign"),
        (
            br#"{"institution":"BE:ONSS"}"#.to_vec(),
            "application/json",
            404,
            Other::Forbidden,
        ),
    );
    expectations.insert(
        ("GET", "/api/v1/timers"),
        (vec![], "", 200, Other::Forbidden),
    );
    expectations.insert(
        ("GET", "/api/v1/audit"),
        (vec![], "", 200, Other::Forbidden),
    );
    expectations.insert(("GET", "/api/v1/bucs"), (vec![], "", 200, Other::Shared));
    expectations.insert(("GET", "/metrics"), (vec![], "", 200, Other::Forbidden));
    // The case's own SED has not failed: its owner is told so (409); another
    // institution learns nothing of it (404).
    expectations.insert(
        ("POST", "/api/v1/messages/{messageId}/resend"),
        (vec![], "application/json", 409, Other::Hidden),
    );
    expectations.insert(("GET", "/"), (vec![], "", 200, Other::Filtered));
    expectations.insert(("GET", "/operations"), (vec![], "", 200, Other::Forbidden));
    // The case page answers another institution as it answers a case that does
    // not exist: it does not tell which.
    expectations.insert(("GET", "/cases/{caseId}"), (vec![], "", 200, Other::Hidden));
    // The SED form without saying which SED: 400 for the case's own institution,
    // the same "no such case" as above for another.
    expectations.insert(
        ("GET", "/cases/{caseId}/write"),
        (vec![], "", 400, Other::Hidden),
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
                .replace("{messageId}", &message_id)
        );
        if r.access == eessi_switch::api::auth::Access::Public {
            // Public pages and documents answer anyone; signing in takes a valid
            // token in the form, signing out needs nothing: both redirect.
            let signin = format!("token={onss}");
            let (body, ct, expected) = match (r.method, r.path) {
                ("GET", _) => (&b""[..], "", 200),
                ("POST", "/signin") => {
                    let (status, text) = call("POST", &url, None, "", b"");
                    assert_eq!(status, 415, "POST /signin without a form: {text}");
                    (signin.as_bytes(), "application/x-www-form-urlencoded", 303)
                }
                ("POST", "/signout") => (&b""[..], "", 303),
                ("POST", "/language") => (
                    &b"lang=nl&back=/"[..],
                    "application/x-www-form-urlencoded",
                    303,
                ),
                // The pages' form posts check the session cookie themselves: none, 401.
                ("POST", "/cases/{caseId}/reminder") => (
                    &b"csrf=x&from=BE:ONSS&to=NL:SVB&related=00000000000000000000000000000000"[..],
                    "application/x-www-form-urlencoded",
                    401,
                ),
                ("POST", "/cases/{caseId}/local-close") => {
                    (&b"csrf=x"[..], "application/x-www-form-urlencoded", 401)
                }
                ("POST", "/cases/{caseId}/xsed") => (
                    &b"csrf=x&sed=X011&from=BE:ONSS&to=NL:SVB&reason=other&text=x"[..],
                    "application/x-www-form-urlencoded",
                    401,
                ),
                ("POST", "/cases/{caseId}/write") | ("POST", "/cases/{caseId}/write/check") => (
                    &b"csrf=x&from=BE:ONSS&to=NL:SVB&sed=A004&op=save&v:Disagreement/Reason=x"[..],
                    "application/x-www-form-urlencoded",
                    401,
                ),
                ("POST", "/triage/{id}/assign") => (
                    &b"csrf=x&institution=BE:ONSS"[..],
                    "application/x-www-form-urlencoded",
                    401,
                ),
                ("POST", "/dead-letters/{id}/reinject") => {
                    (&b"csrf=x"[..], "application/x-www-form-urlencoded", 401)
                }
                ("POST", "/messages/{messageId}/resend") => (
                    &b"csrf=x&case=x"[..],
                    "application/x-www-form-urlencoded",
                    401,
                ),
                (m, p) => panic!("{m} {p} is public: add what it answers here"),
            };
            let (status, text) = call(r.method, &url, None, ct, body);
            assert_eq!(
                status, expected,
                "{} {} is public: {text}",
                r.method, r.path
            );
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
        // No token, an expired one, a forged one: 401, each its Belgif type.
        let forged = format!("{}x", &onss[..onss.len() - 1]);
        for (bearer, kind) in [
            (None, "noAccessToken"),
            (Some(&expired), "expiredAccessToken"),
            (Some(&forged), "invalidAccessToken"),
        ] {
            let (status, text) = call(r.method, &url, bearer.map(|t| t.as_str()), ct, &body);
            assert_eq!(status, 401, "{name} {kind}: {text}");
            let p: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                p["type"].as_str(),
                Some(format!("urn:problem-type:belgif:{kind}").as_str()),
                "{name}: {text}"
            );
        }
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
        // Belgif `missingScope`, naming the scope the route needs.
        let p: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            p["type"], "urn:problem-type:belgif:missingScope",
            "{name}: {text}"
        );
        let scope = match r.access {
            eessi_switch::api::auth::Access::Scope(s) => s.as_str(),
            eessi_switch::api::auth::Access::Public => unreachable!("{name} is public"),
        };
        assert_eq!(
            p["requiredScopes"],
            serde_json::json!([scope]),
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
            Other::Hidden => assert_eq!(status, 404, "{name} for another institution: {text}"),
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
        !reads.iter().any(|e| e["institution"] == "BE:ONEM"
            && !e["action"].as_str().unwrap().starts_with("refused-")),
        "refused reads are not reads: {audit}"
    );
    // ...but they are recorded as refusals, with who and from where.
    for action in [
        "refused-read-case",
        "refused-read-document",
        "refused-local-close",
    ] {
        assert!(
            reads.iter().any(|e| e["action"] == action
                && e["institution"] == "BE:ONEM"
                && e["remote"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("127.0.0.1"))),
            "{action} is not audited: {audit}"
        );
    }
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

/// A BE switch with `[auth]` on, and these adapter grants instead of the usual ones.
fn serve_with_auth(dir: &std::path::Path, vhost: &Vhost, grants: Option<&str>) -> Server {
    let port = free_port();
    let config = write_config(dir, "BE", &vhost.url(), port, &Retry::default());
    let mut text = std::fs::read_to_string(&config).unwrap();
    if let Some(grants) = grants {
        let start = text.find("adapter_grants").unwrap();
        let end = start + text[start..].find('\n').unwrap();
        text = format!(
            "{}adapter_grants = {grants}{}",
            &text[..start],
            &text[end..]
        );
    }
    text += &format!(
        "[auth]\nissuer = \"{ISSUER}\"\naudience = \"eessi-switch\"\npublic_key = \"{ROOT}/fixtures/auth/issuer.pub.pem\"\n"
    );
    std::fs::write(&config, text).unwrap();
    Server::spawn(dir, "BE", config, port)
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// ONSS opens a case through its adapter; (case id, document id).
fn onss_case(be: &Server, onss: &str) -> (String, String) {
    let national = std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let (h, v) = bearer(onss);
    let a = request(
        "POST",
        &format!("{}/api/v1/national/onss-posting", be.base),
        &[(h, &v), ("content-type", "application/xml")],
        Some(&national),
    );
    assert_eq!(a.status, 202, "{a:?}");
    let created: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    (
        created["caseId"].as_str().unwrap().to_owned(),
        created["documentId"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn the_cookie_authenticates_reads_only_and_signing_in_checks_the_token_and_the_origin() {
    /// The sign-in and sign-out forms answer with pages (in the user's language),
    /// never problem JSON: a person reads them.
    trait Page {
        fn assert_page(&self, status: u16);
    }
    impl Page for common::Answer {
        fn assert_page(&self, status: u16) {
            assert_eq!(self.status, status, "{self:?}");
            assert!(
                self.header("content-type")
                    .is_some_and(|c| c.starts_with("text/html")),
                "{self:?}"
            );
        }
    }
    let vhost = Vhost::new("csrf");
    let dir = tempfile::tempdir().unwrap();
    let be = serve_with_auth(dir.path(), &vhost, None);
    let onss = token("BE:ONSS", "submit read handle", 600);
    let (case_id, _) = onss_case(&be, &onss);
    let cookie = format!("eessi_token={onss}");

    // A read with the cookie alone works (the pages in a browser)...
    let a = request(
        "GET",
        &format!("{}/api/v1/cases/{case_id}", be.base),
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(a.status, 200, "{a:?}");
    let a = request(
        "GET",
        &format!("{}/", be.base),
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.body.contains(&case_id));
    // ...a change with the cookie alone does not: that is what a foreign page
    // could make the browser send.
    let close = format!("{}/api/v1/cases/{case_id}/local-close", be.base);
    let a = request("POST", &close, &[("cookie", &cookie)], None);
    a.assert_problem(401);
    let a = request(
        "POST",
        &format!("{}/api/v1/documents", be.base),
        &[("cookie", &cookie), ("content-type", "application/json")],
        Some(b"{}"),
    );
    a.assert_problem(401);
    let state = be.get_json_as(&format!("/api/v1/cases/{case_id}"), &onss)["status"].clone();
    assert_ne!(state, "closed", "the case was closed through the cookie");

    // The sign-in page: a form, no script.
    let a = request("GET", &format!("{}/signin", be.base), &[], None);
    assert_eq!(a.status, 200);
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    assert!(a.body.contains("<form method=\"post\" action=\"/signin\""));
    assert!(!a.body.contains("<script"));

    let signin = format!("{}/signin", be.base);
    let form = |t: &str| format!("token={t}");
    let post_form = |t: &str, extra: &[(&str, &str)]| {
        let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(extra);
        request("POST", &signin, &h, Some(form(t).as_bytes()))
    };
    // A valid token: the cookie is set by the server, HttpOnly, SameSite=Strict.
    let a = post_form(&onss, &[]);
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(a.header("location"), Some("/"));
    let set = a.header("set-cookie").unwrap();
    assert!(set.starts_with(&format!("eessi_token={onss};")), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(
        !set.contains("Secure"),
        "cookie_secure is off by default: {set}"
    );
    // The same origin may post it; another origin may not (login CSRF).
    let host = be.base.trim_start_matches("http://").to_owned();
    let a = post_form(&onss, &[("origin", &format!("http://{host}"))]);
    assert_eq!(a.status, 303, "{a:?}");
    let a = post_form(&onss, &[("origin", "https://evil.example")]);
    a.assert_page(403);
    assert!(a.header("set-cookie").is_none());
    let a = post_form(&onss, &[("origin", "null")]);
    a.assert_page(403);
    // The token is checked exactly as a bearer token.
    post_form("not-a-token", &[]).assert_page(401);
    post_form(&token("BE:ONSS", "read", -3600), &[]).assert_page(401);
    let forged = format!("{}x", &onss[..onss.len() - 1]);
    post_form(&forged, &[]).assert_page(401);
    post_form(&token("NL:SVB", "read", 600), &[]).assert_page(403);
    // Not a form: 415; a form without the token: 400.
    request(
        "POST",
        &signin,
        &[("content-type", "application/json")],
        Some(b"{}"),
    )
    .assert_problem(415);
    request(
        "POST",
        &signin,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(b"other=1"),
    )
    .assert_page(400);

    // Signing out clears the cookie; a foreign page cannot sign anyone out.
    let a = request("POST", &format!("{}/signout", be.base), &[], None);
    assert_eq!(a.status, 303, "{a:?}");
    let set = a.header("set-cookie").unwrap();
    assert!(
        set.starts_with("eessi_token=;") && set.contains("Max-Age=0"),
        "{set}"
    );
    request(
        "POST",
        &format!("{}/signout", be.base),
        &[("origin", "https://evil.example")],
        None,
    )
    .assert_page(403);
}

#[test]
fn a_token_of_an_institution_this_access_point_does_not_serve_is_refused() {
    let vhost = Vhost::new("unserved");
    let dir = tempfile::tempdir().unwrap();
    let be = serve_with_auth(dir.path(), &vhost, None);
    let onss = token("BE:ONSS", "submit read handle", 600);
    let (case_id, doc_id) = onss_case(&be, &onss);
    // NL:SVB takes part in the case, but BE does not serve NL:SVB: its token
    // counts for nothing here.
    let svb = token("NL:SVB", "submit read handle", 600);
    let (h, v) = bearer(&svb);
    let list = request(
        "GET",
        &format!("{}/api/v1/cases", be.base),
        &[(h, &v)],
        None,
    );
    let p = list.assert_problem(403);
    assert!(p["detail"].as_str().unwrap().contains("NL:SVB"), "{p}");
    assert!(!list.body.contains(&case_id));
    request(
        "GET",
        &format!(
            "{}/api/v1/cases/{case_id}/documents/{doc_id}/versions/1",
            be.base
        ),
        &[(h, &v)],
        None,
    )
    .assert_problem(403);
    request(
        "POST",
        &format!("{}/api/v1/cases/{case_id}/local-close", be.base),
        &[(h, &v)],
        None,
    )
    .assert_problem(403);
    request(
        "GET",
        &format!("{}/api/v1/messages", be.base),
        &[(h, &v)],
        None,
    )
    .assert_problem(403);
    let case = be.get_json_as(&format!("/api/v1/cases/{case_id}"), &onss);
    assert_ne!(case["status"], "closed", "{case}");
    // An institution of another access point with the operate scope is an operator.
    let operator = token("NL:SVB", "read operate", 600);
    let all = be.get_json_as("/api/v1/cases", &operator);
    assert!(all.to_string().contains(&case_id), "{all}");
}

#[test]
fn an_institution_uses_only_the_national_adapters_granted_to_it() {
    let vhost = Vhost::new("grants");
    let dir = tempfile::tempdir().unwrap();
    // onss-posting is granted to INASTI only: ONSS may not use it, even for its
    // own message.
    let be = serve_with_auth(
        dir.path(),
        &vhost,
        Some(r#"{ "onss-posting" = ["BE:INASTI"], "inasti-decision" = ["BE:INASTI"] }"#),
    );
    let post = |adapter: &str, fixture: &str, t: &str| {
        let (h, v) = bearer(t);
        request(
            "POST",
            &format!("{}/api/v1/national/{adapter}", be.base),
            &[(h, &v), ("content-type", "application/xml")],
            Some(&std::fs::read(root().join(format!("fixtures/national/{fixture}.xml"))).unwrap()),
        )
    };
    let onss = token("BE:ONSS", "submit read", 600);
    let p = post("onss-posting", "onss-posting", &onss).assert_problem(403);
    assert!(
        p["detail"].as_str().unwrap().contains("onss-posting"),
        "{p}"
    );
    post("inasti-decision", "inasti-decision", &onss).assert_problem(403);
    // INASTI may use both, but still submits only as itself.
    let inasti = token("BE:INASTI", "submit read", 600);
    let a = post("inasti-decision", "inasti-decision", &inasti);
    assert_eq!(a.status, 202, "{a:?}");
    post("onss-posting", "onss-posting", &inasti).assert_problem(403);
    // The batch channel the same way: a batch through an adapter not granted is
    // refused whole; through a granted one, each item's sender is checked (an
    // item sent as another institution is refused as the single route refuses it).
    let batch = |adapter: &str, fixture: &str, t: &str| {
        let (h, v) = bearer(t);
        let message =
            std::fs::read_to_string(root().join(format!("fixtures/national/{fixture}.xml")))
                .unwrap();
        request(
            "POST",
            &format!("{}/api/v1/national/{adapter}/batch", be.base),
            &[(h, &v), ("content-type", "application/x-ndjson")],
            Some(
                serde_json::json!({ "message": message })
                    .to_string()
                    .as_bytes(),
            ),
        )
    };
    batch("onss-posting", "onss-posting", &onss).assert_problem(403);
    let a = batch("onss-posting", "onss-posting", &inasti);
    assert_eq!(a.status, 200, "{a:?}");
    let item: serde_json::Value = serde_json::from_str(a.body.trim()).unwrap();
    assert_eq!(item["status"], "refused", "{item}");
    assert_eq!(item["problem"]["status"], 403, "{item}");
    assert!(
        item["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("submitting as BE:ONSS"),
        "{item}"
    );
    // Nothing of ONSS's was stored.
    let cases = be.get_json_as("/api/v1/cases", &onss);
    assert_eq!(cases.as_array().unwrap().len(), 0, "{cases}");
}

#[test]
fn messages_are_filtered_by_institution_before_the_limit_and_paged() {
    let vhost = Vhost::new("pages");
    let dir = tempfile::tempdir().unwrap();
    let be = serve_with_auth(dir.path(), &vhost, None);
    let onss = token("BE:ONSS", "submit read handle", 600);
    let inasti = token("BE:INASTI", "submit read", 600);
    let (case_id, _) = onss_case(&be, &onss);
    // Then three SEDs of INASTI's, newer than ONSS's one.
    let decision = std::fs::read(root().join("fixtures/national/inasti-decision.xml")).unwrap();
    let (h, v) = bearer(&inasti);
    for _ in 0..3 {
        let a = request(
            "POST",
            &format!("{}/api/v1/national/inasti-decision", be.base),
            &[(h, &v), ("content-type", "application/xml")],
            Some(&decision),
        );
        assert_eq!(a.status, 202, "{a:?}");
    }
    // ONSS's one message is found under INASTI's newer ones.
    let page = be.get_json_as("/api/v1/messages?limit=1", &onss);
    let ms = page["messages"].as_array().unwrap();
    assert_eq!(ms.len(), 1, "{page}");
    assert_eq!(ms[0]["caseId"], case_id.as_str());
    assert!(page["nextCursor"].is_null(), "{page}");
    // INASTI pages through its three, newest first, never seeing ONSS's.
    let first = be.get_json_as("/api/v1/messages?limit=2", &inasti);
    assert_eq!(first["messages"].as_array().unwrap().len(), 2, "{first}");
    let cursor = first["nextCursor"].as_i64().expect("a next page");
    let second = be.get_json_as(
        &format!("/api/v1/messages?limit=2&cursor={cursor}"),
        &inasti,
    );
    let rest = second["messages"].as_array().unwrap();
    assert_eq!(rest.len(), 1, "{second}");
    assert!(second["nextCursor"].is_null(), "{second}");
    let seen: Vec<&serde_json::Value> = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest)
        .map(|m| &m["messageId"])
        .collect();
    assert_eq!(seen.len(), 3);
    assert!(seen.windows(2).all(|w| w[0] != w[1]), "{seen:?}");
    assert!(
        !first.to_string().contains(&case_id) && !second.to_string().contains(&case_id),
        "INASTI sees ONSS's message"
    );
    // An operator sees all four; a bad cursor is a located 400.
    let operator = token("BE:ONSS", "read operate", 600);
    let all = be.get_json_as("/api/v1/messages", &operator);
    assert_eq!(all["messages"].as_array().unwrap().len(), 4, "{all}");
    let (h, v) = bearer(&onss);
    let p = request(
        "GET",
        &format!("{}/api/v1/messages?cursor=abc", be.base),
        &[(h, &v)],
        None,
    )
    .assert_problem(400);
    assert_eq!(p["issues"][0]["in"], "query", "{p}");
}

#[test]
fn a_page_form_acts_only_with_the_session_cookie_its_form_token_and_our_origin() {
    let vhost = Vhost::new("pageform");
    let dir = tempfile::tempdir().unwrap();
    let be = serve_with_auth(dir.path(), &vhost, None);
    let onss = token("BE:ONSS", "submit read handle", 600);
    let (case_id, _) = onss_case(&be, &onss);
    let url = format!("{}/cases/{case_id}/local-close", be.base);
    let cookie = format!("eessi_token={onss}");
    let good = format!("csrf={}", eessi_switch::api::pages::csrf_of(&onss));
    let other = format!(
        "csrf={}",
        eessi_switch::api::pages::csrf_of(&token("BE:ONSS", "submit read handle", 601))
    );
    let form = ("content-type", "application/x-www-form-urlencoded");
    let status = || be.get_json_as(&format!("/api/v1/cases/{case_id}"), &onss)["status"].clone();
    // A wrong or another session's form token, another origin, no cookie, a token
    // without the scope: refused, and the case stays open.
    let read_only = format!("eessi_token={}", token("BE:ONSS", "read", 600));
    for (headers, body, expected) in [
        (
            vec![form, ("cookie", cookie.as_str())],
            "csrf=x".to_owned(),
            403,
        ),
        (vec![form, ("cookie", cookie.as_str())], other.clone(), 403),
        (
            vec![
                form,
                ("cookie", cookie.as_str()),
                ("origin", "https://evil.example"),
            ],
            good.clone(),
            403,
        ),
        (vec![form], good.clone(), 401),
        (
            vec![form, ("cookie", read_only.as_str())],
            format!(
                "csrf={}",
                eessi_switch::api::pages::csrf_of(read_only.trim_start_matches("eessi_token="))
            ),
            403,
        ),
    ] {
        let a = request("POST", &url, &headers, Some(body.as_bytes()));
        assert_eq!(a.status, expected, "{headers:?} {body}: {a:?}");
        assert_eq!(status(), "open");
    }
    // The session's own form from our own page: done, through the API's local close.
    let host = be.base.trim_start_matches("http://").to_owned();
    let origin = format!("http://{host}");
    let a = request(
        "POST",
        &url,
        &[form, ("cookie", &cookie), ("origin", &origin)],
        Some(good.as_bytes()),
    );
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(status(), "closed");
}
