//! The switch: one access point's engine. It owns the shared context (definitions,
//! registry, keys, store, transport) and runs three activities:
//! - `inbound`: consume the access point's inbox, check each SED in the contract's
//!   order, apply it to its case through the BUC machine and answer it, all in one
//!   store transaction, then ack;
//! - `outbound`: accept a SED from a national institution (directly or through an
//!   adapter), step the case, sign, and commit it with its outbox message;
//! - `relay`: publish committed outbox messages with broker confirms, retransmit
//!   SEDs without receipt on the bounded schedule, and mark them failed after;
//! - `retention`: prune settled bodies, old inbox rows and history in the background.

pub mod apply;
pub mod deadletter;
pub mod inbound;
pub mod outbound;
pub mod record;
pub mod relay;
pub mod retention;
#[cfg(test)]
mod rights_tests;
pub mod supervise;
#[cfg(test)]
mod tests;
pub mod timers;
#[cfg(test)]
mod timers_tests;
pub mod triage;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::buc::Catalogue;
use crate::config::{Config, RetryPolicy};
use crate::ids::{Country, InstitutionId, SedType, SedVersion};
use crate::sed::xml::XmlLimits;
use crate::signing::{Registry, Signer};
use crate::store::Store;
use crate::transport::Transport;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Definitions(#[from] crate::buc::DefinitionError),
    #[error(transparent)]
    Registry(#[from] crate::signing::RegistryError),
    #[error(transparent)]
    Key(#[from] crate::signing::SignError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    #[error(transparent)]
    Adapters(#[from] crate::adapt::AdaptError),
    #[error("{0}")]
    Other(String),
}

/// Counters for health, metrics and the benchmark.
#[derive(Debug, Default)]
pub struct Metrics {
    pub inbound_received: AtomicU64,
    pub inbound_applied: AtomicU64,
    pub inbound_refused: AtomicU64,
    pub inbound_duplicates: AtomicU64,
    pub inbound_dead_lettered: AtomicU64,
    pub inbound_parked: AtomicU64,
    pub signals_received: AtomicU64,
    pub signals_ignored: AtomicU64,
    pub published: AtomicU64,
    pub publish_returned: AtomicU64,
    pub outbound_submitted: AtomicU64,
    pub outbound_failed: AtomicU64,
    /// Receipts, errors, national deliveries or notices given up after their schedule.
    pub deliveries_failed: AtomicU64,
    /// Publish outcomes not recorded because the row had moved on (a receipt won).
    pub relay_stale_outcomes: AtomicU64,
    /// Signals for a SED whose status had already moved past what they would change.
    pub signals_stale: AtomicU64,
    /// SEDs refused with UNKNOWN_CASE at once because a parking cap was reached.
    pub parked_refused_cap: AtomicU64,
    /// National submissions refused because the submission queue was full.
    pub submissions_refused: AtomicU64,
    /// Submissions planned and signed again because their case moved before commit.
    pub submissions_replanned: AtomicU64,
    /// Received SEDs delivered as the envelope because they do not map to the
    /// national format their institution chose.
    pub national_unmappable: AtomicU64,
    /// Received SEDs kept for triage, and triage entries an operator assigned.
    pub triage_entered: AtomicU64,
    pub triage_assigned: AtomicU64,
    /// Group commits of national submissions (`outbound_submitted` over this is
    /// the mean batch).
    pub submission_commits: AtomicU64,
    /// Outbox relay rounds that published something claimed from the store.
    pub relay_rounds: AtomicU64,
    /// Relay rounds that published what the committer handed over.
    pub relay_fresh_rounds: AtomicU64,
    /// Outbox bodies emptied, inbox rows and history entries deleted by retention.
    pub retention_outbox_bodies_pruned: AtomicU64,
    pub retention_inbox_rows_pruned: AtomicU64,
    pub retention_history_rows_pruned: AtomicU64,
    pub retention_idempotency_rows_pruned: AtomicU64,
    pub retention_triage_rows_pruned: AtomicU64,
    pub retention_timer_rows_pruned: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("inbound_received", g(&self.inbound_received)),
            ("inbound_applied", g(&self.inbound_applied)),
            ("inbound_refused", g(&self.inbound_refused)),
            ("inbound_duplicates", g(&self.inbound_duplicates)),
            ("inbound_dead_lettered", g(&self.inbound_dead_lettered)),
            ("inbound_parked", g(&self.inbound_parked)),
            ("signals_received", g(&self.signals_received)),
            ("signals_ignored", g(&self.signals_ignored)),
            ("published", g(&self.published)),
            ("publish_returned", g(&self.publish_returned)),
            ("outbound_submitted", g(&self.outbound_submitted)),
            ("outbound_failed", g(&self.outbound_failed)),
            ("deliveries_failed", g(&self.deliveries_failed)),
            ("relay_stale_outcomes", g(&self.relay_stale_outcomes)),
            ("signals_stale", g(&self.signals_stale)),
            ("parked_refused_cap", g(&self.parked_refused_cap)),
            ("submissions_refused", g(&self.submissions_refused)),
            ("submissions_replanned", g(&self.submissions_replanned)),
            ("submission_commits", g(&self.submission_commits)),
            ("national_unmappable", g(&self.national_unmappable)),
            ("triage_entered", g(&self.triage_entered)),
            ("triage_assigned", g(&self.triage_assigned)),
            ("relay_rounds", g(&self.relay_rounds)),
            ("relay_fresh_rounds", g(&self.relay_fresh_rounds)),
            (
                "retention_outbox_bodies_pruned",
                g(&self.retention_outbox_bodies_pruned),
            ),
            (
                "retention_inbox_rows_pruned",
                g(&self.retention_inbox_rows_pruned),
            ),
            (
                "retention_history_rows_pruned",
                g(&self.retention_history_rows_pruned),
            ),
            (
                "retention_idempotency_rows_pruned",
                g(&self.retention_idempotency_rows_pruned),
            ),
            (
                "retention_triage_rows_pruned",
                g(&self.retention_triage_rows_pruned),
            ),
            (
                "retention_timer_rows_pruned",
                g(&self.retention_timer_rows_pruned),
            ),
        ]
    }
}

impl timers::TimerMetrics {
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("timers_fired", g(&self.fired)),
            ("timers_failed", g(&self.failed)),
            ("timers_retried", g(&self.retried)),
        ]
    }
}

