//! End-to-end harness: starts the AWS emulator and the real binaries for the tests in `tests/`.

pub mod emulator;
pub mod server_harness;
pub mod sidecar;
