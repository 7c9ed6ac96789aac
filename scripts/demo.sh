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
# Logs and the metrics to CloudWatch instead, and the demo prints the AWS CLI commands that
# read them back.
#
#   scripts/demo.sh --emulator   the CloudWatch side without an account: starts the project's
#                                AWS emulator (scripts/emulator.sh), runs the demo against it,
#                                applies the dashboards, alarms and SNS topics there
#                                (provision apply) and prints the AWS CLI commands that read
#                                logs, metrics and alarm states back; on a terminal it then
#                                leaves you in a shell where those commands work.
#
# Extra arguments go to aistudio-demo, e.g.
#   scripts/demo.sh --duration 60 --rate 10
set -euo pipefail
cd "$(dirname "$0")/.."
emulator=""
if [ "${1:-}" = "--emulator" ]; then
  emulator=1
  shift
fi
# The `demo` profile (Cargo.toml): optimised at level 1, no debug info, quicker to build than
# `--release` (README: the measured times); the images and the benchmarks use their own.
cargo build --profile demo -p server --bin aistudio-server -p daemon --bin aistudio-sidecar \
  -p demo --bin aistudio-demo
bin="${CARGO_TARGET_DIR:-target}/demo"
if [ -n "$emulator" ]; then
  # The emulator has no load balancer to look up: its dimension values are given as CloudWatch
  # writes them (the alarms on them stay INSUFFICIENT_DATA).
  exec scripts/emulator.sh "$bin/aistudio-demo" --out "${OUT:-out}" --definitions . \
    --apply --load-balancer app/aistudio-emulator-alb/0123456789abcdef \
    --target-group targetgroup/aistudio-emulator-tg/0123456789abcdef "$@"
fi
exec "$bin/aistudio-demo" --out "${OUT:-out}" --definitions . "$@"
