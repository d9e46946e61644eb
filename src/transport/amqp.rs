//! RabbitMQ through lapin: the only file of the project that imports lapin.
//!
//! Publishing uses a small pool of channels in confirm mode; each `publish` sends
//! and then awaits its own confirmation, so callers that publish a batch
//! concurrently keep hundreds of confirms in flight (awaiting one at a time caps a
//! channel near 1.2k msg/s, see tech-notes). An unroutable `mandatory` message
//! comes back as a return *followed by an ack*: lapin attaches the return to the
//! ack's confirmation and we report it as `Returned`, never as sent.
//! The connection uses lapin's auto-recovery; consumers wait for recovery on error
//! and go on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::mpsc;

use super::*;

const PUBLISH_CHANNELS: usize = 4;
/// How long a publish waits for the broker's confirm before it counts as not sent.
const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

pub struct AmqpTransport {
    url: String,
    connection: Connection,
    publishers: Vec<Channel>,
    next: AtomicUsize,
}

fn conn_err(e: lapin::Error) -> TransportError {
    TransportError::Connection(e.to_string())
}

fn long_str(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// The inbox arguments, exactly as the contract's table says.
fn inbox_arguments(country: &str) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert(ShortString::from("x-queue-type"), long_str("quorum"));
    t.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongLongInt(20),
    );
    t.insert(
        ShortString::from("x-dead-letter-exchange"),
        long_str(AP_DLX),
    );
    t.insert(
        ShortString::from("x-dead-letter-routing-key"),
        long_str(country),
    );
    t.insert(
        ShortString::from("x-dead-letter-strategy"),
        long_str("at-least-once"),
    );
    t.insert(ShortString::from("x-overflow"), long_str("reject-publish"));
    t
}

fn quorum_only() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert(ShortString::from("x-queue-type"), long_str("quorum"));
    t
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

impl AmqpTransport {
    pub async fn connect(url: &str) -> Result<AmqpTransport, TransportError> {
        AmqpTransport::connect_with(url, None).await
    }

    /// Connect; an `amqps://` URL with `tls`: the broker's certificate must chain to
    /// `tls.ca_file` and name the URL's host, and the client certificate is
    /// presented when configured (the broker may require one).
    pub async fn connect_with(
        url: &str,
        tls: Option<&crate::config::AmqpTls>,
    ) -> Result<AmqpTransport, TransportError> {
        let props = ConnectionProperties::default().enable_auto_recover();
        let config = match tls {
            Some(t) => {
                let config = tls_config(t)?;
                check_tls(url, &config).await?;
                config
            }
            None => OwnedTLSConfig::default(),
        };
        let runtime = lapin::runtime::default_runtime().map_err(conn_err)?;
        let connection = Connection::connect_with_config(url, props, config, runtime)
            .await
            .map_err(conn_err)?;
        let mut publishers = Vec::with_capacity(PUBLISH_CHANNELS);
        for _ in 0..PUBLISH_CHANNELS {
            let ch = connection.create_channel().await.map_err(conn_err)?;
            ch.confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(conn_err)?;
            publishers.push(ch);
        }
        Ok(AmqpTransport {
            url: redact(url),
            connection,
            publishers,
            next: AtomicUsize::new(0),
        })
    }

    /// Declare durable direct exchanges, idempotently.
    async fn declare_exchanges(ch: &Channel, names: &[&str]) -> Result<(), TransportError> {
        let opts = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        for ex in names {
            ch.exchange_declare(
                (*ex).into(),
                ExchangeKind::Direct,
                opts,
                FieldTable::default(),
            )
            .await
            .map_err(conn_err)?;
        }
        Ok(())
    }

    /// Declare a durable queue with `arguments` and bind it to `exchange` under `key`.
    async fn declare_bound(
        ch: &Channel,
        queue: &str,
        arguments: FieldTable,
        exchange: &str,
        key: &str,
    ) -> Result<(), TransportError> {
        ch.queue_declare(queue.into(), durable(), arguments)
            .await
            .map_err(conn_err)?;
        ch.queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(conn_err)?;
        Ok(())
    }

