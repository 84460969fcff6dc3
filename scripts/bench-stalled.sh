#!/usr/bin/env bash
# Stalled readers (issue 12): N sockets on one channel stop reading while 4 KB
# events keep coming. Prints the server's RSS and descriptors over time and a
# summary: RSS added by the stalled readers, when the node let go of them, and
# the healthy subscribers' latency (herald-bench's slow scenario).
#   scripts/bench-stalled.sh [BINARY...]   (default: target/release/herald)
# Several binaries are run one after the other, alternating twice (A/B).
set -euo pipefail
cd "$(dirname "$0")/.."
STALLED=${STALLED:-1000}
HEALTHY=${HEALTHY:-100}
RATE=${RATE:-500}
PAYLOAD=${PAYLOAD:-4096}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-1}
BENCH=${BENCH:-target/release/herald-bench}
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(target/release/herald)
. scripts/lib.sh
total=$((STALLED + HEALTHY))
share=$(python3 -c "print($STALLED/$total)")
run_one() {
  local bin=$1 port mport dir pid
  port=$(free_port); mport=$(free_port); dir=$(mktemp -d)
  printf '[server]\nhost="127.0.0.1"\nport=%s\nmetrics_port=%s\nmetrics_host="127.0.0.1"\nmetrics_enabled=true\n' "$port" "$mport" > "$dir/c.toml"
  "$bin" --config "$dir/c.toml" > "$dir/log" 2>&1 & pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
  ( while kill -0 "$pid" 2>/dev/null; do
      rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
      fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
      full=$(curl -fs "http://127.0.0.1:$mport/metrics" 2>/dev/null | awk '/^soketi_socket_queue_full_closes_total/ {n += $2} END {print n + 0}')
      echo "$(date +%s.%N) $rss $fds $full"; sleep 0.25
    done ) > "$dir/samples" &
  local sampler=$!
  "$BENCH" --host 127.0.0.1 --port "$port" --server-pid "$pid" --scenario slow \
    --subscribers "$total" --slow-share "$share" --payload "$PAYLOAD" --rate "$RATE" \
    --duration "$DURATION" --json "$dir/bench.jsonl" > "$dir/bench.out" 2>&1 || true
  curl -fs "http://127.0.0.1:$mport/metrics" | awk '/^soketi_socket_queue_full_closes_total/ {n += $2} END {print n + 0}' > "$dir/closed"
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  python3 - "$dir" "$bin" "$STALLED" <<'PY'
import json, sys
d, binary, stalled = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [tuple(map(float, l.split())) for l in open(d + "/samples") if len(l.split()) == 4]
t0 = rows[0][0]
print(f"== {binary}")
print("t_s\trss_mib\tfds\tclosed_4100")
for t, rss, fds, full in rows[::2]:
    print(f"{t - t0:.1f}\t{rss / 1024:.1f}\t{int(fds)}\t{int(full)}")
res = [json.loads(l) for l in open(d + "/bench.jsonl")]
result = next((r for r in res if r.get("step") == "result"), {})
peak_fds = max(r[2] for r in rows)
peak = max(r[1] for r in rows)
# stalled readers joined when the descriptors jumped; when the first and the last were closed with 4100
t_join = next(t for t, _, f, _ in rows if f >= peak_fds - 0.05 * stalled)
first = next((t for t, _, _, n in rows if n >= 1), None)
last = next((t for t, _, _, n in rows if n >= 0.99 * stalled), None)
since = lambda t: f"{t - t_join:.1f}s" if t else "never"
# RSS before the stalled readers joined: the baseline step's server RSS
base = result.get("server_rss_before_kib") or rows[0][1]
# the moment the fds peak, then how long until the stalled sockets' descriptors are gone
t_peak = next(t for t, _, f, _ in rows if f == peak_fds)
gone = next((t for t, _, f, _ in rows if t > t_peak and f <= peak_fds - 0.95 * stalled), None)
print(f"summary: stalled={stalled} rss_before={base/1024:.1f}MiB peak={peak/1024:.1f}MiB added={(peak-base)/1024:.1f}MiB "
      f"fds_peak={int(peak_fds)} after_join: first_4100={since(first)} 99%_4100={since(last)} 95%_fds_released={since(gone)} "
      f"closed_4100_by_server={open(d + '/closed').read().strip()} seen_by_clients={result.get('closed_4100')} "
      f"healthy_p99_us={result.get('healthy_p99_before_us')}->{result.get('healthy_p99_after_us')}")
PY
  [ -n "${KEEP:-}" ] && cat "$dir/bench.out"; rm -rf "$dir"
}
for _ in $(seq "$ROUNDS"); do
  for b in "${bins[@]}"; do run_one "$b"; done
done
