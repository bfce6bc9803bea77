"""Write golden.json: greedy continuations (F32, from the exported weights) for the engine's tests.

ReLU at the top level (`cases`), then SiLU and a seeded StochA(p) in `more_activations`.
StochA draws its masks with stocha/philox.py, a Python copy of the engine's Philox keys,
so the engine must give the same ids for the same seed.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stocha import hf_io  # noqa: E402
from stocha import philox  # noqa: E402

PROMPTS = ["Once upon a time, there was a little girl named Lily.",
           "Tom had a big red ball. One day,",
           "The cat sat on the mat and"]
STOCHA_P = 0.5
# Both halves nonzero, so a swapped or truncated key word in either implementation shows.
STOCHA_SEED = 0x5EED0000C0FFEE


def greedy_cases(model, sp, n_new, seed=None):
    cases = []
    for prompt in PROMPTS:
        ids = [model.cfg.bos_token_id] + sp.encode(prompt)
        gen = None
        if seed is not None:  # one sample: every position draws with sample index 0
            gen = philox.EngineStochA(seed, model.p, sample=0, prompt_len=len(ids))
        out = model.generate(torch.tensor([ids]), n_new, temperature=0.0, gen=gen)[0].tolist()
        new = out[len(ids):]
        with torch.no_grad():   # top1 - top2 logit at each generated step: near-ties may flip
            lo = model(torch.tensor([out[:-1]]), gen=gen)[0, len(ids) - 1:]
        top2 = lo.topk(2, dim=-1).values
        margins = [round(float(a - b), 4) for a, b in top2.tolist()]
        cases.append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": new,
                      "greedy_text": sp.decode(new), "top1_top2_logit_margin": margins})
        print(f"{model.act} | {prompt} | {sp.decode(new)} | min margin {min(margins)}")
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model_dir")
    ap.add_argument("--new", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(1)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model_dir, "tokenizer.model"))
    model = hf_io.load(args.model_dir).eval()
    model.set_activation("relu", 0.0)
    cases = greedy_cases(model, sp, args.new)
    model.set_activation("silu", 0.0)
    silu = {"activation": "silu", "cases": greedy_cases(model, sp, args.new)}
    model.set_activation("stocha", STOCHA_P)
    stocha = {"activation": f"stocha:{STOCHA_P:g}", "p": STOCHA_P, "seed": STOCHA_SEED,
              "masks": "engine Philox4x32-10 keys (training/stocha/philox.py), sample index 0",
              "cases": greedy_cases(model, sp, args.new, seed=STOCHA_SEED)}
    golden = {"activation": "relu", "math": "float32", "decoding": "greedy (argmax)",
              "new_tokens": args.new, "bos_prepended": True,
              "note": "no EOS stop: exactly new_tokens ids, even past an EOS", "cases": cases,
              "more_activations": [silu, stocha]}
    with open(os.path.join(args.model_dir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)


if __name__ == "__main__":
    main()
