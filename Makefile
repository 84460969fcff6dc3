# herald: `make run` serves the default app on :6001; `make test` runs every test.
CARGO ?= cargo

.PHONY: run build release test unit lint protocol-test bench

run:
	$(CARGO) run --release

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# Everything CI runs: formatting, lints, unit + integration tests, the pusher-js conformance suite.
test: lint unit protocol-test

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

unit:
	$(CARGO) test

protocol-test: release
	cd protocol-tests && ./run.sh
