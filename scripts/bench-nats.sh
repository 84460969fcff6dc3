#!/usr/bin/env bash
# What an event costs with the NATS adapter: 1, 2 and 4 herald nodes on one nats-server (JetStream),
# all on this box. Subscribers sit on node 0 (1 node) or nodes 0 and 1 (2 and 4 nodes): nodes 2 and 3
# hold no subscriber. herald-bench publishes RATE signed events/s through node 0 for SECS seconds to
# one channel; the script reads each process's CPU (/proc/PID/stat) and, from nats-server's
# monitoring port (/connz), the messages each node's connection received and sent, and prints per
# node and for nats-server the CPU per event and the messages per event.
#
#   scripts/bench-nats.sh                 # 5,000 events/s for 10 s per cluster size
#   RATE=2000 SECS=5 scripts/bench-nats.sh
#   NATS_GOMAXPROCS=1 scripts/bench-nats.sh   # nats-server on one Go thread
#
# Records: target/bench-nats.jsonl (one line per node and cluster size).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=target/release/herald-bench
HERALD=target/release/herald
RATE=${RATE:-5000}
SECS=${SECS:-10}
OUT=${BENCH_JSON:-target/bench-nats.jsonl}
: > "$OUT"
. scripts/lib.sh

PIDS=()
STORE=$(mktemp -d)
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$STORE"; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for N in 1 2 4; do
  NP=$(free_port); MP=$(free_port)
  GOMAXPROCS=${NATS_GOMAXPROCS:-} nats-server -js -a 127.0.0.1 -p "$NP" -m "$MP" -sd "$STORE/$N" >/dev/null 2>&1 &
  NATS_PID=$!; PIDS+=("$NATS_PID")
  wait_port "$NP"; wait_port "$MP"
  PORTS=(); NODE_PIDS=()
  for i in $(seq 0 $((N - 1))); do
    P=$(free_port)
    SOKETI_ADAPTER_DRIVER=nats SOKETI_ADAPTER_NATS_SERVERS="[\"127.0.0.1:$NP\"]" \
      SOKETI_METRICS_SERVER_PORT=$(free_port) HERALD_LOG=warn \
      "$HERALD" --host 127.0.0.1 --port "$P" --threads 1 >/dev/null 2>&1 &
    NODE_PIDS+=($!); PIDS+=($!); PORTS+=("$P")
  done
  for P in "${PORTS[@]}"; do wait_port "$P"; done
  for P in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$P/ready" >/dev/null && break; sleep 0.1; done
  done
  SUBS=${PORTS[0]}; [ "$N" -gt 1 ] && SUBS="${PORTS[0]},${PORTS[1]}"
  BEFORE=$(mktemp); AFTER=$(mktemp)
  snapshot() { # snapshot FILE: "pid ticks" per node, nats-server last; then nats-server's /connz
    { for p in "${NODE_PIDS[@]}" "$NATS_PID"; do echo "$p $(cpu_ticks "$p")"; done
      curl -s "http://127.0.0.1:$MP/connz?limit=1000"; } > "$1"
  }
  # The snapshots bracket the whole run: connecting two subscribers and a few heartbeats are in it.
  STEP=$(mktemp)
  snapshot "$BEFORE"
  "$BENCH" --port "${PORTS[0]}" --sub-ports "$SUBS" --pub-port "${PORTS[0]}" --scenario fanout \
    --subscribers "$([ "$N" -gt 1 ] && echo 2 || echo 1)" --rate "$RATE" --duration "$SECS" --payload 100 \
    --label "nats $N nodes" --json "$STEP" >/dev/null
  snapshot "$AFTER"
  python3 - "$N" "$STEP" "$BEFORE" "$AFTER" "$OUT" "${NODE_PIDS[@]}" <<'PY'
import json, os, sys
n, step, before, after, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
pids = sys.argv[6:]
rec = [r for r in map(json.loads, filter(str.strip, open(step))) if "publishes_ok" in r][-1]
events, secs, rate = rec["publishes_ok"], rec["secs"], rec["rate_target"]
hz = os.sysconf("SC_CLK_TCK")
def read(path):
    lines = open(path).read().split("\n")
    ticks = {}
    for l in lines[: n + 1]:
        p, t = l.split()
        ticks[p] = int(t)
    connz = json.loads("\n".join(lines[n + 1 :]))
    conns = {}
    for c in connz.get("connections", []):
        name = c.get("name", "")
        if name.startswith("herald "):
            conns[name.rsplit("-", 1)[-1]] = (c["in_msgs"], c["out_msgs"])
    return ticks, conns
t0, c0 = read(before); t1, c1 = read(after)
print(f"\n== {n} node(s): {events} events at {rate:.0f}/s, delivered {rec['delivery_pct']} % (subscribers on node 0{' and 1' if n > 1 else ''})")
print(f"{'process':<14}{'CPU s':>8}{'us/event':>10}{'msgs in':>10}{'msgs out':>10}{'in/event':>10}{'out/event':>10}")
for i, p in enumerate(pids):
    cpu = (t1[p] - t0[p]) / hz
    i0, o0 = c0.get(p, (0, 0)); i1, o1 = c1.get(p, (0, 0))
    sent, got = i1 - i0, o1 - o0   # nats-server's in_msgs are what the node sent
    role = "subscribers" if i == 0 or (i == 1 and n > 1) else "idle"
    print(f"node {i} {role:<7}{cpu:>8.2f}{1e6 * cpu / events:>10.1f}{sent:>10}{got:>10}{sent / events:>10.3f}{got / events:>10.3f}")
    rec = {"bus": "nats", "nodes": n, "node": i, "role": role, "events": events, "cpu_s": cpu,
           "us_per_event": 1e6 * cpu / events, "msgs_sent": sent, "msgs_received": got}
    open(out, "a").write(json.dumps(rec) + "\n")
ns = [p for p in t0 if p not in pids][0]
cpu = (t1[ns] - t0[ns]) / hz
print(f"{'nats-server':<14}{cpu:>8.2f}{1e6 * cpu / events:>10.1f}")
open(out, "a").write(json.dumps({"bus": "nats", "nodes": n, "node": "nats-server", "events": events, "cpu_s": cpu, "us_per_event": 1e6 * cpu / events}) + "\n")
PY
  rm -f "$BEFORE" "$AFTER" "$STEP"
  for p in "${NODE_PIDS[@]}" "$NATS_PID"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
done
