//! eessi-switch: Belgium's national EESSI switch. See docs/ARCHITECTURE.md.

pub mod buc;
pub mod ids;
pub mod sed;
pub mod signing;
pub mod store;
pub mod transport;

/// The AMQP `app_id` of every message we send.
pub const APP_ID: &str = concat!("eessi-switch/", env!("CARGO_PKG_VERSION"));
pub mod adapt;
pub mod api;
pub mod config;
#[cfg(feature = "fault-hooks")]
pub mod faults;
#[doc(hidden)]
pub mod fuzz;
#[cfg(any(test, feature = "harness"))]
pub mod harness;
pub mod logging;
pub mod report;
pub mod route;
pub mod switch;
pub mod telemetry;
