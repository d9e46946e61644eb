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
    // A case id in the body that names nothing: Belgif's referencedResourceNotFound
    // issue of a bad request (404 is for the resource of the URL).
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A004", "caseId": "0123456789abcdef0123456789abcdef", "body": String::from_utf8(fixture("A004")).unwrap()}));
    assert_eq!(status, 400, "{p}");
    assert_eq!(p["type"], "urn:problem-type:belgif:badRequest", "{p}");
    assert_eq!(
        p["issues"][0]["type"],
        "urn:problem-type:belgif:input-validation:referencedResourceNotFound",
        "{p}"
    );
    assert_eq!(p["issues"][0]["name"], "caseId", "{p}");
    assert_eq!(
        p["issues"][0]["value"], "0123456789abcdef0123456789abcdef",
        "{p}"
    );
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
    // A SED the BUC does not allow in this case now (a request to reopen an open
    // case): 409, with what it does allow, as the case's actions list it.
    let buc = be.get_json(&format!("/api/v1/cases/{case_id}"))["buc"].clone();
    let x002 = String::from_utf8(fixture("X002")).unwrap();
    let (status, p) = be.post_json("/api/v1/documents", &serde_json::json!({"from": "BE:ONSS", "to": a["to"].as_str().unwrap_or("NL:SVB"), "buc": buc, "sed": "X002", "caseId": case_id, "body": x002}));
    assert_eq!(status, 409, "{p}");
    assert_eq!(
        p["type"], "urn:problem-type:eessi-switch:protocolViolation",
        "{p}"
    );
    let actions = be.get_json(&format!("/api/v1/cases/{case_id}/actions"));
    assert_eq!(p["allowed"], actions["participants"], "{p}");
    assert!(
        p["allowed"][0]["actions"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{p}"
    );

    // OpenAPI, pages, CLI.
    let doc = be.get_json("/api/v1/openapi.json");
    assert!(doc["paths"]["/api/v1/documents"]["post"].is_object());
    let (status, html) = try_get(&format!("{}/", be.base)).unwrap();
    assert_eq!(status, 200);
    assert!(html.contains(case_id), "the case list shows the case");
    let (status, html) = try_get(&format!("{}/cases/{case_id}", be.base)).unwrap();
    assert_eq!(status, 200);
    assert!(html.contains("A009") && html.contains("Timeline"));
    // The SED itself, read as labelled fields (not only its raw XML).
    assert!(html.contains("<dt>Family name</dt>"), "{html}");
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

/// A BE switch (authentication off) with extra `[http]` lines and top-level lines
/// (before `[store]`); returned with what must outlive it.
fn serve(tag: &str, http: &str, top: &str) -> (Server, tempfile::TempDir, Vhost) {
    let vhost = Vhost::new(tag);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    http_settings(&config, http);
    let text =
        std::fs::read_to_string(&config)
            .unwrap()
            .replacen("[store]", &format!("{top}[store]"), 1);
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);
    (be, dir, vhost)
}

fn onss_posting(be: &Server) -> serde_json::Value {
    let a = request(
        "POST",
        &format!("{}/api/v1/national/onss-posting", be.base),
        &[("content-type", "application/xml")],
        Some(&std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap()),
    );
    assert_eq!(a.status, 202, "{a:?}");
    serde_json::from_str(&a.body).unwrap()
}

