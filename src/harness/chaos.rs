//! `eessi-harness chaos`: the fault test. Two BE instances share one PostgreSQL
//! database and one quorum inbox (competing consumers); NL is a foreign access point
//! on SQLite. A driver pushes SEDs both ways through the real HTTP APIs (every case
//! a Start then updates, sequential within a case, parallel across cases) while a
//! fault thread SIGKILLs switch processes at random moments (and restarts them),
//! restarts RabbitMQ once and drops the PostgreSQL connections once. At the end the
//! stores and queues are checked: every accepted submission produced exactly one
//! applied document version at the peer and one receipt, case histories are the
//! expected ones, outboxes are empty, nothing was dead-lettered. The last line of
//! output is JSON; the exit status is non-zero if anything was lost or doubled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngExt;

use super::{free_port, run_tool};
use crate::ids::CaseId;
use crate::store::{OutboxKind, OutboxStatus};

/// How big a run is.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub seds: usize,
    pub kills: usize,
    /// SEDs per case (a Start and updates).
    pub per_case: usize,
    pub workers: usize,
}

struct Node {
    name: &'static str,
    config: PathBuf,
    port: u16,
    log: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Node {
    fn start(&self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| e.to_string())?;
        let exe = super::switch_exe()?;
        let child = Command::new(exe)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("EESSI_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        *self.child.lock().map_err(|_| "poisoned")? = Some(child);
        Ok(())
    }
    fn kill(&self) {
        if let Ok(mut c) = self.child.lock()
            && let Some(mut child) = c.take()
        {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// POST a SED; Ok(true) accepted, Ok(false) refused, Err: no answer (ambiguous).
fn post(base: &str, body: &serde_json::Value) -> Result<(u16, String), String> {
    let mut r = agent()
        .post(&format!("{base}/api/v1/documents"))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.body_mut().read_to_string().unwrap_or_default()))
}

fn latest_version(base: &str, case: &str) -> Option<u64> {
    let mut r = agent()
        .get(&format!("{base}/api/v1/cases/{case}"))
        .call()
        .ok()?;
    match r.status().as_u16() {
        200 => {}
        // The case does not exist there yet: nothing was accepted.
        404 => return Some(0),
        // Unavailable (store away, starting up): no answer yet.
        _ => return None,
    }
    let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
    v["documents"]
        .as_array()?
        .iter()
        .filter(|d| d["direction"] == "out")
        .map(|d| d["latestVersion"].as_u64().unwrap_or(0))
        .max()
        .or(Some(0))
}

fn write_config(
    dir: &Path,
    name: &str,
    country: &str,
    store: &str,
    amqp: &str,
    port: u16,
    root: &Path,
) -> Result<PathBuf, String> {
    let text = format!(
        "country = \"{country}\"\nregistry = \"{root}/fixtures/registry.toml\"\nbuc_definitions = \"{root}/buc-definitions\"\nsed_schemas = \"{root}/sed-schemas\"\nadapters = \"{root}/adapters\"\nkeys_dir = \"{root}/fixtures/pki\"\nshutdown_grace_ms = 3000\n\
[store]\nurl = \"{store}\"\n[amqp]\nurl = \"{amqp}\"\nprefetch = 64\n[http]\nlisten = \"127.0.0.1:{port}\"\n[retry]\ninterval_ms = 3000\nattempts_max = 100\nwindow_ms = 900000\n",
        root = root.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

/// One case the driver runs: who owns it and through which nodes it is sent.
struct Plan {
    case: CaseId,
    from: &'static str,
    to: &'static str,
    senders: Vec<usize>,
}

pub async fn run(opts: ChaosOptions) -> Result<bool, String> {
    tokio::task::spawn_blocking(move || run_blocking(opts))
        .await
        .map_err(|e| e.to_string())?
}

fn run_blocking(opts: ChaosOptions) -> Result<bool, String> {
    let started = Instant::now();
    let root = crate::harness::demo::project_root();
    let dir = tempfile::Builder::new()
        .prefix("eessi-chaos-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    // An isolated virtual host and a fresh database.
    let vhost = format!("eessi-chaos-{}", uuid::Uuid::new_v4().simple());
    run_tool("rabbitmqctl", &["add_vhost", &vhost])?;
    run_tool(
        "rabbitmqctl",
        &["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"],
    )?;
    let amqp = format!("amqp://guest:guest@127.0.0.1:5672/{vhost}");
    let db = format!("eessi_chaos_{}", uuid::Uuid::new_v4().simple());
    let mut admin = postgres::Client::connect(
        "postgres://postgres@127.0.0.1:5432/postgres",
        postgres::NoTls,
    )
    .map_err(|e| format!("PostgreSQL: {e}"))?;
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .map_err(|e| e.to_string())?;
    let pg = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let nl_db = dir.path().join("nl.db");
    let mut nodes = Vec::new();
    for (name, country, store) in [
        ("be1", "BE", pg.clone()),
        ("be2", "BE", pg.clone()),
        ("nl", "NL", format!("sqlite://{}", nl_db.display())),
    ] {
        let port = free_port()?;
        let config = write_config(dir.path(), name, country, &store, &amqp, port, &root)?;
        nodes.push(Arc::new(Node {
            name,
            config,
            port,
            log: dir.path().join(format!("{name}.log")),
            child: Mutex::new(None),
        }));
    }
    for n in &nodes {
        n.start()?;
    }
    let wait_up = |n: &Node| -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if agent()
                .get(&format!("{}/health", n.base()))
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The log's tail goes with the error: the directory is gone when the test ends.
        let log = std::fs::read_to_string(&n.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        Err(format!(
            "{} did not become healthy within 60 s; the end of its log:\n{}",
            n.name,
            lines[lines.len().saturating_sub(30)..].join("\n")
        ))
    };
    for n in &nodes {
        wait_up(n)?;
    }
    let cases = opts.seds.div_ceil(opts.per_case.max(1));
    let plans: Vec<Plan> = (0..cases)
        .map(|i| {
            if i % 2 == 0 {
                Plan {
                    case: CaseId::random(),
                    from: "BE:ONSS",
                    to: "NL:SVB",
                    senders: vec![0, 1],
                }
            } else {
                Plan {
                    case: CaseId::random(),
                    from: "NL:SVB",
                    to: "BE:ONSS",
                    senders: vec![2],
                }
            }
        })
        .collect();
    let body = std::fs::read_to_string(root.join("fixtures/sed/4.2/A003.xml"))
        .map_err(|e| e.to_string())?;
    let accepted = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // Faults, in their own thread.
    let kills = Arc::new(AtomicU64::new(0));
    let fault_nodes = nodes.clone();
    let fault_done = done.clone();
    let kills2 = kills.clone();
    let db2 = db.clone();
    let planned_kills = opts.kills;
    let faults = std::thread::spawn(move || -> Result<(u64, u64), String> {
        let mut rng = rand::rng();
        let mut broker_restarts = 0;
        let mut db_resets = 0;
        let mut step = 0usize;
        while kills2.load(Ordering::Relaxed) < planned_kills as u64
            || broker_restarts == 0
            || db_resets == 0
        {
            std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
            match step % 4 {
                1 if broker_restarts == 0 => {
                    run_tool("rabbitmqctl", &["stop_app"])?;
                    std::thread::sleep(Duration::from_millis(1500));
                    run_tool("rabbitmqctl", &["start_app"])?;
                    run_tool("rabbitmqctl", &["await_startup"])?;
                    broker_restarts += 1;
                }
                3 if db_resets == 0 => {
                    let mut c = postgres::Client::connect(
                        "postgres://postgres@127.0.0.1:5432/postgres",
                        postgres::NoTls,
                    )
                    .map_err(|e| e.to_string())?;
                    c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&db2])
                        .map_err(|e| e.to_string())?;
                    db_resets += 1;
                }
                _ if kills2.load(Ordering::Relaxed) < planned_kills as u64 => {
                    let n = &fault_nodes[rng.random_range(0..fault_nodes.len())];
                    n.kill();
                    kills2.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(rng.random_range(200..1000)));
                    n.start()?;
                }
                _ => {}
            }
            step += 1;
            if fault_done.load(Ordering::Relaxed)
                && kills2.load(Ordering::Relaxed) >= planned_kills as u64
                && broker_restarts > 0
                && db_resets > 0
            {
                break;
            }
        }
        Ok((broker_restarts, db_resets))
    });
    // The driver: each worker takes cases and sends a Start then updates, one at a time.
    let queue = Arc::new(Mutex::new(
        plans.iter().enumerate().map(|(i, _)| i).collect::<Vec<_>>(),
    ));
    let plans = Arc::new(plans);
    let per_case = opts.per_case;
    let mut workers = Vec::new();
    for w in 0..opts.workers {
        let (queue, plans, nodes, accepted, body) = (
            queue.clone(),
            plans.clone(),
            nodes.clone(),
            accepted.clone(),
            body.clone(),
        );
        workers.push(std::thread::spawn(move || -> Result<(), String> {
            loop {
                let Some(i) = queue.lock().map_err(|_| "poisoned")?.pop() else { return Ok(()) };
                let p = &plans[i];
                let mut version = 0u64;
                let mut document_id: Option<String> = None;
                let mut attempt = 0usize;
                while version < per_case as u64 {
                    let node = &nodes[p.senders[(w + attempt) % p.senders.len()]];
                    let mut req = serde_json::json!({"from": p.from, "to": p.to, "buc": "LA_BUC_02", "sed": "A003", "caseId": p.case.to_string(), "body": body});
                    if let Some(d) = &document_id {
                        req["documentId"] = d.clone().into();
                    }
                    match post(&node.base(), &req) {
                        Ok((202, text)) => {
                            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                            document_id = v["documentId"].as_str().map(str::to_owned);
                            version += 1;
                            accepted.fetch_add(1, Ordering::Relaxed);
                            attempt = 0;
                        }
                        other => {
                            // Killed mid-request, or the store was away: did it land?
                            attempt += 1;
                            if attempt > 2000 {
                                return Err(format!("case {} stuck: {other:?}", p.case));
                            }
                            // Ask until a sender node answers: a node that was killed
                            // mid-request may have committed the submission before dying.
                            let mut seen = None;
                            for _ in 0..600 {
                                std::thread::sleep(Duration::from_millis(100));
                                if let Some((n, v)) = p.senders.iter().find_map(|n| latest_version(&nodes[*n].base(), p.case.as_str()).map(|v| (*n, v))) {
                                    seen = Some((n, v));
                                    break;
                                }
                            }
                            if let Some((n, v)) = seen
                                && v > version
                            {
                                // It was accepted before the answer was lost.
                                accepted.fetch_add(v - version, Ordering::Relaxed);
                                version = v;
                                if document_id.is_none() {
                                    document_id = document_of(&nodes[n].base(), p.case.as_str());
                                }
                            }
                        }
                    }
                }
            }
        }));
    }
    for w in workers {
        w.join().map_err(|_| "a driver thread panicked")??;
    }
    done.store(true, Ordering::Relaxed);
    let (broker_restarts, db_resets) = faults.join().map_err(|_| "the fault thread panicked")??;
    for n in &nodes {
        // A node killed last may still be starting.
        wait_up(n)?;
    }
    // Wait for every SED to be delivered (or the deadline).
    let deadline = Instant::now() + Duration::from_secs(300);
    let (be_store, nl_store) = (
        crate::store::open(&pg).map_err(|e| e.to_string())?,
        crate::store::open(&format!("sqlite://{}", nl_db.display())).map_err(|e| e.to_string())?,
    );
    loop {
        let pending = |s: &Arc<dyn crate::store::Store>| -> Result<u64, String> {
            let c = s.outbox_counts().map_err(|e| e.to_string())?;
            Ok(c.iter()
                .filter(|((k, st), _)| {
                    (*k == OutboxKind::Sed && *st != OutboxStatus::Delivered)
                        || matches!(st, OutboxStatus::Queued | OutboxStatus::Retrying)
                })
                .map(|(_, n)| n)
                .sum())
        };
        if pending(&be_store)? + pending(&nl_store)? == 0 {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Verify.
    let mut report = BTreeMap::new();
    let mut lost = 0u64;
    let mut applied_twice = 0u64;
    let mut delivered = 0u64;
    let mut receipts = 0u64;
    // Versions BE received from NL: each must reach BE:ONSS's national queue.
    let mut national_expected = 0u64;
    for p in plans.iter() {
        let (sender, receiver) = if p.from.starts_with("BE") {
            (&be_store, &nl_store)
        } else {
            (&nl_store, &be_store)
        };
        let sent = sender.case_detail(&p.case).map_err(|e| e.to_string())?;
        let got = receiver.case_detail(&p.case).map_err(|e| e.to_string())?;
        let sent_versions = sent
            .as_ref()
            .map(|d| d.documents.iter().map(|(_, v)| v.len() as u64).sum())
            .unwrap_or(0);
        let got_versions = got
            .as_ref()
            .map(|d| d.documents.iter().map(|(_, v)| v.len() as u64).sum())
            .unwrap_or(0);
        let received = got
            .as_ref()
            .map(|d| {
                d.history
                    .iter()
                    .filter(|h| h.event == "sed-received")
                    .count() as u64
            })
            .unwrap_or(0);
        delivered += sent
            .as_ref()
            .map(|d| {
                d.messages
                    .iter()
                    .filter(|m| m.kind == OutboxKind::Sed && m.status == OutboxStatus::Delivered)
                    .count() as u64
            })
            .unwrap_or(0);
        receipts += got
            .as_ref()
            .map(|d| {
                d.messages
                    .iter()
                    .filter(|m| m.kind == OutboxKind::Receipt)
                    .map(|m| m.message_id.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len() as u64
            })
            .unwrap_or(0);
        if p.to.starts_with("BE") {
            national_expected += got_versions;
        }
        lost += sent_versions.saturating_sub(got_versions);
        applied_twice +=
            received.saturating_sub(sent_versions) + got_versions.saturating_sub(sent_versions);
        if got.as_ref().is_some_and(|d| d.documents.len() != 1) {
            applied_twice += 1;
        }
    }
    let dead = be_store
        .dead_letters(1000)
        .map_err(|e| e.to_string())?
        .len()
        + nl_store
            .dead_letters(1000)
            .map_err(|e| e.to_string())?
            .len();
    let leftover: u64 = [&be_store, &nl_store]
        .iter()
        .map(|s| {
            s.outbox_counts()
                .map(|c| {
                    c.iter()
                        .filter(|((_, st), _)| {
                            matches!(st, OutboxStatus::Queued | OutboxStatus::Retrying)
                        })
                        .map(|(_, n)| *n)
                        .sum::<u64>()
                })
                .unwrap_or(u64::MAX)
        })
        .sum();
    for n in &nodes {
        n.kill();
    }
    let national = count_national(&amqp, "BE:ONSS")?;
    drop(be_store);
    drop(nl_store);
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    let _ = run_tool("rabbitmqctl", &["delete_vhost", &vhost]);
    let sent = accepted.load(Ordering::Relaxed);
    report.insert("sent", serde_json::json!(sent));
    report.insert("delivered", serde_json::json!(delivered));
    report.insert("receipts", serde_json::json!(receipts));
    report.insert("applied_twice", serde_json::json!(applied_twice));
    report.insert("lost", serde_json::json!(lost));
    report.insert("kills", serde_json::json!(kills.load(Ordering::Relaxed)));
    report.insert("broker_restarts", serde_json::json!(broker_restarts));
    report.insert("db_resets", serde_json::json!(db_resets));
    report.insert(
        "duration_s",
        serde_json::json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0),
    );
    report.insert("cases", serde_json::json!(cases));
    report.insert("dead_letters", serde_json::json!(dead));
    report.insert("outbox_leftover", serde_json::json!(leftover));
    // The national guarantee (docs/national.md): at least once, every copy
    // of one delivery with the same AMQP message_id and bytes, one delivery per SED.
    report.insert("national_expected", serde_json::json!(national_expected));
    report.insert("national_delivered", serde_json::json!(national.distinct));
    report.insert("national_copies", serde_json::json!(national.copies));
    report.insert(
        "national_violations",
        serde_json::json!(national.violations),
    );
    let ok = national.distinct == national_expected
        && national.violations == 0
        && lost == 0
        && applied_twice == 0
        && delivered == sent
        && receipts == sent
        && dead == 0
        && leftover == 0;
    if !ok {
        // Keep the logs and the NL store of a failed run for the post-mortem.
        let kept = dir.keep();
        eprintln!(
            "chaos: the run failed; logs and stores kept in {}",
            kept.display()
        );
    }
    println!(
        "{}",
        serde_json::to_string(&report).map_err(|e| e.to_string())?
    );
    Ok(ok)
}

/// What an institution's national queue held at the end of a run.
struct NationalCount {
    /// Distinct deliveries (AMQP message ids).
    distinct: u64,
    /// Extra copies of a delivery (same message id and bytes): the guarantee allows them.
    copies: u64,
    /// What it does not allow: copies of one message id with other bytes, or one
    /// received SED (`eessi-message-id`) delivered under two message ids.
    violations: u64,
}

/// Drain `eessi.national.<institution>` and check it against the guarantee.
fn count_national(amqp: &str, institution: &str) -> Result<NationalCount, String> {
    use crate::transport::Transport;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let messages = rt.block_on(async {
        let t = crate::transport::amqp::AmqpTransport::connect(amqp)
            .await
            .map_err(|e| e.to_string())?;
        let mut rx = t
            .consume(&crate::transport::national_queue(institution), 256)
            .await
            .map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(3), rx.recv()).await {
            let _ = d.acker.ack().await;
            got.push(d.message);
        }
        Ok::<_, String>(got)
    })?;
    let mut by_id: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut by_sed: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut violations = 0;
    for m in messages.iter().filter(|m| m.kind.as_deref() == Some("sed")) {
        let id = m.message_id.clone().unwrap_or_default();
        let digest = crate::switch::sha256_hex(&m.body);
        let e = by_id.entry(id.clone()).or_insert((digest.clone(), 0));
        if e.0 != digest {
            violations += 1;
        }
        e.1 += 1;
        if let Some(sed) = m.headers.get("eessi-message-id") {
            by_sed.entry(sed.clone()).or_default().insert(id);
        }
    }
    violations += by_sed.values().filter(|ids| ids.len() > 1).count() as u64;
    Ok(NationalCount {
        distinct: by_id.len() as u64,
        copies: by_id.values().map(|(_, n)| n - 1).sum(),
        violations,
    })
}

fn document_of(base: &str, case: &str) -> Option<String> {
    let mut r = agent()
        .get(&format!("{base}/api/v1/cases/{case}"))
        .call()
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
    v["documents"]
        .as_array()?
        .iter()
        .find(|d| d["direction"] == "out")?["documentId"]
        .as_str()
        .map(str::to_owned)
}
