//! The batch channel (issue 10, item 7) against a real `eessi-switch serve` on the
//! real RabbitMQ: `POST /api/v1/national/{adapter}/batch` answers every item in
//! order (accepted, replayed, refused with the single route's located problem, a
//! malformed line included), within its bounds; and `eessi-switch submit --batch`
//! sends a 1,000-item file through a switch that is SIGKILLed half-way, and again
//! with the command itself killed half-way: each rerun ends with exactly 1,000
//! cases, none twice, the ids of every item the first run saw answered unchanged.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The ONSS posting fixture, made distinct by a numbered host workplace.
fn national(n: usize) -> String {
    let text = std::fs::read_to_string(root().join("fixtures/national/onss-posting.xml")).unwrap();
    let marker = "<Name>Bouwplaats Kanaalbrug</Name>";
    assert!(text.contains(marker));
    text.replace(marker, &format!("<Name>Bouwplaats Kanaalbrug {n}</Name>"))
}

fn item(key: Option<&str>, message: &str) -> String {
    match key {
        Some(k) => serde_json::json!({"key": k, "message": message}).to_string(),
        None => serde_json::json!({"message": message}).to_string(),
    }
}

fn post_batch(be: &Server, adapter: &str, body: &str) -> Answer {
    request(
        "POST",
        &format!("{}/api/v1/national/{adapter}/batch", be.base),
        &[("content-type", "application/x-ndjson")],
        Some(body.as_bytes()),
    )
}

/// The answer's lines, checked to be one per item, in order.
fn answers(a: &Answer, items: usize) -> Vec<serde_json::Value> {
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = a
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), items, "{}", a.body);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["index"], i, "{l}");
    }
    lines
}

fn ids(v: &serde_json::Value) -> [String; 4] {
    ["caseId", "documentId", "documentVersion", "messageId"].map(|k| v[k].to_string())
}

