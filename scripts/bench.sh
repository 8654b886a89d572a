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
#
# Scale mode (issue 7: throughput with a million rows stored), instead of
# the above: BENCH_SCALE=1000000 seeds a database with `acmebench seed`
# (that many orders, authorizations and certificates, a hundredth as many
# accounts, their timelines and audit entries; acmegate migrated, not
# running), then runs acmegate on it and on an empty database side by
# side, for each store, at one concurrency, interleaved: empty then seeded
# in odd rounds, seeded then empty in even ones, so that neither always
# runs second on a machine whose load drifts. It prints the seed time, the
# throughput of every run, the seeded/empty ratio of every round and their
# median, and writes scale.md and scale.jsonl (the runs) and seed.jsonl
# (the seeds) in BENCH_OUT; docs/performance.md is left alone.
#   BENCH_SCALE_STORES="sqlite postgres"
#   BENCH_SCALE_C=32          the concurrency
#   BENCH_ROUNDS=4 BENCH_DURATION=20s  (their defaults in scale mode)
#   BENCH_SCALE_KEEP=0        1: keep the seeded database as a template
#                             (BENCH_OUT/scale-seed-N.db; the PostgreSQL
#                             database acmegate_scale_seed_N) and copy it
#                             on the next run instead of seeding again.
#                             Delete it after a schema change, and mind
#                             that its dates age (certificates expire).
# Databases acmegate_scale_empty and acmegate_scale_seeded are dropped and
# created on BENCH_POSTGRES. A million orders take about 10 GB on disk in
# each store (the SQLite file lives in a temporary directory under TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/.."
PROG=bench
. scripts/lib.sh

SCALE=${BENCH_SCALE:-0}
[[ $SCALE =~ ^[0-9]+$ ]] || { echo "bench: BENCH_SCALE must be a number of orders" >&2; exit 1; }
if [ "$SCALE" -gt 0 ]; then
  DURATION=${BENCH_DURATION:-20s}
  ROUNDS=${BENCH_ROUNDS:-4}
else
  DURATION=${BENCH_DURATION:-10s}
  ROUNDS=${BENCH_ROUNDS:-2}
fi
CONCURRENCY=${BENCH_CONCURRENCY:-"1 8 32"}
SERVERS=${BENCH_SERVERS:-"acmegate-sqlite acmegate-postgres pebble-http01 pebble-always-valid"}
SCALE_STORES=${BENCH_SCALE_STORES:-"sqlite postgres"}
SCALE_C=${BENCH_SCALE_C:-32}
SCALE_KEEP=${BENCH_SCALE_KEEP:-0}
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
SCALE_EMPTY_PORT=$((BASE + 5))
SCALE_SEEDED_PORT=$((BASE + 6))

[[ $DURATION =~ ^[0-9]+s$ ]] || { echo "bench: BENCH_DURATION must be seconds, e.g. 10s" >&2; exit 1; }
for tool in go openssl curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed" >&2; exit 1; }
done
needs_psql=0
if [ "$SCALE" -gt 0 ]; then
  for s in $SCALE_STORES; do
    case $s in sqlite) ;; postgres) needs_psql=1 ;; *) echo "bench: BENCH_SCALE_STORES: unknown store $s" >&2; exit 1 ;; esac
  done
else
  case " $SERVERS " in *" pebble-"*) command -v pebble >/dev/null || { echo "bench: pebble is needed (apt-get install pebble)" >&2; exit 1; } ;; esac
  case " $SERVERS " in *" acmegate-postgres "*) needs_psql=1 ;; esac