    async fn publish_confirmed(&self, m: &OutMessage) -> Result<PublishOutcome, TransportError> {
        let mut headers = FieldTable::default();
        for (k, v) in &m.headers {
            headers.insert(ShortString::from(k.as_str()), long_str(v));
        }
        let props = BasicProperties::default()
            .with_message_id(m.message_id.as_str().into())
            .with_type(m.kind.as_str().into())
            .with_content_type("application/xml".into())
            .with_timestamp(m.timestamp.max(0) as u64)
            .with_app_id(crate::APP_ID.into())
            .with_delivery_mode(2)
            .with_headers(headers);
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.publishers.len();
        let ch = &self.publishers[i];
        let opts = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = ch
            .basic_publish(
                m.exchange.as_str().into(),
                m.routing_key.as_str().into(),
                opts,
                &m.body,
                props,
            )
            .await
            .map_err(conn_err)?;
        match confirm.await.map_err(conn_err)? {
            Confirmation::Ack(None) => Ok(PublishOutcome::Confirmed),
            Confirmation::Ack(Some(ret)) => {
                Ok(PublishOutcome::Returned(ret.reply_text.to_string()))
            }
            Confirmation::Nack(_) => Ok(PublishOutcome::Nacked),
            Confirmation::NotRequested => Err(TransportError::Protocol(
                "the channel is not in confirm mode".into(),
            )),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connection.status().connected()
    }
}

/// Never log a password.
/// lapin's TLS settings (OpenSSL underneath) from the configured files.
fn tls_config(t: &crate::config::AmqpTls) -> Result<OwnedTLSConfig, TransportError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| TransportError::Connection(format!("TLS: {}: {e}", p.display())))
    };
    let ca = String::from_utf8(read(&t.ca_file)?).map_err(|_| {
        TransportError::Connection(format!("TLS: {} is not PEM", t.ca_file.display()))
    })?;
    let identity = match &t.identity {
        Some((cert, key)) => Some(OwnedIdentity::PKCS8 {
            pem: read(cert)?,
            key: read(key)?,
        }),
        None => None,
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain: Some(ca),
    })
}

/// One TLS handshake with the broker before lapin connects, with the same
/// settings (OpenSSL, as lapin's `tcp-stream` sets it up). With auto-recovery lapin
/// retries a failed first connection for ever and says so only at trace level, so
/// a broker certificate the configured CA did not sign (or that names another host)
/// would hold the start in silence: it is an error here, at once. A broker that
/// cannot be reached is left to lapin's retries, as without TLS.
async fn check_tls(url: &str, config: &OwnedTLSConfig) -> Result<(), TransportError> {
    use openssl::ssl::{HandshakeError, SslConnector, SslMethod};
    use openssl::x509::X509;
    let uri: lapin::uri::AMQPUri = url
        .parse()
        .map_err(|e| TransportError::Connection(format!("invalid AMQP URL: {e}")))?;
    let (host, port) = (uri.authority.host, uri.authority.port);
    let config = config.clone();
    let fail = |e: &dyn std::fmt::Display| TransportError::Connection(format!("TLS: {e}"));
    let connector = {
        let ssl = |e: openssl::error::ErrorStack| fail(&e);
        let mut b = SslConnector::builder(SslMethod::tls()).map_err(ssl)?;
        if let Some(OwnedIdentity::PKCS8 { pem, key }) = &config.identity {
            let key = openssl::pkey::PKey::private_key_from_pem(key).map_err(ssl)?;
            let mut chain = X509::stack_from_pem(pem).map_err(ssl)?.into_iter();
            let cert = chain
                .next()
                .ok_or_else(|| fail(&"no certificate in the client certificate file"))?;
            b.set_certificate(&cert).map_err(ssl)?;
            b.set_private_key(&key).map_err(ssl)?;
            for c in chain {
                b.add_extra_chain_cert(c).map_err(ssl)?;
            }
            b.check_private_key().map_err(|e| {
                fail(&format!(
                    "the client key does not match its certificate: {e}"
                ))
            })?;
        }
        for c in X509::stack_from_pem(config.cert_chain.as_deref().unwrap_or("").as_bytes())
            .map_err(ssl)?
        {
            b.cert_store_mut().add_cert(c).map_err(ssl)?;
        }
        b.build()
    };
    tokio::task::spawn_blocking(move || {
        let addrs: Vec<std::net::SocketAddr> =
            match std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)) {
                Ok(a) => a.collect(),
                Err(_) => return Ok(()), // lapin will say, and retry
            };
        let Some(tcp) = addrs.iter().find_map(|a| {
            std::net::TcpStream::connect_timeout(a, std::time::Duration::from_secs(10)).ok()
        }) else {
            return Ok(());
        };
        let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let _ = tcp.set_write_timeout(Some(std::time::Duration::from_secs(10)));
        match connector.connect(&host, tcp) {
            Ok(mut stream) => {
                let _ = stream.shutdown();
                Ok(())
            }
            Err(HandshakeError::Failure(m)) => {
                let verify = m.ssl().verify_result();
                let why = if verify == openssl::x509::X509VerifyResult::OK {
                    m.error().to_string()
                } else {
                    format!("certificate verify failed: {}", verify.error_string())
                };
                Err(TransportError::Connection(format!(
                    "TLS handshake with the broker {host}:{port}: {why}"
                )))
            }
            Err(e) => Err(TransportError::Connection(format!(
                "TLS handshake with the broker {host}:{port}: {e}"
            ))),
        }
    })
    .await
    .map_err(|e| TransportError::Connection(format!("TLS check: {e}")))?
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

struct LapinAcker(lapin::Acker);