/// A counter or gauge from `/metrics` (0 when absent).
fn metric(be: &Server, name: &str) -> u64 {
    let (status, text) = try_get(&format!("{}/metrics", be.base)).unwrap_or((0, String::new()));
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_batch_answers_every_item_in_order_good_invalid_malformed_and_replayed() {
    let vhost = Vhost::new("batch");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut text = std::fs::read_to_string(&config).unwrap();
    // A batch's body may exceed the single request's bound; each message may not.
    text += "[limits]\nbody_bytes_max = 8192\nbatch_items_max = 8\nbatch_body_bytes_max = 262144\nbatch_concurrency = 4\n";
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);

    // A single submission under a key: a batch item with that key and message is
    // its replay, with another message a 422.
    let single = request(
        "POST",
        &format!("{}/api/v1/national/onss-posting", be.base),
        &[
            ("content-type", "application/xml"),
            ("idempotency-key", "single-1"),
        ],
        Some(national(1).as_bytes()),
    );
    assert_eq!(single.status, 202, "{single:?}");
    let single: serde_json::Value = serde_json::from_str(&single.body).unwrap();

    let bad_date =
        std::fs::read_to_string(root().join("fixtures/national/invalid/onss-posting-bad-date.xml"))
            .unwrap();
    let body = [
        item(Some("k-good"), &national(2)),
        item(Some("k-invalid"), &bad_date),
        "this is not a batch item".to_owned(),
        item(Some("single-1"), &national(1)),
        String::new(),
        item(None, &national(3)),
        item(Some("k-good"), &national(2)),
        item(Some("single-1"), &national(4)),
        // The institution's own reference replays the way a key does.
        item(
            None,
            &national(5).replace(
                "<Receiver>NL:SVB</Receiver>",
                "<Receiver>NL:SVB</Receiver>\n  <Reference>LIMOSA-BATCH-1</Reference>",
            ),
        ),
    ]
    .join("\n");
    let a = post_batch(&be, "onss-posting", &body);
    let first = answers(&a, 8);
    let status: Vec<&str> = first
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    // Items 0 and 5 share a key and a message and run concurrently: one submits,
    // the other gets its ids.
    let mut pair = [status[0], status[5]];
    pair.sort();
    assert_eq!(pair, ["accepted", "replayed"], "{}", a.body);
    assert_eq!(ids(&first[0]), ids(&first[5]));
    assert_eq!(
        [
            status[1], status[2], status[3], status[4], status[6], status[7]
        ],
        [
            "refused", "refused", "replayed", "accepted", "refused", "accepted"
        ],
        "{}",
        a.body
    );
    // Line numbers are the body's (a blank line is not an item).
    let lines: Vec<u64> = first.iter().map(|v| v["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [1, 2, 3, 4, 6, 7, 8, 9]);
    assert_eq!(first[0]["key"], "k-good");
    assert!(first[4]["key"].is_null());
    // The invalid message: the single route's located problem.
    let p = &first[1]["problem"];
    assert_eq!(p["status"], 400, "{p}");
    assert_eq!(p["type"], "urn:problem-type:belgif:badRequest");
    assert!(
        p["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["in"] == "body" && i["line"].as_u64().is_some_and(|l| l > 1)),
        "{p}"
    );
    let (_, single_bad) = post(
        &format!("{}/api/v1/national/onss-posting", be.base),
        "application/xml",
        bad_date.as_bytes(),
    );
    let single_bad: serde_json::Value = serde_json::from_str(&single_bad).unwrap();
    assert_eq!(p["issues"], single_bad["issues"]);
    // The malformed line: refused with its line number.
    let p = &first[2]["problem"];
    assert_eq!(p["status"], 400, "{p}");
    assert_eq!(p["issues"][0]["line"], 3, "{p}");
    // The single submission's replay, and its key reused with another message.
    assert_eq!(
        ids(&first[3]),
        ["caseId", "documentId", "documentVersion", "messageId"].map(|k| single[k].to_string())
    );
    assert_eq!(first[6]["problem"]["status"], 422);
    assert_eq!(
        first[6]["problem"]["type"],
        "urn:problem-type:eessi-switch:idempotencyKeyReused"
    );

    // The same batch again: every item with a key or a reference is replayed with
    // the same ids; the one with neither is a new submission.
    let again = answers(&post_batch(&be, "onss-posting", &body), 8);
    for i in [0, 3, 5, 7] {
        assert_eq!(again[i]["status"], "replayed", "{}", again[i]);
        assert_eq!(ids(&again[i]), ids(&first[i]));
    }
    assert_eq!(again[4]["status"], "accepted");
    assert_ne!(again[4]["caseId"], first[4]["caseId"]);
    for i in [1, 2, 6] {
        assert_eq!(again[i]["status"], "refused");
    }

    // Five cases: the single one, k-good, the referenced one, and the item with
    // neither key nor reference twice.
    let cases = be.get_json("/api/v1/cases");
    assert_eq!(cases.as_array().unwrap().len(), 5, "{cases}");
    for (name, value) in [
        ("eessi_batch_items_accepted_total", 4),
        ("eessi_batch_items_replayed_total", 6),
        ("eessi_batch_items_refused_total", 6),
        ("eessi_limit{name=\"batch_body_bytes_max\"}", 262_144),
        ("eessi_limit{name=\"batch_items_max\"}", 8),
    ] {
        assert_eq!(metric(&be, name), value, "{name}");
    }
    // Audited like single submissions: one entry per submission that committed.
    let audit = be.get_json("/api/v1/audit");
    let submits = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "submit")
        .count();
    assert_eq!(submits, 5, "{audit}");

    // A message over body_bytes_max is refused as the single route refuses it.
    let big_item = answers(
        &post_batch(&be, "onss-posting", &item(None, &"x".repeat(9000))),
        1,
    );
    assert_eq!(big_item[0]["problem"]["status"], 413, "{}", big_item[0]);
    assert!(body.len() > 8192, "the batch itself is over body_bytes_max");
    // Beyond the bounds, nothing is submitted: 413 before any item.
    let nine = vec![item(None, &national(9)); 9].join("\n");
    post_batch(&be, "onss-posting", &nine).assert_problem(413);
    let big = item(None, &"x".repeat(300_000));
    post_batch(&be, "onss-posting", &big).assert_problem(413);
    assert_eq!(be.get_json("/api/v1/cases").as_array().unwrap().len(), 5);
    // The route's own media type, and the adapter must exist.
    request(
        "POST",
        &format!("{}/api/v1/national/onss-posting/batch", be.base),
        &[("content-type", "application/json")],
        Some(item(None, &national(9)).as_bytes()),
    )
    .assert_problem(415);
    post_batch(&be, "no-such-adapter", &item(None, &national(9))).assert_problem(404);
    // An empty batch is answered with no lines.
    assert!(answers(&post_batch(&be, "onss-posting", "\n"), 0).is_empty());
}

/// A 1,000-item batch file of distinct postings.
fn batch_file(dir: &Path, items: usize) -> PathBuf {
    let path = dir.join("postings.ndjson");
    let text: String = (0..items)
        .map(|n| item(None, &national(n)) + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// `eessi-switch submit --batch` against `be`, its results into `out`.
fn submit(be: &Server, batch: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_eessi-switch"))
        .args(["submit", "--adapter", "onss-posting", "--chunk", "100"])
        .args(["--url", &be.base])
        .arg("--batch")
        .arg(batch)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(out.with_extension("stderr")).unwrap())
        .spawn()
        .expect("spawn eessi-switch submit")
}

fn wait_exit(child: &mut Child, within: Duration) -> i32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "eessi-switch submit did not end in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the switch has accepted `n` batch items (the CLI still running).
fn wait_accepted(be: &Server, cli: &mut Child, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric(be, "eessi_batch_items_accepted_total") < n {
        assert!(
            cli.try_wait().unwrap().is_none(),
            "the batch ended before {n} items were accepted"
        );
        assert!(Instant::now() < deadline, "{n} items never accepted");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Items the switch answered with an earlier submission's ids in this run.
fn replayed(run: &[serde_json::Value]) -> usize {
    run.iter()
        .filter(|v| v["status"] == "replayed" && v["fromJournal"] != true)
        .count()
}

fn results(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// After a run that was cut short (`first`) and one that finished (`rerun`):
/// every item accepted once, with the ids the first run saw where it saw them,
/// and the store holds exactly those 1,000 cases.
fn check_exactly_once(
    first: &[serde_json::Value],
    rerun: &[serde_json::Value],
    store_cases: &BTreeSet<String>,
) {
    assert_eq!(rerun.len(), 1000);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, v) in rerun.iter().enumerate() {
        assert_eq!(v["index"], i, "{v}");
        assert!(
            matches!(v["status"].as_str(), Some("accepted" | "replayed")),
            "{v}"
        );
        *seen
            .entry(v["caseId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), 1000, "distinct cases among the 1,000 items");
    for v in first {
        if matches!(v["status"].as_str(), Some("accepted" | "replayed")) {
            let i = v["index"].as_u64().unwrap() as usize;
            assert_eq!(ids(v), ids(&rerun[i]), "item {i}");
        }
    }
    let ours: BTreeSet<String> = seen.into_keys().collect();
    assert_eq!(
        &ours, store_cases,
        "the store holds exactly the batch's cases"
    );
}

fn store_cases(config: &Path) -> BTreeSet<String> {
    let config = eessi_switch::config::Config::load(config).unwrap();
    let store = eessi_switch::store::open_with(&config.store_url, &config.store_options).unwrap();
    store
        .cases(&eessi_switch::store::CaseFilter {
            limit: 10_000,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|(c, _)| c.case_id.to_string())
        .collect()
}

#[test]
fn a_batch_killed_half_way_with_its_switch_and_rerun_ends_with_every_item_accepted_once() {
    let vhost = Vhost::new("batch-kill-switch");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut be = Server::spawn(dir.path(), "BE", config.clone(), port);
    let batch = batch_file(dir.path(), 1000);

    let run1 = dir.path().join("run1.ndjson");
    let mut cli = submit(&be, &batch, &run1);
    // Half-way, and in the middle of a chunk: items committed but not yet
    // answered to the command.
    wait_accepted(&be, &mut cli, 550);
    be.kill(); // SIGKILL
    let code = wait_exit(&mut cli, Duration::from_secs(60));
    assert_eq!(code, 2, "the cut run fails");
    let first = results(&run1);
    assert_eq!(first.len(), 1000, "every item has its line");
    let unanswered = first.iter().filter(|v| v["status"] == "unanswered").count();
    assert!(
        (1..1000).contains(&unanswered),
        "killed half-way: {unanswered} unanswered"
    );
    let stderr = std::fs::read_to_string(run1.with_extension("stderr")).unwrap();
    assert!(stderr.contains("run the same command again"), "{stderr}");

    // The switch back on the same database; the same command again.
    let be = Server::spawn(dir.path(), "BE", config.clone(), port);
    let run2 = dir.path().join("run2.ndjson");
    let mut cli = submit(&be, &batch, &run2);
    assert_eq!(wait_exit(&mut cli, Duration::from_secs(120)), 0);
    let rerun = results(&run2);
    // What the journal holds is not sent again; what committed unseen is replayed.
    let from_journal = rerun.iter().filter(|v| v["fromJournal"] == true).count();
    assert_eq!(from_journal, 1000 - unanswered);
    assert!(
        from_journal + replayed(&rerun) >= 550,
        "every item the switch had accepted is answered from the journal or replayed"
    );

    // Without the journal, the keys alone: every item replayed, the same ids.
    std::fs::remove_file(dir.path().join("postings.ndjson.progress")).unwrap();
    let run3 = dir.path().join("run3.ndjson");
    let mut cli = submit(&be, &batch, &run3);
    assert_eq!(wait_exit(&mut cli, Duration::from_secs(120)), 0);
    let keys_only = results(&run3);
    assert!(
        keys_only.iter().all(|v| v["status"] == "replayed"),
        "a rerun without the journal submits nothing"
    );
    check_exactly_once(&rerun, &keys_only, &store_cases(&config));
    drop(be);
    check_exactly_once(&first, &rerun, &store_cases(&config));
}

#[test]
fn a_batch_whose_command_is_killed_half_way_and_rerun_ends_with_every_item_accepted_once() {
    let vhost = Vhost::new("batch-kill-cli");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let be = Server::spawn(dir.path(), "BE", config.clone(), port);
    let batch = batch_file(dir.path(), 1000);

    let run1 = dir.path().join("run1.ndjson");
    let mut cli = submit(&be, &batch, &run1);
    // Half-way, and in the middle of a chunk: items committed but not yet
    // answered to the command.
    wait_accepted(&be, &mut cli, 550);
    cli.kill().unwrap(); // SIGKILL
    cli.wait().unwrap();
    // Its output ends where it was killed (results are written in file order; a
    // line torn by the kill is left out).
    let first: Vec<serde_json::Value> = std::fs::read_to_string(&run1)
        .unwrap()
        .lines()
        .map_while(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(first.len() < 1000, "killed half-way: {} lines", first.len());

    let run2 = dir.path().join("run2.ndjson");
    let mut cli = submit(&be, &batch, &run2);
    assert_eq!(wait_exit(&mut cli, Duration::from_secs(120)), 0);
    let rerun = results(&run2);
    let from_journal = rerun.iter().filter(|v| v["fromJournal"] == true).count();
    // The journal is written before the output, so it holds at least as much.
    assert!(from_journal >= first.len(), "{from_journal}");
    assert!(from_journal + replayed(&rerun) >= 550, "{from_journal}");
    let accepted = metric(&be, "eessi_batch_items_accepted_total");
    assert_eq!(accepted, 1000, "the switch accepted each item once");
    check_exactly_once(&first, &rerun, &store_cases(&config));
}

#[test]
fn the_command_builds_a_batch_from_a_directory_sends_its_token_and_guards_an_edited_file() {
    let vhost = Vhost::new("batch-cli");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!(
        "[auth]\nissuer = \"eessi-switch-test-issuer\"\naudience = \"eessi-switch\"\npublic_key = \"{ROOT}/fixtures/auth/issuer.pub.pem\"\n"
    );
    std::fs::write(&config, text).unwrap();
    let be = Server::spawn(dir.path(), "BE", config, port);
    let now = chrono::Utc::now().timestamp() as u64;
    let onss = eessi_switch::api::auth::issue(
        &std::fs::read(root().join("fixtures/auth/issuer.key.pem")).unwrap(),
        &eessi_switch::api::auth::Claims {
            sub: "batch-test".into(),
            iss: "eessi-switch-test-issuer".into(),
            aud: "eessi-switch".into(),
            exp: now + 600,
            iat: now,
            inst: "BE:ONSS".into(),
            scope: "submit read".into(),
        },
    )
    .unwrap();

    // Two postings and an invalid one, as files.
    let messages = dir.path().join("messages");
    std::fs::create_dir(&messages).unwrap();
    std::fs::write(messages.join("1.xml"), national(1)).unwrap();
    std::fs::copy(
        root().join("fixtures/national/invalid/onss-posting-bad-date.xml"),
        messages.join("2.xml"),
    )
    .unwrap();
    std::fs::write(messages.join("3.xml"), national(3)).unwrap();
    std::fs::write(messages.join("notes.txt"), "not a message").unwrap();
    let batch = dir.path().join("batch.ndjson");
    let run = |token: Option<&str>, extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eessi-switch"));
        c.args(["submit", "--adapter", "onss-posting", "--url", &be.base])
            .arg("--batch")
            .arg(&batch)
            .args(extra)
            .env_remove("EESSI_TOKEN");
        if let Some(t) = token {
            c.env("EESSI_TOKEN", t);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let from_dir = ["--from-dir", messages.to_str().unwrap()];

    // No token: the switch refuses the batch itself, and the command says so.
    let (code, lines, err) = run(None, &from_dir);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("401"), "{err}");
    assert_eq!(std::fs::read_to_string(&batch).unwrap().lines().count(), 3);
    assert!(lines.iter().all(|v| v["status"] == "unanswered"));
    // With the token: two accepted, the invalid one refused with its issues; exit 1.
    let (code, first, err) = run(Some(&onss), &from_dir);
    assert_eq!(code, Some(1), "{err}");
    let status: Vec<&str> = first
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["accepted", "refused", "accepted"], "{err}");
    assert_eq!(first[1]["problem"]["status"], 400);
    assert!(err.contains("2 accepted, 0 replayed, 1 refused"), "{err}");
    // A message added to the directory does not change the frozen batch file.
    std::fs::write(messages.join("4.xml"), national(4)).unwrap();
    let (code, again, err) = run(Some(&onss), &from_dir);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("has changed since"), "{err}");
    assert_eq!(again.len(), 3);
    assert_eq!(again[0]["fromJournal"], true);
    assert_eq!(ids(&again[2]), ids(&first[2]));

    // The file edited (the invalid item fixed in place) under its derived id is
    // refused: its items would get new keys. Under the earlier batch id, the
    // accepted ones are replayed and only the fixed one is submitted.
    let batch_id = first[0]["key"]
        .as_str()
        .unwrap()
        .rsplit_once('-')
        .unwrap()
        .0;
    let fixed: String = std::fs::read_to_string(&batch)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 1 { item(None, &national(2)) } else { l.to_owned() } + "\n")
        .collect();
    std::fs::write(&batch, fixed).unwrap();
    let (code, _, err) = run(Some(&onss), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("changed since"), "{err}");
    let (code, fixed, err) = run(Some(&onss), &["--batch-id", batch_id]);
    assert_eq!(code, Some(0), "{err}");
    let status: Vec<&str> = fixed
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["replayed", "accepted", "replayed"], "{err}");
    assert_eq!(ids(&fixed[0]), ids(&first[0]));
    assert_eq!(
        be.get_json_as("/api/v1/cases", &onss)
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
