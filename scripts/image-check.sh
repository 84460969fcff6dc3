#!/usr/bin/env bash
# `make image-check` (issue 24): build the real Dockerfile with podman and test the image.
#   - podman, runc, debootstrap come from Debian's packages when missing; the build stage's base
#     (scripts/image-base.sh build) is made here, as no image registry is reachable;
#   - the image is started with Soketi's environment only and the protocol-tests run against it;
#   - its process is not root; the HEALTHCHECK passes while serving and fails while draining;
#     SIGTERM (podman stop) closes sockets with 4200 and the process exits 0 within the grace period;
#   - /etc/hosts names and `localhost` resolve inside the image (static glibc);
#   - each of Soketi's container command forms serves, with `herald health` reading --config;
#   - docker-compose.yml (two nodes, Redis) under podman-compose: scripts/compose-check.sh.
# Containers made here are removed on exit; the image tag too (layers and cargo caches are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PODMAN=(podman --runtime runc)
IMAGE=localhost/herald:check
BASE=localhost/herald-build-base:bookworm
started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/herald-image-check.XXXXXX")
containers=()
cleanup() {
  for c in "${containers[@]}"; do "${PODMAN[@]}" rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  "${PODMAN[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image-check: FAIL: $*" >&2; exit 1; }
say() { echo "image-check: $*" >&2; }

command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap; }
scripts/image-base.sh build
# --layers=false: podman 4.3 (buildah 1.28) reused a cached `COPY src` layer after src/ changed
# here; cargo's registry and target dir live in the RUN cache mounts, kept either way.
"${PODMAN[@]}" build --network host --format docker --layers=false \
  --build-arg BUILD_IMAGE="$BASE" -t "$IMAGE" . >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log" >&2; fail "podman build"; }
size=$("${PODMAN[@]}" image inspect -f '{{.Size}}' "$IMAGE")
say "built $IMAGE: $((size / 1000)) kB uncompressed ($((SECONDS - started)) s so far)"
[ "$size" -lt 20000000 ] || fail "image is $size bytes, over 20 MB"

APP_ENV=(-e SOKETI_DEFAULT_APP_ID=app-id -e SOKETI_DEFAULT_APP_KEY=app-key
  -e SOKETI_DEFAULT_APP_SECRET=app-secret)
# start NAME PORT METRICS_PORT [podman run options...] -- [command...]
start() {
  local name=herald-ic-$1-$$ port=$2 mport=$3
  shift 3
  local opts=()
  # An empty PORT: the ports come from a config file (the environment would win over it).
  [ -n "$port" ] && opts+=(-e SOKETI_PORT="$port" -e SOKETI_METRICS_SERVER_PORT="$mport")
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  containers+=("$name")
  "${PODMAN[@]}" run -d --name "$name" --network host --ulimit nofile=20000:20000 \
    --ulimit nproc=4096:4096 "${APP_ENV[@]}" "${opts[@]}" "$IMAGE" "$@" >/dev/null 2>"$work/run.err" ||
    { cat "$work/run.err" >&2; fail "podman run $name"; }
  echo "$name"
}
# The image's own HEALTHCHECK command, run in the container (no systemd timers here: podman
# logs that it cannot add them, which is harmless).
healthy() { "${PODMAN[@]}" healthcheck run "$1" >/dev/null 2>&1; }
wait_healthy() {
  for _ in $(seq 100); do healthy "$1" && return 0; sleep 0.1; done
  "${PODMAN[@]}" logs "$1" >&2 || true
  fail "$1: the HEALTHCHECK never passed"
}
"${PODMAN[@]}" image inspect -f '{{.Config.Healthcheck.Test}}' "$IMAGE" | grep -q 'herald health' ||
  fail "the image's HEALTHCHECK is not herald health"

# 1. Soketi's environment only; protocol-tests in target mode.
P=$(free_port) M=$(free_port)
main=$(start main "$P" "$M" --add-host herald-hosts-check.test:127.0.0.1 --)
wait_healthy "$main"
pid=$("${PODMAN[@]}" inspect -f '{{.State.Pid}}' "$main")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" != 0 ] || fail "the server runs as root"
say "serving as uid $uid; HEALTHCHECK passes"
for host in localhost herald-hosts-check.test; do
  "${PODMAN[@]}" exec -e SOKETI_METRICS_SERVER_HOST=$host "$main" herald health ||
    fail "$host does not resolve inside the image"
