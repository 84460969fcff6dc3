#!/usr/bin/env bash
# Scenario 8 of BENCHMARKS.md: what a node pays for channels it does not serve.
# 1, 2 and 4 herald nodes on one redis-server and on a three-master Redis Cluster;
# subscribers on the first half of the nodes (at least one), HTTP publishes to node 0
# at a fixed rate. Reports, per node and per bus server, CPU µs per published event
# and (per node) bus messages received per event, from /proc and each node's
# cluster_bus_messages_received_total.
#
#   scripts/bench-shard.sh            # the full run (a few minutes)
#   scripts/bench-shard.sh --smoke    # tiny sizes (CI): fails only on a crash or zero deliveries
#
# HERALD=path picks the node binary (default target/release/herald); BASE_HERALD=path adds
# the same single-Redis runs with that binary (an A/B against an older build; a build
# without Redis Cluster support is run on one Redis only). Records: target/bench-shard.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=target/release/herald-bench
HERALD=${HERALD:-target/release/herald}
BASE_HERALD=${BASE_HERALD:-}
RATE=${RATE:-3000}
DUR=${DUR:-8}
SUBS=${SUBS:-50}
if [ "${1:-}" = "--smoke" ]; then
  RATE=50 DUR=2 SUBS=4
  shift
fi
NODES=${NODES:-1 2 4}
JSON=${BENCH_JSON:-target/bench-shard.jsonl}
: > "$JSON"
TMP=$(mktemp -d)
. scripts/lib.sh

PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$TMP"' EXIT

BUS_PIDS=() BUS_PORTS=()
redis_single() {
  local p; p=$(free_port)
  redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null &
  PIDS+=($!); BUS_PIDS=($!); BUS_PORTS=("$p"); wait_port "$p"
  BUS_ENV=(--adapter redis --redis-url "redis://127.0.0.1:$p/0")
}
# A free port below 55536 whose cluster bus port (+10000) is free too.
cluster_port() {
  python3 -c '
import random, socket
while True:
    p = random.randint(20000, 55535)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}
redis_cluster() {
  BUS_PIDS=() BUS_PORTS=()
  local seeds=() json=()
  for _ in 1 2 3; do
    local p; p=$(cluster_port); mkdir -p "$TMP/$p"
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
      --cluster-enabled yes --cluster-config-file nodes.conf --dir "$TMP/$p" >/dev/null &
    PIDS+=($!); BUS_PIDS+=($!); BUS_PORTS+=("$p"); seeds+=("127.0.0.1:$p"); json+=("{\"host\":\"127.0.0.1\",\"port\":$p}")
  done
  for p in "${BUS_PORTS[@]}"; do wait_port "$p"; done
  redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  for p in "${BUS_PORTS[@]}"; do
    until redis-cli -p "$p" CLUSTER INFO | grep -q cluster_state:ok; do sleep 0.1; done
  done
  local IFS=,
  CLUSTER_NODES="[${json[*]}]"
  BUS_ENV=(--adapter redis)
}

cpu_us() { awk '{ sub(/.*\) /, ""); print ($12 + $13) * 10000 }' "/proc/$1/stat"; }
bus_msgs() { curl -s "http://127.0.0.1:$1/metrics" | awk '/cluster_bus_messages_received_total/ && !/^#/ { print $2; f=1 } END { if (!f) print "nan" }'; }

