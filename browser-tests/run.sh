#!/usr/bin/env bash
# Deploys measured in Debian's headless Chromium (issue 17). Needs ../target/release/herald (or
# $HERALD_BIN), /usr/bin/chromium (or $CHROMIUM), nginx, redis-server and python3; installs its npm
# packages (playwright-core without a browser download, pusher-js 8, laravel-echo 2) itself.
# Figures: stdout and ../target/browser-deploy.json.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi
bin="${HERALD_BIN:-../target/release/herald}"
[ -x "$bin" ] || { echo "herald binary not found at $bin: run 'cargo build --release' first" >&2; exit 2; }
exec node --test --test-concurrency=1 --test-timeout="${TEST_TIMEOUT_MS:-120000}" \
  --test-reporter=spec --test-reporter-destination=stdout "${@:-tests/}"
