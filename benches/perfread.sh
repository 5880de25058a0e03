#!/usr/bin/env bash
# Read-path and bulk-write benchmark (issue 11), until `benches/run` covers it.
#
#   benches/perfread.sh prepare BIN sqlite|postgres          build the data set (demo-data 5000)
#   benches/perfread.sh reads   BIN BARE sqlite|postgres [secs]  wrk table, interleaved with BARE
#   benches/perfread.sh writes  BIN sqlite|postgres TAG       import 2,000 rows, assign 5,000
#
# BIN is a release build of engagement-tracker, BARE of `examples/bare.rs`. Each request runs
# with wrk (64 connections, 2 threads) between two runs of the bare one-row read, and its ratio
# is to the mean of those two: the machine is shared, so only ratios compare across runs.
# The data stay in $BENCH_DIR (default /tmp/et-bench) between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR="${BENCH_DIR:-/tmp/perfread-bench}"
PG="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
ADMIN_EMAIL="bench@prime.example"
ADMIN_PASSWORD="a long enough password for the bench"

env_for() { # backend → exports DATABASE_URL, DATA_DIR
  export DATA_DIR="$BENCH_DIR/$1"
  if [ "$1" = postgres ]; then
    export DATABASE_URL="${PG%/*}/${BENCH_DB:-perfread_bench}"
  else
    export DATABASE_URL="$DATA_DIR/bench.db"
  fi
  export JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ACCESS_TOKEN_TTL_SECS=86400
  export MAIL_WORKER=off RUST_LOG="${RUST_LOG:-warn}"
  unset SMTP_URL
}

prepare() {
  local bin=$1 backend=$2
  env_for "$backend"
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  if [ "$backend" = postgres ]; then
    psql "$PG" -q -c "DROP DATABASE IF EXISTS ${BENCH_DB:-perfread_bench} WITH (FORCE)" -c "CREATE DATABASE ${BENCH_DB:-perfread_bench}"
  fi
  local out prime
  out=$("$bin" demo-data --hospitals 5000)
  echo "$out" | head -1
  prime=$(echo "$out" | grep -- '--role admin' | sed 's/.*--org "\([^"]*\)".*/\1/')
  printf '%s\n' "$ADMIN_PASSWORD" |
    "$bin" user create --email "$ADMIN_EMAIL" --org "$prime" --role admin >/dev/null
}

PIDS=()
stop_all() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap stop_all EXIT

start_app() { # bin port
  BIND="127.0.0.1:$2" PUBLIC_BASE_URL="http://127.0.0.1:$2" "$1" serve >"$DATA_DIR/serve.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 150); do curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return 0; sleep 0.2; done
  cat "$DATA_DIR/serve.log"; return 1
}

start_bare() { # bin port
  BIND="127.0.0.1:$2" "$1" >"$DATA_DIR/bare.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$2/hello" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

token() { # port
  curl -fsS -X POST "http://127.0.0.1:$1/api/v1/auth/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# wrk URL [header] → "req/s p50_ms p99_ms non2xx"
measure() {
  local out
  out=$(wrk -t2 -c64 -d"${SECS}s" --latency ${2:+-H "$2"} "$1" 2>&1)
  python3 - "$out" <<'EOF'
import re, sys
t = sys.argv[1]
def ms(label):
    m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, t, re.M)
    if not m: return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print(f"{rps:.0f} {ms('50%'):.2f} {ms('99%'):.2f} {bad.group(1) if bad else 0}")
EOF
}

reads() {
  local bin=$1 bare=$2 backend=$3
  SECS=${4:-5}
  env_for "$backend"
  local app=18090 base=18091
  start_app "$bin" $app
  start_bare "$bare" $base
  local t h e
  t=$(token $app)
  local auth="Authorization: Bearer $t"
  # One engagement well into the pipeline, its hospital, a prefecture and stage with matches.
  read -r e h < <(curl -fsS -H "$auth" "http://127.0.0.1:$app/api/v1/engagements?prefecture=13&stage=hearing&limit=1" |
    python3 -c 'import json,sys; i=json.load(sys.stdin)["items"][0]; print(i["id"], i["hospital"]["id"])')
  local -a names=(
    "bare /hello" "GET /healthz" "GET /api/v1/me" "GET /api/v1/engagements/{id}"
    "GET /api/v1/hospitals/{id}" "GET /api/v1/engagements/{id}/timeline"
    "GET /api/v1/engagements?prefecture=13&stage=hearing&limit=50"
    "GET /api/v1/hospitals?prefecture=13&limit=50" "GET /api/v1/emails?limit=50"
    "GET /api/v1/dashboard/hospitals?prefecture=13&limit=50")
  local -a urls=(
    "http://127.0.0.1:$base/hello" "http://127.0.0.1:$app/healthz" "http://127.0.0.1:$app/api/v1/me"
    "http://127.0.0.1:$app/api/v1/engagements/$e" "http://127.0.0.1:$app/api/v1/hospitals/$h"
    "http://127.0.0.1:$app/api/v1/engagements/$e/timeline"
    "http://127.0.0.1:$app/api/v1/engagements?prefecture=13&stage=hearing&limit=50"
    "http://127.0.0.1:$app/api/v1/hospitals?prefecture=13&limit=50"
    "http://127.0.0.1:$app/api/v1/emails?limit=50"
    "http://127.0.0.1:$app/api/v1/dashboard/hospitals?prefecture=13&limit=50")
  local row="http://127.0.0.1:$base/row/$h"
  echo "| request ($backend) | req/s | p50 ms | p99 ms | ratio to bare one-row read | non-2xx |"
  echo "|---|---|---|---|---|---|"
  local prev
  prev=$(measure "$row")
  echo "| bare one-row read | ${prev% *} | | | 1 | |" | awk '{print}'
  for i in "${!names[@]}"; do
    local hdr=""
    case "${names[$i]}" in "GET /api"*) hdr="$auth" ;; esac
    local r next
    r=$(measure "${urls[$i]}" "$hdr")
    next=$(measure "$row")
    python3 - "${names[$i]}" "$r" "$prev" "$next" <<'EOF'
import sys
name, r, a, b = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
base = (float(a[0]) + float(b[0])) / 2
print(f"| {name} | {r[0]} | {r[1]} | {r[2]} | {float(r[0]) / base:.2f} (bare {base:.0f}) | {r[3]} |")
EOF
    prev=$next
  done
  stop_all
  PIDS=()
}

