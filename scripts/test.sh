#!/usr/bin/env bash
# The one test command (README "Run the tests"; .ci/run calls exactly this).
# Installs what the tests need when it is missing, then checks formatting and lints and runs
# every test of the workspace, the end-to-end tests against the AWS emulator included.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${AISTUDIO_PYTHON:-python3}"

# Python side of the harness: moto (the AWS emulator), cbor2 (our CloudWatch protocol
# gateway), the AWS CLI (the independent client that checks our writes), openai (the
# official client the streaming server is tested with), fluent-logger and msgpack (the
# forward clients of the fluent source), the OpenTelemetry SDK and its OTLP/HTTP exporter.
if ! "$PYTHON" -c 'import moto, cbor2, werkzeug, openai, prometheus_client, fluent.sender, msgpack, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http' 2>/dev/null || ! command -v aws >/dev/null; then
  echo "== installing test tools from PyPI"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check \
    -r tests/emulator/requirements.txt 'openai>=1.40,<3' 'prometheus_client>=0.20,<1' \
    'fluent-logger>=0.11,<1' 'msgpack>=1,<2' 'opentelemetry-sdk>=1.25,<2' 'opentelemetry-exporter-otlp-proto-http>=1.25,<2'
fi
# pip may put console scripts (aws) in a user or pyenv bin dir.
PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
if command -v pyenv >/dev/null 2>&1; then pyenv rehash 2>/dev/null || true; fi
export PATH

# Debian's chromium for the dashboard previews' browser test (aistudio-preview, tests/browser.rs).
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi

for tool in cargo rustfmt; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install Rust with rustup (https://rustup.rs)"; exit 1; }
done
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# A run from a clean tree gains nothing from incremental caches (they are for editing and
# rebuilding one crate), which cost time and disk: `target/incremental` was GBs of the suite's.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --all-targets --locked
