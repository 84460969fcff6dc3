#!/usr/bin/env bash
# The compose drop-in end to end (issue 24), run by scripts/image-check.sh after the image build:
# docker-compose.yml (two herald nodes and Redis) under podman-compose (PyPI, in a venv under
# target/), with IMAGE (the image just built) and a Redis image made here from Debian's
# redis-server (scripts/image-base.sh redis); a pusher-js client on node 1 receives an event
# published to node 2; `down` leaves no container of the project behind.
#   scripts/compose-check.sh IMAGE
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
IMAGE=$1
venv=target/compose-venv
[ -x $venv/bin/podman-compose ] ||
  { python3 -m venv $venv && $venv/bin/pip install -q podman-compose; }
scripts/image-base.sh redis
project=herald-compose-check-$$
export HERALD_IMAGE=$IMAGE REDIS_IMAGE=localhost/herald-redis:bookworm
export HERALD_PORT=$(free_port) HERALD_METRICS_PORT=$(free_port)
export HERALD_2_PORT=$(free_port) HERALD_2_METRICS_PORT=$(free_port)
log=$(mktemp "${TMPDIR:-/tmp}/herald-compose.XXXXXX")
# runc, and explicit limits (this machine refuses podman's default rlimits), for every container.
export CONTAINERS_CONF=$log.conf
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
compose() { $venv/bin/podman-compose -p "$project" -f docker-compose.yml "$@"; }
left() { podman ps -a -q --filter "label=io.podman.compose.project=$project"; }
trap 'compose down -t 5 >/dev/null 2>&1 || true; left | xargs -r podman rm -f >/dev/null 2>&1; rm -f "$log" "$log.conf"' EXIT
say() { echo "compose-check: $*" >&2; }

compose up -d --no-build >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
for port in "$HERALD_METRICS_PORT" "$HERALD_2_METRICS_PORT"; do
  for _ in $(seq 150); do curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://127.0.0.1:$port/ready" >/dev/null || { compose logs >&2 || true; exit 1; }
done
say "up: $(left | wc -l) containers, both nodes ready"
node scripts/compose-client.mjs "$HERALD_PORT" "$HERALD_2_PORT" >&2 || { compose logs >&2 || true; exit 1; }
compose down -t 10 >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
[ -z "$(left)" ] || { say "FAIL: containers left after down: $(left)"; exit 1; }
say "down leaves nothing running"
