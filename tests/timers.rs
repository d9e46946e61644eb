//! Durable timers in the real binary: a `serve` process whose clock is a file
//! (`EESSI_FAKE_NOW_FILE`, a test hook of the `fault-hooks` feature) keeps the
//! timers of an LA_BUC_02 case across a restart and, when the file says the
//! deadline has come, fires them once: the reminder is offered (nothing sent) and
//! the closure rule sends X001 through the submission path.

#![cfg(feature = "fault-hooks")]

mod common;

use common::*;

fn timer<'a>(case: &'a serde_json::Value, what: &str) -> &'a serde_json::Value {
    case["timers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["what"] == what)
        .unwrap_or_else(|| panic!("no {what} timer: {case}"))
}

#[test]
fn a_serve_process_keeps_its_timers_across_a_restart_and_fires_them_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let vhost = Vhost::new("timers");
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[timers]\ninterval_ms = 100\n");
    std::fs::write(&config, text).unwrap();
    let now_file = dir.path().join("now");
    let start_ms = chrono::Utc::now().timestamp_millis();
    std::fs::write(&now_file, start_ms.to_string()).unwrap();
    let env = [("EESSI_FAKE_NOW_FILE", now_file.to_str().unwrap())];
    let be = Server::spawn_env(dir.path(), "BE", config.clone(), port, &env);

    let sent = be.send("BE:ONSS", "NL:SVB", "LA_BUC_02", "A003", None, None);
    let case_id = sent["caseId"].as_str().unwrap().to_owned();
    let case = be.case(&case_id).unwrap();
    let offer = timer(&case, "offer");
    assert_eq!(offer["status"], "pending", "{case}");
    assert_eq!(offer["documentId"], sent["documentId"]);
    assert_eq!(timer(&case, "close")["status"], "pending");
    assert_eq!(case["reminderOffered"], false);
    let due = chrono::DateTime::parse_from_rfc3339(offer["due"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();

    // A restart: the timers are in the store, not in the process.
    drop(be);
    let be = Server::spawn_env(dir.path(), "BE", config, port, &env);
    assert_eq!(
        timer(&be.case(&case_id).unwrap(), "offer")["status"],
        "pending"
    );

    // The file's clock reaches the deadline: both fire, once.
    std::fs::write(&now_file, (due + 1_000).to_string()).unwrap();
    let case = be.wait_for(&case_id, "the closure", |c| {
        c["timers"]
            .as_array()
            .is_some_and(|ts| ts.iter().all(|t| t["status"] == "fired"))
    });
    assert!(
        timer(&case, "offer")["outcome"]
            .as_str()
            .unwrap()
            .contains("offered"),
        "{case}"
    );
    assert_eq!(case["state"], "closed", "{case}");
    let seds: Vec<&str> = case["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["sed"].as_str().unwrap())
        .collect();
    assert_eq!(
        seds,
        ["A003", "X001"],
        "no X009: the reminder is only offered"
    );
    let events: Vec<&str> = case["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"timer-offer"), "{events:?}");
    assert!(events.contains(&"timer-close"), "{events:?}");
    // The operators' view and the metrics.
    let fired = be.get_json("/api/v1/timers?status=fired");
    assert_eq!(fired.as_array().unwrap().len(), 2, "{fired}");
    let (status, _) = try_get(&format!("{}/api/v1/timers?status=late", be.base)).unwrap();
    assert_eq!(status, 400);
    let (_, metrics) = try_get(&format!("{}/metrics", be.base)).unwrap();
    assert!(metrics.contains("eessi_timers_fired_total 2"), "{metrics}");
    assert!(metrics.contains("eessi_limit{name=\"timers_interval_ms\"} 100"));
}
