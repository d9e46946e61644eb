//! The `eessi-switch` binary: parse the command line, set up logging, run.

mod cli;

use clap::Parser;

#[tokio::main]
async fn main() {
    eessi_switch::logging::init();
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
