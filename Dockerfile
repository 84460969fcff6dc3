# herald: multi-stage build. `docker build -t herald .` then
# `docker run -p 6001:6001 -p 9601:9601 herald` (same ports and SOKETI_* variables as Soketi).
# Soketi's container commands work: with ENTRYPOINT ["herald"], a compose `command:` of
# ["soketi", "start", "--config=/app/config.json"], ["start"] or ["--config=/app/config.json"]
# serves, and /usr/local/bin/soketi (a link to herald) runs `soketi start` as an entrypoint.
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 -t IMAGE --push .
# scripts/docker-build-check.sh (make test) replays the build stage below without Docker.

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src/bin/herald-bench tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && echo '' > src/lib.rs \
    && echo 'fn main() {}' > src/bin/herald-bench/main.rs \
    && echo '' > tests/it/main.rs \
    && cargo build --release --locked --bin herald \
    && rm -rf src tests
COPY src ./src
COPY tests ./tests
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin herald

FROM debian:bookworm-slim
# curl only for the HEALTHCHECK below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin herald \
    && mkdir -p /app && chown herald /app
COPY --from=build /src/target/release/herald /usr/local/bin/herald
RUN ln -s herald /usr/local/bin/soketi
USER herald
WORKDIR /app
EXPOSE 6001 9601
# Readiness on the metrics port: 503 while draining or while a clustered node cannot reach Redis.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${SOKETI_METRICS_SERVER_PORT:-9601}${SOKETI_PATH_PREFIX:-}/ready" || exit 1
# SIGTERM (docker stop) drains: sockets get 4200 and reconnect elsewhere within the grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["herald"]
