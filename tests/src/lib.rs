//! End-to-end harness: starts the AWS emulator and the real binaries for the tests in `tests/`.

pub mod emulator;
pub mod server_harness;
pub mod sidecar;
pub mod sns;

/// The repository root (the workspace this crate lives in).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from(".."))
}

/// Path of one of this package's binaries under test (`e2e-aistudio-sidecar`,
/// `e2e-aistudio-server`, `e2e-aistudio-demo`: the real `main`s, see `tests/Cargo.toml`).
/// Cargo builds a package's binaries before its integration tests run, into the profile
/// folder that holds the test executable's `deps/`.
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("a test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test -p tests`, which builds it",
        bin.display()
    );
    bin
}

/// Runs the Python client `tests/clients/<script>` (a real third-party client library driven
/// by a small script) with `args`, and returns the JSON it printed; fails the test with its
/// output when it fails.
pub fn python_client(script: &str, args: &[&str]) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .expect("python3 runs the client scripts (scripts/test.sh installs their packages)");
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}): {} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the client script prints JSON")
}
