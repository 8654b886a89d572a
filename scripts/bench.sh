#!/usr/bin/env bash
# make bench: full issuances per second of acmegate (SQLite, then
# PostgreSQL) and of Debian's Pebble (always-valid and real http-01), run
# by cmd/acmebench on this machine, interleaved A B A B over several rounds
# at several concurrencies, summarised as a markdown table of medians with
# ratios to Pebble (http-01). Not part of `make test`.
#
# Environment (all optional):
#   BENCH_DURATION=10s        length of one run, in seconds
#   BENCH_ROUNDS=2            rounds; every server runs once per round and c
#   BENCH_CONCURRENCY="1 8 32"
#   BENCH_SERVERS="acmegate-sqlite acmegate-postgres pebble-http01 pebble-always-valid"
#   BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432  (a database
#                              acmegate_bench is dropped and created there)
#   BENCH_OUT=/tmp/acmegate-bench  directory for results.jsonl, logs, table.md
#   BENCH_UPDATE_DOCS=1       append the table to docs/performance.md
#   BENCH_HTTP_PORT=5002 BENCH_DNS_PORT=8053  the generator's responders
#   BENCH_PORT_BASE=14100     acmegate and Pebble listen from here up
#
# Pebble deadlocks now and then under concurrent clients, worst at c = 32:
# it is started afresh for every run, and every run is bounded, so a hang
# shows as failed flows in the table instead of stopping the script.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 8 32"}
SERVERS=${BENCH_SERVERS:-"acmegate-sqlite acmegate-postgres pebble-http01 pebble-always-valid"}
PG=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
OUT=${BENCH_OUT:-${TMPDIR:-/tmp}/acmegate-bench}
UPDATE_DOCS=${BENCH_UPDATE_DOCS:-1}
HTTP_PORT=${BENCH_HTTP_PORT:-5002}
DNS_PORT=${BENCH_DNS_PORT:-8053}
BASE=${BENCH_PORT_BASE:-14100}
SQLITE_PORT=$BASE
PG_PORT=$((BASE + 1))
PEBBLE_PORT=$((BASE + 2))
PEBBLE_MGMT=$((BASE + 3))
PEBBLE_TLS=$((BASE + 4))

[[ $DURATION =~ ^[0-9]+s$ ]] || { echo "bench: BENCH_DURATION must be seconds, e.g. 10s" >&2; exit 1; }
for tool in go openssl curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed" >&2; exit 1; }
done
case " $SERVERS " in *" pebble-"*) command -v pebble >/dev/null || { echo "bench: pebble is needed (apt-get install pebble)" >&2; exit 1; } ;; esac
case " $SERVERS " in *" acmegate-postgres "*) command -v psql >/dev/null || { echo "bench: psql is needed for acmegate-postgres" >&2; exit 1; } ;; esac

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build"
CGO_ENABLED=0 go build -o "$work/acmegate" ./cmd/acmegate
go build -o "$work/acmebench" ./cmd/acmebench

# start_gate NAME STORAGE_YAML: starts acmegate, sets GATE_PID, GATE_DIR, GATE_ROOT.
start_gate() {
  local name=$1 port=$2 storage=$3 dir="$work/$1"
  mkdir -p "$dir"
  cat >"$dir/acmegate.yaml" <<EOF
data_dir: $dir/data
listen: 127.0.0.1:$port
admin:
  listen: "off"
log:
  level: warn
$storage
validation:
  resolvers: ["127.0.0.1:$DNS_PORT"]
  http_port: $HTTP_PORT
  allowed_networks: ["127.0.0.0/8"]
EOF
  ACMEGATE_DATABASE_URL= "$work/acmegate" serve --config "$dir/acmegate.yaml" >"$dir/stdout" 2>"$OUT/$name.log" &
  GATE_PID=$!
  pids+=("$GATE_PID")
  for _ in $(seq 1 300); do
    grep -q 'root CA:' "$dir/stdout" 2>/dev/null && break
    kill -0 "$GATE_PID" 2>/dev/null || { echo "bench: $name exited:" >&2; cat "$OUT/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  GATE_DIR=$(sed -n 's/^ *directory: *//p' "$dir/stdout")
  GATE_ROOT=$(sed -n 's/^ *root CA: *//p' "$dir/stdout")
  [ -n "$GATE_DIR" ] || { echo "bench: $name printed no directory" >&2; exit 1; }
  echo "$name: pid $GATE_PID, $GATE_DIR"
}

declare -A DIR ROOT PIDS PIDCMD
case " $SERVERS " in *" acmegate-sqlite "*)
  echo "== acmegate on SQLite"
  start_gate acmegate-sqlite "$SQLITE_PORT" $'storage:\n  driver: sqlite'
  DIR[acmegate-sqlite]=$GATE_DIR ROOT[acmegate-sqlite]=$GATE_ROOT PIDS[acmegate-sqlite]=$GATE_PID PIDCMD[acmegate-sqlite]=""
  ;;
