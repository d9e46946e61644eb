//! Configuration: the only place that reads settings. A TOML file is parsed into
//! `RawConfig`, then validated into `Config` with every path resolved relative to
//! the file and every identifier parsed. Flags say how this process runs; the file
//! says what this access point is.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ids::{Country, InstitutionId, SedType, SedVersion};
pub use crate::store::StoreOptions;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    country: String,
    registry: PathBuf,
    #[serde(default = "default_definitions")]
    buc_definitions: PathBuf,
    #[serde(default = "default_schemas")]
    sed_schemas: PathBuf,
    #[serde(default = "default_adapters")]
    adapters: PathBuf,
    /// The inbound routing rules (absent: every SED to the institution it is
    /// addressed to).
    #[serde(default)]
    routing: Option<PathBuf>,
    keys_dir: PathBuf,
    #[serde(default = "default_versions")]
    sed_versions: Vec<String>,
    store: RawStore,
    #[serde(default)]
    amqp: Option<RawAmqp>,
    #[serde(default)]
    http: Option<RawHttp>,
    #[serde(default)]
    retry: RetryPolicy,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    timers: Timers,
    #[serde(default)]
    auth: Option<RawAuth>,
    #[serde(default = "default_grace")]
    shutdown_grace_ms: u64,
    #[serde(default = "default_park")]
    park_ms: i64,
    #[serde(default = "default_cert_warning")]
    cert_warning_days: u32,
    /// A background task (inbox consumer, relay, sweeper, dead-letter collector,
    /// retention job)
    /// failing without a success for this long puts the access point DOWN.
    #[serde(default = "default_failing_max")]
    failing_max_ms: u64,
    /// Per Belgian institution, per SED type: the adapter whose national format it
    /// receives that SED in (`"BE:ONEM" = { U002 = "onem-periods" }`); the rest
    /// arrives as the signed envelope.
    #[serde(default)]
    national_formats:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

fn default_failing_max() -> u64 {
    5 * 60_000
}

fn default_cert_warning() -> u32 {
    30
}

fn default_park() -> i64 {
    24 * 3600 * 1000
}

fn default_grace() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    issuer: String,
    audience: String,
    public_key: PathBuf,
    #[serde(default = "default_max_lifetime")]
    max_lifetime_s: u64,
}

fn default_max_lifetime() -> u64 {
    24 * 3600
}

/// Bearer-token verification of the HTTP API (absent: authentication off, for development).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub public_key: PathBuf,
    /// Longest accepted token life: `exp` at most this long after `iat` (or after now
    /// when the token has no `iat`).
    pub max_lifetime_s: u64,
}

fn default_definitions() -> PathBuf {
    "buc-definitions".into()
}
fn default_schemas() -> PathBuf {
    "sed-schemas".into()
}
fn default_adapters() -> PathBuf {
    "adapters".into()
}
fn default_versions() -> Vec<String> {
    vec!["4.2".into()]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: String,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default = "default_pool_size")]
    pool_size: u32,
}

fn default_pool_size() -> u32 {
    16
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAmqp {
    url: String,
    #[serde(default = "default_prefetch")]
    prefetch: u16,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    cert_file: Option<PathBuf>,
    #[serde(default)]
    key_file: Option<PathBuf>,
}

/// TLS to the broker (`amqps://`): the CA that signed the broker's certificate and
/// the client certificate and key the switch presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpTls {
    pub ca_file: PathBuf,
    /// Certificate (PEM, chain after the leaf allowed) and PKCS#8 key (PEM).
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// The API over TLS: a certificate chain and its private key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

fn default_prefetch() -> u16 {
    64
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: String,
    #[serde(default)]
    cookie_secure: bool,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default = "default_concurrency_max")]
    concurrency_max: usize,
    #[serde(default = "default_connections_max")]
    connections_max: usize,
    #[serde(default = "default_header_read_timeout")]
    header_read_timeout_ms: u64,
    #[serde(default = "default_idle_timeout")]
    idle_timeout_ms: u64,
    #[serde(default)]
    adapter_grants: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    tls_cert_file: Option<PathBuf>,
    #[serde(default)]
    tls_key_file: Option<PathBuf>,
}

fn default_concurrency_max() -> usize {
    128
}
fn default_connections_max() -> usize {
    512
}
fn default_header_read_timeout() -> u64 {
    10_000
}
fn default_idle_timeout() -> u64 {
    60_000
}

