#!/usr/bin/env bash
# The image build without Docker (issue 18): replays the build stage of the Dockerfile (its
# WORKDIR, COPY and RUN lines, read from the Dockerfile itself, so the two cannot drift) in a
# scratch copy of the build context, then checks that the files the runtime stage copies out of
# it (`COPY --from=build ...`) exist and run. A change to Cargo.toml, Cargo.lock or the layout
# that breaks `docker build` (a new [[bin]], bench or build.rs the stub step or the COPY set
# lacks, a lock file out of date for --locked) fails here.
#
#   scripts/docker-build-check.sh             # `make docker-check`, part of `make test`
#
# The RUN lines run on this machine with the local toolchain, not in rust:1-bookworm, so the
# script refuses commands it does not know to be harmless and absolute paths. Cargo's output goes
# to CARGO_TARGET_DIR (default target/docker-check), kept between runs so registry dependencies
# are compiled once; only herald itself is rebuilt each time.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTEXT=${DOCKER_CONTEXT:-$PWD}  # the build context (a copy, to try a change)
DOCKERFILE=${DOCKERFILE:-$CONTEXT/Dockerfile}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/docker-check}
# Commands a build-stage RUN line may use here (each segment's first word).
SAFE=" cargo mkdir echo printf touch rm cp mv cd ls cat test true "

scratch=$(mktemp -d "${TMPDIR:-/tmp}/herald-docker-check.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

die() { echo "docker-build-check: $DOCKERFILE: $*" >&2; exit 1; }

# One logical instruction per line: comments dropped, continuation lines joined.
instructions() {
  local line acc=""
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line =~ ^[[:space:]]*# ]] && continue
    if [[ $line =~ \\[[:space:]]*$ ]]; then
      acc+="${line%\\*} "
      continue
    fi
    acc+="$line"
    [[ $acc =~ ^[[:space:]]*$ ]] || printf '%s\n' "$acc"
    acc=""
  done <"$DOCKERFILE"
}

# The stage replayed: the one the image copies its files from (`COPY --from=STAGE`).
STAGE=$(instructions | sed -n 's/^COPY .*--from=\([^[:space:]]*\).*/\1/p' | head -n 1)
[ -n "$STAGE" ] || die "no COPY --from=STAGE names the build stage"

# A path inside the image, as a path inside the scratch copy.
inside() {
  case $1 in
    /*) printf '%s%s' "$scratch" "$1" ;;
    *) printf '%s/%s' "$workdir" "$1" ;;
  esac
}

# Docker never sends a .dockerignore'd path to the build; refuse to copy one here too.
ignored() {
  local pattern top=${1%%/*}
  [ -f "$CONTEXT/.dockerignore" ] || return 1
  while IFS= read -r pattern; do
    [[ -z $pattern || $pattern == \#* ]] && continue
    # shellcheck disable=SC2053 # the pattern is a glob on purpose
    [[ $1 == $pattern || $top == $pattern ]] && return 0
  done <"$CONTEXT/.dockerignore"
  return 1
}

copy() {
  local words=() w
  read -ra words <<<"$1"
  for w in "${words[@]}"; do
    [[ $w == --from=* ]] && die "COPY --from inside the $STAGE stage is not replayed: $1"
  done
  local args=()
  for w in "${words[@]}"; do [[ $w == --* ]] || args+=("$w"); done
  [ "${#args[@]}" -ge 2 ] || die "COPY needs a source and a destination: $1"
  local dest=${args[-1]} target
  unset 'args[-1]'
  target=$(inside "$dest")
  local many=$((${#args[@]} > 1))
  if [[ $dest == */ || $many == 1 ]]; then mkdir -p "$target"; fi
  local src
  for src in "${args[@]}"; do
    ignored "$src" && die "COPY $src: excluded by .dockerignore, so Docker would not find it"
    local matches=() m
    # shellcheck disable=SC2206 # sources may be globs, as in Docker
    matches=($src)
    for m in "${matches[@]}"; do
      [ -e "$CONTEXT/$m" ] || die "COPY $src: no such file in the build context"
      if [ -d "$CONTEXT/$m" ]; then
        mkdir -p "$target"
        cp -a "$CONTEXT/$m/." "$target/"
      elif [ -d "$target" ]; then
        cp -a "$CONTEXT/$m" "$target/"
      else
        mkdir -p "$(dirname "$target")"
        cp -a "$CONTEXT/$m" "$target"
      fi
    done
  done
}

