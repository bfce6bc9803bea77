#!/usr/bin/python3
"""Write small random HF-format models plus F32 reference logits for the C++ engine's tests.

Usage: make_reference_models.py OUTDIR

For each variant OUTDIR/<name>/ holds config.json, model.safetensors (or shards),
reference.json and logits .f32 files: little-endian float32 [T][V], the logits at EVERY
position of reference.json's "tokens", computed in F32 math from the stored (possibly
BF16/F16-rounded) weights by training/stocha/model.py. "logits" uses the config's
hidden_act, except that stocha is evaluated at p=0 (== relu: the engine's RNG differs);
"logits_relu" is always relu.

Variants in GGUF_VARIANTS also get model.gguf: the same weights as llama.cpp's converter
(convert_hf_to_gguf.py) would lay them out for that architecture, written by
gguf_writer.py: "llama" with q/k rows permuted for interleaved RoPE and Llama 3.x's
rope_scaling as a rope_freqs.weight tensor; "qwen2" with HF's q/k layout and its biases.
"""
import json
import math
import os
import sys

import torch

import gguf_writer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "training"))
from stocha import hf_io  # noqa: E402
from stocha.model import Config, LlamaModel  # noqa: E402

TOKENS = [1, 17, 203, 5, 88, 88, 140, 2, 63, 250, 9, 31]

BASE = dict(vocab_size=320,  # > 259: room for a byte-fallback vocabulary in model.gguf
            hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            tie_word_embeddings=True, hidden_act="silu", rms_norm_eps=1e-5)

# name: (config overrides, export dtype, shards)
VARIANTS = {
    "base_gqa": ({}, "f32", 1),
    "mha": ({"num_key_value_heads": 4}, "f32", 1),
    "untied_head": ({"tie_word_embeddings": False}, "f32", 1),
    "rope_theta_500k": ({"rope_theta": 500000.0}, "f32", 1),
    "head_dim_24": ({"head_dim": 24}, "f32", 1),
    "llama3_rope_scaling": ({"rope_theta": 500000.0, "rope_scaling": {
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 16}}, "f32", 1),
    "attention_bias": ({"attention_bias": True}, "f32", 1),
    "bf16": ({"tie_word_embeddings": False}, "bf16", 1),
    "f16": ({}, "f16", 1),
    "plain_ffn": ({"mlp_gated": False}, "f32", 1),
    "sharded": ({"tie_word_embeddings": False}, "f32", 2),
    "relu": ({"hidden_act": "relu"}, "f32", 1),
    "stocha": ({"hidden_act": "stocha", "stocha_p": 0.5,
                "stocha": {"recipe": "stocha", "p": 0.5, "alpha": 0.0,
                           "default_activation": "stocha"}}, "f32", 1),
    # Qwen2.5's shape of things: q/k/v biases, rope_theta 1e6, tied embeddings.
    "qwen2": ({"attention_bias": True, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6}, "f32", 1),
}

# name: GGUF architecture of its model.gguf
GGUF_VARIANTS = {"base_gqa": "llama", "untied_head": "llama", "llama3_rope_scaling": "llama",
                 "qwen2": "qwen2"}
# HF config.json model_type of a variant (the loader infers q/k/v biases from "qwen2").
MODEL_TYPES = {"qwen2": "qwen2"}


def interleave_rows(w, heads):
    """Within each head, rows (i, i + hd/2) become rows (2i, 2i+1): the pairing of ggml's
    NORM RoPE, which llama.cpp's converter gives llama's q/k so that HF's rotate_half
    pairs meet (its LlamaModel.permute)."""
    hd = w.shape[0] // heads
    w = w.reshape(heads, 2, hd // 2, *w.shape[1:])
    return w.transpose(1, 2).reshape(heads * hd, *w.shape[3:])


def llama3_rope_freqs(cfg):
    """The divisors of each inverse frequency that give HF's llama3 rope_scaling (what the
    converter stores as rope_freqs.weight), computed here from the formula in float64."""
    rs = cfg.rope_scaling
    factor, old_ctx = rs["factor"], rs["original_max_position_embeddings"]
    lo, hi = rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
    out = []
    for i in range(0, cfg.head_dim, 2):
        wavelen = 2 * math.pi * cfg.rope_theta ** (i / cfg.head_dim)
        if wavelen < old_ctx / hi:
            out.append(1.0)
        elif wavelen > old_ctx / lo:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float64)