/// The HTTP edge (`[http]` beyond `listen`): cookies, proxies, bounds, adapter grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Mark the sign-in cookie `Secure` (always so when `tls` is set).
    pub cookie_secure: bool,
    /// Serve the API over TLS with this certificate and key (absent: plain HTTP,
    /// for a TLS-terminating proxy in front or for development).
    pub tls: Option<HttpTls>,
    /// Socket peers whose `X-Forwarded-For` is believed (reverse proxies).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Requests handled at once; beyond it, 503 with `Retry-After`.
    pub concurrency_max: usize,
    /// Open connections; beyond it, a new connection is answered 503 and closed.
    pub connections_max: usize,
    /// A client must send a request's headers within this time.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in hand and no bytes moving for this long is closed.
    pub idle_timeout_ms: u64,
    /// The institutions each national adapter may be used by (absent: nobody).
    pub adapter_grants: std::collections::BTreeMap<String, Vec<crate::ids::InstitutionId>>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            cookie_secure: false,
            tls: None,
            trusted_proxies: Vec::new(),
            concurrency_max: default_concurrency_max(),
            connections_max: default_connections_max(),
            header_read_timeout_ms: default_header_read_timeout(),
            idle_timeout_ms: default_idle_timeout(),
            adapter_grants: Default::default(),
        }
    }
}

