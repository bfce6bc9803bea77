#!/usr/bin/env bash
# Reproduces models/stories-stocha: data prep, StochA+FT training, export, golden ids.
# ~30 min on the 2-core machine (2.05M tokens at ~1,150 tokens/s on one thread).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-training/runs/default-repro}
DEST=${2:-$RUN/model}
/usr/bin/python3 training/prepare_data.py --out training/runs/data
/usr/bin/python3 training/train.py --out "$RUN" --recipe stocha+ft --p 0.7 --alpha 0.1 \
  --dim 256 --layers 6 --heads 8 --kv-heads 4 --ffn 1024 --seq 128 --batch 16 \
  --steps 1000 --lr 2e-3 --warmup 50 --threads 1 --eval-every 250 --ckpt-every 100 \
  --log-every 20 --seed 1234
mkdir -p "$DEST"
cp "$RUN"/export/{config.json,model.safetensors,tokenizer.model} "$DEST"/
/usr/bin/python3 training/make_golden.py "$DEST"
