# herald: `make run` serves the default app on :6001; `make test` runs every test.
CARGO ?= cargo

.PHONY: run build release test unit lint protocol-test bench redis-server postgresql bench-smoke fuzz fuzz-smoke

run:
	$(CARGO) run --release

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# Everything CI runs: formatting, lints, unit + integration tests, the pusher-js conformance suite,
# the benchmark tool once at tiny size (a smoke test: it never asserts timings), and each fuzz
# target for a few seconds.
test: lint unit protocol-test bench-smoke fuzz-smoke

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Cluster tests start their own redis-server on a free port; install it if missing.
redis-server:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

# The Postgres app-manager tests start their own PostgreSQL cluster; install the server if missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }

unit: redis-server postgresql
	$(CARGO) test

protocol-test: release redis-server
	cd protocol-tests && ./run.sh

# Benchmark (issue 6): starts target/release/herald on a free port with a temporary config and runs
# every herald-bench scenario against it, then the cluster scenario (two nodes and a redis-server,
# scripts/bench-cluster.sh); several minutes on 2 cores. Results: stdout, target/bench.jsonl and
# target/bench-cluster.jsonl.
bench: release redis-server
	target/release/herald-bench --spawn target/release/herald --scenario all --json target/bench.jsonl
	scripts/bench-cluster.sh

# The same at tiny sizes (CI smoke test): fails only on a crash or zero deliveries, never on timings.
# The second run spreads its subscribers over two generator processes.
bench-smoke: release redis-server
	target/release/herald-bench --spawn target/release/herald --scenario all --smoke --duration 2
	target/release/herald-bench --spawn target/release/herald --scenario fanout,churn --smoke --duration 2 --procs 2
	scripts/bench-cluster.sh --smoke

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