fn http_config(raw: &RawHttp, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<HttpConfig, String> {
    let tls = pair(
        "http.tls_cert_file",
        raw.tls_cert_file.as_deref(),
        "http.tls_key_file",
        raw.tls_key_file.as_deref(),
        resolve,
    )?
    .map(|(cert_file, key_file)| HttpTls {
        cert_file,
        key_file,
    });
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .map(|p| {
            p.parse::<std::net::IpAddr>()
                .map_err(|_| format!("http.trusted_proxies: {p:?} is not an IP address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if raw.concurrency_max == 0 || raw.connections_max == 0 {
        return Err("http.concurrency_max and http.connections_max must be positive".into());
    }
    if raw.header_read_timeout_ms == 0 || raw.idle_timeout_ms == 0 {
        return Err("http.header_read_timeout_ms and http.idle_timeout_ms must be positive".into());
    }
    let mut adapter_grants = std::collections::BTreeMap::new();
    for (adapter, institutions) in &raw.adapter_grants {
        let ids = institutions
            .iter()
            .map(|i| {
                crate::ids::InstitutionId::parse(i)
                    .map_err(|e| format!("http.adapter_grants.{adapter}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        adapter_grants.insert(adapter.clone(), ids);
    }
    Ok(HttpConfig {
        // A cookie sent over TLS must never be sent back over plain HTTP.
        cookie_secure: raw.cookie_secure || tls.is_some(),
        tls,
        trusted_proxies,
        concurrency_max: raw.concurrency_max,
        connections_max: raw.connections_max,
        header_read_timeout_ms: raw.header_read_timeout_ms,
        idle_timeout_ms: raw.idle_timeout_ms,
        adapter_grants,
    })
}

/// A file named by `key`, resolved against the configuration's folder; it must exist.
fn existing(key: &str, p: &Path, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<PathBuf, String> {
    let path = resolve(p);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err(format!("{key}: {} is not a file", path.display())),
        Err(e) => Err(format!("{key}: {}: {e}", path.display())),
    }
}

/// A private key named by `key`: it must exist and be readable by its owner only
/// (a key others can read is a key others may have copied).
fn private_key(key: &str, p: &Path, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let path = existing(key, p, resolve)?;
    let mode = std::fs::metadata(&path)
        .map_err(|e| format!("{key}: {}: {e}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{key}: {} is readable by group or others (mode {mode:o}); chmod 600 it",
            path.display()
        ));
    }
    Ok(path)
}

/// A certificate and its private key: both or neither.
fn pair(
    cert_key: &str,
    cert: Option<&Path>,
    key_key: &str,
    key: Option<&Path>,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<Option<(PathBuf, PathBuf)>, String> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(c), Some(k)) => Ok(Some((
            existing(cert_key, c, resolve)?,
            private_key(key_key, k, resolve)?,
        ))),
        (Some(_), None) => Err(format!("{cert_key} is set but {key_key} is not: give both")),
        (None, Some(_)) => Err(format!("{key_key} is set but {cert_key} is not: give both")),
    }
}

fn amqp_tls(raw: &RawAmqp, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<Option<AmqpTls>, String> {
    let identity = pair(
        "amqp.cert_file",
        raw.cert_file.as_deref(),
        "amqp.key_file",
        raw.key_file.as_deref(),
        resolve,
    )?;
    let tls_url = raw
        .url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("amqps://"));
    match (&raw.ca_file, tls_url) {
        (Some(ca), true) => Ok(Some(AmqpTls {
            ca_file: existing("amqp.ca_file", ca, resolve)?,
            identity,
        })),
        (None, true) => Err(
            "amqp.url is amqps:// but amqp.ca_file is not set: name the CA that signed the broker's certificate"
                .into(),
        ),
        (_, false) if raw.ca_file.is_some() || identity.is_some() => Err(
            "amqp.ca_file, cert_file and key_file are for TLS: amqp.url must be amqps://".into(),
        ),
        (_, false) => Ok(None),
    }
}

fn store_options(
    raw: &RawStore,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<StoreOptions, String> {
    if raw.pool_size == 0 {
        return Err("store.pool_size must be positive".into());
    }
    let postgres = raw.url.starts_with("postgres://") || raw.url.starts_with("postgresql://");
    let ca_file = match &raw.ca_file {
        None => None,
        Some(_) if !postgres => {
            return Err("store.ca_file is for PostgreSQL: store.url must be postgres://".into());
        }
        Some(ca) => {
            let config: ::postgres::Config = raw
                .url
                .parse()
                .map_err(|e| format!("store.url is not a PostgreSQL URL: {e}"))?;
            if config.get_ssl_mode() == ::postgres::config::SslMode::Disable {
                return Err(
                    "store.ca_file is set but store.url says sslmode=disable: drop one".into(),
                );
            }
            Some(existing("store.ca_file", ca, resolve)?)
        }
    };
    Ok(StoreOptions {
        ca_file,
        pool_size: raw.pool_size,
    })
}

/// The retransmission schedule: N attempts within T minutes (AS4 reception awareness).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// How long to wait for a receipt or error before sending again.
    pub interval_ms: u64,
    /// Attempts in all, the first send included.
    pub attempts_max: u32,
    /// After this long since the first attempt, no more attempts.
    pub window_ms: u64,
    /// Receipts, errors, national deliveries and failure notices (no receipt of
    /// their own): attempts in all, with a backoff growing to `interval_ms`...
    #[serde(default = "default_delivery_attempts")]
    pub delivery_attempts_max: u32,
    /// ...and no more attempts this long after the first; then `failed`.
    #[serde(default = "default_delivery_window")]
    pub delivery_window_ms: u64,
}

fn default_delivery_attempts() -> u32 {
    50
}

fn default_delivery_window() -> u64 {
    24 * 60 * 60_000
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            interval_ms: 30_000,
            attempts_max: 5,
            window_ms: 60 * 60_000,
            delivery_attempts_max: default_delivery_attempts(),
            delivery_window_ms: default_delivery_window(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
struct RawLimits {
    body_bytes_max: usize,
    relay_claim_rows: u32,
    relay_claim_bytes: u64,
    parked_per_case_max: u32,
    parked_per_access_point_max: u32,
    parked_bytes_per_access_point_max: u64,
    submissions_queued_max: u32,
    triage_waiting_alarm: u32,
    batch_items_max: u32,
    batch_body_bytes_max: u64,
    batch_concurrency: u32,
    case_page_max: u32,
    drafts_per_case_max: u32,
    draft_bytes_max: u32,
}

impl Default for RawLimits {
    fn default() -> Self {
        let b = Bounds::default();
        RawLimits {
            body_bytes_max: default_body_max(),
            relay_claim_rows: b.relay_claim_rows,
            relay_claim_bytes: b.relay_claim_bytes,
            parked_per_case_max: b.parked_per_case_max,
            parked_per_access_point_max: b.parked_per_access_point_max,
            parked_bytes_per_access_point_max: b.parked_bytes_per_access_point_max,
            submissions_queued_max: b.submissions_queued_max,
            triage_waiting_alarm: b.triage_waiting_alarm,
            batch_items_max: b.batch_items_max,
            batch_body_bytes_max: b.batch_body_bytes_max,
            batch_concurrency: b.batch_concurrency,
            case_page_max: b.case_page_max,
            drafts_per_case_max: b.drafts_per_case_max,
            draft_bytes_max: b.draft_bytes_max,
        }
    }
}

/// The bounds of the switch's queues and caches (`[limits]`), each also shown on
/// `/metrics` as `eessi_limit{name=...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Outbox rows one relay round claims.
    pub relay_claim_rows: u32,
    /// Body bytes one relay round claims (at least one row is always taken).
    pub relay_claim_bytes: u64,
    /// Parked messages of one case; beyond it a message that would be parked is
    /// refused with UNKNOWN_CASE at once.
    pub parked_per_case_max: u32,
    /// Parked messages from one foreign access point (country), likewise.
    pub parked_per_access_point_max: u32,
    /// Body bytes parked from one foreign access point, likewise.
    pub parked_bytes_per_access_point_max: u64,
    /// National submissions waiting for the group commit; beyond it 503.
    pub submissions_queued_max: u32,
    /// Received SEDs waiting in triage beyond which `/health` says DEGRADED. Not a
    /// cap: a SED no rule places is still accepted (refusing it abroad would be an
    /// error it did not deserve), so the bound is an alarm for operators.
    pub triage_waiting_alarm: u32,
    /// Items one batch request may hold (`POST /api/v1/national/{adapter}/batch`);
    /// beyond it the whole batch is refused (413) before any item is submitted.
    pub batch_items_max: u32,
    /// A batch request's body, in bytes (each item's message is bounded by
    /// `body_bytes_max` as a single submission's is); beyond it 413.
    pub batch_body_bytes_max: u64,
    /// Items of one batch submitted at once: concurrency is what fills the group
    /// commit, and this keeps one batch from taking every blocking thread.
    pub batch_concurrency: u32,
    /// Cases one page of the case list may hold (`GET /api/v1/cases?limit=`,
    /// `eessi-switch case list --limit`); a larger limit is refused (400). At most
    /// 1000, the store's own bound.
    pub case_page_max: u32,
    /// Drafts the case page keeps for one case (one per SED, receiver and chased
    /// document); a new one beyond it is refused (409) until one is sent or
    /// discarded.
    pub drafts_per_case_max: u32,
    /// A draft's values, in bytes (as JSON); a larger form is refused (413).
    pub draft_bytes_max: u32,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            relay_claim_rows: 256,
            relay_claim_bytes: 64 * 1024 * 1024,
            parked_per_case_max: 64,
            parked_per_access_point_max: 10_000,
            parked_bytes_per_access_point_max: 1024 * 1024 * 1024,
            submissions_queued_max: 1_024,
            triage_waiting_alarm: 1_000,
            batch_items_max: 1_000,
            batch_body_bytes_max: 32 * 1024 * 1024,
            batch_concurrency: 16,
            case_page_max: 1000,
            drafts_per_case_max: 20,
            draft_bytes_max: 256 * 1024,
        }
    }
}

impl Bounds {
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("relay_claim_rows", u64::from(self.relay_claim_rows)),
            ("relay_claim_bytes", self.relay_claim_bytes),
            ("parked_per_case_max", u64::from(self.parked_per_case_max)),
            (
                "parked_per_access_point_max",
                u64::from(self.parked_per_access_point_max),
            ),
            (
                "parked_bytes_per_access_point_max",
                self.parked_bytes_per_access_point_max,
            ),
            (
                "submissions_queued_max",
                u64::from(self.submissions_queued_max),
            ),
            ("triage_waiting_alarm", u64::from(self.triage_waiting_alarm)),
            ("batch_items_max", u64::from(self.batch_items_max)),
            ("batch_body_bytes_max", self.batch_body_bytes_max),
            ("batch_concurrency", u64::from(self.batch_concurrency)),
            ("case_page_max", u64::from(self.case_page_max)),
            ("drafts_per_case_max", u64::from(self.drafts_per_case_max)),
            ("draft_bytes_max", u64::from(self.draft_bytes_max)),
        ]
    }
}

fn default_body_max() -> usize {
    10 * 1024 * 1024
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
struct RawRetention {
    duplicate_window_days: u32,
    body_days: u32,
    history_days: u32,
    interval_s: u64,
    batch_rows: u32,
}

impl Default for RawRetention {
    fn default() -> Self {
        let r = Retention::default();
        RawRetention {
            duplicate_window_days: r.duplicate_window_days,
            body_days: r.body_days,
            history_days: r.history_days,
            interval_s: r.interval_s,
            batch_rows: r.batch_rows,
        }
    }
}

/// The contract keeps duplicate knowledge "at least 30 days" (`access-point.md`,
/// Duplicates): a shorter window is refused.
pub const DUPLICATE_WINDOW_DAYS_MIN: u32 = 30;

/// What the retention job (`switch::retention`) prunes, and when (`[retention]`),
/// each also shown on `/metrics` as `eessi_limit{name="retention_..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long an answered inbound message id is remembered, so that a redelivery
    /// is answered as a duplicate; also how long a delivered SED keeps its body
    /// (a late error may still reject it). At least 30 days (the contract).
    pub duplicate_window_days: u32,
    /// Bodies of settled outbox rows are emptied this long after they settled.
    pub body_days: u32,
    /// Case history entries older than this are deleted; 0 keeps them forever.
    pub history_days: u32,
    /// Time between two runs of the job.
    pub interval_s: u64,
    /// Rows one prune call (one short transaction per table) touches at most.
    pub batch_rows: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            duplicate_window_days: DUPLICATE_WINDOW_DAYS_MIN,
            body_days: 30,
            history_days: 400,
            interval_s: 3600,
            batch_rows: 1000,
        }
    }
}

