#!/usr/bin/env bash
# Runs clang-tidy with the checked-in .clang-tidy over every source file of the build's
# compile_commands.json (engine, server, client, bench, tests: not the generated protobuf
# code under the build folder). Any finding fails (WarningsAsErrors). Prints its time.
# Usage: scripts/run-clang-tidy.sh [BUILD_DIR] [--checks=...]   (default: build; configured
#        if needed; further arguments go to run-clang-tidy, e.g. -checks=clang-analyzer-*)
#        JOBS=n (default 2)                       parallel clang-tidy processes
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
JOBS=${JOBS:-2}
t0=$SECONDS
if [ ! -f "$BUILD/compile_commands.json" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
# The server and client sources include the generated protobuf headers: make them.
mapfile -t gen < <(ninja -C "$BUILD" -t targets all | grep -o '^proto/gen/[^:]*\.pb\.h' | sort -u)
[ ${#gen[@]} -eq 0 ] || ninja -C "$BUILD" "${gen[@]}" >/dev/null
root=$(pwd)
files=$(python3 -c "
import json, re, sys
db = json.load(open('$BUILD/compile_commands.json'))
print(sum(1 for e in db if re.match(r'$root/(?!build).*(?<!\.cu)$', e['file'])))")
echo "clang-tidy: $files files, $JOBS jobs, checks from .clang-tidy"
# -quiet: only findings are printed. The regex keeps the repository's sources, not build*/,
# and not the CUDA kernels (.cu: nvcc's flags, which clang's CUDA mode does not take).
status=0
# stderr: without clang-tidy's "N warnings generated." (system-header counts) lines.
run-clang-tidy -p "$BUILD" -j "$JOBS" -quiet -extra-arg=-Wno-unknown-warning-option "$@" "^$root/(?!build).*(?<!\.cu)$" \
  2> >(grep -v -E '^[0-9]+ warnings? generated\.$' >&2) || status=$?
echo "clang-tidy: $((SECONDS - t0)) s, exit $status"
exit $status
