#!/usr/bin/env bash
# Soak and faults under load (issue 12, parts 6 and 7): starts herald nodes (and, for more than one,
# a redis-server on a free port with its own data dir), runs `herald-bench --scenario soak` against
# them, prints the table and the verdict, stops everything. Exit status: herald-bench's (non-zero on
# any broken guarantee, loss, duplicate, reordering, or RSS/descriptors not back at their baseline).
#
#   scripts/soak.sh                          # 30 min on one node
#   scripts/soak.sh --duration 60 --nodes 2  # 1 min on two nodes over Redis
#   scripts/soak.sh --faults --duration 90   # three nodes; kill -9 one, restart Redis, mid-soak
#
# Options: --duration SECONDS (default 1800), --nodes 1|2|3, --faults (implies --nodes 3),
# --warmup SECONDS, --interval SECONDS (table rows), --report FILE (TSV, default
# target/soak-<nodes>n.tsv); anything else goes to herald-bench. NODE_THREADS threads per node
# (default 1); BENCH_BIN / HERALD_BIN override the binaries. Used as --hook ACTION [N] by herald-bench itself to inject the faults.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH_BIN:-target/release/herald-bench}
HERALD=${HERALD_BIN:-target/release/herald}

. scripts/lib.sh

start_redis() { # in $DIR: port file redis.port, pid file redis.pid
  redis-server --port "$(cat "$DIR/redis.port")" --bind 127.0.0.1 --dir "$DIR/redis" --save '' \
    --appendonly no --loglevel warning --daemonize yes --pidfile "$DIR/redis.pid" \
    --logfile "$DIR/redis.log"
  wait_port "$(cat "$DIR/redis.port")"
}

start_node() { # start_node N: node N on the port in $DIR/port.N; its pid into $DIR/pid.N
  local n=$1 args=()
  if [ -f "$DIR/redis.port" ]; then
    args=(--adapter redis --redis-url "redis://127.0.0.1:$(cat "$DIR/redis.port")/0")
  fi
  RUST_LOG=warn HERALD_LOG=warn "$HERALD" --config "$DIR/node.$n.toml" --threads "${NODE_THREADS:-1}" \
    "${args[@]}" >>"$DIR/node.$n.log" 2>&1 &
  echo $! >"$DIR/pid.$n"
  wait_port "$(cat "$DIR/port.$n")"
  # the pid list herald-bench reads, in node order
  cat "$DIR"/pid.* | tr '\n' ' ' >"$DIR/pids.tmp" && mv "$DIR/pids.tmp" "$DIR/pids"
}

if [ "${1:-}" = "--hook" ]; then # called by herald-bench: SOAK_DIR is set
  DIR=$SOAK_DIR
  case "$2" in
    kill) kill -9 "$(cat "$DIR/pid.$3")" ;;
    start) start_node "$3" ;;
    # a graceful shutdown saves the data set (as `docker restart` of a stock Redis does);
    # REDIS_SHUTDOWN=nosave restarts it empty instead
    redis-stop) redis-cli -p "$(cat "$DIR/redis.port")" shutdown "${REDIS_SHUTDOWN:-save}" >/dev/null 2>&1 || true ;;
    redis-start) start_redis ;;
    *) echo "unknown hook $2" >&2; exit 2 ;;
  esac
  exit 0
fi

DURATION=1800 NODES=1 FAULTS=0 EXTRA=() REPORT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --faults) FAULTS=1; NODES=3; shift ;;
    --report) REPORT=$2; shift 2 ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done
SUFFIX=""; [ $FAULTS = 0 ] || SUFFIX=-faults
REPORT=${REPORT:-target/soak-${NODES}n$SUFFIX.tsv}

DIR=$(mktemp -d /tmp/herald-soak.XXXXXX)
export SOAK_DIR=$DIR
cleanup() {
  for f in "$DIR"/pid.*; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  [ -f "$DIR/redis.pid" ] && kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${KEEP_SOAK_DIR:-}" = "" ]; then rm -rf "$DIR"; else echo "soak: logs kept in $DIR"; fi
}
trap cleanup EXIT

if [ "$NODES" -gt 1 ]; then
  command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
  mkdir -p "$DIR/redis"
  free_port >"$DIR/redis.port"
  start_redis
fi
PORTS=()
for n in $(seq 0 $((NODES - 1))); do
  port=$(free_port)
  echo "$port" >"$DIR/port.$n"
  PORTS+=("$port")
  # client events on (private and presence channels); metrics port off the default
  cat >"$DIR/node.$n.toml" <<EOF
[server]
host = "127.0.0.1"
port = $port
metrics_host = "127.0.0.1"
metrics_port = $(free_port)

[[apps]]
id = "app-id"
key = "app-key"
secret = "app-secret"
enable_client_messages = true
EOF
  start_node "$n"
done
REDIS=""; [ ! -f "$DIR/redis.port" ] || REDIS=", redis-server :$(cat "$DIR/redis.port")"
echo "soak: $NODES node(s) on ports ${PORTS[*]} (pids $(cat "$DIR/pids"))$REDIS, ${DURATION} s"

HOOK=()
[ $FAULTS = 0 ] || HOOK=(--fault-hook "$PWD/scripts/soak.sh --hook")
# Redis restarted empty: members who left during the outage stay listed (README, Guarantees)
[ "${REDIS_SHUTDOWN:-save}" = save ] || HOOK+=(--allow-presence-gap)
PORT_LIST=$(IFS=,; echo "${PORTS[*]}")
"$BENCH" --scenario soak --sub-ports "$PORT_LIST" --pid-file "$DIR/pids" --duration "$DURATION" \
  --report "$REPORT" "${HOOK[@]}" "${EXTRA[@]}"
