//! The command line: parse flags (clap), then call into the library. `anyhow`
//! lives in the binary only: here, in the commands' own modules (`cli_*.rs`) and
//! in `main.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use eessi_switch::buc::Catalogue;
use eessi_switch::config::Config;
use eessi_switch::ids::{CaseId, SedType, SedVersion};
use eessi_switch::sed::{validate, xml};
use eessi_switch::signing::{self, Signer};
use eessi_switch::switch::Switch;
use eessi_switch::transport::Transport;

#[derive(Parser)]
#[command(
    name = "eessi-switch",
    version,
    about = "Belgium's national EESSI switch"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run one access point (its inbox consumer, outbox relay and HTTP API).
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// BUC definitions: check, list.
    Buc {
        #[command(subcommand)]
        command: BucCommand,
    },
    /// Cases in a switch's store.
    Case {
        #[command(subcommand)]
        command: CaseCommand,
    },
    /// Sign an XML document (enveloped XML-DSig as the contract profiles it).
    Sign {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        cert: PathBuf,
        file: PathBuf,
    },
    /// Verify a signed document against a certificate.
    Verify {
        #[arg(long)]
        cert: PathBuf,
        file: PathBuf,
    },
    /// Validate a SED body against its schema; prints every violation.
    Validate {
        #[arg(long)]
        sed: String,
        #[arg(long, default_value = "4.2")]
        version: String,
        #[arg(long, default_value = "sed-schemas")]
        schemas: PathBuf,
        file: PathBuf,
    },
    /// Inbound routing rules: check, show.
    Routing {
        #[command(subcommand)]
        command: crate::cli_routing::RoutingCommand,
    },
    /// The triage queue: received SEDs no routing rule placed (operators).
    Triage {
        #[command(subcommand)]
        command: crate::cli_routing::TriageCommand,
    },
    /// Dead-lettered messages: list them, re-inject one (operators).
    DeadLetters {
        #[command(subcommand)]
        command: DeadCommand,
    },
    /// Submit a batch of national messages through a switch's batch channel:
    /// resumable (a rerun of the same file submits only what was not accepted).
    Submit(crate::cli_batch::SubmitArgs),
    /// Issue a bearer token from an issuer key (DEVELOPMENT AND TESTS ONLY).
    Token {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        institution: String,
        /// Comma-separated: submit, read, handle, operate.
        #[arg(long, default_value = "submit,read")]
        scope: String,
        #[arg(long, default_value = "eessi-switch-test-issuer")]
        issuer: String,
        #[arg(long, default_value = "eessi-switch")]
        audience: String,
        #[arg(long, default_value_t = 3600)]
        ttl_s: u64,
        #[arg(long, default_value = "dev")]
        subject: String,
    },
}

