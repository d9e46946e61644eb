//! A hostile foreign access point for the benchmark: DE puts messages on NL's inbox
//! that the contract says must be refused, one kind in three each: a SED whose
//! signature no longer matches its content (`SIGNATURE_INVALID`), a body one byte
//! over the receiver's size limit (`TOO_LARGE`) and a body that is not XML
//! (`MALFORMED`). Every one must come back on DE's queue as a signed error naming
//! its message id with that code; nothing else counts as answered.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::peer::{Craft, craft_with};
use crate::ids::{CaseId, MessageId};
use crate::sed::signal::{self, ErrorCode, Signal};
use crate::sed::xml::{self, XmlLimits};
use crate::signing::Signer;
use crate::transport::{AP_EXCHANGE, OutMessage, Transport, amqp::AmqpTransport, inbox_queue};

/// The pretended sender and its victim.
pub const FROM: &str = "DE:DRV";
pub const TO: &str = "NL:SVB";

/// Hostile messages, each with the error code the contract gives it.
pub struct Hostile {
    pub messages: Vec<(OutMessage, ErrorCode)>,
}

impl Hostile {
    /// `n` messages for a receiver whose size limit is `body_bytes_max`.
    pub fn craft(root: &Path, n: usize, body_bytes_max: usize) -> Result<Hostile, String> {
        let pki = root.join("fixtures/pki");
        let signer = Signer::from_files(&pki.join("DE_DRV.key.pem"), &pki.join("DE_DRV.crt.pem"))
            .map_err(|e| e.to_string())?;
        let sed = std::fs::read(root.join("fixtures/sed/4.2/A009.xml"))
            .map_err(|e| format!("fixtures/sed/4.2/A009.xml: {e}"))?;
        let mut messages = Vec::with_capacity(n);
        for i in 0..n {
            let craft = Craft::new(FROM, TO, "LA_BUC_04", "A009", &CaseId::random(), &sed);
            let mut m = craft_with(&signer, &craft)?;
            let code = match i % 3 {
                0 => {
                    // One byte of the signed content changed: the digest no longer
                    // matches, the structure and the headers still do.
                    const CREATED: &[u8] = b"<sbdh:CreationDateAndTime>";
                    let at = m
                        .body
                        .windows(CREATED.len())
                        .position(|w| w == CREATED)
                        .ok_or("no CreationDateAndTime in the crafted envelope")?;
                    // The year's last digit: still a valid time, no longer the signed one.
                    let digit = at + CREATED.len() + 3;
                    m.body[digit] = if m.body[digit] == b'9' { b'8' } else { b'9' };
                    ErrorCode::SignatureInvalid
                }
                1 => {
                    m.body = vec![b' '; body_bytes_max + 1];
                    ErrorCode::TooLarge
                }
                _ => {
                    m.body = b"<sbdh:StandardBusinessDocument><unclosed>".to_vec();
                    ErrorCode::Malformed
                }
            };
            m.message_id = MessageId::random().to_string();
            messages.push((m, code));
        }
        Ok(Hostile { messages })
    }

    /// The error code each message id must get.
    pub fn expected(&self) -> HashMap<String, ErrorCode> {
        self.messages
            .iter()
            .map(|(m, c)| (m.message_id.clone(), *c))
            .collect()
    }
}

/// Declare DE's queue on the broker (the errors are routed there).
pub async fn declare_sender(amqp_url: &str) -> Result<(), String> {
    let t = AmqpTransport::connect(amqp_url)
        .await
        .map_err(|e| format!("RabbitMQ: {e}"))?;
    t.declare_access_point("DE")
        .await
        .map_err(|e| format!("declaring DE's queue: {e}"))
}

/// Publish the messages at `per_s` (all at once when `per_s` is 0), each confirmed.
pub async fn publish(
    amqp_url: &str,
    messages: Vec<OutMessage>,
    per_s: f64,
) -> Result<usize, String> {
    let t = Arc::new(
        AmqpTransport::connect(amqp_url)
            .await
            .map_err(|e| format!("RabbitMQ: {e}"))?,
    );
    let start = Instant::now();
    let mut sent = Vec::with_capacity(messages.len());
    for (i, m) in messages.into_iter().enumerate() {
        if per_s > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / per_s);
            tokio::time::sleep_until(due.into()).await;
        }
        debug_assert_eq!(m.exchange, AP_EXCHANGE);
        let t = t.clone();
        sent.push(tokio::spawn(async move { t.publish(&m).await }));
    }
    let mut n = 0;
    for s in sent {
        match s.await {
            Ok(Ok(crate::transport::PublishOutcome::Confirmed)) => n += 1,
            Ok(Ok(other)) => return Err(format!("a hostile publish was {other:?}")),
            Ok(Err(e)) => return Err(format!("a hostile publish failed: {e}")),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(n)
}

/// What came back on DE's queue.
#[derive(Debug, Default)]
pub struct Answers {
    /// Errors naming a hostile message with the code the contract gives it.
    pub right: usize,
    /// Anything else: another code, a receipt, an unknown reference, unreadable.
    pub wrong: usize,
    /// Hostile messages nobody answered within the time allowed.
    pub missing: usize,
}

/// Read DE's queue until every expected message is answered or `within` passes.
pub async fn collect(
    amqp_url: &str,
    mut expected: HashMap<String, ErrorCode>,
    within: Duration,
) -> Result<Answers, String> {
    let t = AmqpTransport::connect(amqp_url)
        .await
        .map_err(|e| format!("RabbitMQ: {e}"))?;
    let mut rx = t
        .consume(&inbox_queue("DE"), 256)
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + within;
    let mut answers = Answers::default();
    while !expected.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(d)) = tokio::time::timeout(left, rx.recv()).await else {
            break;
        };
        let _ = d.acker.ack().await;
        let code = xml::parse(&d.message.body, &XmlLimits::default())
            .ok()
            .and_then(|doc| signal::read(&doc).ok());
        match code {
            Some(Signal::Error { ref_to, code, .. })
                if expected.get(&ref_to).is_some_and(|c| *c == code) =>
            {
                expected.remove(&ref_to);
                answers.right += 1;
            }
            _ => answers.wrong += 1,
        }
    }
    answers.missing = expected.len();
    Ok(answers)
}

/// Busy CPU time of the whole machine so far (every process: the switches, the
/// broker, this harness), from `/proc/stat`.
pub fn machine_busy() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| e.to_string())?;
    let cpu = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or("no cpu line in /proc/stat")?;
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    let busy: u64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    Ok(Duration::from_secs_f64(
        busy as f64 / super::node::clock_ticks() as f64,
    ))
}
