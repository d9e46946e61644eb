//! The access-point transport: publish with broker confirmation, consume with
//! explicit acks. `amqp` is RabbitMQ through lapin (the only file importing
//! lapin); `memory` is an in-process broker for unit tests and the no-broker demo.
//! Both give the switch the same contract: a publish is `Confirmed` only when the
//! broker took responsibility for it and did not return it as unroutable.

pub mod amqp;
pub mod memory;

use std::collections::BTreeMap;

use async_trait::async_trait;

/// The exchange between access points and its dead-letter exchange.
pub const AP_EXCHANGE: &str = "eessi.ap";
pub const AP_DLX: &str = "eessi.ap.dlx";
/// Where received SEDs and failure notices go to Belgian institutions.
pub const NATIONAL_EXCHANGE: &str = "eessi.national";

pub fn inbox_queue(country: &str) -> String {
    format!("eessi.ap.{country}.inbox")
}
pub fn dead_queue(country: &str) -> String {
    format!("eessi.ap.{country}.dead")
}
/// One durable queue per served institution, e.g. `eessi.national.BE:ONEM`.
pub fn national_queue(institution: &str) -> String {
    format!("eessi.national.{institution}")
}

/// An inbound message as the broker delivered it; nothing is trusted yet.
/// (Serialisable without its body, to park it in the store.)
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WireMessage {
    pub message_id: Option<String>,
    /// The AMQP `type` property: `sed`, `receipt` or `error`.
    pub kind: Option<String>,
    pub content_type: Option<String>,
    pub timestamp: Option<u64>,
    pub app_id: Option<String>,
    /// String headers.
    pub headers: BTreeMap<String, String>,
    /// Names of headers whose value was not a string (the contract requires strings).
    pub non_string_headers: Vec<String>,
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct OutMessage {
    pub exchange: String,
    pub routing_key: String,
    pub message_id: String,
    pub kind: String,
    pub timestamp: i64,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl OutMessage {
    /// This message as a broker delivers it to a consumer (the memory transport,
    /// tests).
    pub fn delivered(&self) -> WireMessage {
        WireMessage {
            message_id: Some(self.message_id.clone()),
            kind: Some(self.kind.clone()),
            content_type: Some("application/xml".into()),
            timestamp: Some(self.timestamp.max(0) as u64),
            app_id: Some(crate::APP_ID.into()),
            headers: self.headers.clone(),
            non_string_headers: vec![],
            body: self.body.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Acked by the broker and not returned: the message is sent.
    Confirmed,
    /// Returned as unroutable (e.g. the peer's inbox does not exist yet).
    Returned(String),
    /// Negatively acknowledged (e.g. the queue is full: `x-overflow=reject-publish`).
    Nacked,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("broker connection: {0}")]
    Connection(String),
    #[error("broker refused: {0}")]
    Protocol(String),
}

/// Settles one delivery. Exactly one of these is called per delivery.
#[async_trait]
pub trait Acker: Send + Sync {
    /// Done: the broker may forget the message.
    async fn ack(&self) -> Result<(), TransportError>;
    /// Give up on it: dead-letter (reject without requeue).
    async fn dead_letter(&self) -> Result<(), TransportError>;
    /// Try again later (counts towards the quorum queue's delivery limit).
    async fn requeue(&self) -> Result<(), TransportError>;
}

pub struct Delivery {
    pub message: WireMessage,
    pub redelivered: bool,
    pub acker: Box<dyn Acker>,
}

#[async_trait]
pub trait Transport: Send + Sync {
    /// Declare the exchanges and this access point's inbox and dead-letter queue,
    /// idempotently, exactly as the contract says.
    async fn declare_access_point(&self, country: &str) -> Result<(), TransportError>;
    /// Declare the national exchange and one institution's durable queue.
    async fn declare_national_queue(&self, institution: &str) -> Result<(), TransportError>;
    /// Publish persistently with `mandatory`, and wait for the broker's answer.
    /// Many publishes may be awaited concurrently: confirms are pipelined.
    async fn publish(&self, message: &OutMessage) -> Result<PublishOutcome, TransportError>;
    /// Start consuming a queue with at most `prefetch` unacked deliveries.
    async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
    ) -> Result<tokio::sync::mpsc::Receiver<Delivery>, TransportError>;
    /// Human-readable kind, for logs and the demo ("RabbitMQ at ...", "in-process").
    fn describe(&self) -> String;
    /// The connection as the broker last told us.
    fn state(&self) -> BrokerState {
        BrokerState::Connected
    }
}

/// Whether publishing can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BrokerState {
    Connected,
    /// The broker refuses publishes for now (memory or disk alarm): the relay pauses.
    Blocked,
    /// Lost; lapin reconnects by itself.
    Disconnected,
}