# A list of 2,000 new hospitals (district range from TAG, so that every run imports new ones).
list_csv() {
  python3 - "$1" <<'EOF'
import sys
tag = int(sys.argv[1])
def luhn(d):
    s = 0
    for i, c in enumerate(reversed(d)):
        x = int(c)
        if i % 2 == 0:
            x *= 2
            if x > 9: x -= 9
        s += x
    return (10 - s % 10) % 10
print("都道府県,医療機関コード,病院名,病床数,担当者1氏名,担当者1電話,担当者1メール,担当者2氏名,担当者2電話,担当者2メール")
for n in range(2000):
    nine = f"131{tag * 3 + n // 1000 + 60:02d}{n % 1000 + 1:04d}"
    print(f"東京都,{nine}{luhn(nine)},ベンチ病院{tag}-{n},{20 + n % 500},佐藤 一郎,03-0000-{n:04d},f{tag}x{n}@list.example,鈴木 次郎,03-1111-{n:04d},s{tag}x{n}@list.example")
EOF
}

writes() {
  local bin=$1 backend=$2 tag=$3
  env_for "$backend"
  local app=18090
  start_app "$bin" $app
  local t
  t=$(token $app)
  local csv="$DATA_DIR/list-$tag.csv"
  list_csv "$tag" >"$csv"
  local round
  round=$(curl -fsS -H "Authorization: Bearer $t" "http://127.0.0.1:$app/api/v1/rounds" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("items", d) if isinstance(d, dict) else d; print(d[0]["name"])')
  imp() {
    curl -sS -o "$DATA_DIR/import.json" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $t" \
      -F "file=@$csv" -F "round=$round" "http://127.0.0.1:$app/api/v1/imports"
  }
  echo "| write ($backend) | status | seconds |"
  echo "|---|---|---|"
  local org
  org=$(curl -fsS -H "Authorization: Bearer $t" "http://127.0.0.1:$app/api/v1/organizations?limit=200" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("items", d) if isinstance(d, dict) else d; print([o["id"] for o in d if o["kind"]=="subcontractor"][0])')
  local res
  res=$(curl -sS -o "$DATA_DIR/assign.json" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $t" \
    -H 'content-type: application/json' -d "{\"organization_id\":\"$org\",\"filter\":{\"round\":\"$round\",\"limit\":null}}" \
    "http://127.0.0.1:$app/api/v1/engagements/assign")
  echo "| assign $(python3 -c 'import json; print(json.load(open("'"$DATA_DIR/assign.json"'")).get("assigned"))') engagements by filter | ${res/ / | } |"
  echo "| import 2,000 new rows | $(imp | sed 's/ / | /') |"
  echo "| same list again (2,000 unchanged) | $(imp | sed 's/ / | /') |"
  stop_all
  PIDS=()
}

case "${1:-}" in
  prepare) prepare "$2" "$3" ;;
  reads) reads "$2" "$3" "$4" "${5:-5}" ;;
  writes) writes "$2" "$3" "$4" ;;
  *) sed -n 2,12p "$0"; exit 2 ;;
esac
