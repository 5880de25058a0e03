#!/usr/bin/env bash
# The generated-client check: generate a Python client from openapi/openapi.json with
# openapi-python-client (any warning fails), then drive the running binary with it
# (flow.py: token → slots as CSV → a list imported as multipart → a document uploaded → the
# documents listed → steps). Fails as soon as the spec stops fitting generated clients.
#
#   tests/client/run.sh [postgres-admin-url]      (BIN=… picks the binary; default the debug one)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/client/server.sh

VENV="${CLIENT_VENV:-/tmp/et-client-venv}"
# Pinned: a new generator may read the spec differently; move the pin on purpose.
venv_with "$VENV" "openapi-python-client==0.29.1"

OUT="$(mktemp -d /tmp/et-client-gen.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
"$VENV/bin/openapi-python-client" generate --path openapi/openapi.json --meta none \
  --config tests/client/generator.yaml --output-path "$OUT/et_client" --fail-on-warning \
  >"$OUT/generate.log" 2>&1 || { cat "$OUT/generate.log"; echo "client generation failed"; exit 1; }
if grep -qi "warning" "$OUT/generate.log"; then
  cat "$OUT/generate.log"; echo "the generator warned about openapi/openapi.json"; exit 1
fi
# The generated code needs its own runtime dependencies (httpx, attrs, python-dateutil).
venv_with "$VENV" httpx attrs python-dateutil

start_server "${1:-}"
trap 'stop_server; rm -rf "$OUT"' EXIT
PYTHONPATH="$OUT" BASE_URL="$BASE_URL" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  "$VENV/bin/python" tests/client/flow.py
echo "generated client: ok"