#[async_trait]
impl Acker for LapinAcker {
    async fn ack(&self) -> Result<(), TransportError> {
        self.0
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(conn_err)
    }
    async fn dead_letter(&self) -> Result<(), TransportError> {
        self.0
            .reject(BasicRejectOptions { requeue: false })
            .await
            .map(|_| ())
            .map_err(conn_err)
    }
    async fn requeue(&self) -> Result<(), TransportError> {
        self.0
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .map(|_| ())
            .map_err(conn_err)
    }
}

fn to_wire(d: &lapin::message::Delivery) -> WireMessage {
    let p = &d.properties;
    let mut headers = std::collections::BTreeMap::new();
    let mut non_string_headers = Vec::new();
    if let Some(h) = p.headers() {
        for (k, v) in h.inner() {
            let key = k.to_string();
            match v {
                AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
                    Ok(s) => {
                        headers.insert(key, s.to_owned());
                    }
                    Err(_) => non_string_headers.push(key),
                },
                AMQPValue::ShortString(s) => {
                    headers.insert(key, s.to_string());
                }
                _ => non_string_headers.push(key),
            }
        }
    }
    WireMessage {
        message_id: p.message_id().as_ref().map(|s| s.to_string()),
        kind: p.kind().as_ref().map(|s| s.to_string()),
        content_type: p.content_type().as_ref().map(|s| s.to_string()),
        timestamp: *p.timestamp(),
        app_id: p.app_id().as_ref().map(|s| s.to_string()),
        headers,
        non_string_headers,
        body: d.data.clone(),
    }
}

#[async_trait]
impl Transport for AmqpTransport {
    async fn declare_access_point(&self, country: &str) -> Result<(), TransportError> {
        let ch = self.connection.create_channel().await.map_err(conn_err)?;
        Self::declare_exchanges(&ch, &[AP_EXCHANGE, AP_DLX]).await?;
        Self::declare_bound(
            &ch,
            &inbox_queue(country),
            inbox_arguments(country),
            AP_EXCHANGE,
            country,
        )
        .await?;
        Self::declare_bound(&ch, &dead_queue(country), quorum_only(), AP_DLX, country).await?;
        let _ = ch.close(200, "declared".into()).await;
        Ok(())
    }

    async fn declare_national_queue(&self, institution: &str) -> Result<(), TransportError> {
        let ch = self.connection.create_channel().await.map_err(conn_err)?;
        Self::declare_exchanges(&ch, &[NATIONAL_EXCHANGE]).await?;
        Self::declare_bound(
            &ch,
            &national_queue(institution),
            quorum_only(),
            NATIONAL_EXCHANGE,
            institution,
        )
        .await?;
        let _ = ch.close(200, "declared".into()).await;
        Ok(())
    }

    async fn publish(&self, m: &OutMessage) -> Result<PublishOutcome, TransportError> {
        // A confirm lost with its connection (a broker restart) would otherwise be
        // awaited forever and stall the relay; unconfirmed means "try again".
        match tokio::time::timeout(PUBLISH_TIMEOUT, self.publish_confirmed(m)).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Connection(format!(
                "no broker confirm within {PUBLISH_TIMEOUT:?}"
            ))),
        }
    }

    async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
    ) -> Result<mpsc::Receiver<Delivery>, TransportError> {
        let ch = self.connection.create_channel().await.map_err(conn_err)?;
        ch.basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(conn_err)?;
        let tag = format!("eessi-switch-{}", uuid::Uuid::new_v4().simple());
        let mut consumer = ch
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(conn_err)?;
        let (tx, rx) = mpsc::channel(usize::from(prefetch.max(1)));
        let queue = queue.to_owned();
        let ch = Arc::new(ch);
        tokio::spawn(async move {
            while let Some(next) = consumer.next().await {
                match next {
                    Ok(d) => {
                        let delivery = Delivery {
                            message: to_wire(&d),
                            redelivered: d.redelivered,
                            acker: Box::new(LapinAcker(d.acker.clone())),
                        };
                        if tx.send(delivery).await.is_err() {
                            // Whoever consumed stopped reading (the switch is shutting
                            // down): not a fault; unacked deliveries return to the queue.
                            tracing::debug!(queue = %queue, "consumer no longer read; stopping it");
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(queue = %queue, error = %e, "consumer interrupted; waiting for the broker connection to recover");
                        if let Err(e) = ch.wait_for_recovery(e).await {
                            tracing::error!(queue = %queue, error = %e, "consumer could not recover");
                            break;
                        }
                    }
                }
            }
            tracing::warn!(queue = %queue, "consumer stopped");
        });
        Ok(rx)
    }

    fn describe(&self) -> String {
        format!("RabbitMQ at {}", self.url)
    }

    fn state(&self) -> BrokerState {
        let s = self.connection.status();
        if !s.connected() {
            BrokerState::Disconnected
        } else if s.blocked() {
            BrokerState::Blocked
        } else {
            BrokerState::Connected
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            super::redact("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://***@127.0.0.1:5672/%2f"
        );
        assert_eq!(super::redact("amqp://127.0.0.1"), "amqp://127.0.0.1");
    }
}
