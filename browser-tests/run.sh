#!/usr/bin/env bash
# Deploys measured in Debian's headless Chromium (issue 17), pages behind a hostile proxy (issue 27),
# the console (issue 13) and missed events recovered after a reconnect (issue 26). Needs
# ../target/release/herald (or $HERALD_BIN), /usr/bin/chromium (or $CHROMIUM), nginx, redis-server,
# nats-server and python3; installs its npm packages (playwright-core without a browser download,
# pusher-js 8, laravel-echo 2) itself. Figures: stdout, ../target/browser-deploy.json and
# ../target/browser-recovery.json.
#   ./run.sh                            # every suite; recovery (mostly a 150 s wait) beside the others
#   ./run.sh tests/recovery.test.mjs    # one file (timeout TEST_TIMEOUT_MS, 300 s unless told)
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi
bin="${HERALD_BIN:-../target/release/herald}"
[ -x "$bin" ] || { echo "herald binary not found at $bin: run 'cargo build --release' first" >&2; exit 2; }
suite() { # suite TIMEOUT_MS FILE...
  node --test --test-concurrency=1 --test-timeout="$1" --test-reporter=spec --test-reporter-destination=stdout "${@:2}"
}
if [ $# -gt 0 ]; then suite "${TEST_TIMEOUT_MS:-300000}" "$@"; exit; fi

# The recovery suite waits out a 150 s cut: it runs beside the others, its output printed after theirs.
mkdir -p ../target
suite 300000 tests/recovery.test.mjs > ../target/browser-recovery.log 2>&1 &
recovery=$!
others=0
suite "${TEST_TIMEOUT_MS:-120000}" $(ls tests/*.test.mjs | grep -v recovery.test.mjs) || others=$?
wait "$recovery" && rc=0 || rc=$?
echo "== tests/recovery.test.mjs (ran beside the others; also in target/browser-recovery.log)"
cat ../target/browser-recovery.log
[ "$others" = 0 ] && [ "$rc" = 0 ]