esac
case " $SERVERS " in *" acmegate-postgres "*)
  echo "== acmegate on PostgreSQL (database acmegate_bench)"
  psql "$PG/postgres?sslmode=disable" -q -v ON_ERROR_STOP=1 \
    -c 'DROP DATABASE IF EXISTS acmegate_bench WITH (FORCE)' -c 'CREATE DATABASE acmegate_bench' >/dev/null
  start_gate acmegate-postgres "$PG_PORT" "storage:
  driver: postgres
  url: $PG/acmegate_bench?sslmode=disable"
  DIR[acmegate-postgres]=$GATE_DIR ROOT[acmegate-postgres]=$GATE_ROOT PIDS[acmegate-postgres]=$GATE_PID PIDCMD[acmegate-postgres]=postgres
  ;;
esac

# Pebble serves TLS with a certificate made here; acmebench trusts it and
# Pebble's issuing root, read from the management interface.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=pebble \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$work/pebble-key.pem" -out "$work/pebble-cert.pem" 2>/dev/null
cat >"$work/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE_PORT", "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT",
  "certificate": "$work/pebble-cert.pem", "privateKey": "$work/pebble-key.pem",
  "httpPort": $HTTP_PORT, "tlsPort": $PEBBLE_TLS, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF

# start_pebble MODE: a fresh Pebble; sets PEBBLE_PID and writes the trust file.
start_pebble() {
  local env=(PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0)
  [ "$1" = always-valid ] && env+=(PEBBLE_VA_ALWAYS_VALID=1)
  env "${env[@]}" pebble -config "$work/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" >>"$OUT/pebble-$1.log" 2>&1 &
  PEBBLE_PID=$!
  pids+=("$PEBBLE_PID")
  for _ in $(seq 1 100); do
    if curl -sf --cacert "$work/pebble-cert.pem" "https://127.0.0.1:$PEBBLE_MGMT/roots/0" >"$work/pebble-root.pem" 2>/dev/null; then
      cat "$work/pebble-cert.pem" "$work/pebble-root.pem" >"$work/pebble-trust.pem"
      return
    fi
    sleep 0.1
  done
  echo "bench: pebble did not start" >&2
  exit 1
}

# stop_pid PID: stops a process this script started and forgets it, so
# that cleanup never signals a pid the system may have reused.
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}

# run_one SERVER C ROUND: one bounded run; its report line goes to results.
run_one() {
  local server=$1 c=$2 round=$3 dir root challenge args=()
  case $server in
    acmegate-*)
      dir=${DIR[$server]} root=${ROOT[$server]} challenge=http-01
      args=(-server-pid "${PIDS[$server]}")
      [ -n "${PIDCMD[$server]}" ] && args+=(-server-pids-cmd "${PIDCMD[$server]}")
      ;;
    pebble-http01 | pebble-always-valid)
      start_pebble "${server#pebble-}"
      dir="https://127.0.0.1:$PEBBLE_PORT/dir" root="$work/pebble-trust.pem"
      challenge=http-01
      [ "$server" = pebble-always-valid ] && challenge=none
      args=(-server-pid "$PEBBLE_PID")
      ;;
    *) echo "bench: unknown server $server" >&2; exit 1 ;;
  esac
  local log="$OUT/run-$server-c$c-r$round.txt"
  # The bound: the run, then in-flight flows (-flow-timeout), then slack.
  local secs=${DURATION%s}
  timeout --kill-after=5 $((secs + 60)) "$work/acmebench" -directory "$dir" -ca-root "$root" \
    -c "$c" -duration "$DURATION" -warmup $((2 * c)) -challenge "$challenge" \
    -http-port "$HTTP_PORT" -dns-port "$DNS_PORT" -flow-timeout 10s -label "$server" "${args[@]}" \
    >"$log" 2>&1 || true
  case $server in pebble-*) stop_pid "$PEBBLE_PID" ;; esac
  local last
  last=$(tail -n 1 "$log")
  if [[ $last == "{"* ]]; then
    echo "$last" >>"$RESULTS"
    sed -n 's/^issued/  &/p' "$log" | sed "s/^/  $server c=$c round $round:/"
  else
    echo "  $server c=$c round $round: no report (see $log)"
  fi
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== runs: $ROUNDS rounds × c in ($CONCURRENCY) × ($SERVERS), $DURATION each"
for round in $(seq 1 "$ROUNDS"); do
  for c in $CONCURRENCY; do
    for server in $SERVERS; do
      run_one "$server" "$c" "$round"
    done
  done
done

"$work/acmebench" -summarize "$RESULTS" -baseline pebble-http01 >"$OUT/table.md"
echo
cat "$OUT/table.md"

if [ "$UPDATE_DOCS" = 1 ]; then
  {
    echo
    echo "## make bench ($(date -u +%Y-%m-%d))"
    echo
    echo "\`scripts/bench.sh\` on $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)):"
    echo "$ROUNDS rounds, c in ($CONCURRENCY), $DURATION per run, servers interleaved in each round; medians."
    echo "Load average before the runs: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    cat "$OUT/table.md"
  } >>docs/performance.md
  echo "appended to docs/performance.md"
fi
