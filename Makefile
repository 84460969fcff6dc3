# herald: `make run` serves the default app on :6001; `make test` runs every test.
CARGO ?= cargo
PREFIX ?= /usr/local
BINDIR = $(DESTDIR)$(PREFIX)/bin

.PHONY: run build release install test unit lint protocol-test browser-test browser-deps bench bench-nats examples-test redis-server nats-server postgresql mariadb-server moto-server bench-smoke image-check fuzz fuzz-smoke soak soak-smoke soak-faults

run:
	$(CARGO) run --release

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# herald plus a `soketi` link to it, so `soketi start [--config=FILE]` works as with Soketi.
#   make install                        # /usr/local/bin/herald, /usr/local/bin/soketi
#   make install PREFIX=$$HOME/.local    # or DESTDIR=/tmp/pkg for packaging
install: release
	install -d $(BINDIR)
	install -m 755 target/release/herald $(BINDIR)/herald
	ln -sf herald $(BINDIR)/soketi

# Everything CI runs: formatting, lints, unit + integration tests, the pusher-js conformance suite,
# the deploy suite in headless Chromium, the benchmark tool once at tiny size (a smoke test: it
# never asserts timings), a short soak, the Dockerfile's build stage replayed without Docker, and
# each fuzz target for a few seconds.
test: lint unit protocol-test browser-test examples-test bench-smoke soak-smoke image-check fuzz-smoke

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Cluster tests start their own redis-server (and redis-sentinel) on free ports; install them if missing.
redis-server:
	@command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server redis-sentinel; }

# The NATS adapter tests start their own nats-server (with JetStream) on a free port; install it if missing.
nats-server:
	@command -v nats-server >/dev/null || { apt-get update -qq && apt-get install -y -qq nats-server; }

# The Postgres app-manager tests start their own PostgreSQL cluster; install the server if missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }

# The MySQL app-manager tests start their own MariaDB server; install it if missing.
mariadb-server:
	@{ command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null; } || { apt-get update -qq && apt-get install -y -qq mariadb-server; }

# The SQS webhook-queue tests start their own moto_server (an SQS-compatible server from PyPI)
# on a free port, from this venv; pinned.
MOTO_VERSION = 5.1.18
moto-server:
	@test -x target/moto-venv/bin/moto_server || { python3 -m venv target/moto-venv && target/moto-venv/bin/pip install -q 'moto[server]==$(MOTO_VERSION)'; }

unit: redis-server nats-server postgresql mariadb-server moto-server
	$(CARGO) test

protocol-test: release redis-server
	cd protocol-tests && ./run.sh

# The deploy suite (issue 17) drives Debian's Chromium and nginx; install them if missing.
browser-deps:
	@{ command -v chromium >/dev/null && command -v nginx >/dev/null; } || { apt-get update -qq && apt-get install -y -qq chromium nginx; }

# Restarts herald each supported way under a page in headless Chromium (Echo + pusher-js 8) and
# prints the page's outage per deploy path (about 45 s; figures also in target/browser-deploy.json);
# beside it, missed events recovered after a page's network is cut for 10 s and 150 s, on one node
# and on two behind nginx over Redis and NATS (tests/recovery.test.mjs, about 3 minutes, mostly
# waiting; figures in target/browser-recovery.json).
browser-test: release redis-server nats-server browser-deps
	cd browser-tests && ./run.sh

# The five examples (examples/, issue 13) in headless Chromium: each backend started as its README
# says, against herald with examples/herald.toml, asserting what each person's page shows (about 70 s).
examples-test: release browser-deps
	cd examples && ./test/run.sh

# Benchmark (issue 6): starts target/release/herald on a free port with a temporary config and runs
# every herald-bench scenario against it, then the cluster scenario (two nodes and a redis-server,
# scripts/bench-cluster.sh), then what nodes pay for others' channels (1, 2, 4 nodes on one Redis
# and on a Redis Cluster, scripts/bench-shard.sh; on NATS, scripts/bench-nats.sh); several minutes on 2 cores. Results: stdout,
# target/bench.jsonl, target/bench-cluster.jsonl and target/bench-shard.jsonl.
bench: release redis-server nats-server
	target/release/herald-bench --spawn target/release/herald --scenario all --json target/bench.jsonl
	scripts/bench-cluster.sh
	scripts/bench-shard.sh
	scripts/bench-nats.sh

# The same at tiny sizes (CI smoke test): fails only on a crash or zero deliveries, never on timings.
# The second run spreads its subscribers over two generator processes.
# CPU and bus messages per event with the NATS adapter on 1, 2 and 4 nodes (BENCHMARKS.md).
bench-nats: release nats-server
	scripts/bench-nats.sh

bench-smoke: release redis-server
	target/release/herald-bench --spawn target/release/herald --scenario all --smoke --duration 2
	target/release/herald-bench --spawn target/release/herald --scenario fanout,churn --smoke --duration 2 --procs 2
	scripts/bench-cluster.sh --smoke
	scripts/bench-shard.sh --smoke

# The image (issue 24, scripts/image-check.sh): installs podman, runc, debootstrap (Debian) and
# podman-compose (PyPI, target/compose-venv) if missing, makes the base images here (no registry),
# builds the Dockerfile with podman and tests the image: protocol-tests against the container,
# non-root, HEALTHCHECK, SIGTERM drain, Soketi's command forms, docker-compose.yml with two nodes
# and Redis. Cargo's caches stay in podman's build cache; containers and the tag are removed.
image-check:
	scripts/image-check.sh

# Fuzzing (issue 12): every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each, one after another, on
# the nightly toolchain (cargo-fuzz is installed when missing). The first build of the targets
# (release, AddressSanitizer) takes several minutes. A crash fails the run; its input is kept
# in fuzz/artifacts/<target>/. New corpus entries go to fuzz/target/corpus/ (not checked in).
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke:
	scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

# Soak (issue 12, scripts/soak.sh): 30 minutes of mixed load on one node; fails on any lost,
# duplicated or reordered event that was promised, a wrong presence list, or RSS/descriptors not
# back at their post-warm-up baseline. Table: target/soak-1n.tsv. Figures: BENCHMARKS.md, RELIABILITY.
soak: release
	scripts/soak.sh --duration 1800 --interval 30

# The same for 40 s (after a 10 s warm-up), on one node and on two nodes over Redis, side by side
# (about 75 s in all); each run's output is printed when both are done.
soak-smoke: release redis-server
	@scripts/soak.sh --duration 40 --warmup 10 --nodes 1 > target/soak-smoke-1n.log 2>&1 & one=$$!; \
	scripts/soak.sh --duration 40 --warmup 10 --nodes 2 > target/soak-smoke-2n.log 2>&1; two=$$?; \
	wait $$one; one=$$?; \
	for n in 1n 2n; do echo "== soak-smoke $$n"; sed -n '/== deliveries/,$$p' target/soak-smoke-$$n.log; done; \
	[ $$one = 0 ] && [ $$two = 0 ] || { echo "soak-smoke failed: target/soak-smoke-{1n,2n}.log"; exit 1; }

# Faults under load (not in `make test`: about 2 minutes): three nodes over Redis; 30 % into a 90 s
# soak node 3 is killed with SIGKILL and started 4 s later, at 60 % redis-server is shut down and
# started 3 s later. Asserts the guarantees written in README.md ("Guarantees").
soak-faults: release redis-server
	scripts/soak.sh --faults --duration 90 --interval 5
