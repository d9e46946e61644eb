//! The case handler's day in a real browser: headless Chromium (Debian's
//! `chromium`), driven over WebDriver (`chromium-driver`) with `fantoccini`,
//! against a real `eessi-switch serve` on the real RabbitMQ. It signs in with the
//! sign-in form, looks for the case with the filter form, opens the case, reads a
//! field of the rendered SED, sends a reminder (X009) and sees it in the timeline,
//! sends a failed SED again and sees that in the timeline, switches the language,
//! and checks every page with axe-core (no serious or critical violation).
//! Screenshots go to `target/browser/` (their paths are printed).
//!
//! Needs `chromium`, `chromedriver` and axe-core: `scripts/setup` installs them.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};

const ISSUER: &str = "eessi-switch-test-issuer";

fn token(institution: &str, scope: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = eessi_switch::api::auth::Claims {
        sub: format!("handler-of-{institution}"),
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

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) is missing: run scripts/setup");
        let d = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn axe_source() -> String {
    let path = std::env::var_os("EESSI_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            cache.join("eessi-switch/axe/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): run scripts/setup",
            path.display()
        )
    })
}

fn shots_dir() -> PathBuf {
    root().join("target/browser")
}

/// The browser, with what each step needs.
struct Browser {
    c: Client,
    axe: String,
    base: String,
    shot: usize,
}

