#!/usr/bin/python3
"""Write a SentencePiece tokenizer.model as llama2.c's tokenizer.bin (pieces and scores).

Usage: export_llama2c_tokenizer.py tokenizer.model tokenizer.bin

stocha-server cannot load tokenizer.model through Debian's libsentencepiece (it embeds
its own protobuf, which clashes with gRPC's), so the bundled model ships this copy too.
"""
import struct
import sys

import sentencepiece as spm


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
    pieces = []
    for i in range(sp.get_piece_size()):
        p = sp.id_to_piece(i)
        if i == sp.bos_id():
            p = "\n<s>\n"
        elif i == sp.eos_id():
            p = "\n</s>\n"
        p = p.replace("\u2581", " ")
        pieces.append((sp.get_score(i), p.encode("utf-8")))
    with open(sys.argv[2], "wb") as f:
        f.write(struct.pack("<i", max(len(b) for _, b in pieces)))
        for score, b in pieces:
            f.write(struct.pack("<fi", score, len(b)))
            f.write(b)


if __name__ == "__main__":
    main()
