#!/usr/bin/env bash
# Instructions the sidecar executes (every thread, valgrind's callgrind) in one run of
# scripts/bench_pipeline.sh: a count that does not depend on what else the machine is doing,
# for A/B comparisons on a shared machine. Use a 100,000-line file (callgrind runs ~50x slower).
#   [SOURCE=file|forward] [FORWARD_BARE=1] scripts/bench_instructions.sh LINES_FILE SIDECAR_BINARY
set -euo pipefail
FILE="$1"
BIN="$(realpath "$2")"
WORK=$(mktemp -d)
# removed however the script ends (a reader that stops early, `| head -1`, ends it with
# SIGPIPE): each run leaves a copy of the workload's output otherwise
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/sidecar" <<SH
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" "$BIN" "\$@"
SH
chmod +x "$WORK/sidecar"
"$(dirname "$0")/bench_pipeline.sh" "$FILE" "$WORK/sidecar" | grep -v lines_per_cpu_s || true
TOTAL=$(callgrind_annotate "$WORK/callgrind.out" 2>/dev/null | awk '/PROGRAM TOTALS/{print $1}')
LINES=$(wc -l < "$FILE")
echo "lines=$LINES instructions=$TOTAL per_line=$(( ${TOTAL//,/} / LINES ))"
