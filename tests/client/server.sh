# Sourced by tests/client/run.sh and tests/fuzz/run.sh: start the compiled binary on a fresh data
# directory (and, with DATABASE_URL, a fresh PostgreSQL database), create the first admin the way
# the README says, and stop everything on exit.
#
# After `start_server`: BASE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, SERVER_DIR (data and server.log).

BIN="${BIN:-target/debug/engagement-tracker}"
ADMIN_EMAIL="admin@prime.example"
ADMIN_PASSWORD="a long enough password for the checks"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_server() {
  # A checker still running (the script was interrupted) goes first.
  if [ -n "${CHECK_PID:-}" ]; then kill "$CHECK_PID" 2>/dev/null || true; fi
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "${SERVER_DB:-}" ]; then
    psql "$PG_ADMIN_URL" -q -c "DROP DATABASE IF EXISTS $SERVER_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "${SERVER_DIR:-}" ] && [ -z "${KEEP_SERVER_DIR:-}" ]; then
    rm -rf "$SERVER_DIR"
  fi
}

# start_server [postgres-admin-url]: with a URL, the server runs on a new database on that server.
start_server() {
  [ -x "$BIN" ] || { echo "no binary at $BIN (run cargo test or cargo build first)" >&2; return 1; }
  SERVER_DIR="$(mktemp -d /tmp/et-check.XXXXXX)"
  trap stop_server EXIT
  # `timeout` and Ctrl-C stop the script through its EXIT trap, so the server stops too.
  trap 'exit 143' TERM INT
  local port
  port="$(free_port)"
  BASE_URL="http://127.0.0.1:$port"
  export DATA_DIR="$SERVER_DIR/data" BIND="127.0.0.1:$port" PUBLIC_BASE_URL="$BASE_URL"
  unset DATABASE_URL JWT_SECRET JWT_SECRET_FILE SMTP_URL
  if [ -n "${1:-}" ]; then
    PG_ADMIN_URL="$1"
    SERVER_DB="et_check_$$_$port"
    psql "$PG_ADMIN_URL" -q -c "CREATE DATABASE $SERVER_DB" >/dev/null
    export DATABASE_URL="${PG_ADMIN_URL%/*}/$SERVER_DB"
  fi
  # The first admin, password on standard input (this also creates the schema).
  printf '%s\n' "$ADMIN_PASSWORD" |
    "$BIN" user create --email "$ADMIN_EMAIL" --org "Prime KK" --role admin >"$SERVER_DIR/user.log" 2>&1 ||
    { cat "$SERVER_DIR/user.log" >&2; return 1; }
  "$BIN" serve >"$SERVER_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$BASE_URL/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "the server did not become ready; its log:" >&2
  cat "$SERVER_DIR/server.log" >&2
  return 1
}

# A Python virtual environment under /tmp with the named PyPI packages (reused when present).
venv_with() {
  local venv="$1"; shift
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}
