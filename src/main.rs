//! The `eessi-switch` binary: parse the command line, set up logging, run.

mod cli;
mod cli_api;
mod cli_batch;
mod cli_routing;

use clap::Parser;

/// See Cargo.toml: the switch's own allocations cost less with mimalloc than with
/// glibc's malloc (C libraries such as libxml2 keep the system allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // Before anything parses XML: libxml2 allocates from mimalloc too.
    if !eessi_switch::sed::xml::libxml2_uses_mimalloc() {
        eprintln!("warning: libxml2 keeps the system allocator");
    }
    if let Err(e) = eessi_switch::logging::init() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let cli = cli::Cli::parse();
    let code = match cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
