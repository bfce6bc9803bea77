#!/usr/bin/env bash
# Soak (issue 10.9, not in CI): mixed traffic against a real stocha-server, RSS sampled.
#
#   scripts/soak.sh [DURATION_SECONDS]   (default 1800)
#
# Environment: BUILD_DIR (default build), MODEL / TOKENIZER (default stories260K), OUT
# (default $BUILD_DIR/soak). Three load generators run at once for the whole time (stream
# at concurrency 4, generate with n=2 at 2, multi-sample with n=4 at 2: 8 clients), each
# in slices of 60 s; the server's RSS is written every 10 s to $OUT/rss.csv
# (seconds,rss_kib). Prints the first, the highest and the last sample; a bounded server
# shows plateaus, a leak a line that keeps rising.
set -euo pipefail

SECS="${1:-1800}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build}"
DATA="$ROOT/../shared/data/stories260K"
MODEL="${MODEL:-$DATA/stories260K.bin}"
TOKENIZER="${TOKENIZER:-$DATA/tok512.bin}"
OUT="${OUT:-$BUILD/soak}"
mkdir -p "$OUT"
rm -f "$OUT/port"

"$BUILD/server/stocha-server" --model="$MODEL" --tokenizer="$TOKENIZER" --host=127.0.0.1 \
  --port=0 --port_file="$OUT/port" 2>"$OUT/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$OUT/port" ] && break; sleep 0.2; done
target="127.0.0.1:$(cat "$OUT/port")"
sleep 3  # warm-up

load() {  # rpc concurrency n
  local end=$((SECONDS + SECS))
  while [ "$SECONDS" -lt "$end" ]; do
    "$BUILD/client/stocha-loadgen" --target="$target" --rpc="$1" --concurrency="$2" --n="$3" \
      --duration=60s --max_new_tokens=64 --progress=false >>"$OUT/load-$1.log" 2>&1 || true
  done
}
load stream 4 1 &
l1=$!
load generate 2 2 &
l2=$!
load multi-sample 2 4 &
l3=$!

echo "seconds,rss_kib" >"$OUT/rss.csv"
start=$SECONDS
while [ $((SECONDS - start)) -lt "$SECS" ]; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
  echo "$((SECONDS - start)),$rss" >>"$OUT/rss.csv"
  sleep 10
done
wait "$l1" "$l2" "$l3"
kill -TERM "$server"
wait "$server" || true
trap - EXIT
awk -F, 'NR == 2 {first = $2} NR > 1 {if ($2 > max) {max = $2; at = $1}; last = $2}
  END {printf "RSS KiB: first %d, highest %d (at %d s), last %d\n", first, max, at, last}' \
  "$OUT/rss.csv"
