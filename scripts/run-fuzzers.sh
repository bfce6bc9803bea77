#!/usr/bin/env bash
# Builds the model-format and request fuzzers with clang + libFuzzer (build-fuzz/) and runs
# each briefly.
#
#   scripts/run-fuzzers.sh [SECONDS_PER_FUZZER]   (default 20)
#
# Environment: BUILD_DIR (default build-fuzz), JOBS (default 2), FUZZERS (default all five).
# Seeds are generated into $BUILD_DIR/fuzz-seeds/<fuzzer>/ (tiny valid files written by
# python3, plus truncated copies of ../shared/data models when present); new corpus entries
# go to $BUILD_DIR/fuzz-corpus/<fuzzer>/ and crashes to $BUILD_DIR/fuzz-artifacts/.
set -euo pipefail

SECS="${1:-20}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${JOBS:-2}"
FUZZERS="${FUZZERS:-safetensors gguf llama2c hf_config request}"
DATA="$ROOT/../shared/data"

cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTOCHA_FUZZ=ON -DSTOCHA_BUILD_TESTS=OFF \
  -DSTOCHA_WERROR=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
  >/dev/null
targets=()
for f in $FUZZERS; do targets+=("${f}_fuzz"); done
cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}"

SEEDS="$BUILD/fuzz-seeds"
rm -rf "$SEEDS"
mkdir -p "$SEEDS"/{safetensors,gguf,llama2c,hf_config,request} "$BUILD/fuzz-artifacts"
python3 - "$SEEDS" <<'PY'
# Tiny valid inputs (D=8, F=16, 1 layer, 2 heads, 1 KV head, V=4) for each format.
import json, struct, sys
out = sys.argv[1]
D, F, H, KV, V, S = 8, 16, 2, 1, 4, 16
hd = D // H
shapes = {"embed": [V, D], "attn_norm": [D], "wq": [D, D], "wk": [KV * hd, D],
          "wv": [KV * hd, D], "wo": [D, D], "ffn_norm": [D], "w1": [F, D], "w2": [D, F],
          "w3": [F, D], "norm": [D]}
def n(shape):
    r = 1
    for d in shape: r *= d
    return r