run() { # run BIN BUSKIND N
  local bin=$1 kind=$2 n=$3 label; shift 3
  label="$kind $n node(s) $(basename "$(dirname "$bin")")"
  if [ "$kind" = cluster ]; then redis_cluster; else redis_single; fi
  local ports=() mports=() npids=()
  for i in $(seq 1 "$n"); do
    local p m; p=$(free_port); m=$(free_port)
    if [ "$kind" = cluster ]; then
      SOKETI_ADAPTER_REDIS_CLUSTER_MODE=true SOKETI_DB_REDIS_CLUSTER_NODES="$CLUSTER_NODES" \
      SOKETI_METRICS_ENABLED=true SOKETI_METRICS_HOST=127.0.0.1 SOKETI_METRICS_SERVER_PORT=$m RUST_LOG=warn \
        "$bin" --host 127.0.0.1 --port "$p" --threads 1 "${BUS_ENV[@]}" >/dev/null &
    else
      SOKETI_METRICS_ENABLED=true SOKETI_METRICS_HOST=127.0.0.1 SOKETI_METRICS_SERVER_PORT=$m RUST_LOG=warn \
        "$bin" --host 127.0.0.1 --port "$p" --threads 1 "${BUS_ENV[@]}" >/dev/null &
    fi
    PIDS+=($!); npids+=($!); ports+=("$p"); mports+=("$m")
  done
  for p in "${ports[@]}"; do wait_port "$p"; done
  for p in "${ports[@]}"; do until curl -sf "http://127.0.0.1:$p/ready" >/dev/null; do sleep 0.1; done; done
  local held=$(( (n + 1) / 2 )) sub_ports
  sub_ports=$(IFS=,; echo "${ports[*]:0:$held}")
  # A quiet window as long as the run: what each process spends with no events (timers,
  # heartbeats), subtracted below so the figures are per event.
  local quiet=() bus_quiet=()
  for i in "${!npids[@]}"; do quiet+=("$(cpu_us "${npids[$i]}")"); done
  for b in "${BUS_PIDS[@]}"; do bus_quiet+=("$(cpu_us "$b")"); done
  local t0; t0=$(date +%s%N)
  sleep "$DUR"
  local quiet_ns=$(( $(date +%s%N) - t0 ))
  for i in "${!npids[@]}"; do quiet[$i]=$(( $(cpu_us "${npids[$i]}") - ${quiet[$i]} )); done
  for j in "${!BUS_PIDS[@]}"; do bus_quiet[$j]=$(( $(cpu_us "${BUS_PIDS[$j]}") - ${bus_quiet[$j]} )); done
  for p in "${BUS_PORTS[@]}"; do redis-cli -p "$p" CONFIG RESETSTAT >/dev/null; done
  local before=() msgs=() bus_before=()
  for i in "${!npids[@]}"; do before+=("$(cpu_us "${npids[$i]}")"); msgs+=("$(bus_msgs "${mports[$i]}")"); done
  for b in "${BUS_PIDS[@]}"; do bus_before+=("$(cpu_us "$b")"); done
  t0=$(date +%s%N)
  echo; echo "== $label: subscribers on $held node(s), $RATE events/s to node 0"
  "$BENCH" --port "${ports[0]}" --pub-port "${ports[0]}" --sub-ports "$sub_ports" --scenario fanout \
    --rate "$RATE" --subscribers "$SUBS" --payload 100 --publishers 4 --duration "$DUR" \
    --json "$TMP/step.jsonl" --label "$label" "$@" | grep -E '^fanout .*/s' || true
  local events; events=$(grep publishes_ok "$TMP/step.jsonl" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["publishes_ok"])')
  local run_ns=$(( $(date +%s%N) - t0 )) stats=()
  for p in "${BUS_PORTS[@]}"; do
    stats+=("\"$(redis-cli -p "$p" INFO commandstats | grep -o 'cmdstat_[a-z|]*:calls=[0-9]*,usec=[0-9]*' | tr '\n' ' ')\"")
  done
  local per_node=() bus=()
  for i in "${!npids[@]}"; do
    local cpu m
    cpu=$(( $(cpu_us "${npids[$i]}") - ${before[$i]} ))
    m=$(bus_msgs "${mports[$i]}")
    per_node+=("{\"node\":$i,\"subscribers\":$([ "$i" -lt "$held" ] && echo true || echo false),\"cpu_us\":$cpu,\"quiet_cpu_us\":${quiet[$i]},\"bus_msgs\":$(python3 -c "a,b='$m','${msgs[$i]}'; print('null' if 'nan' in (a,b) else float(a)-float(b))")}")
  done
  for j in "${!BUS_PIDS[@]}"; do bus+=("$(( $(cpu_us "${BUS_PIDS[$j]}") - ${bus_before[$j]} ))"); done
  local IFS=,
  echo "{\"label\":\"$label\",\"bus\":\"$kind\",\"nodes\":$n,\"holding\":$held,\"events\":$events,\"run_ns\":$run_ns,\"quiet_ns\":$quiet_ns,\"per_node\":[${per_node[*]}],\"bus_cpu_us\":[${bus[*]}],\"bus_quiet_cpu_us\":[${bus_quiet[*]}],\"bus_commandstats\":[${stats[*]}]}" >> "$JSON"
  unset IFS
  python3 - "$JSON" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1]); e = max(r["events"], 1)
scale = r["run_ns"] / r["quiet_ns"]
for p in r["per_node"]:
    m = "n/a" if p["bus_msgs"] is None else "%.2f" % (p["bus_msgs"] / e)
    who = "subscribers" if p["subscribers"] else "no subscriber"
    net = (p["cpu_us"] - p["quiet_cpu_us"] * scale) / e
    print("  node %d (%s): %6.2f us CPU/event (%6.2f with its quiet-window CPU), %s bus msgs/event" % (p["node"], who, net, p["cpu_us"] / e, m))
for i, (c, q) in enumerate(zip(r["bus_cpu_us"], r["bus_quiet_cpu_us"])):
    calls = " ".join("%s %s/event %.2f us/event" % (s.split(":")[0][8:], "%.2f" % (int(s.split("calls=")[1].split(",")[0]) / e), int(s.split("usec=")[1]) / e)
                     for s in r["bus_commandstats"][i].split() if int(s.split("calls=")[1].split(",")[0]) >= e / 10)
    print("  bus server %d: %6.2f us CPU/event; Redis's own count of its busiest commands: %s" % (i, (c - q * scale) / e, calls))
total = sum(p["bus_msgs"] for p in r["per_node"] if p["bus_msgs"] is not None)
print("  %d events; bus messages per event (all nodes): %.2f; nodes holding the channel: %d" % (r["events"], total / e, r["holding"]))
EOF
  stop_all
  if [ "$events" -lt 1 ]; then echo "no events published" >&2; exit 1; fi
}

for n in $NODES; do run "$HERALD" single "$n" "$@"; done
for n in $NODES; do run "$HERALD" cluster "$n" "$@"; done
if [ -n "$BASE_HERALD" ]; then
  for n in $NODES; do run "$BASE_HERALD" single "$n" "$@"; done
fi