impl Browser {
    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// Wait until the browser is at a URL whose path and query satisfy `ok` (a
    /// click that navigates returns before the next page is there).
    async fn wait_url(&self, what: &str, ok: impl Fn(&str, &str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let u = self.c.current_url().await.unwrap();
            if ok(u.path(), u.query().unwrap_or("")) {
                return;
            }
            if Instant::now() >= deadline {
                let main = match self.c.find(Locator::Css("main")).await {
                    Ok(m) => m.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                panic!("never reached {what}: at {u}, showing: {main}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the page has an element matching `css`.
    async fn wait_css(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.c.find(Locator::Css(css)).await.is_err() {
            assert!(Instant::now() < deadline, "no {css} appeared");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn css(&self, css: &str) -> fantoccini::elements::Element {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!(
                "no {css} on {:?}: {e}\n{}",
                self.c.current_url().await.ok(),
                self.c.source().await.unwrap_or_default()
            ),
        }
    }

    async fn text(&self, css: &str) -> String {
        self.css(css).await.text().await.unwrap()
    }

    /// A screenshot under target/browser/, its path printed.
    async fn screenshot(&mut self, name: &str) {
        self.shot += 1;
        let png = self.c.screenshot().await.unwrap();
        let path = shots_dir().join(format!("{:02}-{name}.png", self.shot));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }

    /// axe-core on the page as it is: no serious or critical violation.
    async fn axe(&self, page: &str) {
        self.c.execute(&self.axe, vec![]).await.unwrap();
        let found = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(
                   r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' — ' +
                          v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))
                 )).catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        let list: Vec<String> = serde_json::from_value(found).unwrap();
        assert!(list.is_empty(), "axe-core on {page}:\n{}", list.join("\n"));
    }
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn case_json(be: &Server, t: &str, case_id: &str) -> serde_json::Value {
    try_case_json(be, t, case_id).unwrap_or_else(|| panic!("case {case_id} is not at BE"))
}

/// The case as the API shows it; None while it does not exist (yet).
fn try_case_json(be: &Server, t: &str, case_id: &str) -> Option<serde_json::Value> {
    let a = request(
        "GET",
        &format!("{}/api/v1/cases/{case_id}", be.base),
        &[("authorization", &bearer(t))],
        None,
    );
    if a.status == 404 {
        return None;
    }
    assert_eq!(a.status, 200, "{a:?}");
    Some(serde_json::from_str(&a.body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_handler_signs_in_finds_reads_reminds_and_resends_in_a_browser() {
    let axe = axe_source();
    // This run's screenshots only.
    let _ = std::fs::remove_dir_all(shots_dir());
    std::fs::create_dir_all(shots_dir()).unwrap();
    let vhost = Vhost::new("browser");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A short schedule: DE's inbox does not exist, so the SED fails quickly.
    let config = write_config(
        dir.path(),
        "BE",
        &vhost.url(),
        port,
        &Retry {
            interval_ms: 300,
            attempts_max: 2,
            window_ms: 20_000,
        },
    );
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!(
        "[auth]\nissuer = \"{ISSUER}\"\naudience = \"eessi-switch\"\npublic_key = \"{}/fixtures/auth/issuer.pub.pem\"\n",
        root().display()
    );
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);
    let nl = Server::start(dir.path(), "NL", &vhost, &Retry::default());
    let onss = token("BE:ONSS", "submit read handle");

    // ONSS asks DE:TK for an exception (A001, LA_BUC_01): it awaits an answer, so
    // a reminder is allowed; it fails (nobody receives it).
    let body = std::fs::read_to_string(root().join("fixtures/sed/4.2/A001.xml")).unwrap();
    let req = serde_json::json!({"from": "BE:ONSS", "to": "DE:TK", "buc": "LA_BUC_01", "sed": "A001", "body": body});
    let a = request(
        "POST",
        &format!("{}/api/v1/documents", be.base),
        &[
            ("authorization", &bearer(&onss)),
            ("content-type", "application/json"),
        ],
        Some(req.to_string().as_bytes()),
    );
    assert_eq!(a.status, 202, "{a:?}");
    let created: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let case_id = created["caseId"].as_str().unwrap().to_owned();
    let message_id = created["messageId"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = case_json(&be, &onss, &case_id);
        if c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["messageId"] == message_id.as_str() && m["status"] == "failed")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the A001 never failed: {c}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let driver = Driver::start();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-GB"]}),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session (chromium installed? run scripts/setup)");
    let mut b = Browser {
        c,
        axe,
        base: be.base.clone(),
        shot: 0,
    };

    // Not signed in: the list sends the browser to the sign-in page.
    b.go("/").await;
    b.wait_url("the sign-in page", |p, _| p == "/signin").await;
    b.axe("the sign-in page").await;
    b.screenshot("signin").await;
    // A wrong token: the form again, with the reason, in the page.
    b.css("#token")
        .await
        .send_keys("not-a-token")
        .await
        .unwrap();
    b.css("form.stack button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_css("#token-error").await;
    assert!(b.text("#token-error").await.contains("refused"));
    b.axe("the refused sign-in").await;
    // Sign in.
    let field = b.css("#token").await;
    field.clear().await.unwrap();
    field.send_keys(&onss).await.unwrap();
    b.css("form.stack button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the case list", |p, _| p == "/").await;
    assert!(b.text("header").await.contains("handler-of-BE:ONSS"));

    // Find the case: search the person the SEDs name (indexed from their person
    // blocks; case and accents do not matter), among the open cases.
    b.css("#f-name").await.send_keys("verhoev").await.unwrap();
    b.css("#f-status")
        .await
        .select_by_value("open")
        .await
        .unwrap();
    b.css("form[role=search] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the filtered list", |_, q| {
        q.contains("name=verhoev") && q.contains("status=open")
    })
    .await;
    let row = b.text("#cases tbody").await;
    assert!(row.contains("Exceptions (LA_BUC_01)"), "{row}");
    assert!(
        row.contains("a message failed"),
        "the failure shows in the list: {row}"
    );
    b.axe("the case list").await;
    b.screenshot("case-list").await;

    // Open it.
    b.css(&format!("#cases a[href='/cases/{case_id}']"))
        .await
        .click()
        .await
        .unwrap();
    let case_path = format!("/cases/{case_id}");
    b.wait_url("the case page", |p, _| p == case_path).await;
    assert!(b.text("h1").await.starts_with("Exceptions"));
    assert!(
        b.text("[role=alert]")
            .await
            .contains("could not be delivered")
    );
    // The rendered SED: a labelled field and its value.
    assert_eq!(b.text("dd[data-field=FamilyName]").await, "Verhoeven");
    // The diagram marks the conversation's current state.
    assert!(
        b.css("figure.diagram g.current[data-state=requested]")
            .await
            .text()
            .await
            .is_ok()
    );
    b.axe("the case page").await;
    b.screenshot("case").await;

    // A reminder (X009) about the A001.
    b.css("section.actions form[action$='/reminder'] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the reminder's answer", |_, q| q == "done=reminder")
        .await;
    assert!(b.text("p.notice").await.contains("reminder"));
    let timeline = b.text("#history").await;
    assert!(
        timeline.contains("X009"),
        "the reminder is in the timeline: {timeline}"
    );
    b.screenshot("reminder-sent").await;

    // The failed A001 again.
    let resend = format!("form[action='/messages/{message_id}/resend'] button");
    b.css(&resend).await.click().await.unwrap();
    b.wait_url("the resend's answer", |_, q| q == "done=resend")
        .await;
    assert!(b.text("p.notice").await.contains("sent again"));
    let timeline = b.text("#history").await;
    assert!(
        timeline.contains("sent again by a case handler"),
        "{timeline}"
    );
    b.axe("the case page after the actions").await;
    b.screenshot("resent").await;
    let c = case_json(&be, &onss, &case_id);
    assert!(
        c["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["event"] == "resent"),
        "{c}"
    );

    // Close the case (X001): a form generated for the SED, with a labelled reason.
    b.css("details.xsed:has(input[name=sed][value=X001]) summary")
        .await
        .click()
        .await
        .unwrap();
    b.css("details.xsed:has(input[name=sed][value=X001]) select[name=reason]")
        .await
        .select_by_value("no_longer_relevant")
        .await
        .unwrap();
    b.axe("the case page with the closure form open").await;
    b.screenshot("close-form").await;
    b.css("details.xsed:has(input[name=sed][value=X001]) button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the closure's answer", |_, q| q == "done=sent")
        .await;
    assert!(b.text("#history").await.contains("X001"));
    let c = case_json(&be, &onss, &case_id);
    assert_eq!(c["status"], "closed", "{c}");

    // Answer a request from abroad with a SED written in the form its schema makes:
    // NL decides (A003, LA_BUC_02) and ONSS disagrees (A004).
    let a003 = nl.send("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", None, None);
    let case2 = a003["caseId"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while try_case_json(&be, &onss, &case2).is_none_or(|c| c["state"] != "awaiting_reply") {
        assert!(Instant::now() < deadline, "the A003 never arrived at BE");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.go(&format!("/cases/{case2}")).await;
    b.css("section.actions a[href*='/write?'][href*='sed=A004']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the A004 form", |p, _| p.ends_with("/write"))
        .await;
    // The person block comes from the A003 it answers.
    let family = "#f-InsuredPerson-PersonIdentification-FamilyName";
    assert_eq!(
        b.css(family).await.prop("value").await.unwrap().as_deref(),
        Some("Verhoeven")
    );
    // Sent without a reason: the form again, the issue at the field, nothing sent.
    b.css("button[name=op][value=send]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_css("#issues").await;
    assert!(
        b.text("#e-Disagreement-Reason").await.contains("required"),
        "{}",
        b.text("#issues").await
    );
    b.axe("the SED form with its issues").await;
    b.screenshot("reply-issues").await;
    // As the user types, the schema check runs and the issue goes; the draft is kept.
    b.css("#f-Disagreement-Reason")
        .await
        .send_keys("Belgian legislation applies: most of the work is done in Belgium.")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.text("#e-Disagreement-Reason").await.is_empty()
        || !b.text("#check-status").await.contains("saved")
    {
        assert!(
            Instant::now() < deadline,
            "the check as you type never cleared the issue"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A wrong date is found as it is typed, next to its field.
    let birth = "#f-InsuredPerson-PersonIdentification-DateBirth";
    b.c.execute(
        &format!(
            "var e = document.querySelector('{birth}'); e.type = 'text'; e.value = '31/07/1985'; \
             e.dispatchEvent(new Event('input', {{bubbles: true}}));"
        ),
        vec![],
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while b
        .text("#e-InsuredPerson-PersonIdentification-DateBirth")
        .await
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the bad date was never flagged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.c.execute(
        &format!(
            "var e = document.querySelector('{birth}'); e.value = '1985-07-31'; \
             e.dispatchEvent(new Event('input', {{bubbles: true}}));"
        ),
        vec![],
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b
        .text("#e-InsuredPerson-PersonIdentification-DateBirth")
        .await
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the corrected date was never accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.screenshot("reply-form").await;
    // Left and opened again: the draft is there.
    b.go(&format!("/cases/{case2}")).await;
    assert!(b.text("section.actions").await.contains("draft saved"));
    b.css("section.actions a[href*='/write?'][href*='sed=A004']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_css("p.note").await;
    assert!(b.text("p.note").await.contains("draft"));
    assert!(
        b.css("#f-Disagreement-Reason")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("most of the work")
    );
    b.axe("the SED form").await;
    b.css("button[name=op][value=send]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the reply's answer", |_, q| q == "done=sent")
        .await;
    assert!(b.text("#history").await.contains("A004"));
    let at_nl = nl.wait_state(&case2, "disagreed");
    assert!(
        at_nl["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["sed"] == "A004"),
        "{at_nl}"
    );
    b.screenshot("reply-sent").await;
    b.go(&case_path).await;

    // In French, on a phone-sized screen.
    b.css("#lang").await.select_by_value("fr").await.unwrap();
    b.css("form.language button").await.click().await.unwrap();
    b.wait_css("html[lang=fr]").await;
    b.wait_url("the case page again", |p, _| p == case_path)
        .await;
    assert!(b.text("#summary").await.contains("Résumé"));
    assert!(
        b.text("section[aria-labelledby=participants]")
            .await
            .contains("propriétaire du dossier")
    );
    b.c.set_window_size(390, 844).await.unwrap();
    b.axe("the case page in French on a narrow screen").await;
    // Nothing wider than the screen: no sideways scrolling of the page itself
    // (wide tables scroll inside their own focusable region).
    let wide = b
        .c
        .execute(
            "const w = document.documentElement.clientWidth;
             return [...document.querySelectorAll('body *')]
               .filter(e => !(e.parentElement && e.parentElement.closest('.table-wrap')) && e.getBoundingClientRect().right > w + 1)
               .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
               .concat(document.documentElement.scrollWidth > w ? ['page ' + document.documentElement.scrollWidth + ' > ' + w] : []);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wide, serde_json::json!([]), "wider than a 390 px screen");
    b.screenshot("case-fr-narrow").await;

    // A case that is not there (or not ONSS's): a page that does not say which.
    b.go("/cases/00000000000000000000000000000000").await;
    assert!(b.text("main").await.contains("Aucun dossier"));
    b.axe("the not-found page").await;

    // Sign out: the cookie is gone, the list asks to sign in again.
    b.c.set_window_size(1280, 1000).await.unwrap();
    b.go("/").await;
    b.css("header form[action='/signout'] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the sign-in page after signing out", |p, _| p == "/signin")
        .await;
    b.go("/").await;
    b.wait_url("the sign-in page again", |p, _| p == "/signin")
        .await;

    // An operator: the operations page (triage and dead letters), linked from the header.
    let operator = token("BE:ONSS", "read handle operate");
    b.css("#token").await.send_keys(&operator).await.unwrap();
    b.css("form.stack button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the case list", |p, _| p == "/").await;
    b.css("header a[href='/operations']")
        .await
        .click()
        .await
        .unwrap();
    b.wait_url("the operations page", |p, _| p == "/operations")
        .await;
    // (still in French: the language choice outlives the session)
    assert_eq!(b.text("h2#dead").await, "Lettres mortes");
    assert!(b.text("h2#triage").await.starts_with("SED reçus"));
    b.axe("the operations page").await;
    b.screenshot("operations").await;
    b.c.close().await.unwrap();
}
