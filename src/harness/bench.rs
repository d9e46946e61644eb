//! `eessi-harness bench`: one run measures, on this machine, the switch against
//! the machine's RSA-2048 signing ceiling (each SED costs one signature, each
//! receipt another), with real `eessi-switch serve` processes (the release binary
//! beside this one) on the local RabbitMQ, a virtual host of its own per phase:
//!
//! - the ceiling: `openssl speed -multi <cores> rsa2048`, and the same in-process;
//! - outbound: ≥ 16 HTTP clients post ONSS national messages (each a new case) to
//!   BE; translate → validate → sign → commit → confirmed publish to NL's inbox,
//!   which nobody consumes: its depth at the end proves every publish;
//! - the same number of submissions through the batch channel, as
//!   `eessi-switch submit --batch` sends them (one client, a chunk per request),
//!   against the single submissions' rate;
//! - the submission latency at half that rate, open loop (HDR histogram);
//! - the whole path with a second `serve` (NL): settled at BE by NL's receipt;
//! - options: stored cases preloaded (`--cases`), PostgreSQL (`--postgres`),
//!   two BE instances on it (`--instances 2`), the Python script (`--python`).
//!
//! Human-readable lines first, each figure with its share of the ceiling; the last
//! line is one JSON object.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use super::load::{National, batch_loop, closed_loop, open_loop};
use super::node::{Node, NodeSpec};
use super::preload::preload;
use crate::harness::peer::{Craft, craft_with};
use crate::ids::{CaseId, SedType};
use crate::sed::{envelope, validate, xml};
use crate::signing::{dsig, registry};
use crate::transport::Transport;

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Run `f` repeatedly for about `budget`; returns operations per second.
fn measure(budget: Duration, mut f: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < budget {
        f()?;
        n += 1;
    }
    Ok(rate(n, start.elapsed()))
}

fn rsa_sign_rate(threads: usize, budget: Duration) -> Result<f64, String> {
    let key = openssl::rsa::Rsa::generate(2048).map_err(|e| e.to_string())?;
    let key = openssl::pkey::PKey::from_rsa(key).map_err(|e| e.to_string())?;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let key = key.clone();
            std::thread::spawn(move || {
                measure(budget, || {
                    let mut s =
                        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
                            .map_err(|e| e.to_string())?;
                    s.update(b"0123456789abcdef0123456789abcdef")
                        .map_err(|e| e.to_string())?;
                    s.sign_to_vec().map(|_| ()).map_err(|e| e.to_string())
                })
            })
        })
        .collect();
    let mut total = 0.0;
    for h in handles {
        total += h
            .join()
            .map_err(|_| "a signing thread panicked".to_owned())??;
    }
    Ok(total)
}

/// What one benchmark run does.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Concurrent national clients (HTTP connections) in the closed-loop phases.
    pub clients: usize,
    /// SEDs in the measured outbound phase.
    pub seds: u64,
    /// SEDs before it, not measured.
    pub warmup: u64,
    /// Length of the paced latency run at half the outbound rate.
    pub latency_seconds: f64,
    /// SEDs in the measured whole-path phase.
    pub whole_seds: u64,
    /// Stored cases preloaded into BE's store before measuring.
    pub cases: u64,
    /// A PostgreSQL server (URL of a database to connect to for administration):
    /// BE's store is a fresh database there, dropped at the end.
    pub postgres: Option<String>,
    /// BE `serve` processes sharing the load (2 needs `--postgres`).
    pub instances: usize,
    /// Also run `../shared/bench/python-sendpath/run.sh` with this many messages.
    pub python: Option<u64>,
    /// Seconds of `openssl speed`.
    pub ceiling_seconds: u64,
    /// Measure each stage alone too.
    pub stages: bool,
    /// Share of hostile messages in a second whole-path run (0: no such run).
    pub hostile_share: f64,
    /// Items per request in the batch-channel run (0: no such run).
    pub batch_chunk: u64,
    /// Only the case list: preload `cases`, measure each filter (`search.rs`).
    pub search: bool,
}

