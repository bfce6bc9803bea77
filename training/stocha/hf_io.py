"""Export to / load from the HF Llama layout: config.json + model.safetensors + tokenizer.model."""
import json
import os
import shutil

import torch

from . import safetensors_io
from .model import Config, LlamaModel

_DT = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
_TORCH_DTYPE = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}


def config_json(cfg: Config, dtype="f32"):
    d = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size, "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads, "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.rms_norm_eps, "rope_theta": cfg.rope_theta,
        "rope_scaling": cfg.rope_scaling, "max_position_embeddings": cfg.max_position_embeddings,
        "tie_word_embeddings": cfg.tie_word_embeddings, "hidden_act": cfg.hidden_act,
        "attention_bias": cfg.attention_bias, "mlp_bias": False,
        "bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id,
        "torch_dtype": _TORCH_DTYPE[dtype], "mlp_gated": cfg.mlp_gated,
    }
    st = dict(cfg.stocha)
    st.setdefault("p", cfg.stocha_p)
    d["stocha"] = st
    return d


def config_from_json(d: dict) -> Config:
    st = d.get("stocha") or {}
    return Config(
        vocab_size=d["vocab_size"], hidden_size=d["hidden_size"],
        intermediate_size=d["intermediate_size"], num_hidden_layers=d["num_hidden_layers"],
        num_attention_heads=d["num_attention_heads"],
        num_key_value_heads=d.get("num_key_value_heads", d["num_attention_heads"]),
        head_dim=d.get("head_dim"), rms_norm_eps=d.get("rms_norm_eps", 1e-5),
        rope_theta=d.get("rope_theta", 10000.0), rope_scaling=d.get("rope_scaling"),
        max_position_embeddings=d.get("max_position_embeddings", 2048),
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_bias=d.get("attention_bias", False), mlp_gated=d.get("mlp_gated", True),
        hidden_act=d.get("hidden_act", "silu"), stocha_p=float(st.get("p", 0.5)),
        bos_token_id=d.get("bos_token_id", 1), eos_token_id=d.get("eos_token_id", 2),
        stocha=st)


def state_tensors(model: LlamaModel, dtype="f32"):
    sd = {k: v for k, v in model.state_dict().items() if k != "inv_freq"}
    if model.cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    return {k: v.detach().to(_DT[dtype]).contiguous() for k, v in sd.items()}


def save(model: LlamaModel, out_dir, dtype="f32", tokenizer=None, shards=1):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config_json(model.cfg, dtype), f, indent=2)
    tensors = state_tensors(model, dtype)
    if shards > 1:
        safetensors_io.write_sharded(out_dir, tensors, shards)
    else:
        safetensors_io.write(os.path.join(out_dir, "model.safetensors"), tensors, {"format": "pt"})
    if tokenizer and os.path.abspath(tokenizer) != os.path.abspath(
            os.path.join(out_dir, "tokenizer.model")):
        shutil.copyfile(tokenizer, os.path.join(out_dir, "tokenizer.model"))


def load(model_dir) -> LlamaModel:
    """Load an HF-layout dir into an F32 LlamaModel (weights upcast from BF16/F16 exactly)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = config_from_json(json.load(f))
    model = LlamaModel(cfg)
    sd = {k: v.float() for k, v in safetensors_io.read_dir(model_dir).items()}
    if cfg.tie_word_embeddings:
        sd.setdefault("lm_head.weight", sd["model.embed_tokens.weight"])
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if m != "inv_freq"]
    if missing or unexpected:
        raise ValueError(f"{model_dir}: missing {missing}, unexpected {unexpected}")
    return model
