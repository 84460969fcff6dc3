#!/usr/bin/env bash
# Issue 26: what recovery costs, the same build with recovery off (no recovery_channels) and on
# (`SOKETI_DEFAULT_APP_RECOVERY_CHANNELS='*'`), rounds alternated (ROUNDS, default "off on on off").
# Per round:
#   bus   two nodes on one redis-server (as bench-cluster.sh): 2,000 API publishes/s on 100 channels
#         into node A, one subscriber per channel on node B, 10 s; CPU of redis-server and of each node
#         from /proc over the run, per 1,000 publishes; then herald-bench publish (batches of 10) into A.
#   one   one node: herald-bench latency; the replay client (bench-recovery.mjs, 100 returns of
#         100 missed events); then a fresh node filled with MEM_CHANNELS (10,000) channels x 100
#         events of 200 B (batch_events), RSS before and after.
#   HERALD=path BENCH=path scripts/bench-recovery.sh     # needs `npm ci` in protocol-tests/
# Records: target/bench-recovery.jsonl (herald-bench's lines and this script's), summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
HERALD=${HERALD:-target/release/herald}
BENCH=${BENCH:-target/release/herald-bench}
JSON=${BENCH_JSON:-target/bench-recovery.jsonl}
MEM_CHANNELS=${MEM_CHANNELS:-10000}
mkdir -p "$(dirname "$JSON")"; : > "$JSON"
. scripts/lib.sh

trap cleanup_pids EXIT

rec() { echo "{\"scenario\":\"$1\",\"label\":\"$LABEL\",$2}" >> "$JSON"; }

herald_node() { # herald_node PORT [herald args...] -> starts a node with recovery $MODE, prints its pid
  local port=$1; shift
  ( if [ "$MODE" = on ]; then export SOKETI_DEFAULT_APP_RECOVERY_CHANNELS='*' SOKETI_DEFAULT_APP_RECOVERY_MAX_KEPT=2000000; fi
    SOKETI_METRICS_HOST=127.0.0.1 SOKETI_METRICS_SERVER_PORT=$(free_port) RUST_LOG=warn \
      exec "$HERALD" --host 127.0.0.1 --port "$port" --threads 1 "$@" >/dev/null ) &
  echo $!
}

bus_round() {
  local rp a b pr pa pb r0 a0 b0
  rp=$(free_port)
  redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null &
  pr=$!; PIDS+=("$pr"); wait_port "$rp"
  a=$(free_port); b=$(free_port)
  pa=$(herald_node "$a" --adapter redis --redis-url "redis://127.0.0.1:$rp/0"); PIDS+=("$pa")
  pb=$(herald_node "$b" --adapter redis --redis-url "redis://127.0.0.1:$rp/0"); PIDS+=("$pb")
  wait_port "$a"; wait_port "$b"
  r0=$(cpu_us "$pr"); a0=$(cpu_us "$pa"); b0=$(cpu_us "$pb")
  "$BENCH" --port "$b" --pub-port "$a" --server-pid "$pa,$pb" --json "$JSON" --label "$LABEL" \
    --scenario channels --channels 100 --subscribers 100 --rate 2000 --duration 10
  local n
  n=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "publishes_ok" in l][-1]["publishes_ok"])' "$JSON")
  rec bus "\"publishes\":$n,\"redis_cpu_us\":$(($(cpu_us "$pr") - r0)),\"node_a_cpu_us\":$(($(cpu_us "$pa") - a0)),\"node_b_cpu_us\":$(($(cpu_us "$pb") - b0))"
  "$BENCH" --port "$a" --server-pid "$pa,$pb" --json "$JSON" --label "$LABEL" --scenario publish --publishers 8 --batch 10
  stop "$pa" "$pb" "$pr"
}