def write_gguf(path, model, arch):
    cfg = model.cfg
    meta = {"general.architecture": arch, f"{arch}.block_count": cfg.num_hidden_layers,
            f"{arch}.context_length": cfg.max_position_embeddings,
            f"{arch}.embedding_length": cfg.hidden_size,
            f"{arch}.feed_forward_length": cfg.intermediate_size,
            f"{arch}.attention.head_count": cfg.num_attention_heads,
            f"{arch}.attention.head_count_kv": cfg.num_key_value_heads,
            f"{arch}.rope.freq_base": float(cfg.rope_theta),
            f"{arch}.attention.layer_norm_rms_epsilon": float(cfg.rms_norm_eps)}
    if arch == "llama":
        meta["llama.rope.dimension_count"] = cfg.head_dim
    # A SentencePiece-style vocabulary of placeholder pieces, so that llama.cpp loads the
    # file too (bench/peer/run.py --agree compares its greedy tokens on these files).
    meta.update({"tokenizer.ggml.model": "llama",
                 # llama.cpp falls back to byte tokens for text no piece covers.
                 "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>"] +
                 [f"<0x{b:02X}>" for b in range(256)] +
                 [f"t{i}" for i in range(259, cfg.vocab_size)],
                 "tokenizer.ggml.scores": [0.0] * cfg.vocab_size,
                 "tokenizer.ggml.token_type": [2, 3, 3] + [6] * 256 + [1] * (cfg.vocab_size - 259),
                 "tokenizer.ggml.bos_token_id": cfg.bos_token_id,
                 "tokenizer.ggml.eos_token_id": cfg.eos_token_id})
    sd = {k: v.detach().float() for k, v in model.state_dict().items()}
    t = {"token_embd.weight": sd["model.embed_tokens.weight"]}
    if cfg.rope_scaling:
        t["rope_freqs.weight"] = llama3_rope_freqs(cfg)
    names = {"input_layernorm.weight": "attn_norm.weight",
             "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
             "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
             "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
             "self_attn.o_proj.weight": "attn_output.weight",
             "post_attention_layernorm.weight": "ffn_norm.weight",
             "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
             "mlp.down_proj.weight": "ffn_down.weight"}
    for i in range(cfg.num_hidden_layers):
        for hf, gg in names.items():
            w = sd.get(f"model.layers.{i}.{hf}")
            if w is None:
                continue
            if arch == "llama" and gg.startswith(("attn_q.", "attn_k.")):
                heads = cfg.num_attention_heads if gg.startswith("attn_q") else \
                    cfg.num_key_value_heads
                w = interleave_rows(w, heads)
            t[f"blk.{i}.{gg}"] = w
    t["output_norm.weight"] = sd["model.norm.weight"]
    if not cfg.tie_word_embeddings:
        t["output.weight"] = sd["lm_head.weight"]
    gguf_writer.write(path, meta, {k: v.numpy() for k, v in t.items()})


def randomize(model, seed):
    """Weights large enough that logits are far from uniform (std 0.02 would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)


def logits_of(model, act):
    model.set_activation(act, 0.0)
    with torch.no_grad():
        return model(torch.tensor([TOKENS]))[0].float().contiguous()   # [T, V]


def greedy(model, prompt, n):
    """n greedy tokens after `prompt` (silu), each with its top-2 logit margin: the
    reference bench/peer/run.py --agree holds llama.cpp and stocha to on model.gguf."""
    model.set_activation("silu", 0.0)
    ids, margins = list(prompt), []
    with torch.no_grad():
        for _ in range(n):
            top = torch.topk(model(torch.tensor([ids]))[0, -1], 2)
            ids.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
    return ids[len(prompt):], margins


def write_variant(outdir, name, overrides, dtype, shards, seed):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    cfg = Config(**{**BASE, **overrides})
    model = LlamaModel(cfg)
    randomize(model, seed)
    hf_io.save(model, d, dtype=dtype, shards=shards)
    loaded = hf_io.load(d)          # reference = the stored (rounded) weights, F32 math
    act = "relu" if cfg.hidden_act == "stocha" else cfg.hidden_act
    ref = {"tokens": TOKENS, "shape": [len(TOKENS), cfg.vocab_size], "dtype": "float32",
           "layout": "row-major [T][V], little-endian", "weights_dtype": dtype,
           "logits": {"file": "logits.f32", "activation": act},
           "logits_relu": {"file": "logits_relu.f32", "activation": "relu"}}
    logits_of(loaded, act).numpy().astype("<f4").tofile(os.path.join(d, "logits.f32"))
    logits_of(loaded, "relu").numpy().astype("<f4").tofile(os.path.join(d, "logits_relu.f32"))
    if name in GGUF_VARIANTS:
        write_gguf(os.path.join(d, "model.gguf"), loaded, GGUF_VARIANTS[name])
        n = cfg.max_position_embeddings - len(TOKENS) - 20  # llama_peer's context: + 16
        ref["greedy_silu"], ref["greedy_margins"] = greedy(loaded, TOKENS, n)
    if name in MODEL_TYPES:  # after the reference read it: hf_io writes "llama"
        with open(os.path.join(d, "config.json")) as f:
            config = json.load(f)
        config["model_type"] = MODEL_TYPES[name]
        config["architectures"] = ["Qwen2ForCausalLM"]
        del config["attention_bias"]  # implied by model_type qwen2
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for i, (name, (ov, dtype, shards)) in enumerate(VARIANTS.items()):
        write_variant(outdir, name, ov, dtype, shards, seed=1000 + i)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump({"variants": list(VARIANTS), "gguf": GGUF_VARIANTS}, f, indent=1)
    print(f"wrote {len(VARIANTS)} reference models to {outdir}")


if __name__ == "__main__":
    main()
