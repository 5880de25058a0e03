#!/usr/bin/env bash
# schemathesis over the whole OpenAPI document against the running binary, seeded with real ids:
# no answer may be a 5xx, and every answer must be one the document lists, with its content type
# and schema.
#
#   tests/fuzz/run.sh [postgres-admin-url]    (FUZZ_SECONDS bounds the run, default 150)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/client/server.sh

VENV="${FUZZ_VENV:-/tmp/et-fuzz-venv}"
# Pinned: a new schemathesis may check more; move the pin on purpose.
venv_with "$VENV" "schemathesis==4.32.5" requests

start_server "${1:-}"
BASE_URL="$BASE_URL" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  "$VENV/bin/python" tests/fuzz/seed.py >"$SERVER_DIR/ids.sh"
. "$SERVER_DIR/ids.sh"

DB="$([ -n "${1:-}" ] && echo postgres || echo sqlite)"
REPORT="${FUZZ_REPORT_DIR:-ci-artifacts/schemathesis}/$DB"
mkdir -p "$REPORT"
status=0
# hypothesis keeps its files with the server's, not in the work tree.
export HYPOTHESIS_STORAGE_DIRECTORY="$SERVER_DIR/hypothesis"
# One worker: Python 3.11's ast module is not thread-safe, and hypothesis uses it while
# generating ("AST constructor recursion depth mismatch" with two).
"$VENV/bin/schemathesis" --config-file "${FUZZ_CONFIG:-tests/fuzz/schemathesis.toml}" run openapi/openapi.json \
  --url "$BASE_URL" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-time "${FUZZ_SECONDS:-150}" --workers 1 --seed "${FUZZ_SEED:-1}" \
  --report "${FUZZ_REPORTS:-junit}" --report-dir "$REPORT" \
  --no-color &
CHECK_PID=$!
wait "$CHECK_PID" || status=$?
CHECK_PID=
if grep -q "panicked" "$SERVER_DIR/server.log"; then
  echo "the server panicked:"; grep -B2 -A5 "panicked" "$SERVER_DIR/server.log" | head -50
  status=1
fi
exit $status
