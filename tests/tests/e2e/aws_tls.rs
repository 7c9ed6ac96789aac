//! The AWS clients speak TLS for real: the SDK crates are built without their default HTTP
//! client, and every client gets `aistudio_core::aws::https_client` (rustls with ring, the
//! system's roots). The emulator is plain HTTP, so this is the test that the shipped binary can
//! reach an HTTPS endpoint at all, verifies its certificate, and trusts what the system trusts
//! (`SSL_CERT_FILE`, as on a container with a private CA).

use std::process::Command;
use std::time::Duration;

use tests::sidecar::Workspace;
use tests::sns::{CertServer, TestPki};

const LIMIT: Duration = Duration::from_secs(120);

/// Runs `provision plan` against `endpoint` and returns (exit code, stderr).
fn plan_against(endpoint: &str, ca_file: Option<&std::path::Path>) -> (Option<i32>, String) {
    let mut cmd = Command::new(tests::binary("e2e-aistudio-sidecar"));
    cmd.args(["provision", "plan", "--env", "dev"])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDTLSTEST")
        .env("AWS_SECRET_ACCESS_KEY", "tls-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("SSL_CERT_DIR");
    match ca_file {
        Some(path) => cmd.env("SSL_CERT_FILE", path),
        // only the system's roots, which do not hold the test CA
        None => cmd.env_remove("SSL_CERT_FILE"),
    };
    let started = std::time::Instant::now();
    let out = cmd.output().expect("run the sidecar");
    assert!(
        started.elapsed() < LIMIT,
        "provision plan took {:?}",
        started.elapsed()
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_verified_against_the_systems_roots() {
    let ws = Workspace::new();
    let pki = TestPki::new().expect("test PKI");
    let server = CertServer::start(&pki).await.expect("https server");
    let endpoint = format!("https://localhost:{}", server.port);

    // a CA the system does not trust: the handshake fails on the certificate, nothing is sent
    let (code, stderr) = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        move || plan_against(&endpoint, None)
    })
    .await
    .expect("join");
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("UnknownIssuer"),
        "expected a certificate error: {stderr}"
    );
    assert!(server.visits().is_empty(), "{:?}", server.visits());

    // the same CA trusted through SSL_CERT_FILE: the request arrives over TLS
    let dir = ws.path("pki");
    std::fs::create_dir(&dir).expect("pki dir");
    let ca = pki.write_ca(&dir).expect("write the CA");
    let (_, stderr) = tokio::task::spawn_blocking(move || plan_against(&endpoint, Some(&ca)))
        .await
        .expect("join");
    assert!(!stderr.contains("certificate"), "{stderr}");
    assert!(
        !server.visits().is_empty(),
        "no request reached the HTTPS endpoint: {stderr}"
    );
}