fn assert_hardened(a: &Answer) {
    assert_eq!(
        a.header("content-security-policy"),
        Some("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
        "{a:?}"
    );
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"), "{a:?}");
    assert_eq!(a.header("x-frame-options"), Some("DENY"), "{a:?}");
    assert_eq!(a.header("referrer-policy"), Some("same-origin"), "{a:?}");
}

#[test]
fn routes_take_only_their_media_type() {
    let (be, _dir, _vhost) = serve("media", "", "");
    let url = format!("{}/api/v1/documents", be.base);
    let sed = serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A003", "body": String::from_utf8(fixture("A003")).unwrap()}).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/xml"),
        Some("application/jsonx"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.iter().map(|c| ("content-type", *c)).collect();
        let p = request("POST", &url, &headers, Some(sed.as_bytes())).assert_problem(415);
        assert!(
            p["detail"].as_str().unwrap().contains("application/json"),
            "{p}"
        );
    }
    let a = request(
        "POST",
        &url,
        &[("content-type", "application/json; charset=utf-8")],
        Some(sed.as_bytes()),
    );
    assert_eq!(a.status, 202, "{a:?}");
    // National messages: XML only.
    let national = std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let nat = format!("{}/api/v1/national/onss-posting", be.base);
    for ct in [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
    ] {
        request("POST", &nat, &[("content-type", ct)], Some(&national)).assert_problem(415);
    }
    let a = request(
        "POST",
        &nat,
        &[("content-type", "text/xml; charset=UTF-8")],
        Some(&national),
    );
    assert_eq!(a.status, 202, "{a:?}");
    // Only the two accepted submissions were applied.
    assert_eq!(be.get_json("/api/v1/cases").as_array().unwrap().len(), 2);
}

#[test]
fn every_refusal_is_a_problem_and_every_response_carries_the_security_headers() {
    let (be, _dir, _vhost) = serve("refusals", "", "");
    let created = onss_posting(&be);
    let case_id = created["caseId"].as_str().unwrap();
    // A bad query string: 400, located in the query.
    let a = request(
        "GET",
        &format!("{}/api/v1/cases?limit=abc", be.base),
        &[],
        None,
    );
    let p = a.assert_problem(400);
    assert_eq!(p["issues"][0]["in"], "query", "{p}");
    assert_hardened(&a);
    request(
        "GET",
        &format!("{}/api/v1/audit?limit=-1", be.base),
        &[],
        None,
    )
    .assert_problem(400);
    // The case list is a page: a filter that does not parse is shown next to its
    // field, with 400.
    let a = request("GET", &format!("{}/?status=half-open", be.base), &[], None);
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        a.body
            .contains("aria-invalid=\"true\" aria-describedby=\"f-status-error\"")
            && a.body.contains("id=\"f-status-error\""),
        "{}",
        a.body
    );
    // An unknown path, a bad path parameter, a method the path does not have.
    let a = request("GET", &format!("{}/no/such/thing", be.base), &[], None);
    a.assert_problem(404);
    assert_hardened(&a);
    let a = request("DELETE", &format!("{}/api/v1/cases", be.base), &[], None);
    a.assert_problem(405);
    assert_eq!(a.header("allow"), Some("GET,HEAD"), "{a:?}");
    assert_hardened(&a);
    request(
        "PUT",
        &format!("{}/api/v1/documents", be.base),
        &[("content-type", "application/json")],
        Some(b"{}"),
    )
    .assert_problem(405);
    // Too large.
    let big = vec![b'a'; 10 * 1024 * 1024 + 10];
    let a = request(
        "POST",
        &format!("{}/api/v1/documents", be.base),
        &[("content-type", "application/json")],
        Some(&big),
    );
    a.assert_problem(413);
    assert_hardened(&a);

    // Pages: no inline style or script (the CSP forbids them), never cached.
    for path in [
        "/".to_owned(),
        format!("/cases/{case_id}"),
        "/signin".to_owned(),
    ] {
        let a = request("GET", &format!("{}{path}", be.base), &[], None);
        assert_eq!(a.status, 200, "{path}: {a:?}");
        assert_hardened(&a);
        assert_eq!(a.header("cache-control"), Some("no-store"), "{path}");
        assert!(
            a.body
                .contains("<link rel=\"stylesheet\" href=\"/style.css\">")
        );
        for inline in ["<style", "style=", "<script", "onclick"] {
            assert!(!a.body.contains(inline), "{path} has {inline}");
        }
    }
    // The form of a SED the BUC allows now: its one script is a served file.
    let actions = be.get_json(&format!("/api/v1/cases/{case_id}/actions"));
    let first = &actions["participants"][0]["actions"][0];
    let mut write = format!(
        "/cases/{case_id}/write?from={}&to={}&sed={}",
        actions["participants"][0]["institution"].as_str().unwrap(),
        first["to"].as_str().unwrap(),
        first["sed"].as_str().unwrap()
    );
    if let Some(r) = first["related"].as_str() {
        write.push_str(&format!("&related={r}"));
    }
    let a = request("GET", &format!("{}{write}", be.base), &[], None);
    assert_eq!(a.status, 200, "{write}: {a:?}");
    assert_hardened(&a);
    assert!(a.body.contains("<script src=\"/write.js\" defer></script>"));
    let without_script = a
        .body
        .replace("<script src=\"/write.js\" defer></script>", "");
    for inline in ["<style", "style=", "<script", "onclick"] {
        assert!(!without_script.contains(inline), "{write} has {inline}");
    }
    let js = request("GET", &format!("{}/write.js", be.base), &[], None);
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_hardened(&js);
    // A SED the BUC does not allow now: refused, with what it allows.
    let a = request(
        "GET",
        &format!(
            "{}/cases/{case_id}/write?from=BE:ONSS&to=NL:SVB&sed=X002",
            be.base
        ),
        &[("accept", "text/html")],
        None,
    );
    assert_eq!(a.status, 409, "{a:?}");
    assert!(
        a.body.contains(first["sed"].as_str().unwrap()),
        "{}",
        a.body
    );
    let css = request("GET", &format!("{}/style.css", be.base), &[], None);
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(css.body.contains("border-collapse"));
    assert_hardened(&css);
    // The signed envelope and the JSON: not cached either.
    let env = request(
        "GET",
        &format!(
            "{}/api/v1/cases/{case_id}/documents/{}/versions/1",
            be.base,
            created["documentId"].as_str().unwrap()
        ),
        &[],
        None,
    );
    assert_eq!(env.status, 200);
    assert_eq!(env.header("cache-control"), Some("no-store"));
    assert_hardened(&env);
    for path in ["/api/v1/cases", "/health", "/api/v1/openapi.json"] {
        let a = request("GET", &format!("{}{path}", be.base), &[], None);
        assert_eq!(a.status, 200, "{path}");
        assert_hardened(&a);
    }
}

