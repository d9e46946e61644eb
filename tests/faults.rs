//! Broker faults against the real RabbitMQ: a restart (`rabbitmqctl stop_app` /
//! `start_app`) in the middle of traffic between two real switches loses nothing
//! and applies nothing twice. This binary holds a single test because it stops the
//! broker for everyone (cargo runs test binaries one after another).

mod common;

use common::*;

fn id(v: &serde_json::Value, key: &str) -> String {
    v[key].as_str().unwrap().to_owned()
}

#[test]
fn a_broker_restart_loses_nothing_and_doubles_nothing() {
    let vhost = Vhost::new("restart");
    let dir = tempfile::tempdir().unwrap();
    let retry = Retry {
        interval_ms: 2_000,
        attempts_max: 30,
        window_ms: 120_000,
    };
    let be = Server::start(dir.path(), "BE", &vhost, &retry);
    let nl = Server::start(dir.path(), "NL", &vhost, &retry);
    let mut sent = Vec::new();
    for _ in 0..10 {
        sent.push(be.send("BE:ONSS", "NL:SVB", "LA_BUC_02", "A003", None, None));
    }
    let (ok, out) = tool("rabbitmqctl", &["stop_app"]);
    assert!(ok, "{out}");
    // Submissions keep being accepted while the broker is away: they wait in the outbox.
    for _ in 0..10 {
        sent.push(be.send("BE:ONSS", "NL:SVB", "LA_BUC_02", "A003", None, None));
    }
    wait_health(&be, "disconnected");
    let (ok, out) = tool("rabbitmqctl", &["start_app"]);
    assert!(ok, "{out}");
    let _ = tool("rabbitmqctl", &["await_startup"]);
    for _ in 0..10 {
        sent.push(be.send("BE:ONSS", "NL:SVB", "LA_BUC_02", "A003", None, None));
    }
    for a in &sent {
        be.wait_message(&id(a, "caseId"), &id(a, "messageId"), "delivered");
        let c = nl.wait_state(&id(a, "caseId"), "awaiting_reply");
        let received = c["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["event"] == "sed-received")
            .count();
        assert_eq!(received, 1, "applied exactly once: {c}");
    }
    assert_eq!(
        nl.get_json("/api/v1/cases?limit=500")
            .as_array()
            .unwrap()
            .len(),
        sent.len()
    );
    wait_health(&be, "connected");

    // A memory alarm makes the broker block publishing connections: the relay pauses,
    // health and metrics say so, and everything goes out once the alarm clears.
    let (ok, out) = tool("rabbitmqctl", &["set_vm_memory_high_watermark", "0.00001"]);
    assert!(ok, "{out}");
    let during: Vec<serde_json::Value> = (0..5)
        .map(|_| be.send("BE:ONSS", "NL:SVB", "LA_BUC_02", "A003", None, None))
        .collect();
    wait_health(&be, "blocked");
    let (_, metrics) = try_get(&format!("{}/metrics", be.base)).unwrap();
    assert!(metrics.contains("eessi_broker_blocked 1"), "{metrics}");
    let (ok, out) = tool("rabbitmqctl", &["set_vm_memory_high_watermark", "0.4"]);
    assert!(ok, "{out}");
    for a in &during {
        be.wait_message(&id(a, "caseId"), &id(a, "messageId"), "delivered");
    }
    wait_health(&be, "connected");
    drop(be);
    drop(nl);
    database_outage_holds_deliveries_and_resumes(&vhost, dir.path());
}

/// The PostgreSQL server stops while SEDs arrive: the switch stops acking (nothing is
/// requeued towards the delivery limit, nothing dead-lettered), reports DOWN, and
/// applies everything once the server is back.
fn database_outage_holds_deliveries_and_resumes(vhost: &Vhost, dir: &std::path::Path) {
    let db = PgDb::new();
    let port = free_port();
    let retry = Retry {
        interval_ms: 2_000,
        attempts_max: 60,
        window_ms: 300_000,
    };
    let config = write_config(dir, "BE", &vhost.url(), port, &retry);
    use_store(&config, &db.url());
    let be = Server::spawn(dir, "BE", config, port);
    let nl = Server::start(dir, "NL", vhost, &retry);
    let first = nl.send("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", None, None);
    be.wait_state(&id(&first, "caseId"), "awaiting_reply");
    let cluster = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let (ok, out) = tool(
        "pg_ctlcluster",
        &[
            "--skip-systemctl-redirect",
            &cluster,
            "main",
            "stop",
            "-m",
            "fast",
        ],
    );
    assert!(ok, "{out}");
    let during: Vec<serde_json::Value> = (0..5)
        .map(|_| nl.send("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", None, None))
        .collect();
    // BE reports the store down.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = try_get(&format!("{}/health", be.base)).unwrap();
        if status == 503 {
            assert!(body.contains("DOWN"), "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health never reported the store down: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (ok, out) = tool(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &cluster, "main", "start"],
    );
    assert!(ok, "{out}");
    for a in &during {
        nl.wait_message(&id(a, "caseId"), &id(a, "messageId"), "delivered");
        let c = be.wait_state(&id(a, "caseId"), "awaiting_reply");
        assert_eq!(c["documents"].as_array().unwrap().len(), 1);
    }
    // Nothing went to the dead-letter queue.
    let (_, out) = tool(
        "rabbitmqctl",
        &["list_queues", "-p", &vhost.name, "name", "messages"],
    );
    let dead = out
        .lines()
        .find(|l| l.starts_with("eessi.ap.BE.dead"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        dead.ends_with("\t0") || dead.ends_with(" 0"),
        "dead-lettered during the outage: {dead:?}"
    );
}

/// Wait until the switch's health reports the broker in `state`.
fn wait_health(s: &Server, state: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let h = s.get_json("/health");
        if h["broker"] == state {
            assert_eq!(
                h["status"],
                if state == "connected" {
                    "UP"
                } else {
                    "DEGRADED"
                }
            );
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the broker never became {state}: {h}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
