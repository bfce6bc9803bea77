#!/usr/bin/env bash
# Builds the scheduler tests and the compute thread pool's tests with ThreadSanitizer and
# runs them (the components with shared state between threads; both build without OpenMP,
# whose runtime TSan cannot see).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSTOCHA_SANITIZE=thread \
  -DCMAKE_CXX_FLAGS="-O1" >/dev/null
cmake --build build-tsan -j"$JOBS" --target stocha_scheduler_test stocha_thread_pool_test
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/server/stocha_scheduler_test
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/engine/stocha_thread_pool_test
