//! `aistudio-sidecar`: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = daemon::cli::Cli::parse();
    daemon::cli::execute(cli).await
}