#[derive(Subcommand)]
pub enum BucCommand {
    /// Load every definition and report every problem; exit 1 if any.
    Check {
        #[arg(long, default_value = "buc-definitions")]
        definitions: PathBuf,
        #[arg(long, default_value = "sed-schemas")]
        schemas: PathBuf,
        #[arg(long = "version", default_value = "4.2")]
        versions: Vec<String>,
    },
    /// List the BUCs (a table, or JSON).
    List {
        #[arg(long, default_value = "buc-definitions")]
        definitions: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show one BUC: states, transitions, deadlines; or draw it.
    Show {
        buc: String,
        #[arg(long, default_value = "buc-definitions")]
        definitions: PathBuf,
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Print the catalogue page (docs/bucs.md).
    Catalogue {
        #[arg(long, default_value = "buc-definitions")]
        definitions: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ShowFormat {
    Text,
    Mermaid,
    Dot,
}

#[derive(Subcommand)]
pub enum DeadCommand {
    /// Through the API (`--url`/`EESSI_URL`, `--token`/`EESSI_TOKEN`), or the
    /// store of `--config`.
    List {
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        remote: crate::cli_api::Remote,
    },
    /// Publish it back to this access point's inbox (through the API, or with
    /// `--config` straight to the broker).
    Reinject {
        id: i64,
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        remote: crate::cli_api::Remote,
    },
}

/// The case commands ask a running switch's API (`--url`/`EESSI_URL`,
/// `--token`/`EESSI_TOKEN`); `show` and `list` can read a store directly with
/// `--config` instead.
#[derive(Subcommand)]
pub enum CaseCommand {
    /// Show one case: participants, documents, messages, deadlines, history.
    Show {
        case_id: String,
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        remote: crate::cli_api::Remote,
    },
    /// List cases, with the API's filters (one page; `--cursor` for the next).
    List {
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        remote: crate::cli_api::Remote,
        #[command(flatten)]
        filters: Box<crate::cli_api::CaseListArgs>,
    },
    /// What each Belgian participant may send in the case now.
    Actions {
        case_id: String,
        #[command(flatten)]
        remote: crate::cli_api::Remote,
    },
    /// Send a SED in the case (`POST /api/v1/documents`, the BUC's rules apply).
    Act {
        #[command(flatten)]
        act: crate::cli_api::ActArgs,
        #[command(flatten)]
        remote: crate::cli_api::Remote,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve { config } => serve(config).await.map(|_| 0),
        Command::Buc { command } => buc(command),
        // The store API is blocking (the PostgreSQL client runs its own runtime).
        Command::Case { command } => case(command).await,
        Command::Sign { key, cert, file } => {
            let signer = Signer::from_files(&key, &cert)?;
            let input =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let out = signing::sign(&input, &signer)?;
            use std::io::Write;
            std::io::stdout().write_all(&out)?;
            Ok(0)
        }
        Command::Verify { cert, file } => {
            let c = signing::registry::load_certificate(&cert)?;
            let input =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let doc = xml::parse(&input, &xml::XmlLimits::default())?;
            match signing::verify(&doc, &[c]) {
                Ok(()) => {
                    println!("OK");
                    Ok(0)
                }
                Err(e) => {
                    println!("FAIL: {e}");
                    Ok(1)
                }
            }
        }
        Command::Validate {
            sed,
            version,
            schemas,
            file,
        } => {
            let sed = SedType::parse(&sed)?;
            let version = SedVersion::parse(&version)?;
            let input =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let doc = xml::parse(&input, &xml::XmlLimits::default())?;
            match validate::validate_document(
                &validate::sed_schema_path(&schemas, &version, &sed),
                &doc,
            ) {
                Ok(()) => {
                    println!("{} validates", file.display());
                    Ok(0)
                }
                Err(validate::ValidateError::Invalid(vs)) => {
                    for v in vs {
                        println!("{}:{v}", file.display());
                    }
                    Ok(1)
                }
                Err(e) => bail!(e),
            }
        }
        Command::DeadLetters { command } => dead_letters(command).await,
        Command::Routing { command } => crate::cli_routing::routing(command),
        Command::Triage { command } => crate::cli_routing::triage_command(command).await,
        Command::Submit(args) => crate::cli_batch::run(args).await,
        Command::Token {
            key,
            institution,
            scope,
            issuer,
            audience,
            ttl_s,
            subject,
        } => {
            let pem = std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
            let now = chrono::Utc::now().timestamp().max(0) as u64;
            let claims = eessi_switch::api::auth::Claims {
                sub: subject,
                iss: issuer,
                aud: audience,
                exp: now + ttl_s,
                iat: now,
                inst: eessi_switch::ids::InstitutionId::parse(&institution)?.to_string(),
                scope: scope
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            println!(
                "{}",
                eessi_switch::api::auth::issue(&pem, &claims).map_err(anyhow::Error::msg)?
            );
            Ok(0)
        }
    }
}

fn buc(command: BucCommand) -> anyhow::Result<i32> {
    match command {
        BucCommand::Check {
            definitions,
            schemas,
            versions,
        } => {
            let versions = versions
                .iter()
                .map(|v| SedVersion::parse(v))
                .collect::<Result<Vec<_>, _>>()?;
            let (cat, mut problems) = Catalogue::load_unchecked(&definitions)?;
            problems.extend(cat.check(&schemas, &versions));
            if problems.is_empty() {
                let seds: std::collections::BTreeSet<_> =
                    cat.bucs.values().flat_map(|b| b.sed_types()).collect();
                println!(
                    "{} BUC definitions, {} subprocesses, {} SED types in use: no problems",
                    cat.bucs.len(),
                    cat.subprocess_titles.len(),
                    seds.len()
                );
                Ok(0)
            } else {
                for p in &problems {
                    println!("{p}");
                }
                println!("{} problem(s)", problems.len());
                Ok(1)
            }
        }
        BucCommand::List { definitions, json } => {
            let (cat, _) = Catalogue::load_unchecked(&definitions)?;
            let mut out = String::new();
            if json {
                let list: Vec<_> = cat
                    .bucs
                    .values()
                    .map(|d| {
                        serde_json::json!({
                            "buc": d.id.to_string(), "sector": d.sector, "title": d.title, "bilateral": d.bilateral,
                            "states": d.states.len(), "seds": d.sed_types().len(),
                        })
                    })
                    .collect();
                out = serde_json::to_string_pretty(&list)? + "\n";
            } else {
                use std::fmt::Write as _;
                let w = cat
                    .bucs
                    .keys()
                    .map(|b| b.as_str().len())
                    .max()
                    .unwrap_or(3)
                    .max(3);
                let _ = writeln!(
                    out,
                    "{:<w$} {:<6} {:>6} {:>5}  title",
                    "BUC", "sector", "states", "SEDs"
                );
                for d in cat.bucs.values() {
                    let _ = writeln!(
                        out,
                        "{:<w$} {:<6} {:>6} {:>5}  {}",
                        d.id.as_str(),
                        d.sector,
                        d.states.len(),
                        d.sed_types().len(),
                        d.title
                    );
                }
            }
            print_out(&out)
        }
        BucCommand::Show {
            buc,
            definitions,
            format,
        } => {
            let (cat, _) = Catalogue::load_unchecked(&definitions)?;
            let id = eessi_switch::ids::BucType::parse(&buc)?;
            let Some(def) = cat.get(&id) else {
                eprintln!("unknown BUC {id}");
                return Ok(1);
            };
            let text = match format {
                ShowFormat::Text => eessi_switch::buc::render::text(def),
                ShowFormat::Mermaid => eessi_switch::buc::render::mermaid(def),
                ShowFormat::Dot => eessi_switch::buc::render::dot(def),
            };
            print_out(&text)
        }
        BucCommand::Catalogue { definitions } => {
            let (cat, _) = Catalogue::load_unchecked(&definitions)?;
            print_out(&eessi_switch::buc::render::catalogue_markdown(&cat))
        }
    }
}

async fn dead_letters(command: DeadCommand) -> anyhow::Result<i32> {
    match command {
        DeadCommand::List {
            config: None,
            remote,
        } => crate::cli_api::dead_letters(&remote).await,
        DeadCommand::Reinject {
            id,
            config: None,
            remote,
        } => crate::cli_api::reinject(&remote, id).await,
        DeadCommand::List {
            config: Some(config),
            ..
        } => {
            let config = Config::load(&config)?;
            let list = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                Ok(
                    eessi_switch::store::open_with(&config.store_url, &config.store_options)?
                        .dead_letters(1000)?,
                )
            })
            .await??;
            let mut out = String::new();
            for d in list {
                out.push_str(&format!(
                    "{:>6} {} {} {} bytes={}{}\n",
                    d.id,
                    d.dead_at,
                    d.queue,
                    d.message_id.as_deref().unwrap_or("(no message id)"),
                    d.body.len(),
                    d.reinjected_at
                        .map(|r| format!(" reinjected {r}"))
                        .unwrap_or_default()
                ));
            }
            print_out(&out)
        }
        DeadCommand::Reinject {
            id,
            config: Some(config),
            ..
        } => {
            let config = Config::load(&config)?;
            let url = config
                .amqp_url
                .clone()
                .context("re-injecting needs [amqp] url in the configuration")?;
            let transport: Arc<dyn Transport> = Arc::new(
                eessi_switch::transport::amqp::AmqpTransport::connect_with(
                    &url,
                    config.amqp_tls.as_ref(),
                )
                .await?,
            );
            let sw = Arc::new(
                tokio::task::spawn_blocking(move || Switch::build(&config, transport)).await??,
            );
            eessi_switch::switch::deadletter::reinject(&sw, id).await?;
            println!(
                "dead letter {id} re-injected into {}",
                eessi_switch::transport::inbox_queue(sw.country.as_str())
            );
            Ok(0)
        }
    }
}

/// Print to stdout; a closed pipe (`| head`) ends the command quietly.
pub(crate) fn print_out(text: &str) -> anyhow::Result<i32> {
    use std::io::Write;
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => other.map(|_| 0).map_err(Into::into),
    }
}

async fn case(command: CaseCommand) -> anyhow::Result<i32> {
    match command {
        CaseCommand::Show {
            case_id,
            config: None,
            remote,
        } => crate::cli_api::case_show(&remote, &case_id).await,
        CaseCommand::List {
            config: None,
            remote,
            filters,
        } => crate::cli_api::case_list(&remote, &filters).await,
        CaseCommand::Actions { case_id, remote } => {
            crate::cli_api::case_actions(&remote, &case_id).await
        }
        CaseCommand::Act { act, remote } => crate::cli_api::case_act(&remote, &act).await,
        // The store API is blocking (the PostgreSQL client runs its own runtime).
        command => tokio::task::spawn_blocking(move || case_in_store(command)).await?,
    }
}

/// `case show|list --config`: the store read directly.
fn case_in_store(command: CaseCommand) -> anyhow::Result<i32> {
    match command {
        CaseCommand::Show {
            case_id,
            config: Some(config),
            remote,
        } => {
            let config = Config::load(&config)?;
            let store = eessi_switch::store::open_with(&config.store_url, &config.store_options)?;
            let id = CaseId::parse(&case_id)?;
            match store.case_detail(&id)? {
                Some(d) => {
                    if remote.json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&eessi_switch::api::dto::CaseDto::from(
                                &d
                            ))?
                        );
                    } else {
                        print!("{}", eessi_switch::report::timeline(&d));
                    }
                    Ok(0)
                }
                None => {
                    eprintln!("case {id} not found");
                    Ok(1)
                }
            }
        }
        CaseCommand::List {
            config: Some(config),
            remote,
            filters,
        } => {
            let config = Config::load(&config)?;
            // The API's own reading of the filters: the same issues, the same query.
            let filter = match eessi_switch::api::cases::filter(
                &filters.query(),
                config.bounds.case_page_max,
                chrono::Utc::now(),
            ) {
                Ok(f) => f,
                Err(issues) => {
                    for i in issues {
                        eprintln!("--{}: {}", i.name, i.detail);
                    }
                    return Ok(1);
                }
            };
            let store = eessi_switch::store::open_with(&config.store_url, &config.store_options)?;
            let cases = store.cases(&filter)?;
            if remote.json {
                let dto: Vec<_> = cases
                    .iter()
                    .map(|(c, p)| eessi_switch::api::dto::CaseSummary::new(c, p))
                    .collect();
                println!("{}", serde_json::to_string(&dto)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = cases
                .iter()
                .map(|(c, parts)| {
                    let who: Vec<String> = parts
                        .iter()
                        .map(|p| format!("{} ({})", p.institution, p.role))
                        .collect();
                    vec![
                        c.case_id.to_string(),
                        c.buc.to_string(),
                        c.state.clone(),
                        c.status.to_string(),
                        c.updated_at.clone(),
                        who.join(", "),
                    ]
                })
                .collect();
            let mut out = crate::cli_api::table(
                &["CASE", "BUC", "STATE", "STATUS", "UPDATED", "PARTICIPANTS"],
                &rows,
            );
            if cases.len() == filter.limit as usize
                && let Some((last, _)) = cases.last()
            {
                let next = eessi_switch::store::CaseCursor::after(last, filter.sort);
                out.push_str(&format!("more: --cursor {}\n", next.encode()));
            }
            print_out(&out)
        }
        _ => bail!("only case show and case list read a store (--config)"),
    }
}

async fn serve(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let url = config
        .amqp_url
        .clone()
        .context("serve needs [amqp] url in the configuration")?;
    let transport: Arc<dyn Transport> = Arc::new(
        eessi_switch::transport::amqp::AmqpTransport::connect_with(&url, config.amqp_tls.as_ref())
            .await?,
    );
    let sw = Arc::new(Switch::build(&config, transport)?);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut http = None;
    if let Some(listen) = &config.http_listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        tracing::info!(%listen, tls = config.http.tls.is_some(), "HTTP API listening");
        let auth = match &config.auth {
            Some(a) => Some(eessi_switch::api::auth::Auth::new(
                &a.public_key,
                &a.issuer,
                &a.audience,
                a.max_lifetime_s,
            )?),
            None => {
                tracing::warn!(
                    "authentication is OFF: no [auth] in the configuration; every caller may do everything (development only)"
                );
                None
            }
        };
        let edge = Arc::new(eessi_switch::api::edge::HttpEdge::new(
            config.http.clone(),
            config.body_bytes_max,
        ));
        let tls = match &config.http.tls {
            Some(t) => {
                Some(eessi_switch::api::server::tls_acceptor(t).map_err(|e| anyhow::anyhow!(e))?)
            }
            None => None,
        };
        let app = eessi_switch::api::router(sw.clone(), auth, edge.clone());
        http = Some(tokio::spawn(eessi_switch::api::server::serve(
            listener,
            app,
            edge,
            tls,
            shutdown_rx.clone(),
        )));
    }
    tracing::info!(country = %sw.country, transport = %sw.transport.describe(), "access point starting");
    let mut runner_handle = tokio::spawn(sw.clone().run(config.amqp_prefetch, shutdown_rx));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // The HTTP server is supervised too: if it ends, the process exits non-zero.
    let http_ended = async {
        match http.as_mut() {
            Some(h) => {
                let r = h.await;
                r.err().map(|e| e.to_string()).unwrap_or_default()
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        r = &mut runner_handle => {
            r??;
            bail!("the access point stopped");
        }
        why = http_ended => {
            sw.supervisor.down(format!("the HTTP API stopped {why}"));
            let _ = shutdown_tx.send(true);
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(config.shutdown_grace_ms),
                runner_handle,
            )
            .await;
            bail!("the HTTP API stopped {why}");
        }
    }
    tracing::info!(
        "shutting down: no new deliveries; finishing those in hand and flushing the outbox"
    );
    let _ = shutdown_tx.send(true);
    match tokio::time::timeout(
        std::time::Duration::from_millis(config.shutdown_grace_ms),
        runner_handle,
    )
    .await
    {
        Ok(_) => tracing::info!("stopped cleanly"),
        // Whatever is unfinished is uncommitted or unacked: the broker redelivers
        // it and the outbox keeps it; nothing is lost.
        Err(_) => tracing::warn!(
            grace_ms = config.shutdown_grace_ms,
            "shutdown bound reached; exiting with work in flight"
        ),
    }
    if let Some(h) = http {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), h).await;
    }
    Ok(())
}
