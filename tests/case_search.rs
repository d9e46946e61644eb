//! Finding cases (issue 12, items 2 and 7) against a real `eessi-switch serve`
//! with `[auth]` on: the person index filled by real submissions, the case list's
//! filters and cursor over HTTP, and the CLI (`case list|show|actions|act`,
//! `dead-letters`, `triage`) run as the real binary against that server.

mod common;

use common::*;

const ISSUER: &str = "eessi-switch-test-issuer";

fn token(institution: &str, scope: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = eessi_switch::api::auth::Claims {
        sub: format!("cli-of-{institution}"),
        iss: ISSUER.into(),
        aud: "eessi-switch".into(),
        exp: (now + 600) as u64,
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

/// The CLI with these arguments, the switch's URL and a token in the environment.
fn cli(base: &str, token: &str, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eessi-switch"))
        .args(args)
        .env("EESSI_URL", base)
        .env("EESSI_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["caseId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_person_s_case_is_found_over_http_and_from_the_cli() {
    let vhost = Vhost::new("search");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!(
        "[auth]\nissuer = \"{ISSUER}\"\naudience = \"eessi-switch\"\npublic_key = \"{ROOT}/fixtures/auth/issuer.pub.pem\"\n"
    );
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);
    let onss = token("BE:ONSS", "submit read handle");
    let onem = token("BE:ONEM", "read");
    let operator = token("BE:ONSS", "read operate");

    // Case A through the API: A003 names Lotte Verhoeven, born 1985-07-31, with a
    // Belgian and a Dutch PIN.
    let a003 = String::from_utf8(fixture("A003")).unwrap();
    let a = request(
        "POST",
        &format!("{}/api/v1/documents", be.base),
        &[
            ("authorization", &format!("Bearer {onss}")),
            ("content-type", "application/json"),
        ],
        Some(
            serde_json::json!({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02",
                "sed": "A003", "body": a003})
            .to_string()
            .as_bytes(),
        ),
    );
    assert_eq!(a.status, 202, "{a:?}");
    let case_a = json(&a.body)["caseId"].as_str().unwrap().to_owned();

    // Case B from the CLI (`case act` under a new case id starts the case): the
    // same SED about someone else.
    let other = a003
        .replace("Verhoeven", "Dupont-Brüggen")
        .replace("Lotte", "Élodie")
        .replace("1985-07-31", "1990-01-02")
        .replace("85073100229", "90010212345")
        .replace("123456782", "987654329");
    let body = dir.path().join("b.xml");
    std::fs::write(&body, other).unwrap();
    let case_b = "0190aaaabbbb7ccc8ddd0123456789ab";
    let (code, out) = cli(
        &be.base,
        &onss,
        &[
            "case",
            "act",
            case_b,
            "--from",
            "BE:ONSS",
            "--to",
            "NL:SVB",
            "--sed",
            "A003",
            "--buc",
            "LA_BUC_02",
            "--body",
            body.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("A003 sent in case {case_b}")),
        "{out}"
    );

    // Over HTTP: each person filter finds its case, normalised as indexed.
    let list = |q: &str, t: &str| be.get_json_as(&format!("/api/v1/cases?{q}"), t);
    assert_eq!(ids(&list("name=VERHOE", &onss)), [case_a.as_str()]);
    assert_eq!(ids(&list("name=dupont%20bru", &onss)), [case_b.to_owned()]);
    assert_eq!(
        ids(&list("name=elo", &onss)),
        [case_b.to_owned()],
        "forename, no accent"
    );
    assert_eq!(ids(&list("birthDate=1985-07-31", &onss)), [case_a.as_str()]);
    assert_eq!(ids(&list("pin=900102-123.45", &onss)), [case_b.to_owned()]);
    assert_eq!(
        ids(&list("pin=123456782", &onss)),
        [case_a.as_str()],
        "the Dutch PIN too"
    );
    assert_eq!(
        list("name=verhoeven&birthDate=1990-01-02", &onss),
        serde_json::json!([])
    );
    assert_eq!(
        ids(&list("sector=LA&counterpartCountry=NL&status=open", &onss)).len(),
        2
    );
    assert_eq!(list("sector=H", &onss), serde_json::json!([]));
    // Another institution's handler sees neither (its scope), an operator both.
    assert_eq!(list("name=verhoeven", &onem), serde_json::json!([]));
    assert_eq!(ids(&list("", &operator)).len(), 2);

    // Pages of one, followed by the Link header's cursor.
    let page = request(
        "GET",
        &format!("{}/api/v1/cases?limit=1&sort=created", be.base),
        &[("authorization", &format!("Bearer {onss}"))],
        None,
    );
    assert_eq!(page.status, 200);
    let link = page.header("link").expect("a next link").to_owned();
    assert!(
        link.starts_with("</api/v1/cases?limit=1&sort=created&cursor="),
        "{link}"
    );
    let next = &link[1..link.find('>').unwrap()];
    let second = be.get_json_as(next, &onss);
    let mut both = ids(&json(&page.body));
    both.extend(ids(&second));
    assert_eq!(
        both,
        [case_b.to_owned(), case_a.clone()],
        "newest first, each once"
    );

    // A bad filter is a 400 problem naming each parameter; person values are not echoed.
    let bad = request(
        "GET",
        &format!(
            "{}/api/v1/cases?birthDate=1985-02-30&sector=XX&limit=100000",
            be.base
        ),
        &[("authorization", &format!("Bearer {onss}"))],
        None,
    );
    let p = bad.assert_problem(400);
    let names: Vec<&str> = p["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["birthDate", "sector", "limit"], "{p}");
    assert!(!bad.body.contains("1985-02-30"), "{}", bad.body);
    let typo = request(
        "GET",
        &format!("{}/api/v1/cases?nmae=verhoeven", be.base),
        &[("authorization", &format!("Bearer {onss}"))],
        None,
    );
    typo.assert_problem(400);

    // The CLI: the same filters as flags, a table or JSON.
    let (code, out) = cli(
        &be.base,
        &onss,
        &["case", "list", "--name", "verh", "--json"],
    );
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert_eq!(ids(&v["cases"]), [case_a.as_str()]);
    assert_eq!(v["next"], serde_json::Value::Null);
    let (code, out) = cli(&be.base, &onss, &["case", "list", "--pin", "90010212345"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("CASE"), "{out}");
    assert!(out.contains(case_b) && !out.contains(&case_a), "{out}");
    let (code, out) = cli(
        &be.base,
        &onss,
        &["case", "list", "--limit", "1", "--sort", "id", "--json"],
    );
    assert_eq!(code, 0, "{out}");
    let first = json(&out);
    let cursor = first["next"].as_str().expect("a cursor").to_owned();
    let (code, out) = cli(
        &be.base,
        &onss,
        &[
            "case", "list", "--limit", "1", "--sort", "id", "--cursor", &cursor, "--json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let mut by_id = vec![case_a.clone(), case_b.to_owned()];
    by_id.sort();
    let mut paged = ids(&first["cases"]);
    paged.extend(ids(&json(&out)["cases"]));
    assert_eq!(paged, by_id);
    // A bad filter: the problem's issues, and a failing exit.
    let (code, out) = cli(
        &be.base,
        &onss,
        &["case", "list", "--birth-date", "31/07/1985"],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("400") && out.contains("birthDate"), "{out}");
    // Flags instead of the environment.
    let (code, out) = cli(
        "http://127.0.0.1:9",
        "nothing",
        &["case", "show", &case_a, "--url", &be.base, "--token", &onss],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("DOCUMENTS") && out.contains("A003"), "{out}");
    assert!(out.contains("DEADLINES"), "A003 awaits a reply: {out}");
    let (code, out) = cli(&be.base, &onss, &["case", "show", &case_a, "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&out)["caseId"], case_a.as_str());
    let (code, out) = cli(&be.base, &onss, &["case", "actions", &case_a]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("AS") && out.contains("BE:ONSS"), "{out}");
    // The other institution may not read the case.
    let (code, out) = cli(&be.base, &onem, &["case", "show", &case_a]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("403"), "{out}");

    // Operators' lists through the API; a handler's token is refused.
    let (code, out) = cli(&be.base, &operator, &["dead-letters", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ID"), "{out}");
    let (code, out) = cli(&be.base, &operator, &["triage", "list", "--all", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert!(json(&out).is_array(), "{out}");
    let (code, out) = cli(&be.base, &onss, &["dead-letters", "list"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("403"), "{out}");
    // No switch to ask.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eessi-switch"))
        .args(["case", "list"])
        .env_remove("EESSI_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--url"));
}
