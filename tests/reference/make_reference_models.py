#!/usr/bin/python3
"""Write small random HF-format models plus F32 reference logits for the C++ engine's tests.

Usage: make_reference_models.py OUTDIR

For each variant OUTDIR/<name>/ holds config.json, model.safetensors (or shards),
reference.json and logits .f32 files: little-endian float32 [T][V], the logits at EVERY
position of reference.json's "tokens", computed in F32 math from the stored (possibly
BF16/F16-rounded) weights by training/stocha/model.py. "logits" uses the config's
hidden_act, except that stocha is evaluated at p=0 (== relu: the engine's RNG differs);
"logits_relu" is always relu.
"""
import json
import os
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "training"))
from stocha import hf_io  # noqa: E402
from stocha.model import Config, LlamaModel  # noqa: E402

TOKENS = [1, 17, 203, 5, 88, 88, 140, 2, 63, 250, 9, 31]

BASE = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
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
}


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
        json.dump({"variants": list(VARIANTS)}, f, indent=1)
    print(f"wrote {len(VARIANTS)} reference models to {outdir}")


if __name__ == "__main__":
    main()