/// `--search`: preload the store, then the case list's filters at that size.
async fn search_run(opts: &BenchOptions) -> Result<(), String> {
    let root = crate::harness::demo::project_root();
    let dir = tempfile::Builder::new()
        .prefix("eessi-bench-")
        .tempdir()
        .map_err(|e| format!("making a temporary directory: {e}"))?;
    let pg = match opts.postgres.clone() {
        Some(admin) => Some(
            tokio::task::spawn_blocking(move || PgDb::create(&admin))
                .await
                .map_err(|e| e.to_string())??,
        ),
        None => None,
    };
    let url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("be.db").display()),
    };
    println!(
        "eessi-harness bench --search: {} preloaded case(s), store {}",
        opts.cases,
        if pg.is_some() { "PostgreSQL" } else { "SQLite" }
    );
    let took = super::preload::preload_with(&root, dir.path(), &url, opts.cases, true).await?;
    println!("preloaded in {:.1} s", took.as_secs_f64());
    let store_url = url.clone();
    let (mut measured, case_id) = tokio::task::spawn_blocking(move || {
        let store = crate::store::open(&store_url).map_err(|e| e.to_string())?;
        let m = super::search::measure(store.as_ref())?;
        // A case for the case page: the newest one the list shows.
        let first = store
            .cases(&crate::store::CaseFilter {
                limit: 1,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .map(|(c, _)| c.case_id.to_string())
            .ok_or("the preloaded store lists no case")?;
        Ok::<_, String>((m, first))
    })
    .await
    .map_err(|e| e.to_string())??;
    // The same store behind a real `serve`: the pages as a user waits for them.
    println!(
        "pages over HTTP (serve on the same store, {} rounds each):",
        40
    );
    let vhost = tokio::task::spawn_blocking(|| super::Vhost::new("bench-search"))
        .await
        .map_err(|e| e.to_string())??;
    let amqp = vhost.url();
    let node = super::node::Node::start(
        &super::node::NodeSpec {
            name: "be",
            country: "BE",
            store_url: &url,
            amqp_url: &amqp,
            body_bytes_max: None,
        },
        &root,
        dir.path(),
    )
    .await?;
    let pages = super::search::measure_pages(&node.addr, &case_id).await;
    drop(node);
    drop(vhost);
    measured.extend(pages?);
    let json: Vec<serde_json::Value> = measured
        .iter()
        .map(|m| {
            serde_json::json!({
                "filter": m.filter, "page": m.page, "rows": m.rows,
                "p50_ms": round3(m.p50_ms), "p99_ms": round3(m.p99_ms),
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "preload_cases": opts.cases,
            "preload_s": round3(took.as_secs_f64()),
            "store": if pg.is_some() { "postgres" } else { "sqlite" },
            "search": json,
        })
    );
    Ok(())
}

/// A fresh PostgreSQL database, dropped (forcing connections out) on drop.
struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    fn create(admin: &str) -> Result<PgDb, String> {
        let name = format!("eessi_bench_{}", uuid::Uuid::new_v4().simple());
        let mut c = postgres::Client::connect(admin, postgres::NoTls)
            .map_err(|e| format!("PostgreSQL at {admin}: {e}"))?;
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("creating database {name}: {e}"))?;
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b)
            .ok_or_else(|| format!("{admin}: no database name in the URL"))?;
        Ok(PgDb {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // The blocking client runs its own runtime: not on this (async) thread.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = postgres::Client::connect(&admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// The figures of one run, printed as lines as they come and as JSON at the end.
struct Report {
    ceiling: f64,
    json: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    fn set(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.json.insert(key.to_owned(), value.into());
    }
    /// A rate: printed with its share of the ceiling, recorded under `key`.
    fn rate(&mut self, key: &str, label: &str, per_s: f64) {
        println!(
            "{label:<58} {per_s:>9.0}/s  {:>6.3} of the ceiling",
            per_s / self.ceiling
        );
        self.set(key, (per_s * 10.0).round() / 10.0);
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `openssl speed -multi <cores> -seconds <s> rsa2048`: its sign/s.
fn openssl_ceiling(cores: usize, seconds: u64) -> Result<f64, String> {
    let out = super::run_tool(
        "openssl",
        &[
            "speed",
            "-multi",
            &cores.to_string(),
            "-seconds",
            &seconds.to_string(),
            "rsa2048",
        ],
    )?;
    // "rsa 2048 bits 0.000208s 0.000006s   4807.7 166666.7": sign/s is the third number.
    out.lines()
        .rfind(|l| l.starts_with("rsa") && l.contains("2048 bits"))
        .and_then(|l| l.split("bits").nth(1))
        .and_then(|rest| rest.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no rsa 2048 sign/s in the output of openssl speed".to_owned())
}

async fn sum_counter(nodes: &[Node], name: &str) -> Result<u64, String> {
    let mut total = 0;
    for n in nodes {
        total += n.counter(name).await?;
    }
    Ok(total)
}

/// Wait until the counter, summed over `nodes`, reaches `target`.
async fn wait_counter(
    nodes: &[Node],
    name: &str,
    target: u64,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let now = sum_counter(nodes, name).await?;
        if now >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes.iter().map(|n| n.log_tail()).collect();
            return Err(format!(
                "{name} reached {now} of {target} within {} s; logs:\n{}",
                within.as_secs(),
                logs.join("\n")
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn total_cpu(nodes: &[Node]) -> Result<Duration, String> {
    nodes.iter().map(Node::cpu).sum()
}

/// The CPU each process on the path used during one phase: the switch processes,
/// the local RabbitMQ node (when this user can see it) and this harness (the
/// national clients). On a machine they share, the broker's and the clients' CPU
/// bounds the switch's rate as much as its own.
struct CpuShare {
    pids: Vec<(String, u32, Duration)>,
}

impl CpuShare {
    fn start(nodes: &[&Node]) -> Result<CpuShare, String> {
        let mut pids: Vec<(String, u32)> = nodes
            .iter()
            .map(|n| (format!("switch {}", n.name), n.pid))
            .collect();
        if let Some(b) = super::node::broker_pid() {
            pids.push(("broker".into(), b));
        }
        pids.push(("harness".into(), std::process::id()));
        let pids = pids
            .into_iter()
            .map(|(name, pid)| Ok((name, pid, super::node::pid_cpu(pid)?)))
            .collect::<Result<_, String>>()?;
        Ok(CpuShare { pids })
    }

    /// Milliseconds of CPU per SED for each process since `start`, by name.
    fn per_sed(&self, seds: u64) -> Result<Vec<(String, f64)>, String> {
        self.pids
            .iter()
            .map(|(name, pid, before)| {
                let used = super::node::pid_cpu(*pid)?.saturating_sub(*before);
                Ok((
                    name.clone(),
                    used.as_secs_f64() * 1000.0 / seds.max(1) as f64,
                ))
            })
            .collect()
    }
}

/// Print each process's CPU per SED for `phase` and report it as
/// `<phase>_cpu_ms_<process>`; the broker's figure is returned (0 when unseen).
fn report_cpu_share(report: &mut Report, phase: &str, share: &[(String, f64)]) -> f64 {
    let line: Vec<String> = share
        .iter()
        .map(|(name, ms)| format!("{name} {ms:.3} ms"))
        .collect();
    println!("{phase}: CPU per SED by process: {}", line.join(", "));
    for (name, ms) in share {
        let key = name.replace("switch ", "").replace('-', "_");
        report.set(&format!("{phase}_cpu_ms_{key}"), round3(*ms));
    }
    share
        .iter()
        .find(|(n, _)| n == "broker")
        .map_or(0.0, |(_, ms)| *ms)
}

/// The highest share of the ceiling a path could reach on this machine if the
/// switch's only cost were its `signatures` RSA signatures per SED, with the other
/// processes (broker, clients) costing what they were measured to: the machine's
/// cores divided by that CPU per SED, against the ceiling.
fn bound_ratio(cores: usize, ceiling: f64, signatures: f64, rsa_ms: f64, others_ms: f64) -> f64 {
    let per_sed_ms = signatures * rsa_ms + others_ms;
    cores as f64 * 1000.0 / per_sed_ms.max(1e-9) / ceiling.max(1e-9)
}

/// Submit `count` national messages with the closed-loop clients and wait until
/// `counter` (summed over `watch`) grew by as many; the time of both.
async fn closed_phase(
    addrs: &[String],
    watch: &[Node],
    counter: &str,
    clients: usize,
    national: &Arc<National>,
    next: &Arc<AtomicU64>,
    count: u64,
) -> Result<Duration, String> {
    let before = sum_counter(watch, counter).await?;
    let start = Instant::now();
    let end = next.load(Ordering::Relaxed) + count;
    closed_loop(addrs, clients, national.clone(), next.clone(), end).await?;
    // Each client's last draw went past the end: the sequence resumes there.
    next.store(end, Ordering::Relaxed);
    wait_counter(watch, counter, before + count, Duration::from_secs(600)).await?;
    Ok(start.elapsed())
}

/// Sample the largest resident size of the processes until told to stop.
fn rss_sampler(
    pids: Vec<u32>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut max = 0;
        loop {
            let mut total = 0;
            for pid in &pids {
                total += std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| {
                                v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
                            })
                    })
                    .unwrap_or(0)
                    * 1024;
            }
            max = max.max(total);
            tokio::select! {
                _ = stop.changed() => return max,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    })
}

pub async fn run(opts: BenchOptions) -> Result<(), String> {
    if opts.search {
        return search_run(&opts).await;
    }
    let root = crate::harness::demo::project_root();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let exe = super::switch_exe()?;
    if !exe.parent().is_some_and(|d| d.ends_with("release")) {
        println!(
            "warning: {} is not a release build; figures will be low",
            exe.display()
        );
    }
    if !(0.0..1.0).contains(&opts.hostile_share) {
        return Err("--hostile-share must be at least 0 and below 1".into());
    }
    if opts.instances > 1 && opts.postgres.is_none() {
        return Err("--instances 2 needs --postgres (instances share one database)".into());
    }
    println!(
        "eessi-harness bench: {} core(s), {} clients, {} SEDs measured outbound, {} whole path, {} preloaded case(s), store {}, {} BE instance(s)",
        cores,
        opts.clients,
        opts.seds,
        opts.whole_seds,
        opts.cases,
        if opts.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        opts.instances,
    );

    // The ceiling, both ways; the JSON uses openssl's when it ran.
    let (secs, c) = (opts.ceiling_seconds, cores);
    let openssl = tokio::task::spawn_blocking(move || openssl_ceiling(c, secs))
        .await
        .map_err(|e| e.to_string())?;
    let (in_process, one_thread) = tokio::task::spawn_blocking(move || {
        Ok::<_, String>((
            rsa_sign_rate(c, Duration::from_secs(3))?,
            rsa_sign_rate(1, Duration::from_secs(2))?,
        ))
    })
    .await
    .map_err(|e| e.to_string())??;
    let (ceiling, source) = match &openssl {
        Ok(r) => (*r, "openssl speed"),
        Err(e) => {
            println!("openssl speed failed ({e}); the ceiling is the in-process figure");
            (in_process, "in-process")
        }
    };
    let mut report = Report {
        ceiling,
        json: serde_json::Map::new(),
    };
    report.set("cores", cores);
    report.set("ceiling_source", source);
    if let Ok(r) = openssl {
        report.rate(
            "ceiling_openssl_sign_per_s",
            &format!("RSA-2048 sign, openssl speed -multi {cores}"),
            r,
        );
    }
    report.rate(
        "ceiling_in_process_sign_per_s",
        &format!("RSA-2048 sign, in-process, {cores} thread(s)"),
        in_process,
    );
    report.set("ceiling_sign_per_s", (ceiling * 10.0).round() / 10.0);
    let rsa_sign_cpu_ms = 1000.0 / one_thread.max(1e-9);
    println!("RSA-2048 sign, 1 thread: {one_thread:.0}/s = {rsa_sign_cpu_ms:.3} ms of CPU each");
    report.set("rsa_sign_cpu_ms", round3(rsa_sign_cpu_ms));

    let dir = tempfile::Builder::new()
        .prefix("eessi-bench-")
        .tempdir()
        .map_err(|e| format!("making a temporary directory: {e}"))?;
    if opts.stages {
        let national = std::fs::read(root.join("fixtures/national/onss-posting.xml"))
            .map_err(|e| e.to_string())?;
        let (stage_root, stage_dir) = (root.clone(), dir.path().to_owned());
        let stages =
            tokio::task::spawn_blocking(move || stage_rates(&stage_root, &stage_dir, &national))
                .await
                .map_err(|e| e.to_string())??;
        for (key, name, r) in stages {
            report.rate(key, &format!("stage {name} (1 thread)"), r);
        }
    }
    let national = Arc::new(National::load(&root)?);
    let clients = opts.clients.max(1);

    // The outbound half: BE alone, NL's inbox declared and left to fill.
    let vhost = tokio::task::spawn_blocking(|| super::Vhost::new("bench-out"))
        .await
        .map_err(|e| e.to_string())??;
    let pg = match opts.postgres.clone() {
        Some(admin) => Some(
            tokio::task::spawn_blocking(move || PgDb::create(&admin))
                .await
                .map_err(|e| e.to_string())??,
        ),
        None => None,
    };
    let be_store = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("be.db").display()),
    };
    if opts.cases > 0 {
        println!("preloading {} stored cases into BE's store", opts.cases);
        let took = preload(&root, dir.path(), &be_store, opts.cases).await?;
        println!("preloaded in {:.1} s", took.as_secs_f64());
        // The preload leaves gigabytes of dirty pages (a million envelopes) for the
        // kernel to write back; measured before that ends, the outbound phase would
        // compete with the writeback (CPU outside the switch, and the disk), and
        // the stored-data comparison would measure the preload, not the store.
        let flushed = Instant::now();
        tokio::task::spawn_blocking(|| super::run_tool("sync", &[]))
            .await
            .map_err(|e| e.to_string())??;
        println!(
            "written back to disk in {:.1} s",
            flushed.elapsed().as_secs_f64()
        );
        report.set("preload_cases", opts.cases);
        report.set("preload_s", round3(took.as_secs_f64()));
    }
    {
        let nl = crate::transport::amqp::AmqpTransport::connect(&vhost.url())
            .await
            .map_err(|e| format!("RabbitMQ: {e}"))?;
        nl.declare_access_point("NL")
            .await
            .map_err(|e| format!("declaring NL's queues: {e}"))?;
    }
    let amqp = vhost.url();
    let mut be = Vec::new();
    for i in 1..=opts.instances.max(1) {
        let name = format!("be{i}");
        let spec = NodeSpec {
            name: &name,
            country: "BE",
            store_url: &be_store,
            amqp_url: &amqp,
            body_bytes_max: None,
        };
        be.push(Node::start(&spec, &root, dir.path()).await?);
    }
    let addrs: Vec<String> = be.iter().map(|n| n.addr.clone()).collect();
    let (stop_rss, stop_rx) = tokio::sync::watch::channel(false);
    let sampler = rss_sampler(be.iter().map(|n| n.pid).collect(), stop_rx);
    let next = Arc::new(AtomicU64::new(0));
    closed_phase(
        &addrs,
        &be,
        "published",
        clients,
        &national,
        &next,
        opts.warmup,
    )
    .await?;
    if be.len() > 1 {
        let took = closed_phase(
            &addrs[..1],
            &be,
            "published",
            clients,
            &national,
            &next,
            opts.seds,
        )
        .await?;
        report.rate(
            "outbound_per_s_one_instance",
            "outbound, one BE instance (of two on one database)",
            rate(opts.seds as usize, took),
        );
    }
    let cpu_before = total_cpu(&be)?;
    let share = CpuShare::start(&be.iter().collect::<Vec<_>>())?;
    let took = closed_phase(
        &addrs,
        &be,
        "published",
        clients,
        &national,
        &next,
        opts.seds,
    )
    .await?;
    let cpu = total_cpu(&be)?.saturating_sub(cpu_before);
    let outbound_share = share.per_sed(opts.seds)?;
    let outbound = rate(opts.seds as usize, took);
    report.rate(
        "outbound_per_s",
        &format!(
            "OUTBOUND national -> confirmed publish ({clients} clients, {} instance(s))",
            be.len()
        ),
        outbound,
    );
    report.set("outbound_ratio", round3(outbound / ceiling));
    if be.len() > 1
        && let Some(one) = report
            .json
            .get("outbound_per_s_one_instance")
            .and_then(|v| v.as_f64())
    {
        println!(
            "two instances against one: {:.2}x",
            outbound / one.max(1e-9)
        );
        report.set("instances_speedup", round3(outbound / one.max(1e-9)));
    }
    let cpu_ms = cpu.as_secs_f64() * 1000.0 / opts.seds.max(1) as f64;
    println!(
        "switch CPU per outbound SED: {cpu_ms:.3} ms ({:.2} x one RSA signature's {rsa_sign_cpu_ms:.3} ms; /proc ticks at {} Hz)",
        cpu_ms / rsa_sign_cpu_ms,
        super::node::clock_ticks()
    );
    report.set("cpu_ms_per_outbound_sed", round3(cpu_ms));
    report.set(
        "cpu_per_sed_over_rsa_sign",
        round3(cpu_ms / rsa_sign_cpu_ms),
    );
    report_cpu_share(&mut report, "outbound", &outbound_share);
    let others: f64 = outbound_share
        .iter()
        .filter(|(n, _)| !n.starts_with("switch "))
        .map(|(_, ms)| ms)
        .sum();
    let bound = bound_ratio(cores, ceiling, 1.0, rsa_sign_cpu_ms, others);
    println!(
        "outbound bound: a switch costing one signature per SED, beside this broker and these clients ({others:.3} ms), would reach {bound:.3} of the ceiling"
    );
    report.set("outbound_bound_ratio", round3(bound));

    // The same number through the batch channel, as the batch command sends them.
    if opts.batch_chunk > 0 {
        let before = sum_counter(&be, "published").await?;
        let first = next.fetch_add(opts.seds, Ordering::Relaxed);
        let start = Instant::now();
        batch_loop(
            &addrs[0],
            national.clone(),
            first,
            opts.seds,
            opts.batch_chunk,
        )
        .await?;
        wait_counter(
            &be,
            "published",
            before + opts.seds,
            Duration::from_secs(600),
        )
        .await?;
        let batch = rate(opts.seds as usize, start.elapsed());
        report.rate(
            "batch_per_s",
            &format!(
                "BATCH national -> confirmed publish (1 client, {} items a request)",
                opts.batch_chunk
            ),
            batch,
        );
        println!(
            "batch items / single submissions: {:.2}",
            batch / outbound.max(1e-9)
        );
        report.set("batch_over_single", round3(batch / outbound.max(1e-9)));
    }

    // Latency at half the peak, open loop.
    let paced = outbound / 2.0;
    let count = ((paced * opts.latency_seconds) as u64).max(50);
    let before = sum_counter(&be, "published").await?;
    let first = next.fetch_add(count, Ordering::Relaxed);
    let hist = open_loop(
        &addrs,
        clients.max(32),
        national.clone(),
        first,
        count,
        paced,
    )
    .await?;
    wait_counter(&be, "published", before + count, Duration::from_secs(600)).await?;
    let ms = |q: f64| round3(hist.value_at_quantile(q) as f64 / 1000.0);
    println!(
        "submission latency at {paced:.0}/s (half the peak, {count} paced): p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        ms(0.5),
        ms(0.99),
        ms(0.999),
        round3(hist.max() as f64 / 1000.0)
    );
    report.set("submit_rate_per_s", (paced * 10.0).round() / 10.0);
    report.set("submit_p50_ms", ms(0.5));
    report.set("submit_p99_ms", ms(0.99));
    report.set("submit_p999_ms", ms(0.999));
    let _ = stop_rss.send(true);
    let rss = sampler.await.map_err(|e| e.to_string())?;
    println!(
        "BE serve resident memory, max sampled: {:.1} MiB",
        rss as f64 / 1048576.0
    );
    report.set("serve_max_rss_mib", round3(rss as f64 / 1048576.0));

    // Every accepted submission is one confirmed message in NL's inbox.
    let expected = next.load(Ordering::Relaxed);
    let queue = crate::transport::inbox_queue("NL");
    let deadline = Instant::now() + Duration::from_secs(60);
    let depth = loop {
        let v = vhost.name.clone();
        let q = queue.clone();
        let depth = tokio::task::spawn_blocking(move || super::Vhost::depth_of(&v, &q))
            .await
            .map_err(|e| e.to_string())??;
        if depth >= expected || Instant::now() > deadline {
            break depth;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!("NL inbox depth {depth}, SEDs accepted {expected}");
    report.set("foreign_queue_depth", depth);
    report.set("submitted", expected);
    // Fewer is a lost confirmed publish. More is allowed by the contract: a relay
    // whose claim's lease ran out under load publishes again with the same
    // message id (at least once); reported, not hidden.
    if depth < expected {
        return Err(format!(
            "NL's inbox holds {depth} messages, {expected} SEDs were accepted"
        ));
    }
    if depth > expected {
        println!(
            "note: {} publish(es) repeated with the same message id (at least once)",
            depth - expected
        );
    }
    report.set("foreign_queue_repeats", depth - expected);
    drop(be);

    // The whole path: BE and NL, settled at BE by NL's receipt.
    let vhost2 = tokio::task::spawn_blocking(|| super::Vhost::new("bench-whole"))
        .await
        .map_err(|e| e.to_string())??;
    let whole_dir = dir.path().join("whole");
    std::fs::create_dir_all(&whole_dir).map_err(|e| e.to_string())?;
    let amqp2 = vhost2.url();
    let mut pair = Vec::new();
    for (name, country) in [("whole-nl", "NL"), ("whole-be", "BE")] {
        let store = format!(
            "sqlite://{}",
            whole_dir.join(format!("{name}.db")).display()
        );
        let spec = NodeSpec {
            name,
            country,
            store_url: &store,
            amqp_url: &amqp2,
            body_bytes_max: Some(HOSTILE_BODY_MAX),
        };
        pair.push(Node::start(&spec, &root, &whole_dir).await?);
    }
    let be_whole = &pair[1..];
    let addr = [be_whole[0].addr.clone()];
    let next = Arc::new(AtomicU64::new(1 << 40));
    closed_phase(
        &addr,
        be_whole,
        "signals_received",
        clients,
        &national,
        &next,
        opts.warmup.min(200),
    )
    .await?;
    let share = CpuShare::start(&pair.iter().collect::<Vec<_>>())?;
    let took = closed_phase(
        &addr,
        be_whole,
        "signals_received",
        clients,
        &national,
        &next,
        opts.whole_seds,
    )
    .await?;
    let whole_share = share.per_sed(opts.whole_seds)?;
    let whole = rate(opts.whole_seds as usize, took);
    report.rate(
        "whole_path_per_s",
        "WHOLE PATH national -> BE -> NL -> receipt settled at BE",
        whole,
    );
    report.set("whole_path_ratio", round3(whole / ceiling));
    let broker = report_cpu_share(&mut report, "whole_path", &whole_share);
    // Two signatures per SED (BE's SED, NL's receipt) and the broker's CPU: what
    // no switch can avoid when the broker shares the machine.
    let bound = bound_ratio(cores, ceiling, 2.0, rsa_sign_cpu_ms, broker);
    println!(
        "whole-path bound: two signatures per SED and nothing else in the switches, beside this broker ({broker:.3} ms per SED), would reach {bound:.3} of the ceiling"
    );
    report.set("whole_path_bound_ratio", round3(bound));
    let applied = pair[0].counter("inbound_applied").await?;
    report.set("whole_path_applied_at_nl", applied);
    if opts.hostile_share > 0.0 {
        let run = WholeRun {
            addr: &addr,
            pair: &pair,
            clients,
            national: &national,
            next: &next,
            seds: opts.whole_seds,
        };
        hostile_phase(
            &root,
            &amqp2,
            &run,
            whole,
            opts.hostile_share,
            cores,
            &mut report,
        )
        .await?;
    }
    drop(pair);

    if let Some(n) = opts.python {
        let script = root.join("../shared/bench/python-sendpath/run.sh");
        println!("running {} -n {n} --runs 1", script.display());
        let out = tokio::task::spawn_blocking(move || {
            super::run_tool(
                "bash",
                &[
                    &script.to_string_lossy(),
                    "-n",
                    &n.to_string(),
                    "--runs",
                    "1",
                ],
            )
        })
        .await
        .map_err(|e| e.to_string())??;
        let last: serde_json::Value = out
            .lines()
            .next_back()
            .and_then(|l| serde_json::from_str(l).ok())
            .ok_or("the Python script printed no JSON last line")?;
        let best = figure(&last["outbound_per_s_best"])
            .ok_or("the Python script's JSON has no outbound_per_s_best")?;
        report.rate(
            "python_outbound_per_s",
            "Python outbound (outbound_per_s_best: a process per core, aio-pika)",
            best,
        );
        if let Some(b) = figure(&last["outbound_per_s_blocking"]) {
            report.rate(
                "python_outbound_blocking_per_s",
                "Python outbound, blocking pika",
                b,
            );
        }
        if let Some(c) = figure(&last["openssl_rsa2048_sign_per_s_all_cores"]) {
            report.set("python_run_ceiling_sign_per_s", c);
        }
        println!(
            "switch outbound / Python outbound: {:.2}",
            outbound / best.max(1e-9)
        );
        report.set("outbound_over_python", round3(outbound / best.max(1e-9)));
    }
    drop(vhost2);
    drop(vhost);
    drop(pg);
    println!("{}", serde_json::Value::Object(report.json));
    Ok(())
}
/// The receiver's size limit in the whole-path runs: far above any valid SED, and
/// low enough that the hostile `TOO_LARGE` messages do not swamp the broker.
const HOSTILE_BODY_MAX: usize = 256 * 1024;
/// Hostile messages sent alone to measure what one costs the machine.
const HOSTILE_CALIBRATION: usize = 300;

/// The whole-path set-up, for running it again.
struct WholeRun<'a> {
    addr: &'a [String],
    /// NL, then BE.
    pair: &'a [Node],
    clients: usize,
    national: &'a Arc<National>,
    next: &'a Arc<AtomicU64>,
    seds: u64,
}

impl WholeRun<'_> {
    /// One closed-loop whole-path phase of `seds`, until BE has their receipts.
    async fn phase(&self) -> Result<Duration, String> {
        closed_phase(
            self.addr,
            &self.pair[1..],
            "signals_received",
            self.clients,
            self.national,
            self.next,
            self.seds,
        )
        .await
    }
}

/// The whole path again with hostile messages (`share` of all traffic) put on NL's
/// inbox by DE: the valid rate with them against `clean` (the rate without), and
/// what share of the machine's CPU the hostile messages took (each measured alone
/// first). Every hostile message must come back as the contract's error.
async fn hostile_phase(
    root: &std::path::Path,
    amqp: &str,
    run: &WholeRun<'_>,
    clean: f64,
    share: f64,
    cores: usize,
    report: &mut Report,
) -> Result<(), String> {
    use super::hostile::{self, Hostile};
    hostile::declare_sender(amqp).await?;
    let per_valid = share / (1.0 - share).max(1e-9);
    let count = (run.seds as f64 * per_valid).ceil() as usize;
    let (root2, n) = (root.to_owned(), HOSTILE_CALIBRATION + count);
    let all = tokio::task::spawn_blocking(move || Hostile::craft(&root2, n, HOSTILE_BODY_MAX))
        .await
        .map_err(|e| e.to_string())??;
    let expected = all.expected();
    let mut messages: Vec<_> = all.messages.into_iter().map(|(m, _)| m).collect();
    let measured = messages.split_off(HOSTILE_CALIBRATION);

    // Alone: the machine's CPU per hostile message, until each is answered.
    let busy = hostile::machine_busy()?;
    hostile::publish(amqp, messages, 0.0).await?;
    let calibration: std::collections::HashMap<_, _> = expected
        .iter()
        .filter(|(id, _)| !measured.iter().any(|m| &m.message_id == *id))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let answers = hostile::collect(amqp, calibration, Duration::from_secs(120)).await?;
    let cpu_each = (hostile::machine_busy()? - busy).as_secs_f64() / HOSTILE_CALIBRATION as f64;
    if answers.right != HOSTILE_CALIBRATION {
        return Err(format!("hostile messages sent alone: {answers:?}"));
    }

    // With the valid traffic, paced at `share` of it.
    let pace = clean * per_valid;
    let expected_measured: std::collections::HashMap<_, _> = measured
        .iter()
        .map(|m| (m.message_id.clone(), expected[&m.message_id]))
        .collect();
    let amqp2 = amqp.to_owned();
    let publisher = tokio::spawn(async move { hostile::publish(&amqp2, measured, pace).await });
    let took = run.phase().await?;
    let sent = publisher.await.map_err(|e| e.to_string())??;
    let valid = rate(run.seds as usize, took);
    let answers = hostile::collect(amqp, expected_measured, Duration::from_secs(120)).await?;
    let hostile_per_s = sent as f64 / took.as_secs_f64().max(1e-9);
    let cpu_share = hostile_per_s * cpu_each / cores as f64;
    // The clean run again after it: the stores and the national queues grew during
    // the two runs, so the hostile run is compared with the mean of the clean run
    // before and the one after it (A-B-A), not with the first alone.
    let took_after = run.phase().await?;
    let clean_after = rate(run.seds as usize, took_after);
    report.rate(
        "whole_path_clean_after_per_s",
        "WHOLE PATH again without hostile messages",
        clean_after,
    );
    let clean = (clean + clean_after) / 2.0;
    report.rate(
        "whole_path_hostile_per_s",
        "WHOLE PATH with hostile messages on NL's inbox",
        valid,
    );
    report.set("hostile_share", share);
    report.set("hostile_sent", sent as u64);
    report.set("hostile_answered", answers.right as u64);
    report.set("hostile_wrong_answers", answers.wrong as u64);
    report.set("hostile_unanswered", answers.missing as u64);
    report.set("hostile_machine_cpu_ms_each", round3(cpu_each * 1000.0));
    report.set("hostile_cpu_share", round3(cpu_share));
    report.set("hostile_valid_drop", round3(1.0 - valid / clean.max(1e-9)));
    println!(
        "hostile: {sent} sent at {hostile_per_s:.0}/s, {} answered with the contract's error, {} wrong, {} unanswered; \
         each cost the machine {:.3} ms of CPU alone, {:.1} % of its CPU at that rate; \
         valid throughput {valid:.0}/s against {clean:.0}/s without (the mean of the clean runs before and after; {:+.1} %)",
        answers.right,
        answers.wrong,
        answers.missing,
        cpu_each * 1000.0,
        cpu_share * 100.0,
        (valid / clean.max(1e-9) - 1.0) * 100.0,
    );
    if answers.right != sent || answers.wrong > 0 {
        return Err("not every hostile message got its contract answer".into());
    }
    Ok(())
}

/// Each stage alone, single-threaded.
fn stage_rates(
    root: &std::path::Path,
    dir: &std::path::Path,
    national: &[u8],
) -> Result<Vec<(&'static str, &'static str, f64)>, String> {
    let budget = Duration::from_secs(2);
    let limits = xml::XmlLimits::default();
    let adapters =
        crate::adapt::Adapters::load(&root.join("adapters")).map_err(|e| e.to_string())?;
    let adapter = adapters
        .get("onss-posting")
        .ok_or("no onss-posting adapter")?;
    let version = crate::ids::SedVersion::parse("4.2").map_err(|e| e.to_string())?;
    let sed = SedType::parse("A009").map_err(|e| e.to_string())?;
    let schema = validate::sed_schema_path(&root.join("sed-schemas"), &version, &sed);
    let translated = adapter
        .translate(national, &limits, &version)
        .map_err(|e| e.to_string())?;
    let body = translated.sed_xml.clone().into_bytes();
    let signer = dsig::Signer::from_files(
        &root.join("fixtures/pki/BE_ONSS.key.pem"),
        &root.join("fixtures/pki/BE_ONSS.crt.pem"),
    )
    .map_err(|e| e.to_string())?;
    let cert = registry::load_certificate(&root.join("fixtures/pki/BE_ONSS.crt.pem"))
        .map_err(|e| e.to_string())?;
    let craft = Craft::new(
        "BE:ONSS",
        "NL:SVB",
        "LA_BUC_04",
        "A009",
        &CaseId::random(),
        &body,
    );
    let signed = craft_with(&signer, &craft)?.body;
    let mut out = vec![];
    out.push((
        "stage_translate_per_s",
        "translate (adapter)",
        measure(budget, || {
            adapter
                .translate(national, &limits, &version)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })?,
    ));
    out.push((
        "stage_validate_per_s",
        "validate (parse + XSD)",
        measure(budget, || {
            let doc = xml::parse(&body, &limits).map_err(|e| e.to_string())?;
            validate::validate_document(&schema, &doc).map_err(|e| e.to_string())
        })?,
    ));
    out.push((
        "stage_sign_per_s",
        "sign (envelope + XML-DSig)",
        measure(budget, || craft_with(&signer, &craft).map(|_| ()))?,
    ));
    out.push((
        "stage_verify_per_s",
        "verify (parse + XML-DSig)",
        measure(budget, || {
            let doc = xml::parse(&signed, &limits).map_err(|e| e.to_string())?;
            envelope::read(&doc).map_err(|e| e.to_string())?;
            dsig::verify(&doc, std::slice::from_ref(&cert)).map_err(|e| e.to_string())
        })?,
    ));
    let store = crate::store::sqlite::SqliteStore::open(&dir.join("stage.db"))
        .map_err(|e| e.to_string())?;
    let mut i = 0u64;
    out.push((
        "stage_commit_per_s",
        "commit (SQLite, 1 tx/SED)",
        measure(budget, || {
            use crate::store::Store;
            i += 1;
            let mut tx = store.begin().map_err(|e| e.to_string())?;
            let mut m = crate::store::OutboxMessage::new(
                crate::store::OutboxKind::Sed,
                "eessi.ap",
                "NL",
                format!("bench-{i}"),
                Default::default(),
                signed.clone(),
            );
            m.case_id = Some(CaseId::random());
            tx.outbox_enqueue(&m).map_err(|e| e.to_string())?;
            tx.commit().map_err(|e| e.to_string())
        })?,
    ));
    Ok(out)
}

/// A figure of the Python script's JSON: a number, or a list of one per run (their mean).
fn figure(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Array(runs) if !runs.is_empty() => {
            let xs: Option<Vec<f64>> = runs.iter().map(serde_json::Value::as_f64).collect();
            xs.map(|xs| xs.iter().sum::<f64>() / xs.len() as f64)
        }
        other => other.as_f64(),
    }
}
