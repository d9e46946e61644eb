//! TLS on every connection that leaves the machine, over real connections: a
//! `serve` process on RabbitMQ's TLS listener (`amqps://localhost:5671`, the broker
//! requires a client certificate), on PostgreSQL with `[store] ca_file` (TLS,
//! certificate and host name verified) and serving its API over HTTPS; and the
//! refusals: a broker or database whose certificate the configured CA did not sign
//! stops the start, and plain HTTP gets nothing from the HTTPS port.
//!
//! `scripts/setup` turns on the TLS listeners with the test PKI (`fixtures/tls`,
//! TEST ONLY).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use eessi_switch::harness::peer::{Craft, craft_with};
use eessi_switch::ids::CaseId;
use eessi_switch::transport::Transport;

fn tls(name: &str) -> String {
    format!("{ROOT}/fixtures/tls/{name}")
}

/// What the broker and database certificates are checked against.
struct Trust<'a> {
    amqp_ca: &'a str,
    store_ca: &'a str,
}

/// A BE configuration: amqps to `vhost`, PostgreSQL `db` over TLS, HTTPS on `port`.
fn tls_config(dir: &Path, vhost: &Vhost, db: &PgDb, port: u16, trust: &Trust) -> PathBuf {
    fix_key_modes();
    let amqps = format!("amqps://guest:guest@localhost:5671/{}", vhost.name);
    let config = write_config(dir, "BE", &amqps, port, &Retry::default());
    use_store(
        &config,
        &format!("postgres://postgres@localhost:5432/{}", db.name),
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace(
            &format!("[amqp]\nurl = \"{amqps}\"\n"),
            &format!(
                "[amqp]\nurl = \"{amqps}\"\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                tls(trust.amqp_ca),
                tls("client.crt.pem"),
                tls("client.key.pem")
            ),
        )
        .replace(
            "[store]\n",
            &format!(
                "[store]\nca_file = \"{}\"\npool_size = 4\n",
                tls(trust.store_ca)
            ),
        );
    std::fs::write(&config, text).unwrap();
    http_settings(
        &config,
        &format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            tls("server.crt.pem"),
            tls("server.key.pem")
        ),
    );
    config
}

fn spawn(config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_eessi-switch"))
        .args(["serve", "--config"])
        .arg(config)
        .env("EESSI_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn eessi-switch")
}

/// A GET over HTTPS with curl, trusting the test CA only: (status, body).
fn https_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let (ok, out) = tool(
        "curl",
        &[
            "--silent",
            "--show-error",
            "--max-time",
            "10",
            "--cacert",
            &tls("ca.crt.pem"),
            "--write-out",
            "\n%{http_code}",
            &format!("https://localhost:{port}{path}"),
        ],
    );
    if !ok {
        return Err(out);
    }
    let (body, status) = out.rsplit_once('\n').ok_or_else(|| out.clone())?;
    Ok((status.trim().parse().map_err(|_| out.clone())?, body.into()))
}

