//! Supervision: a switch whose inbox consumer cannot go on says so and exits
//! non-zero (so that its process manager restarts it), instead of answering UP
//! while nothing consumes its inbox.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn an_unrecoverable_consumer_connection_puts_the_switch_down_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let vhost = Vhost::new("supervision");
    let mut be = Server::start(dir.path(), "BE", &vhost, &Retry::default());
    assert_eq!(be.get_json("/health")["status"], "UP");
    // The broker closes every connection of the vhost, and the vhost is gone for
    // good: the consumer's channel can never be recovered.
    let out = std::process::Command::new("rabbitmqctl")
        .args(["delete_vhost", &vhost.name])
        .output()
        .unwrap();
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut saw_down = None;
    let status = loop {
        if let Some(status) = be.child.try_wait().unwrap() {
            break status;
        }
        if let Ok((503, body)) = try_get(&format!("{}/health", be.base)) {
            saw_down.get_or_insert(body);
        }
        assert!(
            Instant::now() < deadline,
            "still running 90 s after its broker connection became unrecoverable; log:\n{}",
            be.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "exit status {status}");
    let log = be.log();
    assert!(log.contains("access point DOWN"), "log:\n{log}");
    if let Some(body) = saw_down {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "DOWN");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
    }
}
