#!/usr/bin/env bash
# make soak: hold acmegate under load for a long while and watch for leaks.
# Not part of `make test`.
#
# Starts acmegate (SQLite, or PostgreSQL with SOAK_STORE=postgres) with its
# local CA, measures its peak throughput with cmd/acmebench (full http-01
# issuances) at a few concurrencies, then runs acmebench for SOAK_DURATION
# at the smallest concurrency reaching SOAK_FRACTION of that peak (acmebench
# is a closed loop: concurrency sets the load). The run is cut into
# consecutive SOAK_SLICE runs of acmebench, so that each slice reports its
# own p99. Every SOAK_INTERVAL seconds it samples the server's RSS
# (/proc/PID/status), goroutines (go_goroutines from /metrics on the admin
# listener), open file descriptors (/proc/PID/fd) and database connections
# (PostgreSQL: pg_stat_activity; SQLite: descriptors open on the database,
# WAL and shm files).
#
# Output in SOAK_OUT: samples.csv, slices.csv (per slice: issuances,
# failures, p50, p99, the server's CPU per issuance, PostgreSQL's included),
# calibration.csv, the server log, and summary.md: for every series the mean
# of its first and of its last quarter and the growth between them. On a
# shared machine throughput follows the neighbours' load; CPU per issuance
# is the steadier sign of the server slowing down. The script fails when RSS,
# goroutines or descriptors grow by more than their threshold, when the
# p99 of the last quarter of slices exceeds the first quarter's by more
# than SOAK_MAX_P99_GROWTH, when any flow failed, or when a slice went
# longer than SOAK_MAX_GAP seconds without an issuance completing (a stall:
# acmebench's longest_gap_s, the last column of slices.csv).
#
# Issue 7's long run, 10 minutes at c = 128 without a failed flow or a
# stall, is SOAK_C=128 SOAK_DURATION=10m make soak (with SOAK_STORE=postgres
# for PostgreSQL).
#
# Environment (all optional):
#   SOAK_DURATION=10m        the measured run (s or m: 180s, 3m)
#   SOAK_SLICE=30s           one acmebench run within it
#   SOAK_FRACTION=0.8        of the peak throughput
#   SOAK_CALIBRATE_C="1 2 4 8"  concurrencies tried for the peak, 15 s each
#   SOAK_C=                  skip the calibration and use this concurrency
#   SOAK_INTERVAL=5          seconds between samples
#   SOAK_STORE=sqlite        or postgres
#   SOAK_POSTGRES=postgres://postgres@127.0.0.1:5432  (database acmegate_soak
#                            is dropped and created there; on a server
#                            without autovacuum the script runs
#                            VACUUM (ANALYZE) after every slice instead,
#                            unless SOAK_VACUUM=0)
#   SOAK_MAX_RSS_GROWTH=25 SOAK_MAX_GOROUTINE_GROWTH=25 SOAK_MAX_FD_GROWTH=25
#                            percent, last quarter over first quarter; the
#                            goroutine and descriptor checks allow 10 more
#                            on top, as their counts are small
#   SOAK_MAX_P99_GROWTH=100  percent
#   SOAK_MAX_GAP=10          seconds without an issuance within a slice
#   SOAK_OUT=/tmp/acmegate-soak
#   SOAK_PORT_BASE=14200     acmegate, its admin listener, the generator's
#                            http-01 and DNS responders listen from here up
set -euo pipefail
cd "$(dirname "$0")/.."
PROG=soak
. scripts/lib.sh

