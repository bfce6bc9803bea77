"""Diversity study: temperature vs test-time StochA sampling; distinct-n, self-BLEU, NLL; plot."""
import argparse
import collections
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stocha import hf_io  # noqa: E402

PROMPTS = ["Once upon a time, there was a little boy named Tim.",
           "Lily and her mom went to the park.",
           "One day, a big dog saw a cat.",
           "The little bird wanted to fly."]


def settings(ps, temps):
    s = [("silu", 0.0, t) for t in temps] + [("relu", 0.0, t) for t in temps]
    s += [("stocha", p, 0.0) for p in ps]
    s += [("stocha", p, t) for p in ps for t in temps]
    return s


def label(act, p, t):
    a = f"StochA({p})" if act == "stocha" else act.upper()
    return f"{a} " + (f"T={t}" if t > 0 else "greedy")


def ngrams(seq, n):
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]


def distinct(samples, n):
    grams = [g for s in samples for g in ngrams(s, n)]
    return len(set(grams)) / max(1, len(grams))


def bleu(hyp, refs, N=4):
    """Sentence BLEU-N with add-one smoothing for n>1 (Lin & Och 2004)."""
    logp = 0.0
    for n in range(1, N + 1):
        h = collections.Counter(ngrams(hyp, n))
        mx = collections.Counter()
        for r in refs:
            for g, c in collections.Counter(ngrams(r, n)).items():
                mx[g] = max(mx[g], c)
        match = sum(min(c, mx[g]) for g, c in h.items())
        tot = sum(h.values())
        sm = 0 if n == 1 else 1
        if tot + sm == 0 or match + sm == 0:
            return 0.0
        logp += math.log((match + sm) / (tot + sm)) / N
    r = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
    bp = 1.0 if len(hyp) > r else math.exp(1 - r / max(1, len(hyp)))
    return bp * math.exp(logp)


def self_bleu(samples):
    return sum(bleu(s, samples[:i] + samples[i + 1:]) for i, s in enumerate(samples)) / len(samples)


@torch.no_grad()
def nll(scorer, prompt_ids, samples):
    """Mean per-token NLL of the generated tokens given the prompt, under the scorer model."""
    x = torch.tensor([prompt_ids + s for s in samples])
    lo = scorer(x[:, :-1])[:, len(prompt_ids) - 1:]
    return F.cross_entropy(lo.reshape(-1, lo.shape[-1]), x[:, len(prompt_ids):].reshape(-1)).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model_dir", help="model sampled from")
    ap.add_argument("--scorer", help="model dir scoring NLL (default: model_dir)")
    ap.add_argument("--scorer-act", default="relu")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--new", type=int, default=48)
    ap.add_argument("--ps", default="0.3,0.5,0.7")
    ap.add_argument("--temps", default="0.7,1.0")
    ap.add_argument("--out", required=True, help="prefix: OUT.json, OUT.png, OUT_samples.txt")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model_dir, "tokenizer.model"))
    model = hf_io.load(args.model_dir).eval()
    scorer = hf_io.load(args.scorer or args.model_dir).eval()
    scorer.set_activation(args.scorer_act, 0.0)
    ps = [float(x) for x in args.ps.split(",")]
    temps = [float(x) for x in args.temps.split(",")]
    rows, texts = [], []
    for act, p, t in settings(ps, temps):
        model.set_activation(act, p)
        gen = torch.Generator().manual_seed(args.seed)
        d1 = d2 = d3 = sb = nl = 0.0
        for prompt in PROMPTS:
            ids = [1] + sp.encode(prompt)
            out = model.generate(torch.tensor([ids] * args.k), args.new, t, gen)
            samples = [r[len(ids):] for r in out.tolist()]
            d1 += distinct(samples, 1)
            d2 += distinct(samples, 2)
            d3 += distinct(samples, 3)
            sb += self_bleu(samples)
            nl += nll(scorer, ids, samples)
            texts.append(f"## {label(act, p, t)} | {prompt}\n"
                         + "\n".join("- " + sp.decode(s).replace("\n", " ") for s in samples[:3]))
        n = len(PROMPTS)
        rows.append({"setting": label(act, p, t), "act": act, "p": p, "temperature": t,
                     "distinct1": d1 / n, "distinct2": d2 / n, "distinct3": d3 / n,
                     "self_bleu": sb / n, "nll": nl / n})
        print(json.dumps(rows[-1]), flush=True)
    with open(args.out + ".json", "w") as f:
        json.dump({"model": args.model_dir, "scorer": args.scorer or args.model_dir,
                   "scorer_act": args.scorer_act, "k": args.k, "new_tokens": args.new,
                   "prompts": PROMPTS, "rows": rows}, f, indent=1)
    with open(args.out + "_samples.txt", "w") as f:
        f.write("\n\n".join(texts) + "\n")
    plot(rows, args.out + ".png")


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    colors = {"silu": "tab:blue", "relu": "tab:orange", "stocha": "tab:green"}
    for ax, key, name in ((axes[0], "self_bleu", "self-BLEU-4 (lower = more diverse)"),
                          (axes[1], "distinct2", "distinct-2 (higher = more diverse)")):
        for r in rows:
            mk = "s" if r["temperature"] == 0 else "o"
            ax.plot(r[key], r["nll"], mk, color=colors[r["act"]], ms=7)
            ax.annotate(r["setting"], (r[key], r["nll"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(name)
        ax.set_ylabel("mean per-token NLL of samples under scorer (lower = better)")
        ax.grid(alpha=0.3)
    fig.suptitle("Diversity vs quality: temperature vs test-time StochA (squares: greedy)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
