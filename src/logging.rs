//! Logging: `EESSI_LOG` (a `tracing` filter, default `warn`) decides what is logged,
//! and whatever it says, no message body reaches the log. Our own code never logs
//! bodies or personal data; two library sites would: lapin logs a message the
//! broker returned (`lapin::returned_messages`, at WARN, with its whole body) and
//! its frames at TRACE. Those are dropped here, after the user's filter, so no
//! setting of `EESSI_LOG` can turn them on.

use tracing::Metadata;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// False for the events that may carry a message body.
pub fn may_log(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let amqp =
        target == "lapin" || target.starts_with("lapin::") || target.starts_with("amq_protocol");
    if !amqp {
        return true;
    }
    if target.starts_with("lapin::returned_messages") {
        return false;
    }
    *meta.level() < tracing::Level::TRACE || !meta.is_event()
}

/// Install the process's subscriber: stderr, `EESSI_LOG`, bodies never.
pub fn init() {
    let user = EnvFilter::try_from_env("EESSI_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(user)
        .with_filter(tracing_subscriber::filter::filter_fn(may_log));
    tracing_subscriber::registry().with(layer).init();
}
