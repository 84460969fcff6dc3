# herald: a static binary on an empty (`scratch`) base, run as a non-root user.
#   docker build -t herald .
#   docker run -p 6001:6001 -p 9601:9601 -e SOKETI_DEFAULT_APP_ID=... herald
# Same ports and SOKETI_* variables as Soketi. Soketi's container commands work: with
# ENTRYPOINT ["herald"], a compose `command:` of ["soketi", "start", "--config=/app/config.json"],
# ["start"] or ["--config=/app/config.json"] serves, and /usr/local/bin/soketi (a link to
# herald) runs `soketi start` as an entrypoint. The image holds only the binary, that link and
# /etc/passwd, /etc/group, /etc/nsswitch.conf, /tmp: webhook TLS roots are built in (webpki),
# names resolve through /etc/hosts then DNS (static glibc), logs are stamped in UTC.
# `make image-check` builds this file with podman and tests the image (README, Docker).
# BUILD_IMAGE: any image with a Rust toolchain and gcc; make image-check passes one made here.
ARG BUILD_IMAGE=rust:1-bookworm

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
# The crates and the target dir are build caches (BuildKit and podman/buildah keep them between
# builds), so an edit rebuilds herald alone (the sources are touched: a copied file keeps its
# mtime, which can be older than the cached build). glibc linked statically: no libc in the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    find src -exec touch {} +; \
    triple=$(rustc -vV | sed -n 's/^host: //p'); \
    RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_DEBUG=0 \
      CARGO_PROFILE_RELEASE_STRIP=symbols \
      cargo build --release --locked --bin herald --target "$triple"; \
    mkdir -p /out/usr/local/bin /out/etc /out/tmp /out/app; \
    cp "target/$triple/release/herald" /out/usr/local/bin/herald; \
    ln -s herald /out/usr/local/bin/soketi; \
    echo 'herald:x:10001:10001:herald:/app:/usr/sbin/nologin' > /out/etc/passwd; \
    echo 'herald:x:10001:' > /out/etc/group; \
    echo 'hosts: files dns' > /out/etc/nsswitch.conf; \
    chmod 1777 /out/tmp; \
    chown 10001:10001 /out/app; \
    /out/usr/local/bin/herald --version

FROM scratch
COPY --from=build /out/ /
ENV PATH=/usr/local/bin TZ=UTC
USER 10001:10001
WORKDIR /app
EXPOSE 6001 9601
# Readiness on the metrics port (SOKETI_METRICS_SERVER_PORT, SOKETI_PATH_PREFIX, as the server
# reads them): fails while draining or while a clustered node cannot reach Redis. No curl needed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["herald", "health"]
# SIGTERM (docker stop) drains: sockets get 4200 and reconnect elsewhere within the grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["herald"]