/// Wait for the process to exit (it must, within `within`): its exit status.
fn exit_within(child: &mut Child, within: Duration, log: &Path) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the switch did not stop within {within:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rabbitmqctl_out(args: &[&str]) -> String {
    let (ok, out) = tool("rabbitmqctl", args);
    assert!(ok, "rabbitmqctl {args:?}: {out}");
    out
}

// A plain test with a runtime of its own: the blocking PostgreSQL client (the
// database's set-up, drop and the check below) may not run on a runtime's thread.
#[test]
fn a_switch_on_amqps_postgres_tls_and_https_answers_a_peer() {
    let vhost = Vhost::new("tls");
    let db = PgDb::new();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = tls_config(
        dir.path(),
        &vhost,
        &db,
        port,
        &Trust {
            amqp_ca: "ca.crt.pem",
            store_ca: "ca.crt.pem",
        },
    );
    let log = dir.path().join("be.log");
    let mut child = spawn(&config, &log);
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        match https_get(port, "/health") {
            Ok((200, body)) => break body,
            _ if Instant::now() < deadline && child.try_wait().unwrap().is_none() => {
                std::thread::sleep(Duration::from_millis(200))
            }
            other => panic!(
                "never healthy over HTTPS: {other:?}\nlog:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
    };
    assert!(health.contains("UP"), "{health}");

    // The broker connection is TLS and presents the switch's client certificate.
    let conns = rabbitmqctl_out(&[
        "-q",
        "list_connections",
        "-p",
        &vhost.name,
        "ssl",
        "peer_cert_subject",
    ]);
    assert!(
        conns.contains("true") && conns.contains("CN=eessi-switch BE"),
        "{conns}"
    );

    // A peer (plain 5672, same virtual host) sends a SED: answered with a receipt,
    // and the case is in the store, read back over HTTPS.
    let case_id = CaseId::random();
    let c = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &case_id,
        &fixture("A003"),
    );
    let m = craft_with(&signer("NL_SVB"), &c).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(async {
        let mut nl = Peer::new(&vhost, "NL").await;
        let outcome = nl.transport.publish(&m).await.unwrap();
        assert_eq!(outcome, eessi_switch::transport::PublishOutcome::Confirmed);
        nl.answer_to(&m.message_id).await
    });
    assert_eq!(
        answer.kind.as_deref(),
        Some("receipt"),
        "{:?}",
        answer.headers
    );
    let (status, body) = https_get(port, &format!("/api/v1/cases/{case_id}")).unwrap();
    assert_eq!(status, 200, "{body}");
    let case: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(case["state"], "awaiting_reply", "{case}");

    // The batch command over HTTPS, trusting the test CA alone: the item is
    // accepted; without the CA it refuses to start, with another CA the
    // handshake fails and nothing is sent.
    let batch = dir.path().join("batch.ndjson");
    let national =
        std::fs::read_to_string(root().join("fixtures/national/onss-posting.xml")).unwrap();
    std::fs::write(
        &batch,
        serde_json::json!({ "message": national }).to_string(),
    )
    .unwrap();
    let submit = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_eessi-switch"))
            .args(["submit", "--adapter", "onss-posting", "--batch"])
            .arg(&batch)
            .args(["--url", &format!("https://localhost:{port}")])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = submit(&["--ca-file", &tls("ca.crt.pem")]);
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{answer}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(answer.contains("\"status\":\"accepted\""), "{answer}");
    let out = submit(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca-file"));
    std::fs::remove_file(dir.path().join("batch.ndjson.progress")).unwrap();
    let out = submit(&["--ca-file", &tls("other-ca.crt.pem")]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("unanswered"));

    // Every connection of the switch to its database is TLS.
    let mut pg = postgres::Client::connect(
        "postgres://postgres@127.0.0.1:5432/postgres",
        postgres::NoTls,
    )
    .unwrap();
    let rows = pg
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
             WHERE a.datname = $1 AND a.application_name = 'eessi-switch'",
            &[&db.name],
        )
        .unwrap();
    assert!(!rows.is_empty(), "no switch connection to {}", db.name);
    assert!(
        rows.iter().all(|r| r.get::<_, bool>(0)),
        "a plain connection"
    );

    // Plain HTTP to the HTTPS port gets no answer.
    let plain = try_get(&format!("http://127.0.0.1:{port}/health"));
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // ...and the HTTPS port still serves afterwards.
    assert_eq!(https_get(port, "/health").unwrap().0, 200);

    let _ = child.kill();
    let _ = child.wait();
}

/// Start with `trust`; the switch must exit non-zero saying why.
fn refused_start(trust: &Trust) -> String {
    let vhost = Vhost::new("tls-refused");
    let db = PgDb::new();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = tls_config(dir.path(), &vhost, &db, port, trust);
    let log = dir.path().join("be.log");
    let mut child = spawn(&config, &log);
    let status = exit_within(&mut child, Duration::from_secs(60), &log);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "started with a wrong CA: {log}");
    assert!(
        https_get(port, "/health").is_err(),
        "the API is up with a wrong CA"
    );
    log
}

#[test]
fn a_broker_certificate_the_configured_ca_did_not_sign_stops_the_start() {
    let log = refused_start(&Trust {
        amqp_ca: "other-ca.crt.pem",
        store_ca: "ca.crt.pem",
    });
    assert!(
        log.contains("error: ") && log.contains("certificate verify failed"),
        "{log}"
    );
}

#[test]
fn a_database_certificate_the_configured_ca_did_not_sign_stops_the_start() {
    let log = refused_start(&Trust {
        amqp_ca: "ca.crt.pem",
        store_ca: "other-ca.crt.pem",
    });
    assert!(
        log.contains("error: ")
            && log.contains("PostgreSQL")
            && log.contains("certificate verify failed"),
        "{log}"
    );
}