#[test]
fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // 127.0.0.2 plays the reverse proxy; the test connects from 127.0.0.1 too.
    let (be, _dir, _vhost) = serve("xff", "trusted_proxies = [\"127.0.0.2\"]\n", "");
    let created = onss_posting(&be);
    let case_id = created["caseId"].as_str().unwrap();
    let port: u16 = be.base.rsplit(':').next().unwrap().parse().unwrap();
    let read_from = |source: &str, xff: &str| {
        let socket = connect_from(source, port);
        let mut s = socket;
        let (status, _, body) = raw_exchange(
            &mut s,
            &format!(
                "GET /api/v1/cases/{case_id} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-forwarded-for: {xff}\r\nconnection: close\r\n\r\n"
            ),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
    };
    // From an untrusted peer the header is the client's claim: ignored.
    read_from("127.0.0.1", "203.0.113.7");
    // From the trusted proxy: the address it saw (the last one not a proxy).
    read_from("127.0.0.2", "198.51.100.1, 203.0.113.9");
    let audit = be.get_json("/api/v1/audit");
    let remotes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read-case")
        .map(|e| e["remote"].as_str().unwrap())
        .collect();
    assert_eq!(remotes.len(), 2, "{audit}");
    assert!(
        remotes.iter().any(|r| r.starts_with("127.0.0.1:")),
        "{remotes:?}"
    );
    assert!(remotes.contains(&"203.0.113.9"), "{remotes:?}");
    assert!(
        !remotes
            .iter()
            .any(|r| r.contains("203.0.113.7") || r.contains("198.51.100.1")),
        "{remotes:?}"
    );
}

/// A TCP connection to 127.0.0.1:`port` from the loopback address `source`.
fn connect_from(source: &str, port: u16) -> std::net::TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap()
    });
    let std = stream.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std
}

