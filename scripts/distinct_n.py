#!/usr/bin/env python3
"""Prints the samples of a `stocha-cli --json multi-sample` stream, then their distinct-n.

distinct-n: unique token n-grams / all token n-grams over the samples of one prompt (as
training/diversity.py and docs/RESULTS.md): near 0 when the samples repeat each other,
near 1 when no n-gram repeats. Usage: stocha-cli --json multi-sample ... | distinct_n.py
"""
import json
import sys


def chunks(text):
    dec, i = json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return
        obj, i = dec.raw_decode(text, i)
        yield obj


def distinct(samples, n):
    grams = [tuple(s[i:i + n]) for s in samples for i in range(len(s) - n + 1)]
    return len(set(grams)) / max(1, len(grams))


def main():
    texts, ids = {}, {}
    for c in chunks(sys.stdin.read()):
        if "summary" in c:
            continue
        k = c.get("sampleIndex", 0)
        texts[k] = texts.get(k, "") + c.get("text", "")
        ids.setdefault(k, []).extend(c.get("tokenIds", []))
    for k in sorted(texts):
        print(f"  [{k}] {' '.join(texts[k].split())}")
    samples = [ids[k] for k in sorted(ids)]
    print(f"  distinct-1 {distinct(samples, 1):.2f}, distinct-2 {distinct(samples, 2):.2f} "
          f"over {len(samples)} samples (token n-grams; 1.0 = no n-gram repeated)")


if __name__ == "__main__":
    main()
