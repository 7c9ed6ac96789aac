#!/usr/bin/env bash
# Whole-process pipeline benchmark on W1 (scripts/gen_workload.py): the sidecar tails the
# workload file, redacts it and writes it to a local file (or, with AWS_ENDPOINT_URL set, ships
# it to CloudWatch Logs), and is stopped with SIGTERM once every line is acknowledged.
# Prints lines per CPU-second (user + sys) and peak RSS from /usr/bin/time -v.
# SOURCE=forward: the same lines arrive instead as Fluent forward PackedForward chunks
# (scripts/forward_w1.py, FireLens-style records) on the fluent source's TCP port.
# OUT_COPY=PATH keeps the file sink's output there (to compare what two runs shipped).
#   [SOURCE=file|forward] scripts/bench_pipeline.sh [W1_FILE] [SIDECAR_BINARY]
set -euo pipefail
W1="${1:-/tmp/w1.ndjson}"
BIN="${2:-target/release/aistudio-sidecar}"
[ -f "$W1" ] || python3 "$(dirname "$0")/gen_workload.py" 1000000 7 > "$W1"
LINES=$(wc -l < "$W1")
WORK=$(mktemp -d)
# removed however the script ends (a reader that stops early, `| head -1`, ends it with
# SIGPIPE): each run leaves a copy of the workload's output otherwise
trap 'rm -rf "$WORK"' EXIT
PORT=$((20000 + RANDOM % 10000))
SINK='[sinks.file]
path = "'"$WORK"'/out/logs.ndjson"
max_bytes = 100000000000'
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  SINK='[sinks.cloudwatch_logs]
log_group = "/aws/ecs/aistudio-bench-'"$PORT"'"
log_stream = "bench"'
fi
FORWARD_PORT=$((PORT + 1))
if [ "${SOURCE:-file}" = forward ]; then
  SOURCE_TOML='[sources.fluent]
address = "127.0.0.1:'"$FORWARD_PORT"'"'
else
  SOURCE_TOML='[[sources.file]]
include = ["'"$W1"'"]'
fi
cat > "$WORK/sidecar.toml" <<TOML
data_dir = "$WORK/data"
$SOURCE_TOML
$SINK
${EXTRA_CONFIG:-}
[api]
address = "127.0.0.1:$PORT"
TOML
/usr/bin/time -v "$BIN" run --config "$WORK/sidecar.toml" 2> "$WORK/stderr" &
TIMEPID=$!
shipped() { curl -s "127.0.0.1:$PORT/metrics" | awk '/^aistudio_sidecar_events_shipped_total /{print $2}'; }
if [ "${SOURCE:-file}" = forward ]; then
  until [ -n "$(shipped)" ]; do sleep 0.1; done
  python3 "$(dirname "$0")/forward_w1.py" "$W1" "$FORWARD_PORT" &
fi
while [ "$(shipped || echo 0)" != "$LINES" ]; do sleep 0.2; done
METRICS=$(curl -s "127.0.0.1:$PORT/metrics")
BYTES=$(awk '/^aistudio_sidecar_bytes_shipped_total /{print $2}' <<< "$METRICS")
REQUESTS=$(awk '/^aistudio_sidecar_sink_requests_total /{print $2}' <<< "$METRICS")
pkill -TERM -P "$TIMEPID" aistudio-sidec || kill -TERM "$(pgrep -P "$TIMEPID")"
wait "$TIMEPID"
USER=$(awk -F': ' '/User time/{print $2}' "$WORK/stderr")
SYS=$(awk -F': ' '/System time/{print $2}' "$WORK/stderr")
RSS=$(awk -F': ' '/Maximum resident/{print $2}' "$WORK/stderr")
WALL=$(awk -F': ' '/Elapsed \(wall/{print $2}' "$WORK/stderr")
python3 - "$LINES" "$USER" "$SYS" "$RSS" "$WALL" <<'PY'
import sys
lines, user, sys_, rss, wall = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cpu = user + sys_
print(f"lines={lines} cpu_s={cpu:.2f} (user {user:.2f} + sys {sys_:.2f}) wall={wall} "
      f"lines_per_cpu_s={lines / cpu:,.0f} peak_rss_mb={rss / 1024:.1f}")
PY
if [ -f "$WORK/out/logs.ndjson" ]; then
  echo "lines out: $(wc -l < "$WORK/out/logs.ndjson")"
  if [ -n "${OUT_COPY:-}" ]; then cp "$WORK/out/logs.ndjson" "$OUT_COPY"; fi
fi
if [ "${REQUESTS:-0}" != "0" ]; then
  python3 -c "b,r=$BYTES,$REQUESTS; print(f'PutLogEvents calls={r:.0f} avg_batch_bytes={b/r:,.0f} fill={100*b/r/1048576:.1f}% of 1 MiB')"
fi
rm -rf "$WORK"
