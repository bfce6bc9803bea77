#!/usr/bin/env bash
# Installs dependencies, builds stocha, and serves the bundled default model over gRPC on
# port 50051. Once the server reports SERVING it sends a few requests with stocha-cli
# (a generation, a stream, and MultiSample: four samples of one prompt, prefilled once,
# under three settings with their distinct-n) and keeps serving until Ctrl-C (SIGTERM
# drains in-flight requests, then exits 0).
#   scripts/run.sh            build, serve, demo, keep serving
#   scripts/run.sh --demo     the same, but stop after the demo
#   MODEL=path PORT=n METRICS_PORT=m scripts/run.sh   another model or ports
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
MODEL=${MODEL:-models/default}
PORT=${PORT:-50051}
METRICS_PORT=${METRICS_PORT:-9400}

bash scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTOCHA_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$JOBS" --target stocha-server stocha-cli stocha-generate

BIN=build-release
# The server reads $MODEL/tokenizer.model itself (docs/TOKENIZERS.md).
"$BIN/server/stocha-server" --model "$MODEL" --port "$PORT" --metrics_port "$METRICS_PORT" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER' INT TERM EXIT

cli() { "$BIN/client/stocha-cli" --target "localhost:$PORT" "$@"; }
for _ in $(seq 1 120); do
  cli health >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { echo "stocha-server exited"; exit 1; }
  sleep 0.5
done
cli health
echo; echo "== GetModelInfo"; cli info
echo; echo "== Generate (greedy, ReLU: the sparse path)"
cli generate --prompt "Once upon a time" --temperature 0 --activation relu --max_new_tokens 60
echo; echo "== GenerateStream"
cli stream --prompt "The little dog" --max_new_tokens 60 --seed 1
# MultiSample: n samples of one prompt share one prefill, each with its own random stream.
# On this model diversity comes from the temperature; test-time StochA alone (greedy)
# rarely flips an argmax, so its samples share long stretches (docs/RESULTS.md,
# "Diversity", 8 samples x 48 tokens: distinct-2 0.13-0.16 greedy vs 0.66-0.88 with
# temperature; 4 short samples score higher on both).
multi() {
  cli --json multi-sample --prompt "Lily found a" --n 4 --max_new_tokens 40 --seed 7 "$@" |
    /usr/bin/python3 scripts/distinct_n.py
}
echo; echo "== MultiSample, 4 samples of one prompt: temperature 0.8 alone (ReLU)"
multi --activation relu --temperature 0.8
echo; echo "== MultiSample: StochA(0.5) + temperature 0.8 (about as diverse as temperature alone)"
multi --activation stocha:0.5 --temperature 0.8
echo; echo "== MultiSample: StochA(0.5) alone, greedy (the activation noise alone: little diversity)"
multi --activation stocha:0.5 --temperature 0

if [ "${1:-}" = "--demo" ]; then exit 0; fi
echo; echo "stocha-server is serving $MODEL on port $PORT (Ctrl-C to stop)."
echo "Prometheus metrics: http://localhost:$METRICS_PORT/metrics (dashboard and alerts: docs/OPERATIONS.md)"
wait $SERVER