/// Everything one access point needs, shared by its tasks.
pub struct Switch {
    pub country: Country,
    pub catalogue: Catalogue,
    pub registry: Registry,
    pub store: Arc<dyn Store>,
    pub transport: Arc<dyn Transport>,
    /// Keys of the institutions this access point signs for.
    pub signers: HashMap<InstitutionId, Signer>,
    /// The access point's own key, for receipts and errors.
    pub ap_signer: Signer,
    pub schemas: PathBuf,
    pub versions: Vec<SedVersion>,
    pub limits: XmlLimits,
    pub retry: RetryPolicy,
    /// The bounds of queues and caches (configuration `[limits]`).
    pub bounds: crate::config::Bounds,
    /// What the retention job prunes and when (configuration `[retention]`).
    pub retention: crate::config::Retention,
    /// The durable timers' task (configuration `[timers]`).
    pub timers: crate::config::Timers,
    /// The time the timer task acts at (`timers::Clock`; tests set a fake one).
    pub clock: timers::Clock,
    pub timer_metrics: timers::TimerMetrics,
    pub adapters: crate::adapt::Adapters,
    /// Per served institution, per SED type: the adapter whose national format it
    /// receives that SED in (`[national_formats]`, checked at start-up).
    pub national_formats: BTreeMap<InstitutionId, BTreeMap<SedType, String>>,
    /// Which institution(s) receive each accepted SED (`routing`, checked at
    /// start-up against the registry and the catalogue).
    pub routing: crate::route::Routing,
    pub relay_wake: tokio::sync::Notify,
    /// The relay's fresh lane while it runs (`relay::fresh_lane`).
    pub(crate) fresh_lane:
        std::sync::Mutex<Option<tokio::sync::mpsc::Sender<crate::store::OutboxMessage>>>,
    /// How long a `New`/`Update` waits for its predecessor before UNKNOWN_CASE.
    pub park_ms: i64,
    /// Certificates expiring within this window show in health and metrics.
    pub cert_warning_s: i64,
    /// Set at shutdown: lanes stop waiting for the store.
    pub shutting_down: std::sync::atomic::AtomicBool,
    /// Set once the queues are declared and the inbox is being consumed: until then
    /// `/health` answers STARTING (503), so nobody takes the process for ready.
    pub started: std::sync::atomic::AtomicBool,
    /// The one committer of national submissions (group commit), started on first use.
    pub(crate) committer: std::sync::OnceLock<Result<outbound::Committer, String>>,
    pub metrics: Metrics,
    /// Watches the long-running tasks; DOWN when one ends or keeps failing.
    pub supervisor: supervise::Supervisor,
}

