#!/usr/bin/env bash
# Soak (issue 10.9, not in CI): mixed traffic against a real stocha-server, RSS sampled.
#
#   scripts/soak.sh [DURATION_SECONDS]   (default 1800)
#
# Environment: BUILD_DIR (default build), MODEL / TOKENIZER (default stories260K), OUT
# (default $BUILD_DIR/soak), SERVER_THREADS (--threads of the server, default 1),
# RSS_EVERY (seconds between RSS samples, default 5), WRAP (a command the server runs
# under, e.g. WRAP="heaptrack -o $OUT/heap": docs/SERVING.md "Memory over time"); other
# environment (MALLOC_ARENA_MAX=2, ...) reaches the server.
# Load for the whole time, in slices of 60 s (a modest rate: the server has one thread):
# streams at concurrency 2, Generate with n=2 at 1, MultiSample with n=4 at 1, streams
# with a 20 ms deadline (cancelled mid-generation) at 1, and one stocha-cli call a second
# cycling through health, load, tokenize and four refused requests (bad temperature, n,
# top_p, an unknown activation). The server's RSS goes to $OUT/rss.csv
# (seconds,rss_kib,anon_kib,file_kib: anonymous memory, the heap among it, and pages of
# mapped files, the shared libraries' code among them). Prints the first, the highest and
# the last sample and the RSS at 1, 5, 10, 20 and 30 minutes; a bounded server shows
# plateaus, a leak an anonymous line that keeps rising.
set -euo pipefail

SECS="${1:-1800}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build}"
DATA="$ROOT/../shared/data/stories260K"
MODEL="${MODEL:-$DATA/stories260K.bin}"
TOKENIZER="${TOKENIZER:-$DATA/tok512.bin}"
OUT="${OUT:-$BUILD/soak}"
EVERY="${RSS_EVERY:-5}"
mkdir -p "$OUT"
rm -f "$OUT/port" "$OUT"/load-*.log "$OUT/cli.log"

# shellcheck disable=SC2086  # WRAP is a command line
${WRAP:-} "$BUILD/server/stocha-server" --model="$MODEL" --tokenizer="$TOKENIZER" \
  --host=127.0.0.1 --port=0 --port_file="$OUT/port" --metrics_port=0 \
  --threads="${SERVER_THREADS:-1}" \
  2>"$OUT/server.log" &
server=$!
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT  # the server and the load loops
for _ in $(seq 300); do [ -s "$OUT/port" ] && break; sleep 0.2; done
target="127.0.0.1:$(cat "$OUT/port")"
# The server process itself (under WRAP it is a descendant of $server).
spid=$server
for p in $(pgrep -g "$(ps -o pgid= "$server" | tr -d ' ')" 2>/dev/null || true); do
  [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "$BUILD/server/stocha-server")" ] &&
    spid=$p
done
sleep 3  # warm-up

end=$((SECONDS + SECS))
load() {  # rpc concurrency n [flags...]
  local rpc=$1 c=$2 n=$3 tag=$1
  shift 3
  [ $# -gt 0 ] && tag="$rpc-cancel"
  while [ "$SECONDS" -lt "$end" ]; do
    "$BUILD/client/stocha-loadgen" --target="$target" --rpc="$rpc" --concurrency="$c" --n="$n" \
      --duration=60s --max_new_tokens=64 --progress=false --json "$@" >>"$OUT/load-$tag.log" 2>&1 || true
  done
}
misc() {  # health, load, tokenize and refused requests, one a second
  local cli="$BUILD/client/stocha-cli" i=0
  while [ "$SECONDS" -lt "$end" ]; do
    case $((i % 8)) in
      0) "$cli" --target="$target" health ;;
      1) "$cli" --target="$target" load ;;
      2) "$cli" --target="$target" tokenize "Once upon a time there was a soak" ;;
      3) "$cli" --target="$target" --temperature=-1 generate "bad temperature" ;;
      4) "$cli" --target="$target" --n=1000 generate "bad n" ;;
      5) "$cli" --target="$target" --top_p=2 stream "bad top_p" ;;
      6) "$cli" --target="$target" --activation=nope multi-sample "bad activation" ;;
      7) "$cli" --target="$target" --max_new_tokens=8 generate "a short one" ;;
    esac >>"$OUT/cli.log" 2>&1 || true
    i=$((i + 1))
    sleep 1
  done
}
load stream 2 1 &
l1=$!
load generate 1 2 &
l2=$!
load multi-sample 1 4 &
l3=$!
load stream 1 1 --deadline=20ms --max_new_tokens=256 &
l4=$!
misc &
l5=$!

echo "seconds,rss_kib,anon_kib,file_kib" >"$OUT/rss.csv"
start=$SECONDS
while [ $((SECONDS - start)) -lt "$SECS" ]; do
  if ! rss=$(awk '/^(VmRSS|RssAnon|RssFile):/ {v[$1] = $2}
      END {printf "%d,%d,%d", v["VmRSS:"], v["RssAnon:"], v["RssFile:"]}' "/proc/$spid/status" 2>/dev/null); then
    echo "the server exited; see $OUT/server.log" >&2
    exit 1
  fi
  echo "$((SECONDS - start)),$rss" >>"$OUT/rss.csv"
  sleep "$EVERY"
done
wait "$l1" "$l2" "$l3" "$l4" "$l5"
kill -TERM "$spid"
wait "$server" || true
trap - EXIT
awk -F, 'NR == 2 {first = $2} NR > 1 {if ($2 > max) {max = $2; at = $1}; last = $2; secs = $1
    for (m = 1; m <= 30; m++) if ($1 <= m * 60) {rss[m] = $2; anon[m] = $3}}
  END {printf "RSS KiB: first %d, highest %d (at %d s), last %d\n", first, max, at, last
    printf "RSS (anonymous) KiB at 1/5/10/20/30 min (as far as the run went):"
    for (m = 1; m <= 30; m++) if ((m == 1 || m == 5 || m == 10 || m == 20 || m == 30) && m * 60 <= secs + 10)
      printf " %d (%d)", rss[m], anon[m]
    printf "\n"}' "$OUT/rss.csv"
