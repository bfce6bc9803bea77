#!/usr/bin/env bash
# The Dockerfile's build stage copies only some folders into the image (so that a change to
# docs/ or helm/ reuses the build layer). This configures CMake on exactly those folders, as
# the image build will, so a folder the build starts to need (cmake/ once) fails here in
# seconds instead of in a 15-minute image build.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# COPY lines of the build stage (up to the second FROM), local sources only.
awk '/^FROM /{n++} n==1 && /^COPY / && !/--from=/ {print $2, $3}' Dockerfile |
  while read -r src dst; do
    rel=${dst#/src/}
    [ "$rel" = "$dst" ] && continue
    case "$dst" in */) rel="$rel$(basename "$src")" ;; esac
    mkdir -p "$tmp/src/$(dirname "$rel")"
    cp -r "$src" "$tmp/src/$rel"
  done
if ! out=$(cmake -S "$tmp/src" -B "$tmp/build" -G Ninja -DSTOCHA_BUILD_TESTS=OFF 2>&1); then
  echo "$out" | tail -20
  echo "check-docker-context: the Dockerfile's build stage lacks files CMake needs" >&2
  exit 1
fi
echo "check-docker-context: CMake configures on the Dockerfile's build context"
