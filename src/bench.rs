//! `eessi-switch bench`: the throughput of the whole path and of each stage,
//! measured in one run on this machine, with the machine's RSA-2048 signing rate
//! as the yardstick (each SED costs one signature, each receipt another).
//!
//! Whole path: a BE switch and an NL switch (own stores, in-process transport or
//! RabbitMQ), national messages submitted concurrently through the ONSS adapter
//! (translate → validate → sign → commit), relayed with confirmed publishes,
//! received and verified by NL (verify → validate → commit → receipt), and
//! settled at BE when the receipt arrives. Stages: each step alone, single thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ids::{CaseId, SedType};
use crate::sed::{envelope, validate, xml};
use crate::signing::{dsig, registry};
use crate::store::{OutboxKind, OutboxStatus};
use crate::switch::Switch;
use crate::switch::outbound::{Submission, submit};
use crate::switch::peer::{Craft, craft_with};
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

pub async fn run(amqp: Option<String>, seds: usize) -> Result<(), String> {
    let root = crate::demo::project_root();
    let dir = tempfile::Builder::new()
        .prefix("eessi-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    println!(
        "eessi-switch bench: {seds} SEDs, {} core(s)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let budget = Duration::from_secs(2);
    println!(
        "RSA-2048 sign (OpenSSL):          {:>9.0}/s (1 thread)  {:>9.0}/s (2 threads)",
        rsa_sign_rate(1, budget)?,
        rsa_sign_rate(2, budget)?
    );

    // Stages, single-threaded, on the blocking side like the switch runs them.
    let national = std::fs::read(root.join("fixtures/national/onss-posting.xml"))
        .map_err(|e| e.to_string())?;
    let be_config = crate::demo::demo_config(&root, "BE", dir.path(), amqp.as_deref())?;
    let nl_config = crate::demo::demo_config(&root, "NL", dir.path(), amqp.as_deref())?;
    let stage_root = root.clone();
    let stage_dir = dir.path().to_owned();
    let stages =
        tokio::task::spawn_blocking(move || stage_rates(&stage_root, &stage_dir, &national))
            .await
            .map_err(|e| e.to_string())??;
    for (name, r) in &stages {
        println!("stage {name:<27} {r:>9.0}/s (1 thread)");
    }

    // The whole path.
    let memory = crate::transport::memory::MemoryBroker::new();
    let mut switches = Vec::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for config in [&be_config, &nl_config] {
        let transport: Arc<dyn Transport> = match &amqp {
            Some(url) => Arc::new(
                crate::transport::amqp::AmqpTransport::connect(url)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            None => Arc::new(memory.clone()),
        };
        let sw = Arc::new(Switch::build(config, transport).map_err(|e| e.to_string())?);
        sw.declare().await.map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(sw.clone().run(256, stop_rx.clone())));
        switches.push(sw);
    }
    println!("whole path over the {}", switches[0].transport.describe());
    let be = switches[0].clone();
    let national = std::fs::read(root.join("fixtures/national/onss-posting.xml"))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    // Many national clients submit at once (their submissions share group commits).
    let workers = 16;
    let mut submitters = Vec::new();
    for w in 0..workers {
        let be = be.clone();
        let national = national.clone();
        let n = seds / workers + usize::from(w < seds % workers);
        submitters.push(tokio::task::spawn_blocking(
            move || -> Result<(), String> {
                let adapter = be
                    .adapters
                    .get("onss-posting")
                    .ok_or("no onss-posting adapter")?;
                for _ in 0..n {
                    let t = adapter
                        .translate(&national, &be.limits, &be.versions[0])
                        .map_err(|e| e.to_string())?;
                    submit(
                        &be,
                        Submission {
                            from: t.from,
                            to: t.to,
                            buc: t.buc,
                            sed: t.sed,
                            version: None,
                            case_id: None,
                            document_id: None,
                            related: None,
                            body: t.sed_xml.into_bytes(),
                        },
                    )
                    .map_err(|e| e.to_string())?;
                }
                Ok(())
            },
        ));
    }
    for s in submitters {
        s.await.map_err(|e| e.to_string())??;
    }
    let submitted_in = start.elapsed();
    loop {
        let counts = be.store.outbox_counts().map_err(|e| e.to_string())?;
        let delivered = counts
            .get(&(OutboxKind::Sed, OutboxStatus::Delivered))
            .copied()
            .unwrap_or(0) as usize;
        let failed = counts
            .get(&(OutboxKind::Sed, OutboxStatus::Failed))
            .copied()
            .unwrap_or(0) as usize;
        if delivered + failed >= seds {
            if failed > 0 {
                return Err(format!("{failed} SED(s) failed"));
            }
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            return Err(format!("only {delivered} of {seds} delivered after 600 s"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = start.elapsed();
    println!(
        "national submit (translate+validate+sign+commit, {workers} threads): {:>7.0}/s",
        rate(seds, submitted_in)
    );
    println!(
        "WHOLE PATH national message -> delivered with receipt:      {:>7.0} SED/s ({seds} in {:.2} s)",
        rate(seds, total),
        total.as_secs_f64()
    );
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Each stage alone, single-threaded.
fn stage_rates(
    root: &std::path::Path,
    dir: &std::path::Path,
    national: &[u8],
) -> Result<Vec<(&'static str, f64)>, String> {
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
        "translate (adapter)",
        measure(budget, || {
            adapter
                .translate(national, &limits, &version)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })?,
    ));
    out.push((
        "validate (parse + XSD)",
        measure(budget, || {
            let doc = xml::parse(&body, &limits).map_err(|e| e.to_string())?;
            validate::validate_document(&schema, &doc).map_err(|e| e.to_string())
        })?,
    ));
    out.push((
        "sign (envelope + XML-DSig)",
        measure(budget, || craft_with(&signer, &craft).map(|_| ()))?,
    ));
    out.push((
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
        "commit (SQLite, 1 tx/SED)",
        measure(budget, || {
            use crate::store::Store;
            i += 1;
            let mut tx = store.begin().map_err(|e| e.to_string())?;
            let mut m = crate::store::OutboxMessage::new(
                OutboxKind::Sed,
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
