#!/usr/bin/env bash
# The demo (README "Run the demo"): the streaming server on the simulated provider, the
# sidecar tailing its log file, a little traffic (some of it carrying personal data), then a
# clean stop. Everything lands in ./out. With AWS_ENDPOINT_URL (or real credentials) set, the
# sidecar ships to CloudWatch Logs instead of ./out/sidecar/logs.ndjson.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/out}"
rm -rf "$OUT" && mkdir -p "$OUT/sidecar"
cargo build --release -p server -p daemon --bins
BIN=target/release

PORT="${PORT:-3000}" METRICS_PORT="${METRICS_PORT:-9464}" LOG_FILE="$OUT/server.log" \
  "$BIN/aistudio-server" --dev-disable-auth 2> "$OUT/server.stderr" &
SERVER=$!
cat > "$OUT/sidecar.toml" <<TOML
data_dir = "$OUT/sidecar"
[[sources.file]]
include = ["$OUT/server.log*"]
TOML
"$BIN/aistudio-sidecar" run --config "$OUT/sidecar.toml" 2> "$OUT/sidecar.stderr" &
SIDECAR=$!
trap 'kill $SERVER $SIDECAR 2>/dev/null || true' EXIT

for _ in $(seq 100); do curl -sf "localhost:${PORT:-3000}/api/health" >/dev/null && break; sleep 0.1; done
for i in $(seq 1 8); do
  curl -sN "localhost:${PORT:-3000}/v1/chat/completions" -H 'content-type: application/json' \
    -H "x-request-id: demo-$i" \
    -d "{\"model\":\"gpt-4o\",\"stream\":true,\"user\":\"user$i@example.com\",\"messages\":[{\"role\":\"user\",\"content\":\"call me at +1 415 555 010$i\"}]}" >/dev/null || true
done
curl -s "localhost:${PORT:-3000}/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}' >/dev/null || true
echo "{\"level\":\"error\",\"event\":\"demo.leak\",\"message\":\"card 4111 1111 1111 1111 for bob@example.com\",\"apiKey\":\"sk-proj-demoDEMOdemoDEMOdemo1234\"}" >> "$OUT/server.log"

sleep 2   # let the sidecar's 250 ms poll and 1 s batch pass before stopping
kill -TERM "$SERVER"; wait "$SERVER" || true
kill -TERM "$SIDECAR"; wait "$SIDECAR" || true
trap - EXIT
echo
echo "server log lines:   $(wc -l < "$OUT/server.log")  ($OUT/server.log)"
if [ -f "$OUT/sidecar/logs.ndjson" ]; then
  echo "redacted lines:     $(wc -l < "$OUT/sidecar/logs.ndjson")  ($OUT/sidecar/logs.ndjson)"
  echo "example:            $(grep demo.leak "$OUT/sidecar/logs.ndjson" | head -1)"
else
  echo "redacted lines went to CloudWatch Logs (see $OUT/sidecar.stderr)"
fi
