"""Val loss/perplexity of exported models under relu, silu and StochA(p), and ReLU sparsity."""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stocha import data, hf_io  # noqa: E402

ACTS = [("relu", 0.0), ("silu", 0.0), ("stocha", 0.3), ("stocha", 0.5), ("stocha", 0.7)]
PROMPTS = ["Once upon a time, there was a little girl named",
           "Tom and his dog went to the park. They",
           "The sun was shining and the birds"]


def act_name(a, p):
    return f"stocha({p})" if a == "stocha" else a


@torch.no_grad()
def val_eval(model, val, T=128, act="relu", p=0.0, seed=0, sparsity=False):
    """Mean NLL over all contiguous T-windows of val; optional per-layer zero fraction."""
    model.eval()
    model.set_activation(act, p)
    gen = torch.Generator().manual_seed(seed)
    L = model.cfg.num_hidden_layers
    zeros, total = [0] * L, [0] * L
    n = (len(val) - 1) // T
    nll, cnt = 0.0, 0
    for i in range(0, n, 16):
        r = range(i, min(n, i + 16))
        x = torch.stack([val[j * T:(j + 1) * T] for j in r])
        y = torch.stack([val[j * T + 1:(j + 1) * T + 1] for j in r])
        stats = [] if sparsity else None
        lo = model(x, gen=gen, stats=stats)
        nll += F.cross_entropy(lo.reshape(-1, lo.shape[-1]), y.reshape(-1), reduction="sum").item()
        cnt += y.numel()
        for k, (z, t) in enumerate(stats or []):
            zeros[k % L] += z
            total[k % L] += t
    out = {"loss": nll / cnt, "ppl": math.exp(nll / cnt), "tokens": cnt}
    if sparsity:
        out["sparsity_per_layer"] = [z / t for z, t in zip(zeros, total)]
        out["sparsity_mean"] = sum(zeros) / sum(total)
    return out


@torch.no_grad()
def generated_sparsity(model, sp, n_new=64):
    """Per-layer ReLU zero fraction over greedily GENERATED tokens only (decode steps)."""
    model.set_activation("relu", 0.0)
    L = model.cfg.num_hidden_layers
    zeros, total = [0] * L, [0] * L
    for prompt in PROMPTS:
        ids = torch.tensor([[1] + sp.encode(prompt)])
        caches = [dict() for _ in range(L)]
        logits = model(ids, caches, 0)[:, -1]
        pos = ids.shape[1]
        for _ in range(n_new):
            nxt = logits.argmax(-1, keepdim=True)
            stats = []
            logits = model(nxt, caches, pos, stats=stats)[:, -1]
            pos += 1
            for k, (z, t) in enumerate(stats):
                zeros[k] += z
                total[k] += t
    return {"per_layer": [z / t for z, t in zip(zeros, total)],
            "mean": sum(zeros) / sum(total), "tokens": n_new * len(PROMPTS)}


def evaluate(model_dir, val, T, gen_sparsity=False):
    model = hf_io.load(model_dir)
    res = {"model": model_dir, "params": sum(p.numel() for p in model.parameters()),
           "stocha": model.cfg.stocha, "by_activation": {}}
    for a, p in ACTS:
        res["by_activation"][act_name(a, p)] = val_eval(model, val, T, a, p,
                                                        sparsity=(a == "relu"))
    if gen_sparsity:
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
        res["generated_sparsity_relu"] = generated_sparsity(model, sp)
    return res


def markdown(results):
    cols = [act_name(a, p) for a, p in ACTS]
    lines = ["| model | recipe | params | " + " | ".join(f"loss {c}" for c in cols)
             + " | ppl relu | relu sparsity |",
             "|---|---|---|" + "---|" * len(cols) + "---|---|"]
    for r in results:
        b = r["by_activation"]
        lines.append(f"| {r['model']} | {r['stocha'].get('recipe', '?')} | "
                     f"{r['params'] / 1e6:.2f}M | "
                     + " | ".join(f"{b[c]['loss']:.3f}" for c in cols)
                     + f" | {b['relu']['ppl']:.1f} | {100 * b['relu']['sparsity_mean']:.1f}% |")
    lines += ["", "ReLU sparsity per layer (teacher-forced val tokens):", "",
              "| model | " + " | ".join(f"L{i}" for i in range(max(
                  len(r["by_activation"]["relu"]["sparsity_per_layer"]) for r in results)))
              + " |", "|---|" + "---|" * max(
                  len(r["by_activation"]["relu"]["sparsity_per_layer"]) for r in results)]
    for r in results:
        sp = r["by_activation"]["relu"]["sparsity_per_layer"]
        width = max(len(q["by_activation"]["relu"]["sparsity_per_layer"]) for q in results)
        cells = [f"{100 * s:.1f}%" for s in sp] + ["—"] * (width - len(sp))
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("models", nargs="+", help="HF-layout dirs")
    ap.add_argument("--data", default="training/runs/data")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--gen-sparsity", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    val = data.load_tokens(args.data, "val")
    results = [evaluate(m, val, args.seq, args.gen_sparsity) for m in args.models]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(markdown(results))


if __name__ == "__main__":
    main()
