#!/usr/bin/env bash
# The demo (README "The two commands"): builds the server, the sidecar and the traffic
# generator, then runs `aistudio-demo`, which starts the server on simulated providers, the
# sidecar tailing its log files, and a mix of traffic (successful, slow and failing streams,
# rate-limited and unauthorized requests, application lines carrying e-mails, phone numbers,
# cards and keys), shows a live summary, stops both with SIGTERM and writes everything to ./out:
#
#   out/logs.ndjson      redacted log lines        out/metrics.ndjson   metric datums
#   out/provision/       rendered dashboards, alarms and SNS topics
#   out/report.md        what happened             out/summary.json     the same numbers
#
# With AWS_ENDPOINT_URL (or real AWS credentials) set, the sidecar ships the logs to CloudWatch
# Logs and the metrics to CloudWatch instead. Extra arguments go to aistudio-demo, e.g.
#   scripts/demo.sh --duration 60 --rate 10
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p server --bin aistudio-server -p daemon --bin aistudio-sidecar \
  -p demo --bin aistudio-demo
exec target/release/aistudio-demo --out "${OUT:-out}" --definitions . "$@"
