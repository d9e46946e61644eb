//! Configuration: the only place that reads settings. A TOML file is parsed into
//! `RawConfig`, then validated into `Config` with every path resolved relative to
//! the file and every identifier parsed. Flags say how this process runs; the file
//! says what this access point is.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ids::{Country, SedVersion};

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
    auth: Option<RawAuth>,
    #[serde(default = "default_grace")]
    shutdown_grace_ms: u64,
    #[serde(default = "default_park")]
    park_ms: i64,
    #[serde(default = "default_cert_warning")]
    cert_warning_days: u32,
    /// A background task (inbox consumer, relay, sweeper, dead-letter collector)
    /// failing without a success for this long puts the access point DOWN.
    #[serde(default = "default_failing_max")]
    failing_max_ms: u64,
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
}

/// Bearer-token verification of the HTTP API (absent: authentication off, for development).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub public_key: PathBuf,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAmqp {
    url: String,
    #[serde(default = "default_prefetch")]
    prefetch: u16,
}

fn default_prefetch() -> u16 {
    64
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: String,
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
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            relay_claim_rows: 256,
            relay_claim_bytes: 64 * 1024 * 1024,
            parked_per_case_max: 64,
            parked_per_access_point_max: 10_000,
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
        ]
    }
}

fn default_body_max() -> usize {
    10 * 1024 * 1024
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub country: Country,
    pub registry: PathBuf,
    pub buc_definitions: PathBuf,
    pub sed_schemas: PathBuf,
    pub adapters: PathBuf,
    pub keys_dir: PathBuf,
    pub sed_versions: Vec<SedVersion>,
    pub store_url: String,
    pub amqp_url: Option<String>,
    pub amqp_prefetch: u16,
    pub http_listen: Option<String>,
    pub retry: RetryPolicy,
    pub body_bytes_max: usize,
    pub bounds: Bounds,
    pub auth: Option<AuthConfig>,
    /// SIGTERM: how long to finish deliveries in hand and flush the outbox.
    pub shutdown_grace_ms: u64,
    /// How long a background task may keep failing before the access point is DOWN.
    pub failing_max_ms: u64,
    /// Parking time of a `New`/`Update` whose predecessor has not arrived (default 24 h).
    pub park_ms: i64,
    /// Certificates expiring within this many days show in health and metrics.
    pub cert_warning_days: u32,
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
        };
        if b.relay_claim_rows == 0
            || b.relay_claim_bytes == 0
            || b.parked_per_case_max == 0
            || b.parked_per_access_point_max == 0
            || r.delivery_attempts_max == 0
        {
            return Err(invalid(
                "limits and retry.delivery_attempts_max must be positive".into(),
            ));
        }
        if raw.limits.body_bytes_max == 0 {
            return Err(invalid("limits.body_bytes_max must be positive".into()));
        }
        // Paths inside a sqlite URL are relative to the config file too.
        let store_url = match raw.store.url.strip_prefix("sqlite://") {
            Some(p) => format!("sqlite://{}", resolve(Path::new(p)).display()),
            None => raw.store.url.clone(),
        };
        Ok(Config {
            country,
            registry: resolve(&raw.registry),
            buc_definitions: resolve(&raw.buc_definitions),
            sed_schemas: resolve(&raw.sed_schemas),
            adapters: resolve(&raw.adapters),
            keys_dir: resolve(&raw.keys_dir),
            sed_versions,
            store_url,
            amqp_url: raw.amqp.as_ref().map(|a| a.url.clone()),
            amqp_prefetch: raw
                .amqp
                .as_ref()
                .map(|a| a.prefetch)
                .unwrap_or_else(default_prefetch)
                .max(1),
            http_listen: raw.http.map(|h| h.listen),
            retry: raw.retry,
            body_bytes_max: raw.limits.body_bytes_max,
            bounds: b,
            shutdown_grace_ms: raw.shutdown_grace_ms,
            failing_max_ms: raw.failing_max_ms.max(1),
            park_ms: raw.park_ms.max(1),
            cert_warning_days: raw.cert_warning_days,
            auth: raw.auth.map(|a| AuthConfig {
                issuer: a.issuer,
                audience: a.audience,
                public_key: resolve(&a.public_key),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