#[test]
fn a_configuration_fault_answers_500_without_a_server_path() {
    // The switch runs on copies of the schemas and adapters, broken after start.
    let vhost = Vhost::new("config-fault");
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &std::path::Path| {
        let (ok, out) = tool(
            "cp",
            &["-r", &format!("{ROOT}/{from}"), to.to_str().unwrap()],
        );
        assert!(ok, "{out}");
    };
    let schemas = dir.path().join("schemas-copy");
    let adapters = dir.path().join("adapters-copy");
    copy("sed-schemas", &schemas);
    copy("adapters", &adapters);
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            &format!("sed_schemas = \"{ROOT}/sed-schemas\""),
            &format!("sed_schemas = \"{}\"", schemas.display()),
        )
        .replace(
            &format!("adapters = \"{ROOT}/adapters\""),
            &format!("adapters = \"{}\"", adapters.display()),
        );
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);
    std::fs::remove_file(adapters.join("onss-posting/national.xsd")).unwrap();
    std::fs::remove_file(schemas.join("4.2/A003.xsd")).unwrap();

    let national = std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let a = request(
        "POST",
        &format!("{}/api/v1/national/onss-posting", be.base),
        &[("content-type", "application/xml")],
        Some(&national),
    );
    let sed = serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A003", "body": String::from_utf8(fixture("A003")).unwrap()}).to_string();
    let b = request(
        "POST",
        &format!("{}/api/v1/documents", be.base),
        &[("content-type", "application/json")],
        Some(sed.as_bytes()),
    );
    for answer in [&a, &b] {
        let p = answer.assert_problem(500);
        assert_eq!(
            p["type"],
            "urn:problem-type:eessi-switch:configurationError"
        );
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("internal configuration error"),
            "{p}"
        );
        for leak in [dir.path().to_str().unwrap(), ".xsd", "/"] {
            assert!(!answer.body.contains(leak), "{leak} leaks: {}", answer.body);
        }
    }
    // The operators have the detail, and a count.
    let log = be.log();
    assert!(
        log.contains("national.xsd") && log.contains("A003.xsd"),
        "{log}"
    );
    let (_, metrics) = try_get(&format!("{}/metrics", be.base)).unwrap();
    assert!(
        metrics.contains("eessi_configuration_faults_total 2"),
        "{metrics}"
    );
    assert_eq!(be.get_json("/api/v1/cases").as_array().unwrap().len(), 0);
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

