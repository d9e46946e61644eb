//! Latency histograms and the Prometheus text of `/metrics`.
//!
//! `/metrics` is rendered by `prometheus-client` (the Prometheus organisation's Rust
//! client) from one registry per scrape: the switch's and the edge's counters and
//! gauges as they are at that moment (`eessi_<name>_total`, `eessi_limit{name=...}`,
//! ...), and the latency histograms of this module, which live as long as the
//! process. The histograms are lock-free (an atomic add per bucket, count and sum),
//! so timing every HTTP request and every pipeline stage costs a few atomic
//! operations and never waits; prometheus-client's own histogram takes a mutex.
//!
//! - `eessi_http_request_duration_seconds{method, route, status}`: by the matched
//!   route of `api::routes()` (`route="unmatched"`, `method="any"` for a request
//!   no route took: the fallback's 404, a 405) and the status
//!   class (`2xx` ... `5xx`).
//! - `eessi_stage_duration_seconds{stage}`: `inbound_check` (checks 2-8 and the
//!   answer signed, before any transaction), `inbound_apply` (the transaction's
//!   work), `outbound_plan` (validate, snapshot, step), `outbound_sign` (the
//!   envelope's XML-DSig), `outbound_commit` (a group commit: from its transaction's
//!   start to its commit), `store_commit` (one store transaction's commit),
//!   `relay_publish_<kind>` (a publish until the broker confirmed it, per outbox
//!   kind; `relay_publish_national` is the delivery to a Belgian institution).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds of the buckets, in seconds: 100 µs to 10 s.
const BOUNDS_S: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Debug)]
struct Cells {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BOUNDS_S.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// A latency histogram of fixed buckets, updated with atomics only.
#[derive(Debug, Clone)]
pub struct Latency(Arc<Cells>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Arc::new(Cells {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }))
    }
}

impl Latency {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BOUNDS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BOUNDS_S.len());
        self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.0.count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observes the time until the guard drops (early returns and errors included).
    pub fn start(&self) -> Timer<'_> {
        Timer {
            histogram: self,
            since: Instant::now(),
        }
    }

    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

/// Observes its histogram when dropped.
pub struct Timer<'a> {
    histogram: &'a Latency,
    since: Instant,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.since.elapsed());
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = BOUNDS_S
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.0.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        // The count is the buckets' sum, so that a scrape racing an observation
        // still reads a consistent histogram.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.0.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// A pipeline stage with its own histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    InboundCheck,
    InboundApply,
    OutboundPlan,
    OutboundSign,
    OutboundCommit,
    StoreCommit,
    RelayPublishSed,
    RelayPublishReceipt,
    RelayPublishError,
    RelayPublishNational,
    RelayPublishNotice,
}

impl Stage {
    pub const ALL: [Stage; 11] = [
        Stage::InboundCheck,
        Stage::InboundApply,
        Stage::OutboundPlan,
        Stage::OutboundSign,
        Stage::OutboundCommit,
        Stage::StoreCommit,
        Stage::RelayPublishSed,
        Stage::RelayPublishReceipt,
        Stage::RelayPublishError,
        Stage::RelayPublishNational,
        Stage::RelayPublishNotice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::InboundCheck => "inbound_check",
            Stage::InboundApply => "inbound_apply",
            Stage::OutboundPlan => "outbound_plan",
            Stage::OutboundSign => "outbound_sign",
            Stage::OutboundCommit => "outbound_commit",
            Stage::StoreCommit => "store_commit",
            Stage::RelayPublishSed => "relay_publish_sed",
            Stage::RelayPublishReceipt => "relay_publish_receipt",
            Stage::RelayPublishError => "relay_publish_error",
            Stage::RelayPublishNational => "relay_publish_national",
            Stage::RelayPublishNotice => "relay_publish_notice",
        }
    }

    /// The relay's stage for a publish of this outbox kind.
    pub fn relay_publish(kind: crate::store::OutboxKind) -> Stage {
        use crate::store::OutboxKind;
        match kind {
            OutboxKind::Sed => Stage::RelayPublishSed,
            OutboxKind::Receipt => Stage::RelayPublishReceipt,
            OutboxKind::Error => Stage::RelayPublishError,
            OutboxKind::National => Stage::RelayPublishNational,
            OutboxKind::Notice => Stage::RelayPublishNotice,
        }
    }
}

/// The status classes of the HTTP histogram.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

type ByClass = [Latency; 5];

/// The process's histograms: made once, shared by every switch in the process
/// (one in production; tests that run several see their sum).
struct Histograms {
    stages: [Latency; Stage::ALL.len()],
    /// route → (method, one histogram per status class).
    http: HashMap<&'static str, Vec<(&'static str, ByClass)>>,
    /// Requests no route matched (404s of the fallback, 405s of a known path).
    unmatched: ByClass,
}

static HISTOGRAMS: LazyLock<Histograms> = LazyLock::new(|| {
    let mut http: HashMap<&'static str, Vec<(&'static str, ByClass)>> = HashMap::new();
    for r in crate::api::routes() {
        http.entry(r.path)
            .or_default()
            .push((r.method, Default::default()));
    }
    Histograms {
        stages: Default::default(),
        http,
        unmatched: Default::default(),
    }
});

/// The histogram of a stage.
pub fn stage(s: Stage) -> &'static Latency {
    // `Stage::ALL` lists every variant in declaration order.
    &HISTOGRAMS.stages[s as usize]
}

/// Record one HTTP request: its method and matched route (None: no route), status
/// and duration.
pub fn http(method: &str, route: Option<&str>, status: u16, took: Duration) {
    let h = &*HISTOGRAMS;
    let by_class = route
        .and_then(|path| h.http.get(path))
        .and_then(|methods| methods.iter().find(|(m, _)| *m == method))
        .map_or(&h.unmatched, |(_, v)| v);
    let class = usize::from((status / 100).clamp(1, 5) - 1);
    by_class[class].observe(took);
}

/// The histograms as a collector of the scrape's registry.
#[derive(Debug)]
pub(crate) struct Collector;

impl prometheus_client::collector::Collector for Collector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let h = &*HISTOGRAMS;
        {
            let mut stages = encoder.encode_descriptor(
                "stage_duration_seconds",
                "Time spent in each stage of the pipeline",
                None,
                MetricType::Histogram,
            )?;
            for s in Stage::ALL {
                let labels = [("stage", s.as_str())];
                stage(s).encode(stages.encode_family(&labels)?)?;
            }
        }
        let mut series: Vec<(&str, &str, &str, &Latency)> = h
            .http
            .iter()
            .flat_map(|(route, methods)| {
                methods.iter().flat_map(move |(method, by_class)| {
                    CLASSES
                        .iter()
                        .zip(by_class.iter())
                        .map(move |(class, cell)| (*method, *route, *class, cell))
                })
            })
            .chain(
                CLASSES
                    .iter()
                    .zip(h.unmatched.iter())
                    .map(|(class, cell)| ("any", "unmatched", *class, cell)),
            )
            // A series per class that has seen a request; the others would be
            // zeros without meaning.
            .filter(|(.., cell)| cell.count() > 0)
            .collect();
        series.sort_by_key(|(m, r, c, _)| (*r, *m, *c));
        let mut http = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "HTTP requests by method, matched route and status class",
            None,
            MetricType::Histogram,
        )?;
        for (method, route, class, cell) in series {
            let labels = [("method", method), ("route", route), ("status", class)];
            cell.encode(http.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
