//! `eessi-switch routing check|show` and `eessi-switch triage list|assign`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;

use eessi_switch::buc::Catalogue;
use eessi_switch::config::Config;
use eessi_switch::ids::InstitutionId;
use eessi_switch::route::Routing;
use eessi_switch::signing::registry::Registry;
use eessi_switch::store::TriageStatus;
use eessi_switch::switch::Switch;

#[derive(Subcommand)]
pub enum RoutingCommand {
    /// Load the routing rules of a switch's configuration and report every
    /// problem against its registry and BUC catalogue; exit 1 if any.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the rules in the order they are tried.
    Show {
        #[arg(long)]
        config: PathBuf,
    },
}

/// Through the API (`--url`/`EESSI_URL`, `--token`/`EESSI_TOKEN`, an operator's
/// token), or the store of `--config`.
#[derive(Subcommand)]
pub enum TriageCommand {
    /// Received SEDs waiting for an operator (or all, with --all).
    List {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        remote: crate::cli_api::Remote,
    },
    /// Deliver a waiting entry to a Belgian institution (audited).
    Assign {
        id: i64,
        /// The institution that takes it, e.g. BE:ONSS.
        #[arg(long)]
        to: String,
        /// Who assigns it, for the audit log (with --config; through the API it
        /// is the token's subject).
        #[arg(long)]
        operator: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        remote: crate::cli_api::Remote,
    },
}

/// `triage` through the API, or (`--config`) on the store itself.
pub async fn triage_command(command: TriageCommand) -> anyhow::Result<i32> {
    match command {
        TriageCommand::List {
            config: None,
            all,
            remote,
        } => crate::cli_api::triage_list(&remote, all).await,
        TriageCommand::Assign {
            id,
            to,
            config: None,
            remote,
            ..
        } => crate::cli_api::triage_assign(&remote, id, &to).await,
        command => tokio::task::spawn_blocking(move || triage(command)).await?,
    }
}

pub fn routing(command: RoutingCommand) -> anyhow::Result<i32> {
    let (RoutingCommand::Check { config } | RoutingCommand::Show { config }) = &command;
    let config = Config::load(config)?;
    let routing = Routing::of(config.routing.as_deref())?;
    match command {
        RoutingCommand::Show { .. } => {
            print!("{}", routing.show());
            Ok(0)
        }
        // The same check as at start-up: only a rule file is checked.
        RoutingCommand::Check { .. } if routing.path.is_none() => {
            println!("no routing rules: every SED goes to the institution it is addressed to");
            Ok(0)
        }
        RoutingCommand::Check { .. } => {
            let catalogue = Catalogue::load(
                &config.buc_definitions,
                &config.sed_schemas,
                &config.sed_versions,
            )?;
            let registry = Registry::load(&config.registry)?;
            let problems = routing.check(&catalogue, &registry, &config.country);
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!(
                    "{} rules OK: every BUC of the catalogue has a competent institution of {} in each role and a rule that delivers it",
                    routing.rules.len(),
                    config.country
                );
                Ok(0)
            } else {
                println!("{} problem(s)", problems.len());
                Ok(1)
            }
        }
    }
}

/// Blocking: the store API is.
pub fn triage(command: TriageCommand) -> anyhow::Result<i32> {
    match command {
        TriageCommand::List {
            config: Some(config),
            all,
            ..
        } => {
            let config = Config::load(&config)?;
            let store = eessi_switch::store::open_with(&config.store_url, &config.store_options)?;
            let list = store.triage_list((!all).then_some(TriageStatus::Waiting), 999)?;
            let mut out = String::new();
            for e in list {
                out.push_str(&format!(
                    "{:>6} {} {} {} {} v{} {} from {} to {}: {}{}\n",
                    e.id,
                    e.created_at,
                    e.status,
                    e.buc,
                    e.sed,
                    e.document_version,
                    e.case_id,
                    e.sender,
                    e.addressed,
                    e.reason,
                    e.assigned_to
                        .map(|t| format!(" (assigned to {t})"))
                        .unwrap_or_default()
                ));
            }
            crate::cli::print_out(&out)
        }
        TriageCommand::Assign {
            id,
            to,
            operator,
            config: Some(config),
            ..
        } => {
            let operator = operator.context("--operator: who assigns it, for the audit log")?;
            let config = Config::load(&config)?;
            let to = InstitutionId::parse(&to)?;
            // Only the store and the formats are used: the running `serve`'s relay
            // publishes the delivery this commits.
            let transport = Arc::new(eessi_switch::transport::memory::MemoryBroker::new());
            let sw = Switch::build(&config, transport).context("loading the switch")?;
            let actor = eessi_switch::store::AuditEntry {
                at: eessi_switch::store::now_rfc3339(),
                subject: format!("cli:{operator}"),
                institution: None,
                action: "triage-assign".into(),
                target: String::new(),
                remote: None,
            };
            let message_id = eessi_switch::switch::triage::assign(&sw, id, &to, &actor)?;
            println!("triage entry {id} delivered to {to} (message {message_id})");
            Ok(0)
        }
        _ => anyhow::bail!("triage without --config goes through the API"),
    }
}
