//! The one shutdown signal: SIGTERM (ECS stop) or Ctrl-C resolves a future.

use std::future::Future;

/// Installs the SIGTERM and SIGINT handlers now (so a signal arriving during start-up is not
/// fatal) and returns a future that resolves on the first of them. If a handler cannot be
/// installed the failure is reported on stderr and that signal is not awaited.
pub fn signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(stream) => Some(stream),
            Err(err) => {
                eprintln!("aistudio-sidecar: cannot listen for SIGTERM: {err}");
                None
            }
        };
    #[cfg(unix)]
    let mut interrupt =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
            Ok(stream) => Some(stream),
            Err(err) => {
                eprintln!("aistudio-sidecar: cannot listen for Ctrl-C: {err}");
                None
            }
        };
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match terminate.as_mut() {
                    Some(stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match interrupt.as_mut() {
                    Some(stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = term => {},
                () = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