impl Retention {
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "retention_duplicate_window_days",
                u64::from(self.duplicate_window_days),
            ),
            ("retention_body_days", u64::from(self.body_days)),
            ("retention_history_days", u64::from(self.history_days)),
            ("retention_interval_s", self.interval_s),
            ("retention_batch_rows", u64::from(self.batch_rows)),
        ]
    }
}

const DAY_MS: i64 = 86_400_000;

fn retention(raw: &RawRetention, park_ms: i64) -> Result<Retention, String> {
    let r = Retention {
        duplicate_window_days: raw.duplicate_window_days,
        body_days: raw.body_days,
        history_days: raw.history_days,
        interval_s: raw.interval_s,
        batch_rows: raw.batch_rows,
    };
    if r.duplicate_window_days < DUPLICATE_WINDOW_DAYS_MIN {
        return Err(format!(
            "retention.duplicate_window_days must be at least {DUPLICATE_WINDOW_DAYS_MIN} (the contract keeps duplicate knowledge at least 30 days)"
        ));
    }
    if i64::from(r.duplicate_window_days) * DAY_MS <= park_ms {
        return Err(
            "retention.duplicate_window_days must be longer than park_ms: a parked message's answer is kept while it is parked"
                .into(),
        );
    }
    if r.body_days == 0 || r.interval_s == 0 || r.batch_rows == 0 {
        return Err(
            "retention.body_days, retention.interval_s and retention.batch_rows must be positive"
                .into(),
        );
    }
    Ok(r)
}

