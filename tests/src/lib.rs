//! End-to-end harness: starts the AWS emulator and the real binaries for the tests in `tests/`.

pub mod emulator;
pub mod server_harness;
pub mod sidecar;

/// The repository root (the workspace this crate lives in).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from(".."))
}
