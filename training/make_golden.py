"""Write golden.json: greedy ReLU continuations (F32, from the exported weights) for the engine."""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stocha import hf_io  # noqa: E402

PROMPTS = ["Once upon a time, there was a little girl named Lily.",
           "Tom had a big red ball. One day,",
           "The cat sat on the mat and"]


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
    cases = []
    for prompt in PROMPTS:
        ids = [model.cfg.bos_token_id] + sp.encode(prompt)
        out = model.generate(torch.tensor([ids]), args.new, temperature=0.0)[0].tolist()
        new = out[len(ids):]
        with torch.no_grad():   # top1 - top2 logit at each generated step: near-ties may flip
            lo = model(torch.tensor([out[:-1]]))[0, len(ids) - 1:]
        top2 = lo.topk(2, dim=-1).values
        margins = [round(float(a - b), 4) for a, b in top2.tolist()]
        cases.append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": new,
                      "greedy_text": sp.decode(new), "top1_top2_logit_margin": margins})
        print(prompt, "|", sp.decode(new))
    golden = {"activation": "relu", "math": "float32", "decoding": "greedy (argmax)",
              "new_tokens": args.new, "bos_prepended": True,
              "note": "no EOS stop: exactly new_tokens ids, even past an EOS", "cases": cases}
    with open(os.path.join(args.model_dir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)


if __name__ == "__main__":
    main()
