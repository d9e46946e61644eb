//! The fault test in a size that fits CI: `eessi-harness chaos` with two BE
//! instances on PostgreSQL and NL, five SIGKILLs, one RabbitMQ restart and one drop
//! of the PostgreSQL connections; nothing may be lost or applied twice. (Its own
//! test binary: it restarts the broker, and cargo runs test binaries one by one.)

mod common;

use common::*;

#[test]
fn chaos_loses_nothing_and_doubles_nothing() {
    fix_key_modes();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eessi-harness"))
        .args(["chaos", "--seds", "300", "--kills", "5", "--per-case", "5"])
        .output()
        .expect("run eessi-harness chaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|_| panic!("no JSON report: {stdout}\n{stderr}"));
    assert!(out.status.success(), "chaos failed: {report}\n{stderr}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["applied_twice"], 0, "{report}");
    assert_eq!(report["sent"], 300, "{report}");
    assert_eq!(report["delivered"], report["sent"], "{report}");
    assert_eq!(report["receipts"], report["sent"], "{report}");
    assert!(report["kills"].as_u64().unwrap() >= 5, "{report}");
    // National deliveries (docs/national.md): every SED BE received from NL
    // reached BE:ONSS's queue; copies are allowed only as the same message id and bytes.
    assert!(
        report["national_expected"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(
        report["national_delivered"], report["national_expected"],
        "{report}"
    );
    assert_eq!(report["national_violations"], 0, "{report}");
    assert_eq!(report["broker_restarts"], 1);
    assert_eq!(report["db_resets"], 1);
}
