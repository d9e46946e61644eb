//! `eessi-harness`: the demo, the benchmark and the fault test. Not the product:
//! built only with the `harness` feature; each runs `eessi-switch` (the binary
//! beside this one) or the library in-process.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "eessi-harness",
    version,
    about = "Harnesses for eessi-switch: demo, bench, chaos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scripted exchange between BE, NL and DE access points.
    Demo {
        /// Go over RabbitMQ at this URL; without it, over an in-process transport.
        #[arg(long)]
        amqp: Option<String>,
        /// After the script, leave one more request from NL waiting for BE:ONSS's
        /// answer and serve BE's web pages and API at this address (no sign-in:
        /// development only) until Ctrl-C, to try the case handlers' pages on the
        /// demo's data.
        #[arg(long)]
        serve: Option<String>,
    },
    /// Measure the switch against this machine's RSA-2048 signing ceiling: outbound
    /// half, latency at half its rate, whole path (see docs/performance.md). Runs
    /// the `eessi-switch` release binary beside this one on the local RabbitMQ.
    Bench {
        /// Concurrent national clients (HTTP connections).
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// SEDs in the measured outbound phase.
        #[arg(long, default_value_t = 3000)]
        seds: u64,
        /// SEDs submitted before measuring (not measured).
        #[arg(long, default_value_t = 300)]
        warmup: u64,
        /// Seconds of the paced latency run at half the outbound rate.
        #[arg(long, default_value_t = 10.0)]
        latency_seconds: f64,
        /// SEDs in the measured whole-path phase (BE -> NL -> receipt).
        #[arg(long, default_value_t = 2000)]
        whole_seds: u64,
        /// Preload this many stored cases into BE's store first.
        #[arg(long, default_value_t = 0)]
        cases: u64,
        /// BE on PostgreSQL: a fresh database on this server (URL of a database
        /// to administer from, e.g. postgres://postgres@127.0.0.1:5432/postgres).
        #[arg(long)]
        postgres: Option<String>,
        /// BE serve processes sharing the load (2 needs --postgres).
        #[arg(long, default_value_t = 1)]
        instances: usize,
        /// Also run ../shared/bench/python-sendpath/run.sh with this many messages.
        #[arg(long, num_args = 0..=1, default_missing_value = "2000")]
        python: Option<u64>,
        /// Seconds of `openssl speed` for the ceiling.
        #[arg(long, default_value_t = 5)]
        ceiling_seconds: u64,
        /// Skip the single-thread stage measurements.
        #[arg(long)]
        no_stages: bool,
        /// Share of hostile messages (bad signatures, oversize, malformed) in a
        /// second whole-path run; 0 skips it.
        #[arg(long, default_value_t = 0.1)]
        hostile_share: f64,
        /// Items per request in a run through the batch channel (as many items as
        /// --seds, as `eessi-switch submit --batch` sends them); 0 skips it.
        #[arg(long, default_value_t = 100)]
        batch_chunk: u64,
        /// Only the case list: preload --cases stored cases (varied), then
        /// measure each filter's first and a deep page (p50/p99).
        #[arg(long)]
        search: bool,
    },
    /// The fault test: two BE instances on PostgreSQL and NL exchange SEDs while
    /// processes are killed, RabbitMQ restarts and database connections drop.
    Chaos {
        #[arg(long, default_value_t = 5000)]
        seds: usize,
        #[arg(long, default_value_t = 5)]
        kills: usize,
        #[arg(long, default_value_t = 10)]
        per_case: usize,
        #[arg(long, default_value_t = 16)]
        workers: usize,
    },
}

async fn run(cli: Cli) -> Result<i32, String> {
    use eessi_switch::harness::{bench, chaos, demo};
    match cli.command {
        Command::Demo { amqp, serve } => demo::run(amqp, serve).await.map(|()| 0),
        Command::Bench {
            clients,
            seds,
            warmup,
            latency_seconds,
            whole_seds,
            cases,
            postgres,
            instances,
            python,
            ceiling_seconds,
            no_stages,
            hostile_share,
            batch_chunk,
            search,
        } => bench::run(bench::BenchOptions {
            clients,
            seds,
            warmup,
            latency_seconds,
            whole_seds,
            cases,
            postgres,
            instances,
            python,
            ceiling_seconds,
            stages: !no_stages,
            hostile_share,
            batch_chunk,
            search,
        })
        .await
        .map(|()| 0),
        Command::Chaos {
            seds,
            kills,
            per_case,
            workers,
        } => {
            let ok = chaos::run(chaos::ChaosOptions {
                seds,
                kills,
                per_case,
                workers,
            })
            .await?;
            Ok(if ok { 0 } else { 1 })
        }
    }
}

#[tokio::main]
async fn main() {
    // As `eessi-switch` does: libxml2 allocates from mimalloc (the stage benchmarks
    // measure what `serve` runs).
    if !eessi_switch::sed::xml::libxml2_uses_mimalloc() {
        eprintln!("warning: libxml2 keeps the system allocator");
    }
    if let Err(e) = eessi_switch::logging::init() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let code = match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    };
    std::process::exit(code);
}