fi
[ "$needs_psql" = 0 ] || command -v psql >/dev/null || { echo "bench: psql is needed for PostgreSQL" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/results.jsonl"
[ "$SCALE" -gt 0 ] && RESULTS="$OUT/scale.jsonl"
: >"$RESULTS"
work=$(mktemp -d)
pids=()
trap lib_cleanup EXIT

echo "== build"
build_binaries

# gate NAME PORT STORAGE_YAML: configures acmegate NAME in $work/NAME,
# migrates its database and starts it; sets GATE_PID, GATE_DIR, GATE_ROOT.
# Without the migration serve would apply it: done apart, a seed can come
# in between (see scale mode).
gate_config() {
  local dir="$work/$1"
  mkdir -p "$dir"
  write_gate_config "$dir/acmegate.yaml" "$dir/data" "$2" '"off"' "$3" "$DNS_PORT" "$HTTP_PORT"
}
gate_start() {
  local dir="$work/$1"
  start_gate "$1" "$dir/acmegate.yaml" "$dir/stdout" "$OUT/$1.log"
  echo "$1: pid $GATE_PID, $GATE_DIR"
}

declare -A DIR ROOT PIDS PIDCMD
# remember NAME PIDCMD: what run_one needs of the acmegate just started.
remember() { DIR[$1]=$GATE_DIR ROOT[$1]=$GATE_ROOT PIDS[$1]=$GATE_PID PIDCMD[$1]=$2; }

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

# ---------------------------------------------------------------- scale mode
if [ "$SCALE" -gt 0 ]; then
  SEEDS="$OUT/seed.jsonl"
  : >"$SEEDS"
  report="$OUT/scale.md"
  {
    echo "\`BENCH_SCALE=$SCALE scripts/bench.sh\` on $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(date -u +%Y-%m-%d):"
    echo "acmegate on an empty database and on one seeded with $SCALE orders, authorizations and certificates,"
    echo "$ROUNDS rounds of $DURATION at c = $SCALE_C, interleaved. Load average before: $LOAD_BEFORE."
    echo
  } >"$report"

  # seed_store STORE DB: fills DB (a SQLite file or a PostgreSQL URL),
  # migrated, with $SCALE orders, or copies the kept template.
  seed_store() {
    local store=$1 db=$2 tmpl line
    if [ "$store" = sqlite ]; then
      tmpl="$OUT/scale-seed-$SCALE.db"
      if [ "$SCALE_KEEP" = 1 ] && [ -f "$tmpl" ]; then
        echo "   copying the template $tmpl (seeded $(date -u -r "$tmpl" +%Y-%m-%dT%H:%MZ))"
        cp "$tmpl" "$db"
        echo "Seeded database copied from the template $tmpl." >>"$report"
        return
      fi
    else
      tmpl="acmegate_scale_seed_$SCALE"
      if [ "$SCALE_KEEP" = 1 ] && [ "$(psql "$PG/postgres?sslmode=disable" -tAc "SELECT 1 FROM pg_database WHERE datname = '$tmpl'")" = 1 ]; then
        echo "   copying the template database $tmpl"
        psql "$PG/postgres?sslmode=disable" -q -v ON_ERROR_STOP=1 \
          -c "DROP DATABASE IF EXISTS acmegate_scale_seeded WITH (FORCE)" \
          -c "CREATE DATABASE acmegate_scale_seeded TEMPLATE $tmpl" >/dev/null
        echo "Seeded database copied from the template database $tmpl." >>"$report"
        return
      fi
    fi
    "$work/acmebench" seed -db "$db" -n "$SCALE" >"$OUT/seed-$store.txt"
    line=$(tail -n 1 "$OUT/seed-$store.txt")
    echo "$line" >>"$SEEDS"
    head -n 1 "$OUT/seed-$store.txt" | sed 's/^/   /'
    echo "$(head -n 1 "$OUT/seed-$store.txt")." >>"$report"
    if [ "$SCALE_KEEP" = 1 ]; then
      if [ "$store" = sqlite ]; then
        cp "$db" "$tmpl"
      else
        psql "$PG/postgres?sslmode=disable" -q -v ON_ERROR_STOP=1 \
          -c "CREATE DATABASE $tmpl TEMPLATE acmegate_scale_seeded" >/dev/null
      fi
      echo "   kept as the template $tmpl"
    fi
  }

  # A PostgreSQL server without autovacuum never refreshes the planner's
  # statistics of the empty database as it fills: its plans stay those of
  # empty tables and every issuance costs more than the last, while the
  # seeded one was analyzed by the seed. VACUUM (ANALYZE) of both before
  # every run stands in for autovacuum, as in soak.sh.
  AUTOVACUUM=on
  case " $SCALE_STORES " in *" postgres "*) AUTOVACUUM=$(psql "$PG/postgres?sslmode=disable" -tAc 'SHOW autovacuum') ;; esac
  if [ "$AUTOVACUUM" != on ]; then
    echo "PostgreSQL runs without autovacuum: VACUUM (ANALYZE) before every run stands in for it"
    echo "PostgreSQL runs without autovacuum: VACUUM (ANALYZE) of the database before every run stood in for it." >>"$report"
  fi
  declare -A DB_OF
  # scale_run SERVER ROUND: run_one at the scale concurrency, after the
  # stand-in for autovacuum.
  scale_run() {
    if [ -n "${DB_OF[$1]:-}" ] && [ "$AUTOVACUUM" != on ]; then
      psql "$PG/${DB_OF[$1]}?sslmode=disable" -q -c 'VACUUM (ANALYZE)' >/dev/null
    fi
    run_one "$1" "$SCALE_C" "$2"
  }

  for store in $SCALE_STORES; do
    empty=acmegate-$store-empty seeded=acmegate-$store-seeded
    echo "== $store: migrate, seed $SCALE orders"
    if [ "$store" = sqlite ]; then
      gate_config "$empty" "$SCALE_EMPTY_PORT" $'storage:\n  driver: sqlite'
      gate_config "$seeded" "$SCALE_SEEDED_PORT" $'storage:\n  driver: sqlite'
      db="$work/$seeded/data/acmegate.db" pidcmd=""
    else
      reset_pg_database "$PG" acmegate_scale_empty
      reset_pg_database "$PG" acmegate_scale_seeded
      gate_config "$empty" "$SCALE_EMPTY_PORT" "storage:
  driver: postgres
  url: $PG/acmegate_scale_empty?sslmode=disable"
      gate_config "$seeded" "$SCALE_SEEDED_PORT" "storage:
  driver: postgres
  url: $PG/acmegate_scale_seeded?sslmode=disable"
      db="$PG/acmegate_scale_seeded?sslmode=disable" pidcmd=postgres
      DB_OF[$empty]=acmegate_scale_empty DB_OF[$seeded]=acmegate_scale_seeded
    fi
    migrate_gate "$work/$empty/acmegate.yaml"
    if [ "$store" = sqlite ] && [ "$SCALE_KEEP" = 1 ] && [ -f "$OUT/scale-seed-$SCALE.db" ]; then
      mkdir -p "$work/$seeded/data"
    else
      migrate_gate "$work/$seeded/acmegate.yaml"
    fi
    printf '\n### %s\n\n' "$store" >>"$report"
    seed_store "$store" "$db"
    if [ "$store" = sqlite ]; then
      size="$(du -h "$db" | cut -f1) SQLite file"
    else
      size="$(psql "$PG/postgres?sslmode=disable" -tAc "SELECT pg_size_pretty(pg_database_size('acmegate_scale_seeded'))") PostgreSQL database"
    fi
    echo "   seeded: $size"
    echo "Seeded: $size." >>"$report"
    # The PostgreSQL CPU sampled is every postgres process's, both
    # databases': the two servers never run at the same time.
    gate_start "$empty" && remember "$empty" "$pidcmd"
    gate_start "$seeded" && remember "$seeded" "$pidcmd"
    echo "== $store: warm-up, then $ROUNDS rounds of $DURATION at c=$SCALE_C"
    keep=$RESULTS RESULTS=/dev/null
    scale_run "$empty" warmup
    scale_run "$seeded" warmup
    RESULTS=$keep
    for round in $(seq 1 "$ROUNDS"); do
      if ((round % 2)); then order="$empty $seeded"; else order="$seeded $empty"; fi
      for server in $order; do scale_run "$server" "$round"; done
    done
    stop_pid "${PIDS[$empty]}"
    stop_pid "${PIDS[$seeded]}"
    rm -rf "${work:?}/$empty" "${work:?}/$seeded"
    if [ "$store" = postgres ]; then
      psql "$PG/postgres?sslmode=disable" -q -c "DROP DATABASE IF EXISTS acmegate_scale_empty WITH (FORCE)" \
        -c "DROP DATABASE IF EXISTS acmegate_scale_seeded WITH (FORCE)" >/dev/null
    fi

    # Ratios round by round: the k-th seeded run over the k-th empty one,
    # which ran next to it.
    mapfile -t e < <(grep "\"label\":\"$empty\"" "$RESULTS" | while read -r l; do json_field "$l" issuances_per_s; done)
    mapfile -t f < <(grep "\"label\":\"$seeded\"" "$RESULTS" | while read -r l; do json_field "$l" issuances_per_s; done)
    ratios=()
    for i in "${!e[@]}"; do
      [ -n "${f[$i]:-}" ] || continue
      ratios+=("$(awk -v a="${e[$i]}" -v b="${f[$i]}" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "nan" }')")
    done
    median=n/a
    if [ "${#ratios[@]}" -gt 0 ]; then
      median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[n++] = $1 } END { if (n % 2) print v[int(n/2)]; else printf "%.3f", (v[n/2-1] + v[n/2]) / 2 }')
    fi
    echo "   $store seeded/empty throughput by round: ${ratios[*]}; median $median"
    grep -e "\"label\":\"$empty\"" -e "\"label\":\"$seeded\"" "$RESULTS" >"$work/$store.jsonl"
    {
      echo
      echo "$store: seeded/empty throughput by round ${ratios[*]}, median **$median**."
      echo
      "$work/acmebench" -summarize "$work/$store.jsonl" -baseline "$empty"
    } >>"$report"
  done
  echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)." >>"$report"
  echo
  cat "$report"
  exit 0
fi

# --------------------------------------------------------------- normal mode
case " $SERVERS " in *" acmegate-sqlite "*)
  echo "== acmegate on SQLite"
  gate_config acmegate-sqlite "$SQLITE_PORT" $'storage:\n  driver: sqlite'
  gate_start acmegate-sqlite
  remember acmegate-sqlite ""
  ;;
esac
case " $SERVERS " in *" acmegate-postgres "*)
  echo "== acmegate on PostgreSQL (database acmegate_bench)"
  reset_pg_database "$PG" acmegate_bench
  gate_config acmegate-postgres "$PG_PORT" "storage:
  driver: postgres
  url: $PG/acmegate_bench?sslmode=disable"
  gate_start acmegate-postgres
  remember acmegate-postgres postgres
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