seconds() { # 10m, 180s, 180 -> seconds
  case $1 in
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
DURATION=$(seconds "${SOAK_DURATION:-10m}")
SLICE=$(seconds "${SOAK_SLICE:-30s}")
FRACTION=${SOAK_FRACTION:-0.8}
CALIBRATE_C=${SOAK_CALIBRATE_C:-"1 2 4 8"}
FIXED_C=${SOAK_C:-}
INTERVAL=${SOAK_INTERVAL:-5}
STORE=${SOAK_STORE:-sqlite}
PG=${SOAK_POSTGRES:-postgres://postgres@127.0.0.1:5432}
AUTOVACUUM=on
MAX_RSS=${SOAK_MAX_RSS_GROWTH:-25}
MAX_GOR=${SOAK_MAX_GOROUTINE_GROWTH:-25}
MAX_FD=${SOAK_MAX_FD_GROWTH:-25}
MAX_P99=${SOAK_MAX_P99_GROWTH:-100}
MAX_GAP=${SOAK_MAX_GAP:-10}
OUT=${SOAK_OUT:-${TMPDIR:-/tmp}/acmegate-soak}
BASE=${SOAK_PORT_BASE:-14200}
PORT=$BASE ADMIN_PORT=$((BASE + 1)) HTTP_PORT=$((BASE + 2)) DNS_PORT=$((BASE + 3))

for v in DURATION SLICE INTERVAL; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || { echo "soak: SOAK_$v must be seconds or minutes, e.g. 30s or 3m" >&2; exit 1; }
done
[ "$SLICE" -le "$DURATION" ] || SLICE=$DURATION
case $STORE in sqlite | postgres) ;; *) echo "soak: SOAK_STORE is sqlite or postgres" >&2; exit 1 ;; esac
for tool in go curl awk; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is needed" >&2; exit 1; }
done
[ "$STORE" = postgres ] && { command -v psql >/dev/null || { echo "soak: psql is needed with SOAK_STORE=postgres" >&2; exit 1; }; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
pids=()
trap lib_cleanup EXIT

echo "== build"
build_binaries

storage=$'storage:\n  driver: sqlite'
if [ "$STORE" = postgres ]; then
  reset_pg_database "$PG" acmegate_soak
  storage="storage:
  driver: postgres
  url: $PG/acmegate_soak?sslmode=disable"
  # A test server may run without autovacuum: dead rows of the busy tables
  # (jobs above all) then pile up and plans cached while the tables were
  # empty are never revisited, so every issuance costs more than the last
  # for reasons no production server has. Stand in for it between slices.
  AUTOVACUUM=$(psql "$PG/postgres?sslmode=disable" -tAc 'SHOW autovacuum')
  [ "${SOAK_VACUUM:-auto}" = 0 ] && AUTOVACUUM=on
  [ "$AUTOVACUUM" = on ] || echo "PostgreSQL runs without autovacuum: VACUUM (ANALYZE) after every slice stands in for it"
fi
write_gate_config "$work/acmegate.yaml" "$work/data" "$PORT" "127.0.0.1:$ADMIN_PORT" "$storage" "$DNS_PORT" "$HTTP_PORT"
start_gate acmegate "$work/acmegate.yaml" "$work/stdout" "$OUT/acmegate.log"
GATE=$GATE_PID DIR=$GATE_DIR ROOT=$GATE_ROOT
echo "acmegate ($STORE): pid $GATE, $DIR"

# The server's CPU per issuance counts PostgreSQL's too.
named=()
[ "$STORE" = postgres ] && named=(-server-pids-cmd postgres)
# bench C SECONDS LOG: one bounded acmebench run; prints its JSON report line.
bench() {
  timeout --kill-after=5 $(($2 + 60)) "$work/acmebench" -directory "$DIR" -ca-root "$ROOT" \
    -c "$1" -duration "${2}s" -challenge http-01 -http-port "$HTTP_PORT" -dns-port "$DNS_PORT" \
    -flow-timeout 30s -label "soak-$STORE" -server-pid "$GATE" "${named[@]}" >"$3" 2>&1 || true
  local last
  last=$(tail -n 1 "$3")
  [[ $last == "{"* ]] || { echo "soak: acmebench printed no report (see $3)" >&2; return 1; }
  echo "$last"
}

C=$FIXED_C
echo "c,issuances_per_s,failures" >"$OUT/calibration.csv"
if [ -z "$C" ]; then
  echo "== calibration: 15 s at c in ($CALIBRATE_C)"
  peak=0
  declare -A ips
  for c in $CALIBRATE_C; do
    rep=$(bench "$c" 15 "$OUT/calibrate-c$c.txt")
    ips[$c]=$(json_field "$rep" issuances_per_s)
    echo "$c,${ips[$c]},$(json_field "$rep" failures)" >>"$OUT/calibration.csv"
    echo "  c=$c: ${ips[$c]} issuances/s"
    peak=$(awk -v a="$peak" -v b="${ips[$c]}" 'BEGIN { print (b > a) ? b : a }')
  done
  target=$(awk -v p="$peak" -v f="$FRACTION" 'BEGIN { printf "%.1f", p * f }')
  for c in $CALIBRATE_C; do
    if awk -v a="${ips[$c]}" -v t="$target" 'BEGIN { exit !(a >= t) }'; then C=$c; break; fi
  done
  echo "peak $peak issuances/s; $FRACTION of it is $target: c=$C (${ips[$C]} issuances/s)"
fi

echo "== soak: $DURATION s at c=$C in $SLICE s slices, samples every $INTERVAL s"
start=$(date +%s)
db_conns() {
  if [ "$STORE" = postgres ]; then
    psql "$PG/acmegate_soak?sslmode=disable" -tAc \
      "SELECT count(*) FROM pg_stat_activity WHERE datname = 'acmegate_soak' AND application_name = 'acmegate'" 2>/dev/null || echo ""
  else
    find "/proc/$GATE/fd" -lname "$work/data/acmegate.db*" 2>/dev/null | wc -l
  fi
}
sampler() {
  echo "t_s,rss_kib,goroutines,fds,db_conns" >"$OUT/samples.csv"
  while kill -0 "$GATE" 2>/dev/null; do
    local t rss gor fds
    t=$(($(date +%s) - start))
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$GATE/status" 2>/dev/null || echo "")
    gor=$(curl -sf --max-time 5 --cacert "$ROOT" "https://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^go_goroutines / { print $2 }' || echo "")
    fds=$(find "/proc/$GATE/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    echo "$t,$rss,$gor,$fds,$(db_conns)" >>"$OUT/samples.csv"
    sleep "$INTERVAL"
  done
}
sampler &
SAMPLER=$!
pids+=("$SAMPLER")

echo "slice,start_s,issuances,failures,issuances_per_s,p50_ms,p99_ms,server_cpu_ms_per_issuance,errors,longest_gap_s" >"$OUT/slices.csv"
slice=0
failed_flows=0
longest_gap=0 longest_gap_slice=0
while :; do
  now=$(($(date +%s) - start))
  left=$((DURATION - now))
  [ "$left" -ge 5 ] || break
  len=$((left < SLICE ? left : SLICE))
  slice=$((slice + 1))
  rep=$(bench "$C" "$len" "$OUT/slice-$slice.txt") || { failed_flows=$((failed_flows + 1)); continue; }
  fails=$(json_field "$rep" failures)
  failed_flows=$((failed_flows + fails))
  errs=$(grep -o '"errors":{[^}]*}' <<<"$rep" | cut -d: -f2- | tr ',' ' ')
  gap=$(json_field "$rep" longest_gap_s)
  if awk -v g="$gap" -v m="$longest_gap" 'BEGIN { exit !(g > m) }'; then longest_gap=$gap longest_gap_slice=$slice; fi
  line="$slice,$now,$(json_field "$rep" issuances),$fails,$(json_field "$rep" issuances_per_s),$(json_field "$rep" p50_ms),$(json_field "$rep" p99_ms),$(json_field "$rep" cpu_ms_per_issuance),\"$errs\",$gap"
  echo "$line" >>"$OUT/slices.csv"
  if [ "$STORE" = postgres ] && [ "$AUTOVACUUM" != on ]; then
    psql "$PG/acmegate_soak?sslmode=disable" -q -c 'VACUUM (ANALYZE)' >/dev/null
  fi
  echo "  slice $slice at ${now}s: $(json_field "$rep" issuances) issued, $fails failed, p99 $(json_field "$rep" p99_ms) ms, server CPU $(json_field "$rep" cpu_ms_per_issuance) ms/issuance, longest time without an issuance $gap s"
done
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
kill -0 "$GATE" 2>/dev/null || { echo "soak: acmegate died during the run" >&2; exit 1; }

# quarters FILE COLUMN: "first last growth%" of the column's first and last
# quarter of rows (non-empty values only).
quarters() {
  awk -F, -v col="$2" 'NR > 1 && $col != "" { v[n++] = $col }
    END {
      if (n < 4) { print "n/a n/a n/a"; exit }
      q = int(n / 4); a = 0; b = 0
      for (i = 0; i < q; i++) { a += v[i]; b += v[n - q + i] }
      a /= q; b /= q
      printf "%.1f %.1f %.1f\n", a, b, (a > 0) ? (b - a) * 100 / a : 0
    }' "$1"
}
status=0
summary="$OUT/summary.md"
{
  echo "acmegate $(git describe --tags --always --dirty 2>/dev/null || echo dev) on $STORE, $(nproc) cores, $(date -u +%Y-%m-%d):"
  echo "${DURATION} s at c=$C ($slice slices of ${SLICE} s), samples every ${INTERVAL} s; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
  [ "$AUTOVACUUM" = on ] || echo "PostgreSQL without autovacuum: VACUUM (ANALYZE) ran after every slice."
  echo
  echo "| series | first quarter | last quarter | growth | limit |"
  echo "|---|---|---|---|---|"
} >"$summary"
check() { # NAME FILE COLUMN [LIMIT% SLACK]: without a limit, only reported
  read -r first last growth < <(quarters "$2" "$3")
  local limit="—" allowed
  if [ $# -gt 3 ]; then
    allowed="$4 %"
    [ "$5" = 0 ] || allowed="$allowed + $5"
    limit="$allowed: ok"
    if [ "$first" = n/a ]; then
      limit="$allowed: too few values to judge"
    elif awk -v a="$first" -v b="$last" -v l="$4" -v s="$5" 'BEGIN { exit !(b > a * (1 + l / 100) + s) }'; then
      limit="$allowed: FAIL"
      status=1
    fi
  fi
  echo "| $1 | $first | $last | $growth % | $limit |" >>"$summary"
}
check "RSS (KiB)" "$OUT/samples.csv" 2 "$MAX_RSS" 0
check "goroutines" "$OUT/samples.csv" 3 "$MAX_GOR" 10
check "open fds" "$OUT/samples.csv" 4 "$MAX_FD" 10
check "DB connections" "$OUT/samples.csv" 5
check "slice p99 (ms)" "$OUT/slices.csv" 7 "$MAX_P99" 0
check "slice issuances/s" "$OUT/slices.csv" 5
check "server CPU ms/issuance" "$OUT/slices.csv" 8
total=$(awk -F, 'NR > 1 { s += $3 } END { print s + 0 }' "$OUT/slices.csv")
stall=ok
if awk -v g="$longest_gap" -v m="$MAX_GAP" 'BEGIN { exit !(g > m) }'; then stall=FAIL status=1; fi
{
  echo
  echo "$total issuances, $failed_flows failed flows."
  echo "Longest time without an issuance: $longest_gap s (slice $longest_gap_slice; limit $MAX_GAP s: $stall)."
} >>"$summary"
[ "$failed_flows" -eq 0 ] || status=1
echo
cat "$summary"
echo "(CSV and logs in $OUT)"
exit $status
