#!/usr/bin/env bash
# Runs a command against the project's own AWS emulator: moto behind the CloudWatch protocol
# gateway the end-to-end tests use (tests/emulator/gateway.py), on a free loopback port.
#
#   scripts/emulator.sh COMMAND [ARGS...]
#
# COMMAND gets AWS_ENDPOINT_URL, a region and fake credentials that reach only the emulator
# (the same settings as tests/src/emulator.rs; nothing of ~/.aws is read). On a terminal the
# emulator then stays up with what COMMAND wrote, in a shell with those settings, so the AWS
# CLI commands the demo prints can be run there; leaving that shell stops it. Without a
# terminal it stops when COMMAND ends. The exit code is COMMAND's. AISTUDIO_EMULATOR_LOG=FILE
# keeps the emulator's request log in FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: scripts/emulator.sh COMMAND [ARGS...]" >&2; exit 2; }

PYTHON="${AISTUDIO_PYTHON:-python3}"
if ! "$PYTHON" -c 'import moto, cbor2, werkzeug' 2>/dev/null || ! command -v aws >/dev/null; then
  echo "== installing the AWS emulator and the AWS CLI from PyPI (tests/emulator/requirements.txt)"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -r tests/emulator/requirements.txt
fi
# pip may put console scripts (aws) in a user or pyenv bin dir.
PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

# The gateway prints `READY <port>` and exits when its stdin closes: the coprocess's pipes
# hold it for as long as this script runs. Its request log goes to a file.
EMULATOR_LOG="${AISTUDIO_EMULATOR_LOG:-$(mktemp "${TMPDIR:-/tmp}/aistudio-emulator.XXXXXX")}"
coproc EMULATOR { EMULATOR_PORT=0 exec "$PYTHON" tests/emulator/gateway.py 2>"$EMULATOR_LOG"; }
EMULATOR_IN="${EMULATOR[1]}"
stop_emulator() {
  exec {EMULATOR_IN}>&- 2>/dev/null || true
  wait "$EMULATOR_PID" 2>/dev/null || true
  [ -n "${AISTUDIO_EMULATOR_LOG:-}" ] || rm -f "$EMULATOR_LOG"
}
trap stop_emulator EXIT
if ! read -r ready port <&"${EMULATOR[0]}" || [ "$ready" != READY ]; then
  echo "the AWS emulator did not start:" >&2
  cat "$EMULATOR_LOG" >&2
  exit 1
fi

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "AWS emulator at $AWS_ENDPOINT_URL (moto, region $AWS_REGION, fake credentials)"

status=0
"$@" || status=$?

if [ -t 0 ] && [ -t 1 ]; then
  echo
  echo "The emulator is still running with this run's logs, metrics and alarms. This is a shell"
  echo "with its settings: the aws commands above work here. Leave it (exit or Ctrl-D) to stop it."
  "${SHELL:-/bin/bash}" -i || true
fi
exit "$status"