one_round() {
  local p pid r0
  p=$(free_port); pid=$(herald_node "$p"); PIDS+=("$pid"); wait_port "$p"
  "$BENCH" --port "$p" --server-pid "$pid" --json "$JSON" --label "$LABEL" --scenario latency
  node scripts/bench-recovery.mjs "$p" 100 100 "$LABEL" | tee -a "$JSON"
  stop "$pid"
  # memory: a fresh node (max age 600 s, so that nothing ages out while it fills)
  p=$(free_port); pid=$(SOKETI_DEFAULT_APP_RECOVERY_MAX_AGE=600 herald_node "$p"); PIDS+=("$pid"); wait_port "$p"
  sleep 1; r0=$(rss_kib "$pid")
  "$BENCH" --port "$p" --json "$JSON" --label "$LABEL fill" --scenario channels --channels "$MEM_CHANNELS" \
    --subscribers 0 --rate 20000 --duration $((MEM_CHANNELS / 200)) --batch 10 --payload 200 || true # exits 1: no deliveries
  sleep 2
  local kept=0; [ "$MODE" = on ] && kept=$(node scripts/bench-recovery.mjs history "$p" ch-0)
  rec memory "\"channels\":$MEM_CHANNELS,\"events\":$((MEM_CHANNELS * 100)),\"kept_in_ch0\":$kept,\"rss0_kib\":$r0,\"rss1_kib\":$(rss_kib "$pid")"
  stop "$pid"
}

ROUND=0
for MODE in ${ROUNDS:-off on on off}; do
  ROUND=$((ROUND + 1)); LABEL="$MODE $ROUND"
  echo; echo "======== round $ROUND: recovery $MODE"
  bus_round
  one_round
done

echo; echo "== summary (one line per round)"
python3 - "$JSON" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
labels = list(dict.fromkeys(r["label"] for r in recs if not r["label"].endswith("fill")))
def one(label, **kv):
    return next((r for r in recs if r.get("label") == label and all(r.get(k) == v for k, v in kv.items())), {})
for l in labels:
    bus, mem, rep = one(l, scenario="bus"), one(l, scenario="memory"), one(l, scenario="replay")
    n = bus.get("publishes") or 1
    cpu = "  ".join(f"{k} {bus.get(k + '_cpu_us', 0) / n:.1f}" for k in ("redis", "node_a", "node_b"))
    step = one(l, scenario="channels", step="100ch 2000/s")
    hop = step.get("latency_from_actual_send", {})
    pub = [one(l, scenario="publish", step=f"max 10/req {k}sub").get("max_publishes_per_s") for k in (0, 1)]
    print(f"[{l}] bus, CPU ms per 1,000 publishes: {cpu}; delivered {step.get('delivery_pct')} %, "
          f"hop p50/p99 {hop.get('p50_us', 0):.0f}/{hop.get('p99_us', 0):.0f} us; publish max (10/req) 0 sub {pub[0]}, 1 sub {pub[1]}/s")
    lat = []
    for st in ("1sub 1000/s", "1000sub 10/s", "1000sub 100/s"):
        r = one(l, scenario="latency", step=st)
        a = r.get("latency_from_actual_send", {})
        lat.append(f"{st} p50/p99 {a.get('p50_us', 0):.0f}/{a.get('p99_us', 0):.0f} us {r.get('server_cpu_us_per_delivery')} us/dlv")
    print(f"[{l}] latency, one node: " + "; ".join(lat))
    last = rep.get("last_replayed_us") or {}
    print(f"[{l}] return: subscription_succeeded p50/p99 {rep['subscribed_us']['p50']}/{rep['subscribed_us']['p99']} us, "
          f"last replayed p50/p99 {last.get('p50')}/{last.get('p99')} us (missing {rep['missing']}, dup/order {rep['dup_or_order']}, failed {rep['failed']})")
    fill = one(l + " fill", scenario="channels", step=f"{mem['channels']}ch 20000/s")
    d = (mem["rss1_kib"] - mem["rss0_kib"]) * 1024
    print(f"[{l}] memory: {fill.get('publishes_ok')} of {mem['events']} events on {mem['channels']} channels, kept in ch-0 {mem['kept_in_ch0']}; "
          f"RSS +{d / 2**20:.1f} MiB = {d / mem['channels']:.0f} B/channel, {d / mem['events']:.0f} B/event")
EOF
