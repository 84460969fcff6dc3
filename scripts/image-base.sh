#!/usr/bin/env bash
# Base images made on this machine (no image registry is needed): kept in podman's store and
# made again only when missing.
#   scripts/image-base.sh build   # localhost/herald-build-base: Debian bookworm (debootstrap
#                                 # minbase) + gcc + this machine's Rust toolchain; the Dockerfile's
#                                 # BUILD_IMAGE in `make image-check` (rust:1-bookworm elsewhere)
#   scripts/image-base.sh redis   # localhost/herald-redis: Debian's redis-server (compose check)
set -euo pipefail
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PODMAN=(podman --runtime runc)
BUILD_BASE=localhost/herald-build-base:bookworm
REDIS=localhost/herald-redis:bookworm

rootfs() { # DIR PACKAGES
  debootstrap --variant=minbase --include="$2" bookworm "$1" "$MIRROR" >"$1.log" 2>&1 ||
    { tail -20 "$1.log" >&2; exit 1; }
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*
  # This machine's trusted CAs (an HTTPS proxy's own CA, if any), so cargo reaches crates.io
  # from inside the build as it does outside.
  mkdir -p "$1/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
}

build_base() {
  "${PODMAN[@]}" image exists "$BUILD_BASE" && return 0
  local dir sysroot
  dir=$(mktemp -d "${TMPDIR:-/tmp}/herald-base.XXXXXX")
  trap 'rm -rf "$dir" "$dir.log"' RETURN
  rootfs "$dir/root" gcc,libc6-dev,ca-certificates
  sysroot=$(rustc --print sysroot)
  mkdir -p "$dir/root/usr/local/rust" "$dir/root/usr/local/cargo"
  tar -C "$sysroot" --exclude=./share/doc --exclude=./lib/rustlib/src -cf - . |
    tar -C "$dir/root/usr/local/rust" -xf -
  tar -C "$dir/root" -cf - . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' - "$BUILD_BASE" >/dev/null
  echo "image-base: made $BUILD_BASE ($(rustc --version))" >&2
}

redis() {
  "${PODMAN[@]}" image exists "$REDIS" && return 0
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/herald-redis.XXXXXX")
  trap 'rm -rf "$dir" "$dir.log"' RETURN
  rootfs "$dir/root" redis-server,redis-tools
  tar -C "$dir/root" -cf - . | "${PODMAN[@]}" import \
    --change 'CMD ["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]' \
    --change 'EXPOSE 6379' - "$REDIS" >/dev/null
  echo "image-base: made $REDIS" >&2
}

case ${1:-} in
  build) build_base ;;
  redis) redis ;;
  *) echo "usage: $0 build|redis" >&2; exit 2 ;;
esac
