//! `aistudio-demo`: see the crate docs in `lib.rs`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = demo::Options::parse();
    match demo::run(options).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aistudio-demo: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
