#!/usr/bin/env bash
# Runs a command with an S3-compatible server on loopback: moto_server (PyPI `moto[server]`, in
# its own venv) on a free port of 127.0.0.1, with the bucket `et-test` created, and
# TEST_S3_ENDPOINT / TEST_S3_BUCKET exported for the tests. The server stops with the command.
#
#   tests/s3/with-moto.sh cargo test --test api files
set -euo pipefail

VENV="${MOTO_VENV:-/tmp/ci-venv-moto}"
if [ ! -x "$VENV/bin/moto_server" ]; then
  python3 -m venv "$VENV" >/dev/null
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
fi

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
LOG="$(mktemp /tmp/moto.XXXXXX.log)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT

export TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"
export TEST_S3_BUCKET="et-test"
request() { # METHOD URL: succeeds on a 2xx answer
  python3 - "$1" "$2" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[2], method=sys.argv[1]), timeout=5)
PY
}
for _ in $(seq 1 100); do
  request GET "$TEST_S3_ENDPOINT/" 2>/dev/null && break
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then cat "$LOG"; exit 1; fi
  sleep 0.2
done
# moto accepts an unsigned request; the tests' own requests are signed.
request PUT "$TEST_S3_ENDPOINT/$TEST_S3_BUCKET"
echo "moto_server on $TEST_S3_ENDPOINT, bucket $TEST_S3_BUCKET"
"$@"
