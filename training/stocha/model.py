"""Llama-style decoder (HF Llama weight names) whose FFN activation is silu, relu or StochA(p)."""
import math
from dataclasses import dataclass, field, asdict
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 688
    num_hidden_layers: int = 6
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    head_dim: Optional[int] = None          # None -> hidden_size // num_attention_heads
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: Optional[dict] = None     # HF llama3 dict or None
    max_position_embeddings: int = 512
    tie_word_embeddings: bool = True
    attention_bias: bool = False
    mlp_gated: bool = True
    hidden_act: str = "relu"                # silu | relu | stocha
    stocha_p: float = 0.5                   # SiLU-branch probability when hidden_act == stocha
    bos_token_id: int = 1
    eos_token_id: int = 2
    stocha: dict = field(default_factory=dict)  # recipe metadata, exported verbatim

    def __post_init__(self):
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads

    def to_dict(self):
        return asdict(self)


def activation(x, kind, p=0.0, generator=None):
    """The FFN activation of PAPER.md. stocha: x>=0 -> x; x<0 -> SiLU(x) w.p. p else 0.

    `generator` is a torch.Generator, or a callable shape -> bool mask of the elements that
    would take the SiLU branch if negative (philox.EngineStochA: the engine's own draws).
    """
    if kind == "relu":
        return F.relu(x)
    if kind == "silu":
        return F.silu(x)
    if kind == "stocha":
        if p <= 0.0:
            return F.relu(x)
        if callable(generator):
            take_silu = (x < 0) & generator(x.shape).to(x.device)
            return torch.where(take_silu, F.silu(x), F.relu(x))
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float32)
        take_silu = (x < 0) & (u < p)
        return torch.where(take_silu, F.silu(x), F.relu(x))
    raise ValueError(f"unknown activation {kind!r}")


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # Computed in F32 whatever the input dtype, as the engine does.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


def rope_inv_freq(cfg: Config):
    hd = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = cfg.rope_scaling
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        # transformers' _compute_llama3_parameters.
        factor = rs["factor"]
        lo, hi = rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
        old_ctx = rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old_ctx / lo, old_ctx / hi
        wl = 2 * math.pi / inv
        out = torch.where(wl > lo_wl, inv / factor, inv)
        smooth = (old_ctx / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wl < hi_wl) & ~(wl > lo_wl)
        inv = torch.where(medium, smoothed, out)
    return inv.float()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.h, self.kv, self.hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        b = cfg.attention_bias
        self.q_proj = nn.Linear(cfg.hidden_size, self.h * self.hd, bias=b)
        self.k_proj = nn.Linear(cfg.hidden_size, self.kv * self.hd, bias=b)
        self.v_proj = nn.Linear(cfg.hidden_size, self.kv * self.hd, bias=b)
        # q/k/v biases only (Qwen2 style), as docs/MODEL_FORMATS.md specifies; note that
        # transformers' LlamaAttention would also give o_proj a bias under attention_bias.
        self.o_proj = nn.Linear(self.h * self.hd, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, cache=None):
        B, T, _ = x.shape                                        # x: [B, T, D]
        q = self.q_proj(x).view(B, T, self.h, self.hd).transpose(1, 2)    # [B, H, T, hd]
        k = self.k_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)   # [B, KV, T, hd]
        v = self.v_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if cache.get("k") is not None:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        S = k.shape[2]
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, dim=1)                      # [B, H, S, hd]
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))  # [B, H, T, S]
        # Query t (absolute position S-T+t) sees keys 0..S-T+t.
        mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)
        att = att.masked_fill(~mask, float("-inf"))
        att = torch.softmax(att.float(), dim=-1).to(q.dtype)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.h * self.hd)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.gated = cfg.mlp_gated
        if self.gated:
            self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x, act, p, gen, stats=None):
        if self.gated:
            a = activation(self.gate_proj(x), act, p, gen)       # [B, T, F]
            h = a * self.up_proj(x)
        else:
            a = activation(self.up_proj(x), act, p, gen)
            h = a
        if stats is not None:
            stats.append(((a == 0).sum().item(), a.numel()))
        return self.down_proj(h)


class Block(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, act, p, gen, cache=None, stats=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x), act, p, gen, stats)


class Inner(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class LlamaModel(nn.Module):
    """Parameters are named exactly like HF LlamaForCausalLM ('model.layers.0.mlp.up_proj.weight')."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.register_buffer("inv_freq", rope_inv_freq(cfg), persistent=False)
        self.act, self.p = cfg.hidden_act, cfg.stocha_p
        self.apply(self._init)

    def _init(self, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def set_activation(self, act, p=None):
        self.act = act
        if p is not None:
            self.p = p

    def rope(self, start, T, dtype):
        pos = torch.arange(start, start + T, dtype=torch.float32)
        fr = torch.outer(pos, self.inv_freq)                     # [T, hd/2]
        emb = torch.cat([fr, fr], dim=-1)                        # [T, hd]
        return emb.cos().to(dtype), emb.sin().to(dtype)

    def forward(self, idx, caches=None, start=0, gen=None, stats=None):
        """idx: [B, T] token ids -> logits [B, T, V]. caches: list of dicts per layer, or None."""
        x = self.model.embed_tokens(idx)                         # [B, T, D]
        cos, sin = self.rope(start, idx.shape[1], x.dtype)
        for i, layer in enumerate(self.model.layers):
            c = caches[i] if caches is not None else None
            g = gen.at(i, start) if hasattr(gen, "at") else gen   # keyed per layer/position
            x = layer(x, cos, sin, self.act, self.p, g, c, stats)
        return self.lm_head(self.model.norm(x))

    @torch.no_grad()
    def generate(self, idx, n_new, temperature=0.0, gen=None, eos_stop=False):
        """Batch generation with a KV cache; temperature 0 is greedy. Returns [B, T+n_new]."""
        caches = [dict() for _ in self.model.layers]
        logits = self.forward(idx, caches, 0, gen)[:, -1]
        out, pos = idx, idx.shape[1]
        for _ in range(n_new):
            if temperature > 0:
                probs = torch.softmax(logits.float() / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=gen)
            else:
                nxt = logits.argmax(-1, keepdim=True)
            out = torch.cat([out, nxt], dim=1)
            if eos_stop and out.shape[0] == 1 and nxt.item() == self.cfg.eos_token_id:
                break
            if pos >= self.cfg.max_position_embeddings:
                break
            logits = self.forward(nxt, caches, pos, gen)[:, -1]
            pos += 1
        return out
