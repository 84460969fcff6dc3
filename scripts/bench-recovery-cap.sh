#!/usr/bin/env bash
# scripts/bench-recovery-cap.sh CAP (issue 26, recovery_max_kept) -> RSS growth of a fresh node filled with 1,000,000 events of 200 B on 10,000 channels
set -euo pipefail
cd "$(dirname "$0")/.."; . scripts/lib.sh
p=$(free_port)
SOKETI_DEFAULT_APP_RECOVERY_CHANNELS='*' SOKETI_DEFAULT_APP_RECOVERY_MAX_AGE=600 SOKETI_DEFAULT_APP_RECOVERY_MAX_KEPT=$1 \
  SOKETI_METRICS_HOST=127.0.0.1 SOKETI_METRICS_SERVER_PORT=$(free_port) RUST_LOG=warn \
  target/release/herald --host 127.0.0.1 --port "$p" --threads 1 >target/memcap-$1.log 2>&1 &
pid=$!; wait_port "$p"; sleep 1
r0=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
target/release/herald-bench --port "$p" --json target/bench-recovery-cap.jsonl --label "cap $1" --scenario channels --channels 10000 \
  --subscribers 0 --rate 20000 --duration 50 --batch 10 --payload 200 >/dev/null 2>&1 || true
sleep 2
r1=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
kept=$(node scripts/bench-recovery.mjs history "$p" ch-0)
echo "cap $1: RSS $r0 -> $r1 KiB (+$(( (r1 - r0) / 1024 )) MiB), kept in ch-0: $kept; warns: $(grep -c recovery_max_kept target/memcap-$1.log)"
kill $pid; wait $pid 2>/dev/null || true
