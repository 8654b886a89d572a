# Shell functions shared by scripts/bench.sh and scripts/soak.sh; sourced,
# not run. A script sourcing it sets PROG (its name in messages), creates
# the temporary directory `work` and the array `pids`, and traps EXIT with
# lib_cleanup:
#
#   PROG=bench
#   . scripts/lib.sh
#   work=$(mktemp -d)
#   pids=()
#   trap lib_cleanup EXIT

# lib_cleanup stops every process the script started and removes $work.
lib_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}

# build_binaries builds $work/acmegate (static, as released) and
# $work/acmebench from this tree.
build_binaries() {
  CGO_ENABLED=0 go build -o "$work/acmegate" ./cmd/acmegate
  go build -o "$work/acmebench" ./cmd/acmebench
}

# reset_pg_database URL NAME: drops (closing its sessions) and creates the
# database NAME on the server at URL (postgres://user@host:port, no path).
reset_pg_database() {
  PGOPTIONS="-c client_min_messages=warning" psql "$1/postgres?sslmode=disable" -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" -c "CREATE DATABASE $2" >/dev/null
}

# write_gate_config FILE DATA_DIR PORT ADMIN_LISTEN STORAGE_YAML DNS_PORT HTTP_PORT:
# an acmegate configuration for the load generator: ACME on
# 127.0.0.1:PORT, the admin listener on ADMIN_LISTEN ("off" to disable),
# warnings only in the log, STORAGE_YAML (a `storage:` block), and
# validation through the generator's DNS and http-01 responders on
# 127.0.0.1.
write_gate_config() {
  cat >"$1" <<EOF
data_dir: $2
listen: 127.0.0.1:$3
admin:
  listen: $4
log:
  level: warn
$5
validation:
  resolvers: ["127.0.0.1:$6"]
  http_port: $7
  allowed_networks: ["127.0.0.0/8"]
EOF
}

# migrate_gate CONFIG: applies acmegate's migrations to the database of
# CONFIG (creating its data directory, where the SQLite file lives).
migrate_gate() {
  mkdir -p "$(sed -n 's/^data_dir: *//p' "$1")"
  ACMEGATE_DATABASE_URL= "$work/acmegate" migrate --config "$1" >/dev/null
}

# start_gate NAME CONFIG STDOUT LOG: starts acmegate serve with CONFIG in
# the background, its standard output in STDOUT and its log in LOG, and
# waits (30 s at most) until it has printed its directory URL and root.
# Sets GATE_PID, GATE_DIR (the directory URL) and GATE_ROOT (the root CA
# file); exits the script if acmegate dies or prints no directory.
start_gate() {
  local name=$1 config=$2 out=$3 log=$4
  ACMEGATE_DATABASE_URL= "$work/acmegate" serve --config "$config" >"$out" 2>"$log" &
  GATE_PID=$!
  pids+=("$GATE_PID")
  for _ in $(seq 1 300); do
    grep -q 'root CA:' "$out" 2>/dev/null && break
    kill -0 "$GATE_PID" 2>/dev/null || { echo "$PROG: $name exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  GATE_DIR=$(sed -n 's/^ *directory: *//p' "$out")
  GATE_ROOT=$(sed -n 's/^ *root CA: *//p' "$out")
  [ -n "$GATE_DIR" ] || { echo "$PROG: $name printed no directory" >&2; exit 1; }
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

# json_field JSON NAME: the first number called NAME in an acmebench
# report line.
json_field() { grep -o "\"$2\":[-0-9.e+]*" <<<"$1" | head -n 1 | cut -d: -f2; }
