#!/usr/bin/env bash
# Recipe comparison: SMALL runs (~1.1M params, 300 steps x 2048 tokens) of the same model.
# Usage: training/run_comparison.sh [RUNS_DIR [RECIPE...]]   (~10 min per run on a shared core)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-training/runs/cmp}
shift || true
RECIPES=("$@")
[ ${#RECIPES[@]} -gt 0 ] || RECIPES=(silu relu swi+ft stocha stocha+ft)
mkdir -p "$RUNS"
for r in "${RECIPES[@]}"; do
  /usr/bin/python3 training/train.py --out "$RUNS/$r" --recipe "$r" --p 0.7 --alpha 0.2 \
    --dim 128 --layers 4 --heads 4 --kv-heads 2 --ffn 256 --seq 128 --batch 16 \
    --steps 300 --lr 3e-3 --warmup 30 --threads 1 --eval-every 50 --ckpt-every 100 \
    --log-every 20 --seed 7 > "$RUNS/$r.log" 2>&1
done
