#!/usr/bin/env bash
# Issue 26, recovery across nodes: what marking a browser's open sockets costs, the build before the
# marks (OLD) against this one (NEW), both with recovery on every channel, rounds alternated
# (ROUNDS, default "old new new old"). Per round: redis-server and two nodes (--threads 1,
# --adapter redis); `bench-marks.mjs churn` on node A (CHURN subscribe/unsubscribe pairs of one
# socket, each marked and unmarked on node B), CPU of A, B and redis-server from /proc over it, per
# 1,000 subscribes; then `bench-marks.mjs return` (RETURNS sockets of a browser with a live tab on A
# subscribing on B: B probes A first).
#   OLD=path NEW=path scripts/bench-marks.sh      # needs `npm ci` in protocol-tests/
# Records: target/bench-marks.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${OLD:?the build before the marks}
NEW=${NEW:-target/release/herald}
CHURN=${CHURN:-5000}
RETURNS=${RETURNS:-200}
JSON=${BENCH_JSON:-target/bench-marks.jsonl}
mkdir -p "$(dirname "$JSON")"; : > "$JSON"
. scripts/lib.sh

trap cleanup_pids EXIT

node() { # node BIN PORT REDIS_PORT -> pid
  ( SOKETI_DEFAULT_APP_RECOVERY_CHANNELS='*' SOKETI_METRICS_HOST=127.0.0.1 \
    SOKETI_METRICS_SERVER_PORT=$(free_port) RUST_LOG=warn \
    exec "$1" --host 127.0.0.1 --port "$2" --threads 1 --adapter redis \
      --redis-url "redis://127.0.0.1:$3/0" >/dev/null ) &
  echo $!
}

round() { # round LABEL BIN
  local rp a b pr pa pb r0 a0 b0 line
  rp=$(free_port)
  redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null &
  pr=$!; PIDS+=("$pr"); wait_port "$rp"
  a=$(free_port); b=$(free_port)
  pa=$(node "$2" "$a" "$rp"); PIDS+=("$pa"); pb=$(node "$2" "$b" "$rp"); PIDS+=("$pb")
  wait_port "$a"; wait_port "$b"; sleep 1
  r0=$(cpu_us "$pr"); a0=$(cpu_us "$pa"); b0=$(cpu_us "$pb")
  line=$(LABEL=$1 node_js churn "$a" "$CHURN")
  local da db dr
  da=$((($(cpu_us "$pa") - a0) * 1000 / CHURN)); db=$((($(cpu_us "$pb") - b0) * 1000 / CHURN))
  dr=$((($(cpu_us "$pr") - r0) * 1000 / CHURN))
  echo "${line%\}},\"cpu_us_per_1000\":{\"node_a\":$da,\"node_b\":$db,\"redis\":$dr}}" | tee -a "$JSON"
  LABEL=$1 node_js return "$a" "$b" "$RETURNS" | tee -a "$JSON"
  stop "$pa" "$pb" "$pr"
}
node_js() { command node scripts/bench-marks.mjs "$@"; }

for r in ${ROUNDS:-old new new old}; do
  case $r in old) round old "$OLD" ;; new) round new "$NEW" ;; esac
done
