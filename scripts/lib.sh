# Shell helpers shared by the scripts that start servers on free ports (sourced, not run).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}
# Process helpers of the benchmarks that start their own servers (PIDS: what cleanup_pids kills).
PIDS=()
cleanup_pids() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
stop() { for p in "$@"; do kill "$p"; while [ -e "/proc/$p" ]; do sleep 0.1; done; done; }
cpu_us() { awk '{ sub(/.*\) /, ""); print ($12 + $13) * 10000 }' "/proc/$1/stat"; } # utime+stime at 100 Hz
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
