//! Logging: `EESSI_LOG` (a `tracing` filter, default `warn`) decides what is logged,
//! `EESSI_LOG_FORMAT` how: `text` (the default, for people) or `json` (one JSON
//! object per line, for a log pipeline: `timestamp`, `level`, `target`, the event's
//! `fields` with its `message`, and the `span`/`spans` it happened in, so the
//! identifiers the main paths record, `case_id`, `message_id`, `document_id`, are
//! fields to search on rather than words in a sentence).
//!
//! Whatever either says, no message body reaches the log. Our own code never logs
//! bodies or personal data; two library sites would: lapin logs a message the
//! broker returned (`lapin::returned_messages`, at WARN, with its whole body) and
//! its frames at TRACE. Those are dropped here, after the user's filter and for
//! both formats, so no setting can turn them on.

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

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `EESSI_LOG_FORMAT`'s value: absent or empty is `text`.
    pub fn parse(value: Option<&str>) -> Result<Format, String> {
        match value.map(str::trim) {
            None | Some("") | Some("text") => Ok(Format::Text),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(format!(
                "EESSI_LOG_FORMAT={other:?} is not a log format: text or json"
            )),
        }
    }
}

/// Install the process's subscriber: stderr, `EESSI_LOG`, `EESSI_LOG_FORMAT`, bodies
/// never. An unknown format is refused (the caller exits with the message).
pub fn init() -> Result<(), String> {
    let format = Format::parse(std::env::var("EESSI_LOG_FORMAT").ok().as_deref())?;
    let user = EnvFilter::try_from_env("EESSI_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let bodies = tracing_subscriber::filter::filter_fn(may_log);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let layer = match format {
        Format::Text => fmt.with_filter(user).with_filter(bodies).boxed(),
        Format::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(user)
            .with_filter(bodies)
            .boxed(),
    };
    tracing_subscriber::registry().with(layer).init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[test]
    fn the_format_is_text_or_json() {
        assert_eq!(Format::parse(None), Ok(Format::Text));
        assert_eq!(Format::parse(Some("")), Ok(Format::Text));
        assert_eq!(Format::parse(Some("json")), Ok(Format::Json));
        assert!(
            Format::parse(Some("xml"))
                .unwrap_err()
                .contains("text or json")
        );
    }

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// In both formats the body-dropping filter holds: lapin's returned message and
    /// its frames are dropped, our own events pass with their fields.
    #[test]
    fn both_formats_drop_what_may_carry_a_body() {
        for json in [false, true] {
            let out = Captured::default();
            let writer = {
                let out = out.clone();
                move || out.clone()
            };
            let fmt = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false);
            let layer = if json {
                fmt.json()
                    .with_filter(EnvFilter::new("trace"))
                    .with_filter(tracing_subscriber::filter::filter_fn(may_log))
                    .boxed()
            } else {
                fmt.with_filter(EnvFilter::new("trace"))
                    .with_filter(tracing_subscriber::filter::filter_fn(may_log))
                    .boxed()
            };
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, || {
                tracing::warn!(target: "lapin::returned_messages", "returned: SECRET-BODY");
                tracing::trace!(target: "lapin::frames", "frame: SECRET-FRAME");
                tracing::info!(message_id = "m-1", "kept");
            });
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            assert!(!text.contains("SECRET"), "json={json}: {text}");
            assert!(
                text.contains("kept") && text.contains("m-1"),
                "json={json}: {text}"
            );
            if json {
                let line: serde_json::Value =
                    serde_json::from_str(text.lines().next().unwrap()).unwrap();
                assert_eq!(line["fields"]["message_id"], "m-1", "{line}");
            }
        }
    }
}
