//! `aistudio-sidecar`: parses the command line and hands over to the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// After the verb returns, threads still blocked (a tailer or a sink that a failed start-up
/// left behind, a write stuck on a dead disk) get this long before the process exits anyway:
/// the exit code must not wait on them.
const EXIT_GRACE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let cli = daemon::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("aistudio-sidecar: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(daemon::cli::execute(cli));
    runtime.shutdown_timeout(EXIT_GRACE);
    code
}
