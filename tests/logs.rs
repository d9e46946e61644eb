//! No message body reaches a log, at any level: a SED the broker returns (its
//! addressee's inbox does not exist) is retried with `EESSI_LOG=trace`, and the log
//! holds none of the SED's personal data.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_returned_sed_is_never_logged_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let vhost = Vhost::new("logs");
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let be = Server::spawn_env(dir.path(), "BE", config, port, &[("EESSI_LOG", "trace")]);
    // Nobody declared NL's inbox in this vhost: the broker returns the SED.
    be.send("BE:ONSS", "NL:SVB", "LA_BUC_04", "A009", None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let returned = || {
        be.get_json("/api/v1/messages?status=retrying")["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| {
                m["lastError"]
                    .as_str()
                    .is_some_and(|e| e.contains("returned by the broker"))
            })
    };
    while !returned() {
        assert!(
            Instant::now() < deadline,
            "never returned; log:\n{}",
            be.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = be.log();
    assert!(
        log.contains("DEBUG") || log.contains("TRACE"),
        "the log is verbose: {log}"
    );
    for personal in [
        "Janssens",
        "Pieter",
        "90031412310",
        "Kerkstraat",
        "1990-03-14",
    ] {
        assert!(!log.contains(personal), "{personal} is in the log");
        // Libraries print bodies as byte lists too.
        let bytes: Vec<String> = personal.bytes().map(|b| b.to_string()).collect();
        let bytes = bytes.join(", ");
        assert!(!log.contains(&bytes), "{personal} is in the log as bytes");
    }
    assert!(
        !log.contains("Server returned us a message"),
        "the AMQP library logged a returned message"
    );
}

/// `EESSI_LOG_FORMAT=json`: the real binary writes one JSON object per line, the
/// identifiers of a submission as fields (not words in a message), and still no
/// body: the SED's personal data is nowhere in the log.
#[test]
fn json_logs_carry_the_ids_as_fields() {
    let dir = tempfile::tempdir().unwrap();
    let vhost = Vhost::new("jsonlogs");
    let port = free_port();
    let config = write_config(dir.path(), "BE", &vhost.url(), port, &Retry::default());
    let be = Server::spawn_env(
        dir.path(),
        "BE",
        config,
        port,
        &[("EESSI_LOG", "info"), ("EESSI_LOG_FORMAT", "json")],
    );
    let sent = be.send("BE:ONSS", "NL:SVB", "LA_BUC_04", "A009", None, None);
    let message_id = sent["messageId"].as_str().unwrap();
    // The event is written before the submission is answered.
    let log = be.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let submitted = lines
        .iter()
        .find(|l| l["fields"]["message"] == "SED submitted")
        .unwrap_or_else(|| panic!("no submission event in\n{log}"));
    assert_eq!(submitted["fields"]["message_id"], message_id, "{submitted}");
    assert_eq!(
        submitted["fields"]["case_id"], sent["caseId"],
        "{submitted}"
    );
    assert_eq!(
        submitted["fields"]["document_id"], sent["documentId"],
        "{submitted}"
    );
    assert_eq!(submitted["level"], "INFO", "{submitted}");
    for personal in ["Janssens", "Pieter", "90031412310", "1990-03-14"] {
        assert!(!log.contains(personal), "{personal} is in the log");
    }
}

/// An unknown format is refused at start, with the reason.
#[test]
fn an_unknown_log_format_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eessi-switch"))
        .args(["buc", "list"])
        .env("EESSI_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EESSI_LOG_FORMAT") && err.contains("text or json"),
        "{err}"
    );
}
