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
