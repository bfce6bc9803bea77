"""Cross-checks tests/reference logits against an independent NumPy forward pass (float64)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from stocha import safetensors_io  # noqa: E402


def inv_freq(c, hd):
    inv = 1.0 / c.get("rope_theta", 10000.0) ** (np.arange(0, hd, 2) / hd)
    rs = c.get("rope_scaling")
    if rs:
        f, lo, hi, old = (rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"],
                          rs["original_max_position_embeddings"])
        out = []
        for w in inv:
            wl = 2 * np.pi / w
            if wl < old / hi:
                out.append(w)
            elif wl > old / lo:
                out.append(w / f)
            else:
                s = (old / wl - lo) / (hi - lo)
                out.append((1 - s) * w / f + s * w)
        inv = np.array(out)
    return inv


def forward(c, W, toks, act):
    """Plain per-position loop, written apart from stocha/model.py on purpose."""
    D, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or D // H
    eps = c["rms_norm_eps"]
    g = lambda n: W[n].astype(np.float64)  # noqa: E731
    has = lambda n: n in W  # noqa: E731
    norm = lambda x, w: x / np.sqrt((x * x).mean() + eps) * w  # noqa: E731
    fn = {"relu": lambda v: np.maximum(v, 0), "silu": lambda v: v / (1 + np.exp(-v))}[act]
    freqs = inv_freq(c, hd)
    T = len(toks)
    x = g("model.embed_tokens.weight")[toks]                      # [T, D]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        ks, vs, outs = [], [], []
        for t in range(T):
            h = norm(x[t], g(p + "input_layernorm.weight"))
            proj = {}
            for n in "qkvo":
                if n != "o":
                    proj[n] = g(p + f"self_attn.{n}_proj.weight") @ h
                    if has(p + f"self_attn.{n}_proj.bias"):
                        proj[n] = proj[n] + g(p + f"self_attn.{n}_proj.bias")
            ang = t * freqs
            cos, sin = np.cos(ang), np.sin(ang)

            def rope(v):
                v = v.reshape(-1, hd)
                a, b = v[:, :hd // 2], v[:, hd // 2:]
                return np.concatenate([a * cos - b * sin, b * cos + a * sin], 1)
            q, k, v = rope(proj["q"]), rope(proj["k"]), proj["v"].reshape(KV, hd)
            ks.append(k)
            vs.append(v)
            o = []
            for head in range(H):
                kvh = head // (H // KV)
                s = np.array([q[head] @ ks[j][kvh] for j in range(t + 1)]) / np.sqrt(hd)
                pr = np.exp(s - s.max())
                pr /= pr.sum()
                o.append(sum(pr[j] * vs[j][kvh] for j in range(t + 1)))
            a = g(p + "self_attn.o_proj.weight") @ np.concatenate(o)
            if has(p + "self_attn.o_proj.bias"):
                a = a + g(p + "self_attn.o_proj.bias")
            outs.append(x[t] + a)
        x = np.array(outs)
        for t in range(T):
            h = norm(x[t], g(p + "post_attention_layernorm.weight"))
            if c.get("mlp_gated", True):
                m = fn(g(p + "mlp.gate_proj.weight") @ h) * (g(p + "mlp.up_proj.weight") @ h)
            else:
                m = fn(g(p + "mlp.up_proj.weight") @ h)
            x[t] = x[t] + g(p + "mlp.down_proj.weight") @ m
    head = g("lm_head.weight") if has("lm_head.weight") else g("model.embed_tokens.weight")
    return np.array([head @ norm(x[t], g("model.norm.weight")) for t in range(T)])


class ReferenceNumpyTest(unittest.TestCase):
    def test_all_variants(self):
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([sys.executable, os.path.join(REPO, "tests/reference/"
                                                         "make_reference_models.py"), out],
                           check=True, capture_output=True)
            with open(os.path.join(out, "manifest.json")) as f:
                variants = json.load(f)["variants"]
            for name in variants:
                d = os.path.join(out, name)
                with open(os.path.join(d, "config.json")) as f:
                    c = json.load(f)
                with open(os.path.join(d, "reference.json")) as f:
                    ref = json.load(f)
                W = {k: v.float().numpy() for k, v in safetensors_io.read_dir(d).items()}
                for key in ("logits", "logits_relu"):
                    got = np.fromfile(os.path.join(d, ref[key]["file"]), "<f4").reshape(
                        ref["shape"])
                    want = forward(c, W, ref["tokens"], ref[key]["activation"])
                    err = np.abs(got - want).max() / (np.abs(want).max() + 1e-9)
                    self.assertLess(err, 2e-5, f"{name}/{key}: rel err {err}")


if __name__ == "__main__":
    unittest.main()