impl Switch {
    /// Load definitions, registry, keys and adapters, and open the store. Nothing
    /// is declared on the broker yet (`start` does it).
    pub fn build(config: &Config, transport: Arc<dyn Transport>) -> Result<Switch, StartError> {
        let catalogue = Catalogue::load(
            &config.buc_definitions,
            &config.sed_schemas,
            &config.sed_versions,
        )?;
        let registry = Registry::load(&config.registry)?;
        let country = config.country.clone();
        // A foreign access point that accepts none of the versions spoken here can
        // be sent nothing: said at start, and refused per submission.
        for (other, accepted) in &registry.access_point_versions {
            if *other != country && !accepted.iter().any(|v| config.sed_versions.contains(v)) {
                tracing::warn!(access_point = %other, "the registry says this access point accepts none of the data-model versions this switch speaks: nothing can be sent to it");
            }
        }
        let ap_cert = registry
            .access_point_paths
            .get(&country)
            .and_then(|p| p.first())
            .ok_or_else(|| {
                StartError::Other(format!(
                    "the registry has no certificate for access point {country}"
                ))
            })?;
        let ap_signer = Signer::from_files(
            &config.keys_dir.join(format!("AP_{country}.key.pem")),
            ap_cert,
        )?;
        let mut signers = HashMap::new();
        for inst in registry.institutions_of(&country) {
            let key = config
                .keys_dir
                .join(format!("{}.key.pem", inst.id.as_str().replace(':', "_")));
            if !key.is_file() {
                tracing::warn!(institution = %inst.id, "no signing key: this institution can receive but not send");
                continue;
            }
            // The newest certificate (last listed) signs during a rotation overlap.
            let cert = inst
                .certificate_paths
                .last()
                .ok_or_else(|| StartError::Other(format!("{} has no certificate", inst.id)))?;
            signers.insert(inst.id.clone(), Signer::from_files(&key, cert)?);
        }
        let store = crate::store::open_with(&config.store_url, &config.store_options)?;
        let adapters = crate::adapt::Adapters::load(&config.adapters)?;
        // Every national format named must exist, be for that SED type, and be
        // chosen by an institution this access point serves: all problems at once.
        let mut problems = Vec::new();
        for (who, by_sed) in &config.national_formats {
            if registry.institution(who).is_none() || who.country() != country {
                problems.push(format!(
                    "national_formats: {who} is not an institution of access point {country}"
                ));
            }
            for (sed, name) in by_sed {
                match adapters.get(name) {
                    None => {
                        problems.push(format!("national_formats.{who}.{sed}: no adapter {name:?}"))
                    }
                    Some(a) if a.sed != *sed => problems.push(format!(
                        "national_formats.{who}.{sed}: adapter {name} is for {}, not {sed}",
                        a.sed
                    )),
                    Some(_) => {}
                }
            }
        }
        // The routing rules: every problem at once, like the definitions.
        let routing = crate::route::Routing::of(config.routing.as_deref())
            .map_err(|e| StartError::Other(e.to_string()))?;
        if routing.path.is_some() {
            problems.extend(
                routing
                    .check(&catalogue, &registry, &country)
                    .into_iter()
                    .map(|p| format!("routing: {p}")),
            );
        }
        if !problems.is_empty() {
            return Err(StartError::Other(problems.join("; ")));
        }
        Ok(Switch {
            country,
            catalogue,
            registry,
            store,
            transport,
            signers,
            ap_signer,
            schemas: config.sed_schemas.clone(),
            versions: config.sed_versions.clone(),
            limits: XmlLimits {
                body_bytes_max: config.body_bytes_max,
                ..XmlLimits::default()
            },
            retry: config.retry,
            bounds: config.bounds,
            retention: config.retention,
            timers: config.timers,
            clock: timers::system_clock(),
            timer_metrics: timers::TimerMetrics::default(),
            adapters,
            national_formats: config.national_formats.clone(),
            routing,
            relay_wake: tokio::sync::Notify::new(),
            fresh_lane: std::sync::Mutex::new(None),
            park_ms: config.park_ms,
            cert_warning_s: i64::from(config.cert_warning_days) * 86_400,
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            started: std::sync::atomic::AtomicBool::new(false),
            committer: std::sync::OnceLock::new(),
            metrics: Metrics::default(),
            supervisor: supervise::Supervisor::new(std::time::Duration::from_millis(
                config.failing_max_ms,
            )),
        })
    }