/// The durable timers' task (`switch::timers`, `[timers]`), each bound also shown
/// on `/metrics` as `eessi_limit{name="timers_..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timers {
    /// Time between two looks for due timers (100 ms to 1 day).
    pub interval_ms: u64,
    /// Timers claimed at most per look (1 to 10 000).
    pub batch: u32,
    /// How long a claimed timer is left to the instance that claimed it before
    /// another may claim it again (1 s to 1 day): longer than a firing takes.
    pub lease_ms: u64,
    /// Claims of one timer at most; the next one marks it failed (1 to 100).
    pub attempts_max: u32,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            interval_ms: 60_000,
            batch: 100,
            lease_ms: 300_000,
            attempts_max: 5,
        }
    }
}

impl Timers {
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("timers_interval_ms", self.interval_ms),
            ("timers_batch", u64::from(self.batch)),
            ("timers_lease_ms", self.lease_ms),
            ("timers_attempts_max", u64::from(self.attempts_max)),
        ]
    }

    fn check(&self) -> Result<(), String> {
        if !(100..=86_400_000).contains(&self.interval_ms) {
            return Err("timers.interval_ms must be between 100 and 86400000".into());
        }
        if !(1..=10_000).contains(&self.batch) {
            return Err("timers.batch must be between 1 and 10000".into());
        }
        if !(1_000..=86_400_000).contains(&self.lease_ms) {
            return Err("timers.lease_ms must be between 1000 and 86400000".into());
        }
        if !(1..=100).contains(&self.attempts_max) {
            return Err("timers.attempts_max must be between 1 and 100".into());
        }
        Ok(())
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub country: Country,
    pub registry: PathBuf,
    pub buc_definitions: PathBuf,
    pub sed_schemas: PathBuf,
    pub adapters: PathBuf,
    /// The inbound routing rules (`src/route`), if any.
    pub routing: Option<PathBuf>,
    pub keys_dir: PathBuf,
    pub sed_versions: Vec<SedVersion>,
    pub store_url: String,
    /// The PostgreSQL pool size and TLS (`[store] pool_size`, `ca_file`).
    pub store_options: StoreOptions,
    pub amqp_url: Option<String>,
    /// TLS to the broker, for an `amqps://` URL.
    pub amqp_tls: Option<AmqpTls>,
    pub amqp_prefetch: u16,
    pub http_listen: Option<String>,
    pub http: HttpConfig,
    pub retry: RetryPolicy,
    pub body_bytes_max: usize,
    pub bounds: Bounds,
    /// What the retention job prunes and when (`[retention]`).
    pub retention: Retention,
    /// The durable timers' task (`[timers]`).
    pub timers: Timers,
    pub auth: Option<AuthConfig>,
    /// SIGTERM: how long to finish deliveries in hand and flush the outbox.
    pub shutdown_grace_ms: u64,
    /// How long a background task may keep failing before the access point is DOWN.
    pub failing_max_ms: u64,
    /// Parking time of a `New`/`Update` whose predecessor has not arrived (default 24 h).
    pub park_ms: i64,
    /// Certificates expiring within this many days show in health and metrics.
    pub cert_warning_days: u32,
    /// `[national_formats]`: institution -> SED type -> adapter name (checked
    /// against the adapters and the served institutions at start-up).
    pub national_formats:
        std::collections::BTreeMap<InstitutionId, std::collections::BTreeMap<SedType, String>>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let country = Country::parse(&raw.country).map_err(|e| invalid(e.to_string()))?;
        let sed_versions = raw
            .sed_versions
            .iter()
            .map(|v| SedVersion::parse(v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        if sed_versions.is_empty() {
            return Err(invalid("sed_versions is empty".into()));
        }
        let r = raw.retry;
        if r.attempts_max == 0 || r.interval_ms == 0 || r.window_ms < r.interval_ms {
            return Err(invalid(
                "retry needs attempts_max >= 1, interval_ms >= 1 and window_ms >= interval_ms"
                    .into(),
            ));
        }
        let l = &raw.limits;
        let b = Bounds {
            relay_claim_rows: l.relay_claim_rows,
            relay_claim_bytes: l.relay_claim_bytes,
            parked_per_case_max: l.parked_per_case_max,
            parked_per_access_point_max: l.parked_per_access_point_max,
            parked_bytes_per_access_point_max: l.parked_bytes_per_access_point_max,
            submissions_queued_max: l.submissions_queued_max,
            triage_waiting_alarm: l.triage_waiting_alarm,
            batch_items_max: l.batch_items_max,
            batch_body_bytes_max: l.batch_body_bytes_max,
            batch_concurrency: l.batch_concurrency,
            case_page_max: l.case_page_max,
            drafts_per_case_max: l.drafts_per_case_max,
            draft_bytes_max: l.draft_bytes_max,
        };
        if b.relay_claim_rows == 0
            || b.relay_claim_bytes == 0
            || b.parked_per_case_max == 0
            || b.parked_per_access_point_max == 0
            || b.submissions_queued_max == 0
            || b.parked_bytes_per_access_point_max == 0
            || b.batch_items_max == 0
            || b.batch_body_bytes_max == 0
            || b.batch_concurrency == 0
            || b.case_page_max == 0
            || b.case_page_max > 1000
            || b.drafts_per_case_max == 0
            || b.draft_bytes_max == 0
            || r.delivery_attempts_max == 0
        {
            return Err(invalid(
                "limits and retry.delivery_attempts_max must be positive (limits.case_page_max at most 1000)".into(),
            ));
        }
        if raw.limits.body_bytes_max == 0 {
            return Err(invalid("limits.body_bytes_max must be positive".into()));
        }
        let park_ms = raw.park_ms.max(1);
        let retention = retention(&raw.retention, park_ms).map_err(invalid)?;
        raw.timers.check().map_err(invalid)?;
        let http = match &raw.http {
            Some(h) => http_config(h, &resolve).map_err(invalid)?,
            None => HttpConfig::default(),
        };
        let store_options = store_options(&raw.store, &resolve).map_err(invalid)?;
        let amqp_tls = match &raw.amqp {
            Some(a) => amqp_tls(a, &resolve).map_err(invalid)?,
            None => None,
        };
        // Paths inside a sqlite URL are relative to the config file too.
        let store_url = match raw.store.url.strip_prefix("sqlite://") {
            Some(p) => format!("sqlite://{}", resolve(Path::new(p)).display()),
            None => raw.store.url.clone(),
        };
        let mut national_formats = std::collections::BTreeMap::new();
        let mut format_problems = Vec::new();
        for (institution, by_sed) in &raw.national_formats {
            let Ok(id) = InstitutionId::parse(institution) else {
                format_problems.push(format!(
                    "national_formats: {institution:?} is not an institution id"
                ));
                continue;
            };
            let mut chosen = std::collections::BTreeMap::new();
            for (sed, adapter) in by_sed {
                match SedType::parse(sed) {
                    Ok(t) => {
                        chosen.insert(t, adapter.clone());
                    }
                    Err(e) => format_problems.push(format!("national_formats.{institution}: {e}")),
                }
            }
            national_formats.insert(id, chosen);
        }
        if !format_problems.is_empty() {
            return Err(invalid(format_problems.join("; ")));
        }
        Ok(Config {
            country,
            registry: resolve(&raw.registry),
            buc_definitions: resolve(&raw.buc_definitions),
            sed_schemas: resolve(&raw.sed_schemas),
            adapters: resolve(&raw.adapters),
            routing: raw.routing.as_deref().map(&resolve),
            keys_dir: resolve(&raw.keys_dir),
            sed_versions,
            store_url,
            store_options,
            amqp_url: raw.amqp.as_ref().map(|a| a.url.clone()),
            amqp_tls,
            amqp_prefetch: raw
                .amqp
                .as_ref()
                .map(|a| a.prefetch)
                .unwrap_or_else(default_prefetch)
                .max(1),
            http_listen: raw.http.map(|h| h.listen),
            http,
            retry: raw.retry,
            body_bytes_max: raw.limits.body_bytes_max,
            bounds: b,
            retention,
            timers: raw.timers,
            shutdown_grace_ms: raw.shutdown_grace_ms,
            failing_max_ms: raw.failing_max_ms.max(1),
            park_ms,
            cert_warning_days: raw.cert_warning_days,
            national_formats,
            auth: raw.auth.map(|a| AuthConfig {
                issuer: a.issuer,
                audience: a.audience,
                public_key: resolve(&a.public_key),
                max_lifetime_s: a.max_lifetime_s,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_formats_are_read_per_institution_and_sed_type() {
        let text = "country = \"BE\"\nregistry = \"r.toml\"\nkeys_dir = \"pki\"\n[store]\nurl = \"sqlite://be.db\"\n";
        let c = Config::parse(
            &format!("{text}[national_formats]\n\"BE:ONEM\" = {{ U002 = \"onem-periods\", U004 = \"onem-wages\" }}\n"),
            Path::new("x.toml"),
        )
        .unwrap();
        let onem = &c.national_formats[&InstitutionId::parse("BE:ONEM").unwrap()];
        assert_eq!(onem[&SedType::parse("U004").unwrap()], "onem-wages");
        assert_eq!(onem.len(), 2);
        for bad in [
            "[national_formats]\n\"onem\" = { U002 = \"onem-periods\" }\n",
            "[national_formats]\n\"BE:ONEM\" = { \"u 2\" = \"onem-periods\" }\n",
        ] {
            let e =
                Config::parse(&format!("{text}{bad}"), Path::new("x.toml")).expect_err("refused");
            assert!(e.to_string().contains("national_formats"), "{e}");
        }
    }

    #[test]
    fn paths_resolve_against_the_file_and_bad_values_are_refused() {
        let text = "country = \"BE\"\nregistry = \"../registry.toml\"\nkeys_dir = \"../pki\"\n[store]\nurl = \"sqlite://be.db\"\n";
        let c = Config::parse(text, Path::new("/etc/eessi/config/be.toml")).unwrap();
        assert_eq!(c.registry, Path::new("/etc/eessi/config/../registry.toml"));
        assert_eq!(c.store_url, "sqlite:///etc/eessi/config/be.db");
        assert_eq!(c.retry, RetryPolicy::default());
        assert!(Config::parse(&text.replace("\"BE\"", "\"be\""), Path::new("x.toml")).is_err());
        assert!(
            Config::parse(
                &format!("{text}[retry]\ninterval_ms = 0\nattempts_max = 1\nwindow_ms = 1\n"),
                Path::new("x.toml")
            )
            .is_err()
        );
        assert!(Config::parse(&format!("{text}unknown = 1\n"), Path::new("x.toml")).is_err());
        assert_eq!(c.http, HttpConfig::default());
    }

    #[test]
    fn timers_have_defaults_and_bounds() {
        let text = "country = \"BE\"\nregistry = \"r.toml\"\nkeys_dir = \"pki\"\n[store]\nurl = \"sqlite://be.db\"\n";
        let c = Config::parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(c.timers, Timers::default());
        let c = Config::parse(
            &format!(
                "{text}[timers]\ninterval_ms = 500\nbatch = 7\nlease_ms = 2000\nattempts_max = 3\n"
            ),
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(
            c.timers,
            Timers {
                interval_ms: 500,
                batch: 7,
                lease_ms: 2000,
                attempts_max: 3
            }
        );
        for bad in [
            "interval_ms = 99",
            "batch = 0",
            "batch = 10001",
            "lease_ms = 999",
            "attempts_max = 0",
            "attempt_max = 3",
        ] {
            let t = format!("{text}[timers]\n{bad}\n");
            assert!(Config::parse(&t, Path::new("x.toml")).is_err(), "{bad}");
        }
    }

    #[test]
    fn retention_has_defaults_and_is_checked() {
        let text = "country = \"BE\"\nregistry = \"r.toml\"\nkeys_dir = \"pki\"\n[store]\nurl = \"sqlite://be.db\"\n";
        let c = Config::parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(
            c.retention,
            Retention {
                duplicate_window_days: 30,
                body_days: 30,
                history_days: 400,
                interval_s: 3600,
                batch_rows: 1000,
            }
        );
        let c = Config::parse(
            &format!("{text}[retention]\nduplicate_window_days = 45\nbody_days = 7\nhistory_days = 0\ninterval_s = 60\nbatch_rows = 10\n"),
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(
            c.retention,
            Retention {
                duplicate_window_days: 45,
                body_days: 7,
                history_days: 0,
                interval_s: 60,
                batch_rows: 10,
            }
        );
        for bad in [
            "[retention]\nduplicate_window_days = 29\n",
            "[retention]\nbody_days = 0\n",
            "[retention]\ninterval_s = 0\n",
            "[retention]\nbatch_rows = 0\n",
            "[retention]\nbody_day = 3\n",
            "park_ms = 2592000000\n",
        ] {
            let text = match bad.strip_prefix("park_ms") {
                // A top-level key goes before the first table.
                Some(_) => format!("{bad}{text}"),
                None => format!("{text}{bad}"),
            };
            assert!(Config::parse(&text, Path::new("x.toml")).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_http_edge_is_read_and_checked() {
        let text = "country = \"BE\"\nregistry = \"r.toml\"\nkeys_dir = \"pki\"\n[store]\nurl = \"sqlite://be.db\"\n[http]\nlisten = \"127.0.0.1:1\"\n";
        let c = Config::parse(
            &format!("{text}trusted_proxies = [\"10.0.0.1\", \"::1\"]\ncookie_secure = true\nconcurrency_max = 3\nadapter_grants = {{ \"onss-posting\" = [\"BE:ONSS\"] }}\n"),
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(c.http.trusted_proxies.len(), 2);
        assert!(c.http.cookie_secure);
        assert_eq!(c.http.concurrency_max, 3);
        assert_eq!(c.http.adapter_grants["onss-posting"][0].as_str(), "BE:ONSS");
        for bad in [
            "trusted_proxies = [\"proxy.example\"]\n",
            "concurrency_max = 0\n",
            "idle_timeout_ms = 0\n",
            "adapter_grants = { \"onss-posting\" = [\"onss\"] }\n",
        ] {
            assert!(
                Config::parse(&format!("{text}{bad}"), Path::new("x.toml")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_settings_are_read_and_half_or_mismatched_ones_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls");
        for k in ["client", "server"] {
            let key = tls.join(format!("{k}.key.pem"));
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let path = tls.join("switch.toml");
        let head = "country = \"BE\"\nregistry = \"r.toml\"\nkeys_dir = \"pki\"\n";
        let good = format!(
            "{head}[store]\nurl = \"postgres://postgres@localhost/db\"\nca_file = \"ca.crt.pem\"\npool_size = 4\n\
             [amqp]\nurl = \"amqps://guest:guest@localhost:5671/v\"\nca_file = \"ca.crt.pem\"\ncert_file = \"client.crt.pem\"\nkey_file = \"client.key.pem\"\n\
             [http]\nlisten = \"127.0.0.1:1\"\ntls_cert_file = \"server.crt.pem\"\ntls_key_file = \"server.key.pem\"\n"
        );
        let c = Config::parse(&good, &path).unwrap();
        assert_eq!(c.store_options.ca_file, Some(tls.join("ca.crt.pem")));
        assert_eq!(c.store_options.pool_size, 4);
        let a = c.amqp_tls.unwrap();
        assert_eq!(a.ca_file, tls.join("ca.crt.pem"));
        assert_eq!(
            a.identity,
            Some((tls.join("client.crt.pem"), tls.join("client.key.pem")))
        );
        let h = c.http.tls.unwrap();
        assert_eq!(h.key_file, tls.join("server.key.pem"));
        assert!(c.http.cookie_secure, "TLS makes the cookie Secure");

        let plain = Config::parse(
            &format!("{head}[store]\nurl = \"sqlite://x.db\"\n[amqp]\nurl = \"amqp://h\"\n"),
            &path,
        )
        .unwrap();
        assert_eq!(plain.store_options, StoreOptions::default());
        assert_eq!(plain.store_options.pool_size, 16);
        assert!(plain.amqp_tls.is_none() && plain.http.tls.is_none());

        // (store table, amqp table, http additions) -> the error must say...
        let store = "url = \"postgres://postgres@localhost/db\"\nca_file = \"ca.crt.pem\"\n";
        let amqp = "url = \"amqps://g:g@localhost:5671/v\"\nca_file = \"ca.crt.pem\"\n";
        let http = "tls_cert_file = \"server.crt.pem\"\ntls_key_file = \"server.key.pem\"\n";
        let text = |s: &str, a: &str, h: &str| {
            format!("{head}[store]\n{s}[amqp]\n{a}[http]\nlisten = \"127.0.0.1:1\"\n{h}")
        };
        assert!(Config::parse(&text(store, amqp, http), &path).is_ok());
        for (s, a, h, says) in [
            (
                store,
                amqp,
                "tls_key_file = \"server.key.pem\"\n",
                "give both",
            ),
            (
                store,
                amqp,
                "tls_cert_file = \"server.crt.pem\"\n",
                "give both",
            ),
            (
                store,
                "url = \"amqps://h\"\nca_file = \"ca.crt.pem\"\ncert_file = \"client.crt.pem\"\n",
                http,
                "give both",
            ),
            (
                store,
                "url = \"amqps://h\"\nca_file = \"nowhere.pem\"\n",
                http,
                "nowhere.pem",
            ),
            (
                store,
                "url = \"amqps://h\"\n",
                http,
                "amqp.ca_file is not set",
            ),
            (
                store,
                "url = \"amqp://h\"\nca_file = \"ca.crt.pem\"\n",
                http,
                "must be amqps://",
            ),
            (
                "url = \"sqlite://x.db\"\nca_file = \"ca.crt.pem\"\n",
                amqp,
                http,
                "for PostgreSQL",
            ),
            (
                "url = \"postgres://p@localhost/db?sslmode=disable\"\nca_file = \"ca.crt.pem\"\n",
                amqp,
                http,
                "sslmode=disable",
            ),
            (
                "url = \"postgres://p@localhost/db\"\nca_file = \"gone.pem\"\n",
                amqp,
                http,
                "gone.pem",
            ),
            (
                "url = \"sqlite://x.db\"\npool_size = 0\n",
                amqp,
                http,
                "pool_size",
            ),
        ] {
            let err = Config::parse(&text(s, a, h), &path)
                .expect_err(says)
                .to_string();
            assert!(err.contains(says), "{says}: {err}");
        }

        // A key others can read is refused.
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("server.key.pem");
        std::fs::copy(tls.join("server.key.pem"), &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = good.replace(
            "tls_key_file = \"server.key.pem\"",
            &format!("tls_key_file = \"{}\"", key.display()),
        );
        let err = Config::parse(&text, &path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
