"""Build the training corpus from local files, train tokenizer.model, write train.bin/val.bin."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stocha import data  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="training/runs/data")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--tokenizer", help="reuse this tokenizer.model instead of training one")
    ap.add_argument("--corpora", help=f"folder of the text corpora (default: ${data.CORPORA_ENV}, "
                    "else ../shared/data/corpora beside the repository)")
    args = ap.parse_args()
    try:
        corpora = data.corpora_dir(args.corpora)
    except FileNotFoundError as e:
        ap.error(str(e))
    import sentencepiece as spm
    os.makedirs(args.out, exist_ok=True)
    train, val, summary = data.collect(corpora)
    tok = args.tokenizer or data.train_tokenizer(train, os.path.join(args.out, "tokenizer"),
                                                 args.vocab)
    sp = spm.SentencePieceProcessor(model_file=tok)
    if args.tokenizer:
        import shutil
        shutil.copyfile(tok, os.path.join(args.out, "tokenizer.model"))
    tr, va = data.encode_docs(sp, train), data.encode_docs(sp, val)
    tr.tofile(os.path.join(args.out, "train.bin"))
    va.tofile(os.path.join(args.out, "val.bin"))
    summary.update(train_docs=len(train), val_docs=len(val), train_tokens=int(len(tr)),
                   val_tokens=int(len(va)), vocab_size=sp.get_piece_size())
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