    /// Declare this access point's topology (idempotent) and its national queues.
    pub async fn declare(&self) -> Result<(), StartError> {
        self.transport
            .declare_access_point(self.country.as_str())
            .await?;
        for inst in self.registry.institutions_of(&self.country) {
            self.transport
                .declare_national_queue(inst.id.as_str())
                .await?;
        }
        Ok(())
    }

    /// Declare, then run the inbound consumer, the relay, the sweeper, the
    /// dead-letter collector and the retention job until `shutdown` fires. If one of them ends, panics or
    /// keeps failing before that, the access point is DOWN (`supervisor`): the
    /// others are stopped as at shutdown and this returns the reason as an error.
    pub async fn run(
        self: Arc<Self>,
        prefetch: u16,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), StartError> {
        self.declare().await?;
        let deliveries = self
            .transport
            .consume(
                &crate::transport::inbox_queue(self.country.as_str()),
                prefetch,
            )
            .await?;
        let dead = self
            .transport
            .consume(&crate::transport::dead_queue(self.country.as_str()), 16)
            .await?;
        // Shutdown order: stop taking deliveries and finish the ones in hand (their
        // acks depend on commits), then let the relay flush what they committed. A
        // DOWN stops everything the same way.
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (relay_stop, relay_stop_rx) = tokio::sync::watch::channel(false);
        let mut inbound = tokio::spawn(inbound::run(self.clone(), deliveries, stop_rx.clone()));
        let mut sweeper = tokio::spawn(inbound::run_sweeper(self.clone(), stop_rx.clone()));
        let mut collector = tokio::spawn(deadletter::run_collector(
            self.clone(),
            dead,
            stop_rx.clone(),
        ));
        let mut retention = tokio::spawn(retention::run(self.clone(), stop_rx.clone()));
        let mut timer_task = tokio::spawn(timers::run(self.clone(), stop_rx.clone()));
        let mut relay = tokio::spawn(relay::run(self.clone(), relay_stop_rx));
        self.started
            .store(true, std::sync::atomic::Ordering::Release);
        let mut shutdown = shutdown;
        let ended = |task: &str, r: Result<(), tokio::task::JoinError>| match r {
            Ok(()) => format!("the {task} ended"),
            Err(e) if e.is_panic() => format!("the {task} panicked"),
            Err(e) => format!("the {task} was cancelled: {e}"),
        };
        let down = tokio::select! {
            _ = shutdown.changed() => None,
            r = self.supervisor.wait_down() => Some(r),
            r = &mut inbound => Some(ended("inbox consumer", r)),
            r = &mut sweeper => Some(ended("parking sweeper", r)),
            r = &mut collector => Some(ended("dead-letter collector", r)),
            r = &mut relay => Some(ended("outbox relay", r)),
            r = &mut retention => Some(ended("retention job", r)),
            r = &mut timer_task => Some(ended("timer task", r)),
        };
        if let Some(reason) = &down {
            self.supervisor.down(reason.clone());
        }
        self.shutting_down
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = stop.send(true);
        for h in [
            &mut inbound,
            &mut sweeper,
            &mut collector,
            &mut retention,
            &mut timer_task,
        ] {
            if !h.is_finished() {
                let _ = h.await;
            }
        }
        let _ = relay_stop.send(true);
        if !relay.is_finished() {
            let _ = relay.await;
        }
        match down {
            Some(reason) => Err(StartError::Other(format!("access point DOWN: {reason}"))),
            None => Ok(()),
        }
    }