def floats(k): return struct.pack(f"<{k}f", *[(i % 7) / 8 for i in range(k)])
# llama2.c
b = struct.pack("<7i", D, F, 1, H, KV, V, S)
for k in ["embed", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3", "norm"]:
    b += floats(n(shapes[k]))
b += floats(2 * S * (hd // 2))
open(f"{out}/llama2c/tiny.bin", "wb").write(b)
# safetensors
hf = {"model.embed_tokens.weight": "embed", "model.norm.weight": "norm",
      "model.layers.0.input_layernorm.weight": "attn_norm",
      "model.layers.0.self_attn.q_proj.weight": "wq", "model.layers.0.self_attn.k_proj.weight": "wk",
      "model.layers.0.self_attn.v_proj.weight": "wv", "model.layers.0.self_attn.o_proj.weight": "wo",
      "model.layers.0.post_attention_layernorm.weight": "ffn_norm",
      "model.layers.0.mlp.gate_proj.weight": "w1", "model.layers.0.mlp.down_proj.weight": "w2",
      "model.layers.0.mlp.up_proj.weight": "w3"}
header, data = {"__metadata__": {"format": "pt"}}, b""
for name, k in hf.items():
    t = floats(n(shapes[k]))
    header[name] = {"dtype": "F32", "shape": shapes[k], "data_offsets": [len(data), len(data) + len(t)]}
    data += t
h = json.dumps(header).encode()
open(f"{out}/safetensors/tiny.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
# GGUF
def s(x): x = x.encode(); return struct.pack("<Q", len(x)) + x
kv = [(s("general.architecture"), 8, s("llama"))]
for key, v in [("embedding_length", D), ("feed_forward_length", F), ("block_count", 1),
               ("attention.head_count", H), ("attention.head_count_kv", KV), ("context_length", S)]:
    kv.append((s("llama." + key), 4, struct.pack("<I", v)))
kv.append((s("tokenizer.ggml.model"), 8, s("llama")))
kv.append((s("tokenizer.ggml.tokens"), 9, struct.pack("<IQ", 8, V) + b"".join(s(t) for t in ["<unk>", "<s>", "</s>", "a"])))
kv.append((s("tokenizer.ggml.scores"), 9, struct.pack("<IQ", 6, V) + floats(V)))
gg = {"token_embd.weight": "embed", "output_norm.weight": "norm", "blk.0.attn_norm.weight": "attn_norm",
      "blk.0.attn_q.weight": "wq", "blk.0.attn_k.weight": "wk", "blk.0.attn_v.weight": "wv",
      "blk.0.attn_output.weight": "wo", "blk.0.ffn_norm.weight": "ffn_norm",
      "blk.0.ffn_gate.weight": "w1", "blk.0.ffn_down.weight": "w2", "blk.0.ffn_up.weight": "w3"}
infos, data = b"", b""
for name, k in gg.items():
    data += b"\0" * (-len(data) % 32)
    ne = list(reversed(shapes[k]))
    infos += s(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) + struct.pack("<IQ", 0, len(data))
    data += floats(n(shapes[k]))
g = b"GGUF" + struct.pack("<IQQ", 3, len(gg), len(kv)) + b"".join(a + struct.pack("<I", t) + v for a, t, v in kv) + infos
g += b"\0" * (-len(g) % 32)
open(f"{out}/gguf/tiny.gguf", "wb").write(g + data)
# config.json / index.json
cfg = {"hidden_size": D, "intermediate_size": F, "num_hidden_layers": 1, "num_attention_heads": H,
       "num_key_value_heads": KV, "vocab_size": V, "hidden_act": "stocha", "mlp_gated": True,
       "rope_scaling": {"rope_type": "llama3", "factor": 8.0}, "eos_token_id": [2, 3],
       "stocha": {"recipe": "stocha", "p": 0.5, "alpha": 0.1, "default_activation": "stocha:0.3"}}
open(f"{out}/hf_config/config.json", "w").write(json.dumps(cfg))
open(f"{out}/hf_config/index.json", "w").write(json.dumps({"weight_map": {"a": "m-1.safetensors"}}))
# request: a GenerateRequest's wire bytes (prompt "ab", max_new_tokens 3, n 2) and a byte
# ramp (the fuzzer's choices come from the end of the input, the strings from the front).
open(f"{out}/request/raw", "wb").write(b"\x0a\x02ab\x18\x03\x40\x02" + bytes([0, 0, 0]))
open(f"{out}/request/built", "wb").write(bytes(range(256)) + bytes([3, 1, 1]))
PY
# Prefixes of the real files (inputs are capped at 64 KiB anyway).
if [ -d "$DATA" ]; then
  for n in 4096 16384 65536; do
    head -c "$n" "$DATA/stories260K/stories260K.gguf" >"$SEEDS/gguf/stories260K.$n.gguf"
    head -c "$n" "$DATA/vocab/ggml-vocab-gpt-2.gguf" >"$SEEDS/gguf/vocab-gpt-2.$n.gguf"
    head -c "$n" "$DATA/stories260K/stories260K.bin" >"$SEEDS/llama2c/stories260K.$n.bin"
  done
fi

status=0
for f in $FUZZERS; do
  corpus="$BUILD/fuzz-corpus/$f"
  mkdir -p "$corpus"
  echo "== ${f}_fuzz for ${SECS}s"
  bin="$BUILD/engine/format/${f}_fuzz"
  [ "$f" = request ] && bin="$BUILD/server/fuzz/request_fuzz"
  if ! "$bin" "$corpus" "$SEEDS/$f" -max_len=65536 \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$BUILD/fuzz-artifacts/${f}-" 2>"$BUILD/fuzz-$f.log"; then
    echo "!! ${f}_fuzz failed; see $BUILD/fuzz-$f.log and $BUILD/fuzz-artifacts/"
    tail -n 30 "$BUILD/fuzz-$f.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$BUILD/fuzz-$f.log" || true
  fi
done
exit $status
