//! The hostile-input corpus (`tests/hostile/`, written by `tests/hostile/generate.py`)
//! against ONE real `eessi-switch serve` for BE on a fresh RabbitMQ vhost: every wire
//! case goes over the real AMQP wire as a foreign access point would publish it (raw
//! lapin, so properties and header types can be wrong too), every HTTP case through
//! the real HTTP API. Checked: every answer is the contract's (code, or HTTP status and
//! problem type), the switch never dies, nothing is applied except by the cases that
//! expect a receipt, and the switch still accepts a valid SED at the end.
//!
//! A case marked `known_bug` is a contract violation the switch is known to commit:
//! it is reported, not failed, until it is fixed.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use eessi_switch::harness::peer::{Craft, craft_with};
use eessi_switch::ids::CaseId;
use eessi_switch::signing::Signer;
use eessi_switch::transport::{Delivery, Transport, WireMessage};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use serde::Deserialize;

const HEADER_FIELDS: [(&str, &str); 9] = [
    ("eessi-from", "from"),
    ("eessi-to", "to"),
    ("eessi-case-id", "case_id"),
    ("eessi-buc", "buc"),
    ("eessi-sed", "sed"),
    ("eessi-sed-version", "version"),
    ("eessi-document-id", "document_id"),
    ("eessi-document-version", "document_version"),
    ("eessi-case-action", "action"),
];

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Generate {
    fill: Option<String>,
    fill_hex: Option<String>,
    total: Option<usize>,
    insert_before: Option<String>,
    prefix: Option<String>,
    unit: Option<String>,
    repeat: Option<usize>,
    suffix: Option<String>,
    pad_to: Option<usize>,
    pad_unit: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Edit {
    op: Option<String>,
    find: Option<String>,
    with: Option<String>,
    count: Option<usize>,
    hex: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct WireCase {
    description: String,
    category: String,
    expect: String,
    known_bug: Option<String>,
    body: Option<String>,
    sign: Option<String>,
    phase: Option<u8>,
    parked: Option<bool>,
    duplicate: Option<String>,
    #[serde(default)]
    headers_remove: Vec<String>,
    #[serde(default)]
    properties_remove: Vec<String>,
    envelope: BTreeMap<String, String>,
    #[serde(default)]
    headers_set: BTreeMap<String, String>,
    #[serde(default)]
    headers_int: BTreeMap<String, i64>,
    #[serde(default)]
    headers_bool: BTreeMap<String, bool>,
    #[serde(default)]
    properties_set: BTreeMap<String, String>,
    #[serde(default)]
    generate: Generate,
    #[serde(default)]
    edit: Vec<Edit>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct HttpCase {
    description: String,
    category: String,
    route: String,
    content_type: String,
    body: Option<String>,
    expect_status: u16,
    expect_type: String,
    known_bug: Option<String>,
    #[serde(default)]
    generate: Generate,
}

fn corpus_dir() -> PathBuf {
    root().join("tests/hostile")
}

/// Every `NNN-slug.toml` of a corpus directory, in file-name order.
fn load<T: for<'de> Deserialize<'de>>(sub: &str) -> Vec<(String, T)> {
    let dir = corpus_dir().join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = format!("{sub}/{}", p.file_name().unwrap().to_string_lossy());
            let text = std::fs::read_to_string(&p).unwrap();
            let case: T = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, case)
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Replace `count` occurrences (0: all) of `what`; an absent `what` is a corpus error.
fn replace(hay: &[u8], what: &[u8], with: &[u8], count: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(hay.len() + with.len());
    let mut rest = hay;
    let mut n = 0;
    while count == 0 || n < count {
        match find(rest, what) {
            Some(i) => {
                out.extend_from_slice(&rest[..i]);
                out.extend_from_slice(with);
                rest = &rest[i + what.len()..];
                n += 1;
            }
            None => break,
        }
    }
    if n == 0 {
        return Err(format!(
            "edit: {:?} not found",
            String::from_utf8_lossy(&what[..what.len().min(80)])
        ));
    }
    out.extend_from_slice(rest);
    Ok(out)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// The SED element of a fixture, as generate.py's fixture_sed() writes it.
fn fixture_sed(name: &str) -> String {
    let text = std::fs::read_to_string(root().join(format!("fixtures/sed/4.2/{name}.xml")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    let mut t = text.as_str();
    if t.starts_with("<?xml") {
        t = &t[t.find("?>").unwrap() + 2..];
    }
    let mut t = t.trim();
    while t.starts_with("<!--") {
        t = t[t.find("-->").unwrap() + 3..].trim();
    }
    t.to_owned()
}

fn expand_fixtures(mut body: Vec<u8>) -> Vec<u8> {
    while let Some(i) = find(&body, b"{{FIXTURE:") {
        let end = i + find(&body[i..], b"}}").expect("unterminated {{FIXTURE:");
        let name = String::from_utf8(body[i + 10..end].to_vec()).unwrap();
        let sed = fixture_sed(&name);
        body.splice(i..end + 2, sed.into_bytes());
    }
    body
}

fn fill(g: &Generate) -> Option<Vec<u8>> {
    let unit = match (&g.fill, &g.fill_hex) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(h)) => unhex(h),
        (None, None) => return None,
    };
    let total = g.total.expect("fill needs total");
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let take = unit.len().min(total - out.len());
        out.extend_from_slice(&unit[..take]);
    }
    Some(out)
}

struct Signers(HashMap<String, Signer>);

impl Signers {
    fn get(&mut self, name: &str) -> &Signer {
        self.0
            .entry(name.to_owned())
            .or_insert_with(|| signer(name))
    }
}

/// The body of a wire case: file or fill, insertion, signature, edits, padding.
fn build_body(name: &str, c: &WireCase, signers: &mut Signers) -> Result<Vec<u8>, String> {
    let g = &c.generate;
    let mut body = match (&c.body, fill(g)) {
        (Some(file), _) => {
            let path = corpus_dir().join("wire").join(file);
            expand_fixtures(std::fs::read(&path).map_err(|e| format!("{file}: {e}"))?)
        }
        (None, Some(b)) => b,
        (None, None) => return Err(format!("{name}: neither body nor fill")),
    };
    if let Some(marker) = &g.insert_before {
        let at = find(&body, marker.as_bytes()).ok_or("insert_before marker not found")?;
        let unit = g.unit.clone().unwrap_or_default();
        let mut ins = g.prefix.clone().unwrap_or_default().into_bytes();
        let numbered = unit.contains("{n}");
        for n in 0..g.repeat.unwrap_or(1) {
            if numbered {
                ins.extend_from_slice(unit.replace("{n}", &n.to_string()).as_bytes());
            } else {
                ins.extend_from_slice(unit.as_bytes());
            }
        }
        ins.extend_from_slice(g.suffix.clone().unwrap_or_default().as_bytes());
        body.splice(at..at, ins);
    }
    let mut signature = Vec::new();
    if let Some(key) = &c.sign {
        let signed = eessi_switch::signing::sign(&body, signers.get(key))
            .map_err(|e| format!("cannot sign: {e}"))?;
        let start = signed
            .windows(b"<ds:Signature ".len())
            .rposition(|w| w == b"<ds:Signature ")
            .ok_or("no signature after signing")?;
        let end = start
            + find(&signed[start..], b"</ds:Signature>").ok_or("unterminated signature")?
            + b"</ds:Signature>".len();
        signature = signed[start..end].to_vec();
        body = signed;
    }
    let expand = |s: &str| -> Vec<u8> {
        replace(s.as_bytes(), b"{{SIGNATURE}}", &signature, 0)
            .unwrap_or_else(|_| s.as_bytes().to_vec())
    };
    for e in &c.edit {
        match e.op.as_deref().unwrap_or("replace") {
            "replace" => {
                let what = expand(e.find.as_deref().ok_or("replace needs find")?);
                let with = expand(e.with.as_deref().unwrap_or(""));
                body = replace(&body, &what, &with, e.count.unwrap_or(1))?;
            }
            "prepend_hex" => {
                let mut b = unhex(e.hex.as_deref().ok_or("prepend_hex needs hex")?);
                b.extend_from_slice(&body);
                body = b;
            }
            "wrap" => {
                let mut b = expand(e.before.as_deref().unwrap_or(""));
                b.extend_from_slice(&body);
                b.extend_from_slice(&expand(e.after.as_deref().unwrap_or("")));
                body = b;
            }
            other => return Err(format!("unknown edit op {other}")),
        }
    }
    if let Some(n) = g.pad_to {
        if body.len() > n {
            return Err(format!(
                "body of {} bytes is already over pad_to {n}",
                body.len()
            ));
        }
        // Whole units only (a cut unit could leave an unterminated comment), then spaces.
        let unit = g.pad_unit.as_deref().unwrap_or(" ").as_bytes();
        while n - body.len() >= unit.len() {
            body.extend_from_slice(unit);
        }
        body.resize(n, b' ');
    }
    Ok(body)
}

/// One wire case ready to publish.
#[derive(Clone)]
struct Prepared {
    name: String,
    case: WireCase,
    message_id: Option<String>,
    kind: Option<String>,
    content_type: Option<String>,
    timestamp: Option<u64>,
    app_id: Option<String>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn prepare(name: &str, c: &WireCase, signers: &mut Signers) -> Result<Prepared, String> {
    let body = build_body(name, c, signers)?;
    let mut headers = BTreeMap::new();
    for (h, field) in HEADER_FIELDS {
        let v = c
            .envelope
            .get(field)
            .ok_or_else(|| format!("[envelope] has no {field}"))?;
        headers.insert(h.to_owned(), v.clone());
    }
    for h in &c.headers_remove {
        headers.remove(h);
    }
    for (h, v) in &c.headers_set {
        headers.insert(h.clone(), v.clone());
    }
    let prop = |key: &str, default: Option<String>| -> Option<String> {
        if c.properties_remove.iter().any(|p| p == key) {
            None
        } else {
            c.properties_set.get(key).cloned().or(default)
        }
    };
    let timestamp = prop(
        "timestamp",
        Some(chrono::Utc::now().timestamp().to_string()),
    )
    .map(|t| t.parse::<u64>().map_err(|e| format!("timestamp: {e}")))
    .transpose()?;
    Ok(Prepared {
        name: name.to_owned(),
        case: c.clone(),
        message_id: prop("message_id", Some(uuid::Uuid::new_v4().to_string())),
        kind: prop("type", Some("sed".into())),
        content_type: prop("content_type", Some("application/xml".into())),
        timestamp,
        app_id: prop("app_id", Some("hostile-peer/1".into())),
        headers,
        body,
    })
}

/// A raw publisher: every property and header type under the test's control.
struct RawPublisher {
    _connection: Connection,
    channel: lapin::Channel,
}

impl RawPublisher {
    async fn connect(url: &str) -> RawPublisher {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        RawPublisher {
            _connection: connection,
            channel,
        }
    }

    async fn publish(&self, p: &Prepared) -> Result<(), String> {
        let mut table = FieldTable::default();
        for (k, v) in &p.headers {
            table.insert(
                ShortString::from(k.as_str()),
                AMQPValue::LongString(LongString::from(v.as_bytes().to_vec())),
            );
        }
        for (k, v) in &p.case.headers_int {
            table.insert(ShortString::from(k.as_str()), AMQPValue::LongLongInt(*v));
        }
        for (k, v) in &p.case.headers_bool {
            table.insert(ShortString::from(k.as_str()), AMQPValue::Boolean(*v));
        }
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_headers(table);
        if let Some(v) = &p.message_id {
            props = props.with_message_id(v.as_str().into());
        }
        if let Some(v) = &p.kind {
            props = props.with_type(v.as_str().into());
        }
        if let Some(v) = &p.content_type {
            props = props.with_content_type(v.as_str().into());
        }
        if let Some(v) = p.timestamp {
            props = props.with_timestamp(v);
        }
        if let Some(v) = &p.app_id {
            props = props.with_app_id(v.as_str().into());
        }
        let confirm = self
            .channel
            .basic_publish(
                "eessi.ap".into(),
                "BE".into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &p.body,
                props,
            )
            .await
            .map_err(|e| e.to_string())?;
        match confirm.await.map_err(|e| e.to_string())? {
            Confirmation::Ack(None) => Ok(()),
            other => Err(format!("not confirmed: {other:?}")),
        }
    }
}

/// Everything that came back: answers by the message id they refer to, dead letters.
#[derive(Default)]
struct Inbox {
    answers: HashMap<String, Vec<(String, WireMessage)>>,
    /// The switch's dead-letter list (it collects eessi.ap.BE.dead itself).
    dead: Vec<serde_json::Value>,
    unsolicited: Vec<(String, WireMessage)>,
}

struct Listeners {
    nl: tokio::sync::mpsc::Receiver<Delivery>,
    de: tokio::sync::mpsc::Receiver<Delivery>,
    /// The switch's base URL, to poll its dead-letter list.
    base: String,
}

impl Listeners {
    /// Collect until `done(inbox)` holds or the deadline passes.
    async fn collect(
        &mut self,
        inbox: &mut Inbox,
        deadline: Instant,
        done: impl Fn(&Inbox) -> bool,
    ) {
        while !done(inbox) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let (at, d) = tokio::select! {
                d = self.nl.recv() => ("NL", d),
                d = self.de.recv() => ("DE", d),
                _ = tokio::time::sleep(left.min(Duration::from_millis(300))) => {
                    let url = format!("{}/api/v1/dead-letters?limit=1000", self.base);
                    let got = tokio::task::spawn_blocking(move || try_get(&url)).await.unwrap();
                    if let Ok((200, text)) = got {
                        inbox.dead = serde_json::from_str(&text).unwrap_or_default();
                    }
                    continue;
                }
            };
            let Some(d) = d else { continue };
            d.acker.ack().await.unwrap();
            let m = d.message;
            match m.headers.get("eessi-ref-to-message-id") {
                Some(r) => inbox
                    .answers
                    .entry(r.clone())
                    .or_default()
                    .push((at.to_owned(), m)),
                None => inbox.unsolicited.push((at.to_owned(), m)),
            }
        }
    }
}

/// The switch listed this message among its dead letters (same string headers, size, id).
fn dead_lettered(p: &Prepared, inbox: &Inbox) -> bool {
    inbox.dead.iter().any(|d| {
        let mut headers: BTreeMap<String, String> =
            serde_json::from_value(d["headers"].clone()).unwrap_or_default();
        // The broker's own dead-lettering headers.
        headers.retain(|k, _| !k.starts_with("x-first-death-") && !k.starts_with("x-last-death-"));
        headers == p.headers
            && d["bodyBytes"].as_u64() == Some(p.body.len() as u64)
            && d["messageId"].as_str().filter(|s| !s.is_empty())
                == p.message_id.as_deref().filter(|s| !s.is_empty())
    })
}

fn expects_answer(c: &WireCase) -> bool {
    !matches!(c.expect.as_str(), "dead-letter" | "no-answer")
}

/// What the switch did with one message, in the corpus's vocabulary.
fn outcome(p: &Prepared, inbox: &Inbox, nth: usize) -> (String, Option<WireMessage>) {
    if let Some(mid) = &p.message_id
        && let Some(list) = inbox.answers.get(mid)
        && let Some((_, m)) = list.get(nth)
    {
        let code = match m.kind.as_deref() {
            Some("receipt") => "receipt".to_owned(),
            Some("error") => m
                .headers
                .get("eessi-error-code")
                .cloned()
                .unwrap_or_else(|| "error without code".into()),
            other => format!("answer of type {other:?}"),
        };
        return (code, Some(m.clone()));
    }
    if dead_lettered(p, inbox) {
        return ("dead-letter".into(), None);
    }
    ("no-answer".into(), None)
}

fn ap_be_cert() -> eessi_switch::signing::registry::TrustedCert {
    eessi_switch::signing::registry::load_certificate(&root().join("fixtures/pki/AP_BE.crt.pem"))
        .unwrap()
}

/// The answer is what the contract says an answer looks like.
fn check_answer(p: &Prepared, code: &str, m: &WireMessage) -> Result<(), String> {
    let body = String::from_utf8(m.body.clone()).map_err(|_| "answer body is not UTF-8")?;
    let doc = eessi_switch::sed::xml::parse(&m.body, &Default::default())
        .map_err(|e| format!("answer does not parse: {e}"))?;
    eessi_switch::signing::verify(&doc, &[ap_be_cert()])
        .map_err(|e| format!("answer signature: {e}"))?;
    if m.headers.get("eessi-from").map(String::as_str) != Some("BE") {
        return Err(format!(
            "answer eessi-from {:?}",
            m.headers.get("eessi-from")
        ));
    }
    if m.headers.get("eessi-to") != p.headers.get("eessi-from") {
        return Err(format!(
            "answer eessi-to {:?} is not the refused message's eessi-from {:?}",
            m.headers.get("eessi-to"),
            p.headers.get("eessi-from")
        ));
    }
    if code == "receipt" {
        let digest = eessi_switch::switch::sha256_b64(&p.body);
        if !body.contains(&format!("<sig:Digest>{digest}</sig:Digest>")) {
            return Err("the receipt's digest is not the SHA-256 of the body sent".into());
        }
    } else {
        if !body.contains(&format!("<sig:Code>{code}</sig:Code>")) {
            return Err(format!("the error body does not carry {code}"));
        }
        if body.contains("passwd") || body.contains("Verhoeven") {
            return Err(format!("the error leaks input: {body}"));
        }
    }
    Ok(())
}

async fn publish_all(publisher: &RawPublisher, batch: &[&Prepared]) {
    let results = futures_util::future::join_all(batch.iter().map(|p| publisher.publish(p))).await;
    for (p, r) in batch.iter().zip(results) {
        r.unwrap_or_else(|e| panic!("{}: publish failed: {e}", p.name));
    }
}

/// Every message of the batch has an outcome: its `nth` answer, or a dead letter.
/// Cases that expect no answer at all are settled by the final grace period.
/// Every message of the batch has an outcome: its `nth` answer, or a dead letter.
/// Cases that expect no answer at all are settled by the final grace period.
fn all_answered(batch: &[&Prepared], nth: usize) -> impl Fn(&Inbox) -> bool {
    let want: Vec<Prepared> = batch
        .iter()
        .filter(|p| p.case.expect != "no-answer")
        .map(|p| (*p).clone())
        .collect();
    move |inbox: &Inbox| {
        want.iter().all(|p| {
            p.message_id
                .as_ref()
                .and_then(|m| inbox.answers.get(m))
                .is_some_and(|l| l.len() > nth)
                || dead_lettered(p, inbox)
        })
    }
}

/// The `<sig:Detail>` of an error, for failure messages.
fn detail(m: &WireMessage) -> String {
    let body = String::from_utf8_lossy(&m.body);
    match (body.find("<sig:Detail>"), body.find("</sig:Detail>")) {
        (Some(a), Some(b)) if a < b => body[a + "<sig:Detail>".len()..b].to_owned(),
        _ => String::new(),
    }
}

struct Report {
    run: usize,
    by_expect: BTreeMap<String, usize>,
    by_category: BTreeMap<String, usize>,
    failures: Vec<String>,
    known: Vec<String>,
}

impl Report {
    fn judge(
        &mut self,
        name: &str,
        expect: &str,
        known_bug: Option<&str>,
        actual: &str,
        extra: Result<(), String>,
    ) {
        self.run += 1;
        *self.by_expect.entry(expect.to_owned()).or_default() += 1;
        let ok = actual == expect && extra.is_ok();
        match (ok, known_bug) {
            (true, None) => {}
            (false, None) => self.failures.push(format!(
                "{name}: expected {expect}, got {actual}{}",
                extra.err().map(|e| format!(" ({e})")).unwrap_or_default()
            )),
            (false, Some(bug)) => self.known.push(format!(
                "{name}: KNOWN BUG ({bug}): expected {expect}, got {actual}"
            )),
            (true, Some(bug)) => self.known.push(format!(
                "{name}: known bug no longer reproduces ({bug}): got {expect} as the contract says; drop the known_bug mark"
            )),
        }
    }
}

fn run_http(base: &str, cases: &[(String, HttpCase)]) -> Vec<(String, HttpCase, u16, String)> {
    cases
        .iter()
        .map(|(name, c)| {
            let body = match (&c.body, fill(&c.generate)) {
                (Some(f), _) => std::fs::read(corpus_dir().join("http").join(f)).unwrap(),
                (None, Some(b)) => b,
                (None, None) => panic!("{name}: neither body nor fill"),
            };
            let (status, text) = post(&format!("{base}{}", c.route), &c.content_type, &body);
            (name.clone(), c.clone(), status, text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_hostile_corpus_gets_the_contract_answers_and_changes_nothing() {
    let started = Instant::now();
    let wire_cases: Vec<(String, WireCase)> = load("wire");
    let http_cases: Vec<(String, HttpCase)> = load("http");
    assert!(
        wire_cases.len() + http_cases.len() >= 200,
        "the corpus has shrunk"
    );

    let vhost = Vhost::new("hostile-corpus");
    let dir = tempfile::tempdir().unwrap();
    let mut be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    let nl = Peer::new(&vhost, "NL").await;
    let de = Peer::new(&vhost, "DE").await;
    let Peer {
        inbox: nl_inbox,
        transport: nl_transport,
        ..
    } = nl;
    let Peer {
        inbox: de_inbox, ..
    } = de;
    let mut listen = Listeners {
        nl: nl_inbox,
        de: de_inbox,
        base: be.base.clone(),
    };
    let publisher = RawPublisher::connect(&vhost.url()).await;

    // Build every body first (signing runs libxml2 on this thread, before any await).
    let mut signers = Signers(HashMap::new());
    let mut report = Report {
        run: 0,
        by_expect: BTreeMap::new(),
        by_category: BTreeMap::new(),
        failures: Vec::new(),
        known: Vec::new(),
    };
    let mut prepared = Vec::new();
    for (name, c) in &wire_cases {
        match prepare(name, c, &mut signers) {
            Ok(p) => prepared.push(p),
            Err(e) => report.failures.push(format!("{name}: corpus error: {e}")),
        }
    }

    // HTTP cases run on their own thread while the wire cases are in flight.
    let base = be.base.clone();
    let http_job = std::thread::spawn(move || run_http(&base, &http_cases));

    let mut inbox = Inbox::default();
    for phase in [1u8, 2, 3] {
        let batch: Vec<&Prepared> = prepared
            .iter()
            .filter(|p| p.case.phase.unwrap_or(1) == phase)
            .collect();
        publish_all(&publisher, &batch).await;
        listen
            .collect(
                &mut inbox,
                Instant::now() + Duration::from_secs(60),
                all_answered(&batch, 0),
            )
            .await;
    }
    // Duplicates: the same message again (the same answer, byte for byte), or the same
    // message_id with another body (CONFLICT).
    let dups: Vec<Prepared> = prepared
        .iter()
        .filter_map(|p| {
            let mut again = p.clone();
            match p.case.duplicate.as_deref()? {
                "same" => {}
                "other-body" => again.body.extend_from_slice(b"\n<!-- another body -->\n"),
                other => panic!("{}: unknown duplicate mode {other}", p.name),
            }
            Some(again)
        })
        .collect();
    let dup_refs: Vec<&Prepared> = dups.iter().collect();
    publish_all(&publisher, &dup_refs).await;
    listen
        .collect(
            &mut inbox,
            Instant::now() + Duration::from_secs(60),
            all_answered(&dup_refs, 1),
        )
        .await;
    // Forged signals and the like: nothing may come back; give the switch a moment.
    listen
        .collect(
            &mut inbox,
            Instant::now() + Duration::from_millis(1500),
            |_| false,
        )
        .await;

    // Judge every wire case.
    let mut receipt_docs: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for p in &prepared {
        let (mut actual, answer) = outcome(p, &inbox, 0);
        let extra = match (&answer, expects_answer(&p.case) && actual == p.case.expect) {
            (Some(m), true) => check_answer(p, &actual, m),
            _ => Ok(()),
        };
        if actual != p.case.expect
            && let Some(m) = &answer
            && m.kind.as_deref() == Some("error")
        {
            actual = format!("{actual} [{}]", detail(m));
        }
        if actual == "receipt" && p.case.parked != Some(true) {
            receipt_docs
                .entry(p.headers["eessi-case-id"].clone())
                .or_default()
                .insert((
                    p.headers["eessi-document-id"].clone(),
                    p.headers["eessi-document-version"].clone(),
                ));
        }
        *report
            .by_category
            .entry(format!("wire/{}", p.case.category))
            .or_default() += 1;
        report.judge(
            &format!("{} ({})", p.name, p.case.description),
            &p.case.expect,
            p.case.known_bug.as_deref(),
            &actual,
            extra,
        );
    }
    for d in &dups {
        let first = outcome(d, &inbox, 0).1;
        let (actual, second) = outcome(d, &inbox, 1);
        let name = format!(
            "{} (sent again: {})",
            d.name,
            d.case.duplicate.as_deref().unwrap_or("")
        );
        let (expect, extra) = match d.case.duplicate.as_deref() {
            Some("same") => {
                let same = match (&first, &second) {
                    (Some(a), Some(b))
                        if a.body == b.body
                            && a.headers == b.headers
                            && a.message_id == b.message_id =>
                    {
                        Ok(())
                    }
                    (Some(_), Some(_)) => {
                        Err("the second answer differs from the first".to_owned())
                    }
                    _ => Err("missing answer".to_owned()),
                };
                (d.case.expect.clone(), same)
            }
            _ => ("CONFLICT".to_owned(), Ok(())),
        };
        report.judge(&name, &expect, None, &actual, extra);
    }
    for (at, m) in &inbox.unsolicited {
        report.failures.push(format!(
            "an unsolicited message at {at}: type {:?} headers {:?}",
            m.kind, m.headers
        ));
    }

    // Judge every HTTP case.
    for (name, c, status, text) in http_job.join().expect("the HTTP cases panicked") {
        let problem: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let actual = format!(
            "{status} {}",
            problem["type"].as_str().unwrap_or("(no problem type)")
        );
        let expect = format!("{} {}", c.expect_status, c.expect_type);
        let extra = if problem["status"] == c.expect_status {
            Ok(())
        } else {
            Err(format!("problem status field {}", problem["status"]))
        };
        *report
            .by_category
            .entry(format!("http/{}", c.category))
            .or_default() += 1;
        report.judge(
            &format!("{name} ({})", c.description),
            &expect,
            c.known_bug.as_deref(),
            &actual,
            extra,
        );
    }

    // Nothing applied but what a receipt announced.
    let cases = be.get_json("/api/v1/cases");
    let listed: BTreeSet<String> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["caseId"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: BTreeSet<String> = receipt_docs.keys().cloned().collect();
    if listed != expected {
        report.failures.push(format!(
            "cases at BE: {} listed, {} announced by receipts; applied without a receipt: {:?}; announced but absent: {:?}",
            listed.len(),
            expected.len(),
            listed.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&listed).collect::<Vec<_>>()
        ));
    }
    for (case_id, docs) in &receipt_docs {
        if let Some(c) = be.case(case_id) {
            let versions: usize = c["documents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["versions"].as_array().map_or(0, Vec::len))
                .sum();
            if versions != docs.len() {
                report.failures.push(format!(
                    "case {case_id}: {versions} document version(s) stored, {} received with a receipt",
                    docs.len()
                ));
            }
        }
    }

    // Still alive, still healthy, still accepting a valid SED.
    assert!(
        be.child.try_wait().unwrap().is_none(),
        "the switch died; log:\n{}",
        be.log()
    );
    let (status, _) = try_get(&format!("{}/health", be.base)).unwrap();
    assert_eq!(status, 200, "/health after the corpus");
    let ok = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &CaseId::random(),
        &fixture("A003"),
    );
    let m = craft_with(&signer("NL_SVB"), &ok).unwrap();
    let outcome = nl_transport.publish(&m).await.unwrap();
    assert_eq!(outcome, eessi_switch::transport::PublishOutcome::Confirmed);
    let mid = m.message_id.clone();
    listen
        .collect(
            &mut inbox,
            Instant::now() + Duration::from_secs(20),
            move |i: &Inbox| i.answers.contains_key(&mid),
        )
        .await;
    let last = inbox
        .answers
        .get(&m.message_id)
        .and_then(|l| l.first())
        .map(|(_, a)| a.kind.clone());
    assert_eq!(
        last,
        Some(Some("receipt".to_owned())),
        "the switch no longer accepts a valid SED after the corpus"
    );
    assert!(be.child.try_wait().unwrap().is_none(), "the switch died");

    let elapsed = started.elapsed();
    eprintln!(
        "hostile corpus: {} cases run ({} wire incl. {} duplicates, {} http) in {:.1} s; by expected answer: {}; failures: {}; known bugs: {}",
        report.run,
        prepared.len() + dups.len(),
        dups.len(),
        report.run - prepared.len() - dups.len(),
        elapsed.as_secs_f64(),
        report
            .by_expect
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        report.failures.len(),
        report.known.len()
    );
    eprintln!(
        "by category: {}",
        report
            .by_category
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for k in &report.known {
        eprintln!("  {k}");
    }
    if !report.failures.is_empty() {
        // Where the messages are, to tell a slow switch from a lost message.
        let (_, queues) = tool(
            "rabbitmqctl",
            &[
                "list_queues",
                "-p",
                &vhost.name,
                "name",
                "messages_ready",
                "messages_unacknowledged",
            ],
        );
        eprintln!("queues at the end:\n{queues}");
        eprintln!("dead letters listed by the switch: {:?}", inbox.dead);
        eprintln!(
            "BE metrics:\n{}",
            try_get(&format!("{}/metrics", be.base))
                .map(|(_, t)| t)
                .unwrap_or_default()
        );
    }
    assert!(
        report.failures.is_empty(),
        "{} failure(s):\n  {}",
        report.failures.len(),
        report.failures.join("\n  ")
    );
}