    /// Every bound of the switch's queues, caches and retries, by name, with its
    /// configured number (shown on `/metrics` as `eessi_limit{name=...}`).
    pub fn limits(&self) -> Vec<(&'static str, u64)> {
        let mut l = self.bounds.named();
        l.extend(self.retention.named());
        l.extend(self.timers.named());
        l.extend([
            ("body_bytes_max", self.limits.body_bytes_max as u64),
            ("retry_interval_ms", self.retry.interval_ms),
            ("retry_attempts_max", u64::from(self.retry.attempts_max)),
            ("retry_window_ms", self.retry.window_ms),
            (
                "delivery_attempts_max",
                u64::from(self.retry.delivery_attempts_max),
            ),
            ("delivery_window_ms", self.retry.delivery_window_ms),
            ("park_ms", self.park_ms.max(0) as u64),
            (
                "sqlite_page_cache_kib_per_connection",
                crate::store::sqlite::PAGE_CACHE_KIB as u64,
            ),
            (
                "sqlite_wal_checkpoint_pages",
                crate::store::sqlite::WAL_CHECKPOINT_PAGES as u64,
            ),
            ("inbound_lanes", inbound::LANES as u64),
            ("inbound_lane_queue", inbound::LANE_QUEUE as u64),
            ("inbound_batch_max", inbound::BATCH_MAX as u64),
            ("submit_batch_max", outbound::COMMIT_BATCH_MAX as u64),
            ("submit_plan_attempts", outbound::PLAN_ATTEMPTS as u64),
            ("sed_form_cache_max", crate::sed::form::CACHE_MAX as u64),
            ("sed_form_fields_max", crate::sed::form::FIELDS_MAX as u64),
            (
                "sed_form_repeat_max",
                u64::from(crate::sed::form::REPEAT_MAX),
            ),
            (
                "failing_max_ms",
                self.supervisor.failing_max().as_millis() as u64,
            ),
        ]);
        l
    }

    /// Where a SED of this BUC names the institution its effect concerns (X005...).
    pub fn subject_path(
        &self,
        buc: &crate::ids::BucType,
        sed: &crate::ids::SedType,
    ) -> Option<&str> {
        self.catalogue
            .get(buc)?
            .transitions
            .iter()
            .find(|t| &t.sed == sed && t.subject.is_some())?
            .subject
            .as_deref()
    }

    /// Where a bulk (master) SED carries its sub-documents (the catalogue's
    /// `children` path in seds.toml), for the count `step` checks.
    pub fn children_path(&self, sed: &crate::ids::SedType) -> Option<&str> {
        self.catalogue.seds.get(sed)?.children.as_deref()
    }

    pub fn is_served(&self, institution: &InstitutionId) -> bool {
        institution.country() == self.country && self.registry.institution(institution).is_some()
    }

    /// The data-model versions this switch may send to the access point of
    /// `country`: those it speaks that the registry says that access point accepts
    /// (all it speaks when the registry lists none for it), in this switch's order
    /// (`sed_versions`: the first is the one a new case prefers).
    pub fn versions_accepted_by(&self, country: &Country) -> Vec<SedVersion> {
        match self.registry.accepted_versions(country) {
            Some(accepted) => self
                .versions
                .iter()
                .filter(|v| accepted.contains(v))
                .cloned()
                .collect(),
            None => self.versions.clone(),
        }
    }

    /// What the access point of `country` accepts, as a problem names it: the
    /// registry's list, or "the versions this access point speaks".
    pub fn accepted_versions_text(&self, country: &Country) -> String {
        let list = |vs: &[SedVersion]| {
            vs.iter()
                .map(SedVersion::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.registry.accepted_versions(country) {
            Some(accepted) => list(accepted),
            None => list(&self.versions),
        }
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(bytes))
}

/// Base64 SHA-256, as receipts carry it.
pub fn sha256_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha256(bytes))
}