#[test]
fn http_bounds_refuse_with_problems_and_show_in_metrics() {
    let (be, _dir, _vhost) = serve(
        "bounds",
        "concurrency_max = 1\nconnections_max = 2\n",
        "[limits]\nbody_bytes_max = 8192\n",
    );
    let addr = be.base.trim_start_matches("http://").to_owned();
    // Over the body limit: 413, with a Content-Length and with a chunked body.
    let big = vec![b' '; 9000];
    request(
        "POST",
        &format!("{}/api/v1/documents", be.base),
        &[("content-type", "application/json")],
        Some(&big),
    )
    .assert_problem(413);
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    let mut chunked = String::from(
        "POST /api/v1/documents HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    );
    for _ in 0..5 {
        chunked.push_str(&format!("7d0\r\n{}\r\n", " ".repeat(2000)));
    }
    chunked.push_str("0\r\n\r\n");
    let (status, head, body) = raw_exchange(&mut s, &chunked).unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    drop(s);

    // One request in hand (its body still coming) is all concurrency_max allows.
    let mut held = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut held,
        b"POST /api/v1/documents HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let a = request("GET", &format!("{}/health", be.base), &[], None);
    a.assert_problem(503);
    assert_eq!(a.header("retry-after"), Some("1"), "{a:?}");
    assert_hardened(&a);
    drop(held);

    // Two connections are all connections_max allows: a third is answered 503.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (mut c1, c2) = loop {
        // Earlier connections may take a moment to be released.
        let mut c1 = std::net::TcpStream::connect(&addr).unwrap();
        let mut c2 = std::net::TcpStream::connect(&addr).unwrap();
        let ok = |c: &mut std::net::TcpStream| {
            raw_exchange(c, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n").map(|r| r.0) == Some(200)
        };
        if ok(&mut c1) && ok(&mut c2) {
            break (c1, c2);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connections never released"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let mut c3 = std::net::TcpStream::connect(&addr).unwrap();
    let (status, head, body) =
        raw_exchange(&mut c3, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(body.contains("\"status\":503"), "{body}");
    // The held ones still work; the metrics (on one of them) count all this.
    let (status, _, metrics) =
        raw_exchange(&mut c1, "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(metric(&metrics, "eessi_http_concurrency_max"), 1);
    assert_eq!(metric(&metrics, "eessi_http_connections_max"), 2);
    assert_eq!(metric(&metrics, "eessi_http_requests_in_flight"), 1);
    assert_eq!(metric(&metrics, "eessi_http_connections_open"), 2);
    // At least the one above; the loop that waits for released connections may
    // meet the held request's slot still taken and be refused too.
    assert!(metric(&metrics, "eessi_http_overload_refused_total") >= 1);
    assert!(metric(&metrics, "eessi_http_connections_refused_total") >= 1);
    assert_eq!(metric(&metrics, "eessi_http_body_bytes_max"), 8192);
    assert_eq!(
        metric(&metrics, "eessi_http_header_read_timeout_ms"),
        10_000
    );
    assert_eq!(metric(&metrics, "eessi_http_idle_timeout_ms"), 60_000);
    drop(c2);
    drop(c1);
}

#[test]
fn slow_headers_and_idle_connections_are_closed() {
    let t = std::time::Duration::from_secs(5);
    // Headers must arrive within 500 ms.
    let (be, _dir, _vhost) = serve("slow", "header_read_timeout_ms = 500\n", "");
    let addr = be.base.trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut s, b"GET /health HTTP/1.1\r\nhost: x\r\n").unwrap();
    let started = std::time::Instant::now();
    assert!(
        closed_within(&mut s, t),
        "a slow client keeps its connection"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    drop(be);

    // A connection without a request for 500 ms is closed; one in use is not.
    let (be, _dir, _vhost) = serve("idle", "idle_timeout_ms = 500\n", "");
    let addr = be.base.trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    for _ in 0..3 {
        // Requests 300 ms apart keep it open.
        let (status, _, _) =
            raw_exchange(&mut s, "GET /health HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        assert_eq!(status, 200);
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let started = std::time::Instant::now();
    assert!(closed_within(&mut s, t), "an idle connection stays open");
    assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    let (_, metrics) = try_get(&format!("{}/metrics", be.base)).unwrap();
    assert!(metric(&metrics, "eessi_http_connections_idle_closed_total") >= 1);
}

/// `Idempotency-Key` over HTTP on a real `serve`: a retry with the same key and
/// body gets the first answer (same ids, `Idempotent-Replayed: true`) and makes no
/// second case, also when the retries race; the same key with another body is a 422
/// problem; another caller's key is another key space; a malformed key is a 400.
#[test]
fn an_idempotency_key_makes_one_submission_however_often_it_is_sent() {
    let (be, _dir, _vhost) = serve("idem", "", "");
    let url = format!("{}/api/v1/national/onss-posting", be.base);
    let body = std::fs::read(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let post = |key: &str, body: &[u8]| {
        request(
            "POST",
            &url,
            &[
                ("content-type", "application/xml"),
                ("idempotency-key", key),
            ],
            Some(body),
        )
    };
    let first = post("\"order-1\"", &body);
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post("\"order-1\"", &body);
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the same ids");
    // Racing retries of a new key: one submission, one answer for all.
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6).map(|_| s.spawn(|| post("order-2", &body))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|a| a.status == 202), "{answers:?}");
    assert!(
        answers.iter().all(|a| a.body == answers[0].body),
        "{answers:?}"
    );
    assert_ne!(answers[0].body, first.body);
    // The same key with another request.
    let other = String::from_utf8(body.clone()).unwrap().replacen(
        "<Gender>",
        "<!-- changed --><Gender>",
        1,
    );
    assert!(other.as_bytes() != &body[..], "the request differs");
    post("\"order-1\"", other.as_bytes()).assert_problem(422);
    post("", &body).assert_problem(400);
    post(&"k".repeat(300), &body).assert_problem(400);
    // Two cases in all: one per key.
    let cases: serde_json::Value =
        serde_json::from_str(&request("GET", &format!("{}/api/v1/cases", be.base), &[], None).body)
            .unwrap();
    assert_eq!(cases.as_array().map(Vec::len), Some(2), "{cases}");
}
