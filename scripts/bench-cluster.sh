#!/usr/bin/env bash
# Scenario 7 of BENCHMARKS.md: two herald nodes joined by one redis-server, all on this box.
# Starts redis-server and two release nodes on free ports, runs herald-bench against them
# (latency on one node and across the Redis hop, fan-out on one node and split over both,
# churn and the presence storm split over both), prints a summary and stops everything.
#
#   scripts/bench-cluster.sh            # the full run (a few minutes)
#   scripts/bench-cluster.sh --smoke    # tiny sizes (CI): fails only on a crash or zero deliveries
#
# Extra arguments go to every herald-bench call (e.g. --procs 2). Records: target/bench-cluster.jsonl.
# Each node gets NODE_THREADS threads (default 1: two nodes on a 2-core box get a core each, as two
# nodes on two machines would; the one-node figures below are for the same 1-thread node).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=target/release/herald-bench
HERALD=${HERALD:-target/release/herald}  # HERALD=path: another build (an A/B)
SIZE=()
if [ "${1:-}" = "--smoke" ]; then
  SIZE=(--smoke --duration 2)
  shift
fi
JSON=${BENCH_JSON:-target/bench-cluster.jsonl}
: > "$JSON"

. scripts/lib.sh

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

RP=$(free_port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null &
PIDS+=($!)
wait_port "$RP"

node() { # node PORT METRICS_PORT -> starts a cluster node, prints its pid
  SOKETI_METRICS_HOST=127.0.0.1 SOKETI_METRICS_SERVER_PORT=$2 RUST_LOG=warn \
    "$HERALD" --host 127.0.0.1 --port "$1" --threads "${NODE_THREADS:-1}" --adapter redis --redis-url "redis://127.0.0.1:$RP/0" >/dev/null &
  echo $!
}
A=$(free_port); B=$(free_port)
PA=$(node "$A" "$(free_port)"); PIDS+=("$PA")
PB=$(node "$B" "$(free_port)"); PIDS+=("$PB")
wait_port "$A"; wait_port "$B"
echo "cluster: redis :$RP, node A :$A (pid $PA), node B :$B (pid $PB); srv% and srv MiB below are both nodes"

run() { # run LABEL herald-bench-args...
  local label=$1; shift
  echo; echo "== $label"
  "$BENCH" --port "$A" --server-pid "$PA,$PB" --json "$JSON" --label "$label" "${SIZE[@]}" "$@"
}
run "one node" --scenario latency "$@"
run "cross node" --sub-ports "$B" --pub-port "$A" --scenario latency "$@"
run "fanout one node" --scenario fanout --payload 100 "$@"
run "fanout two nodes" --sub-ports "$A,$B" --pub-port "$A" --scenario fanout --payload 100 "$@"
run "churn two nodes" --sub-ports "$A,$B" --scenario churn "$@"

echo; echo "== cluster summary"
python3 - "$JSON" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def steps(label, scenario):
    return {r["step"]: r for r in recs if r.get("label") == label and r["scenario"] == scenario and "latency" in r}
one, cross = steps("one node", "latency"), steps("cross node", "latency")
for step in one:
    if step in cross:
        a, b = one[step]["latency_from_actual_send"], cross[step]["latency_from_actual_send"]
        print(f"Redis hop, {step}: p50 {a['p50_us']:.0f} -> {b['p50_us']:.0f} us (+{b['p50_us'] - a['p50_us']:.0f}), "
              f"p99 {a['p99_us']:.0f} -> {b['p99_us']:.0f} us (+{b['p99_us'] - a['p99_us']:.0f}), from the actual send")
def knee(label):
    k = [r.get("knee_deliveries_per_s") for r in recs if r.get("label") == label and r["step"].startswith("knee")]
    return k[0] if k else None
k1, k2 = knee("fanout one node"), knee("fanout two nodes")
if k1 and k2:
    print(f"fan-out knee: one node {k1:.0f}/s, subscribers split over two nodes {k2:.0f}/s = {100 * k2 / k1:.0f} % of one node")
for r in recs:
    if r.get("label") == "churn two nodes" and r["step"].startswith(("sub/unsub", "presence")):
        if "cycles_per_s" in r:
            print(f"churn over two nodes: {r['cycles_per_s']:.0f} cycles/s")
        else:
            print(f"presence storm over two nodes: member_added {r['member_added']}/{r['member_added_expected']} in {r['storm_secs']} s")
EOF