# Refuse what could touch this machine outside the scratch copy.
vet() {
  [[ $1 == \[* ]] && die "exec-form RUN is not replayed: RUN $1"
  local segment first
  while IFS= read -r segment; do
    read -r first _ <<<"$segment" || true
    [ -z "${first:-}" ] && continue
    [[ $SAFE == *" $first "* ]] || die "RUN uses '$first', which this script does not run on the host; add it to SAFE in $0 if it only touches the build directory"
  done < <(sed -e 's/&&/\n/g; s/||/\n/g; s/;/\n/g; s/|/\n/g' <<<"$1")
  local abs="[[:space:]<>=]/"
  [[ " $1" =~ $abs ]] && die "RUN names an absolute path, which would be this machine's: RUN $1"
  return 0
}

run() {
  vet "$1"
  echo "+ RUN $1" >&2
  (cd "$workdir" && sh -c "$1") || die "RUN failed: $1"
}

# Replay the build stage, then remember what later stages copy out of it.
workdir=$scratch
build_workdir=""
in_stage=0
seen_stage=0
artifacts=()
entrypoint=""
started=$SECONDS
while IFS= read -r line; do
  read -r instruction rest <<<"$line"
  instruction=${instruction^^}
  if [ "$instruction" = FROM ]; then
    in_stage=0
    [[ ${rest,,} =~ [[:space:]]as[[:space:]]+([^[:space:]]+)$ ]] && [ "${BASH_REMATCH[1]}" = "$STAGE" ] && in_stage=1 && seen_stage=1
    continue
  fi
  if [ $in_stage = 0 ]; then
    case $instruction in
      COPY)
        if [[ $rest =~ --from=$STAGE[[:space:]]+([^[:space:]]+)[[:space:]] ]]; then
          artifacts+=("${BASH_REMATCH[1]}")
        fi
        ;;
      ENTRYPOINT) entrypoint=$rest ;;
    esac
    continue
  fi
  case $instruction in
    WORKDIR)
      workdir=$(inside "$rest")
      build_workdir=$rest
      mkdir -p "$workdir"
      ;;
    COPY | ADD)
      [ "$instruction" = ADD ] && die "ADD is not replayed; use COPY"
      echo "+ COPY $rest" >&2
      copy "$rest"
      ;;
    RUN) run "$rest" ;;
    ENV)
      [[ $rest =~ ^([A-Za-z_][A-Za-z0-9_]*)[=[:space:]](.*)$ ]] || die "ENV not understood: $rest"
      export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
      ;;
    ARG | LABEL) ;;
    *) die "$instruction in the $STAGE stage is not replayed by $0" ;;
  esac
done < <(instructions)

[ $seen_stage = 1 ] || die "no stage named '$STAGE' (FROM ... AS $STAGE)"
[ "${#artifacts[@]}" -gt 0 ] || die "no later stage copies anything --from=$STAGE"
for artifact in "${artifacts[@]}"; do
  # The Dockerfile's target/ is CARGO_TARGET_DIR here.
  case $artifact in
    "$build_workdir"/target/*) path=$CARGO_TARGET_DIR/${artifact#"$build_workdir"/target/} ;;
    *) path=$(inside "$artifact") ;;
  esac
  [ -e "$path" ] || die "COPY --from=$STAGE $artifact: the build made no such file"
  if [ -x "$path" ] && [ -f "$path" ]; then
    "$path" --version >/dev/null || die "$artifact --version failed"
    # The command forms the image documents for a compose `command:` (README, Docker).
    "$path" soketi start --help >/dev/null || die "$artifact does not accept 'soketi start'"
    "$path" start --help >/dev/null || die "$artifact does not accept 'start'"
  fi
done
if [[ $entrypoint =~ \[\"([^\"]+)\" ]]; then
  program=${BASH_REMATCH[1]}
  found=0
  for artifact in "${artifacts[@]}"; do
    [[ $program == "$(basename "$artifact")" ]] && found=1
  done
  [ $found = 1 ] || echo "docker-build-check: note: ENTRYPOINT $program is not one of the files copied from $STAGE" >&2
fi
echo "docker-build-check: the $STAGE stage of $DOCKERFILE builds (${artifacts[*]}) in $((SECONDS - started)) s" >&2