done
say "localhost and an /etc/hosts name resolve inside the image"
(cd protocol-tests && PUSHER_HOST=127.0.0.1 PUSHER_PORT=$P PUSHER_APP_ID=app-id \
  PUSHER_APP_KEY=app-key PUSHER_APP_SECRET=app-secret ./run.sh) >"$work/protocol.log" 2>&1 ||
  { grep -E '^ *✖' -A8 "$work/protocol.log" | head -60 >&2; fail "protocol-tests against the container"; }
say "protocol-tests pass against the container: $(grep -E '^ℹ (pass|fail|skipped) ' "$work/protocol.log" | tr '\n' ' ' || true)"

# 2. SIGTERM drains: 4200 to each socket, HEALTHCHECK fails meanwhile, exit 0 within the grace.
# 400 sockets, one closed per 10 ms tick: the drain lasts about the 4 s window.
P=$(free_port) M=$(free_port)
drain=$(start drain "$P" "$M" -e HERALD_SHUTDOWN_RECONNECT_WINDOW=4000 --)
wait_healthy "$drain"
node scripts/image-drain-client.mjs "$P" 400 >"$work/drain.out" 2>&1 & client=$!
for _ in $(seq 100); do grep -q connected "$work/drain.out" && break; sleep 0.1; done
grep -q connected "$work/drain.out" || fail "drain clients did not connect: $(cat "$work/drain.out")"
t0=$SECONDS
# SIGTERM as `podman stop` sends it, but with podman's view of the container left "running", so
# the HEALTHCHECK can still be run in it while the process drains (podman refuses exec while
# stopping); 30 s is the grace period `podman stop -t 30` would give.
"${PODMAN[@]}" kill -s TERM "$drain" >/dev/null
failed=0
for _ in $(seq 40); do
  healthy "$drain" && { sleep 0.05; continue; }
  # Failing counts only while sockets are still open (draining), not once the process is gone.
  kill -0 "$client" 2>/dev/null && failed=1
  break
done
timeout 30 "${PODMAN[@]}" wait "$drain" >/dev/null || fail "still running 30 s after SIGTERM"
wait "$client" || fail "drain clients: $(cat "$work/drain.out")"
took=$((SECONDS - t0))
code=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' "$drain")
[ $failed = 1 ] || fail "the HEALTHCHECK kept passing while draining"
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
[ "$took" -lt 30 ] || fail "stop took $took s"
say "SIGTERM: $(tail -1 "$work/drain.out"); HEALTHCHECK failed while draining; exit 0 after ${took} s"

# 3. Soketi's command forms; the --config ones move the ports, so they serve only if read.
for form in "soketi start --config=/cfg/config.json" "start" "--config=/cfg/config.json" "@soketi start"; do
  P=$(free_port) M=$(free_port) CP=$(free_port) CM=$(free_port)
  printf '{"port": %s, "metrics": {"port": %s}}\n' "$CP" "$CM" >"$work/config.json"
  chmod 644 "$work/config.json"
  read -ra args <<<"$form"
  opts=(-v "$work/config.json:/cfg/config.json:ro")
  if [ "${args[0]}" = @soketi ]; then opts+=(--entrypoint soketi); args=("${args[@]:1}"); fi
  port=$P mport=$M
  [[ $form == *--config* ]] && port="" mport=""
  c=$(start "form$RANDOM" "$port" "$mport" "${opts[@]}" -- "${args[@]}")
  wait_healthy "$c"
  port=${port:-$CP}
  curl -fsS "http://127.0.0.1:$port/" >/dev/null || fail "'$form' does not serve on $port"
  "${PODMAN[@]}" rm -f -t 0 "$c" >/dev/null
  say "command '$form' serves (port $port)"
done
# 4. The compose drop-in: two nodes and Redis.
scripts/compose-check.sh "$IMAGE"
say "all checks passed in $((SECONDS - started)) s; image $((size / 1000)) kB"
