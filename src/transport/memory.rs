//! An in-process broker with the routing semantics the switch relies on: direct
//! exchanges, bindings, `mandatory` returns for unroutable messages, dead-letter
//! on reject. For unit tests and `eessi-harness demo` without `--amqp`; never the
//! only proof of a behaviour (integration tests use RabbitMQ).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::*;

#[derive(Default)]
struct Inner {
    /// (exchange, routing key) -> queue
    bindings: HashMap<(String, String), String>,
    /// queue -> pending messages not yet handed to a consumer
    backlog: HashMap<String, Vec<WireMessage>>,
    consumers: HashMap<String, mpsc::Sender<Delivery>>,
}

/// A broker shared by every switch of one process.
#[derive(Clone, Default)]
pub struct MemoryBroker {
    inner: Arc<Mutex<Inner>>,
}

struct MemoryAcker {
    broker: MemoryBroker,
    queue: String,
    message: WireMessage,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(&self) -> Result<(), TransportError> {
        Ok(())
    }
    async fn dead_letter(&self) -> Result<(), TransportError> {
        let dead = self.queue.replace(".inbox", ".dead");
        self.broker.enqueue(&dead, self.message.clone());
        Ok(())
    }
    async fn requeue(&self) -> Result<(), TransportError> {
        self.broker.enqueue(&self.queue, self.message.clone());
        Ok(())
    }
}

impl MemoryBroker {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock is a bug in this file; recover the data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bind(&self, exchange: &str, key: &str, queue: &str) {
        let mut inner = self.lock();
        inner
            .bindings
            .insert((exchange.to_owned(), key.to_owned()), queue.to_owned());
        inner.backlog.entry(queue.to_owned()).or_default();
    }

    fn enqueue(&self, queue: &str, message: WireMessage) {
        let sender = {
            let mut inner = self.lock();
            match inner.consumers.get(queue) {
                Some(s) if !s.is_closed() => Some(s.clone()),
                _ => {
                    inner
                        .backlog
                        .entry(queue.to_owned())
                        .or_default()
                        .push(message.clone());
                    None
                }
            }
        };
        if let Some(s) = sender {
            let acker = Box::new(MemoryAcker {
                broker: self.clone(),
                queue: queue.to_owned(),
                message: message.clone(),
            });
            let delivery = Delivery {
                message,
                redelivered: false,
                acker,
            };
            // Unbounded semantics: a full consumer channel waits in a task.
            tokio::spawn(async move {
                let _ = s.send(delivery).await;
            });
        }
    }

    /// Messages waiting in a queue that has no consumer (tests, the demo's national queues).
    pub fn drain(&self, queue: &str) -> Vec<WireMessage> {
        self.lock()
            .backlog
            .get_mut(queue)
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

#[async_trait]
impl Transport for MemoryBroker {
    async fn declare_access_point(&self, country: &str) -> Result<(), TransportError> {
        self.bind(AP_EXCHANGE, country, &inbox_queue(country));
        self.bind(AP_DLX, country, &dead_queue(country));
        Ok(())
    }

    async fn declare_national_queue(&self, institution: &str) -> Result<(), TransportError> {
        self.bind(NATIONAL_EXCHANGE, institution, &national_queue(institution));
        Ok(())
    }

    async fn publish(&self, m: &OutMessage) -> Result<PublishOutcome, TransportError> {
        let queue = self
            .lock()
            .bindings
            .get(&(m.exchange.clone(), m.routing_key.clone()))
            .cloned();
        match queue {
            None => Ok(PublishOutcome::Returned("NO_ROUTE".into())),
            Some(q) => {
                self.enqueue(&q, m.delivered());
                Ok(PublishOutcome::Confirmed)
            }
        }
    }

    async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
    ) -> Result<mpsc::Receiver<Delivery>, TransportError> {
        let (tx, rx) = mpsc::channel(usize::from(prefetch.max(1)));
        let backlog = {
            let mut inner = self.lock();
            inner.consumers.insert(queue.to_owned(), tx);
            inner
                .backlog
                .get_mut(queue)
                .map(std::mem::take)
                .unwrap_or_default()
        };
        for m in backlog {
            self.enqueue(queue, m);
        }
        Ok(rx)
    }

    fn describe(&self) -> String {
        "in-process transport (no broker)".into()
    }
}
