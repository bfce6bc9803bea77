"""Corpus assembly from local files, SentencePiece training, token encoding and batch sampling."""
import glob
import os

import numpy as np
import torch

# Where the text corpora are: prepare_data.py --corpora DIR, else $STOCHA_CORPORA, else
# ../shared/data/corpora beside the repository (the fixtures folder of this project).
CORPORA_ENV = "STOCHA_CORPORA"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS_FILES = ("tinystories_train_head.txt", "tinystories_valid_head.txt",
                "tinyshakespeare_input.txt")
VAL_CHARS = 150_000   # held-out tail of tinystories_valid_head.txt; never trained on


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def split_stories(text):
    """TinyStories heads have no separators; a line starting 'Once upon a time' starts a story."""
    docs, cur = [], []
    for line in text.split("\n"):
        if line.startswith("Once upon a time") and cur:
            docs.append("\n".join(cur).strip())
            cur = []
        cur.append(line)
    if cur:
        docs.append("\n".join(cur).strip())
    return [d for d in docs if d]


def split_chunks(text, size=2000):
    """Cut non-story text into ~size-char documents at paragraph boundaries."""
    docs, cur, n = [], [], 0
    for para in text.split("\n\n"):
        cur.append(para)
        n += len(para)
        if n >= size:
            docs.append("\n\n".join(cur).strip())
            cur, n = [], 0
    if cur:
        docs.append("\n\n".join(cur).strip())
    return [d for d in docs if d]


def corpora_dir(given=None):
    """The corpora folder: `given` (--corpora), else $STOCHA_CORPORA, else ../shared/data/corpora
    beside the repository. Raises FileNotFoundError naming the flag when a file is missing."""
    d = given or os.environ.get(CORPORA_ENV) or os.path.join(REPO, "..", "shared", "data",
                                                             "corpora")
    missing = [f for f in CORPUS_FILES if not os.path.isfile(os.path.join(d, f))]
    if missing:
        raise FileNotFoundError(
            f"corpora folder {os.path.abspath(d)!r} lacks {', '.join(missing)}: pass "
            f"--corpora DIR (or set {CORPORA_ENV}) to a folder holding {', '.join(CORPUS_FILES)}")
    return d


def collect(corpora=None, shakespeare_chars=250_000, code_chars=100_000, license_chars=50_000):
    """Return (train_docs, val_docs, summary). Mostly stories: the default model must tell them.
    `corpora`: the folder of the text files (see corpora_dir)."""
    corpora = corpora_dir(corpora)
    tr = _read(os.path.join(corpora, "tinystories_train_head.txt"))
    va = _read(os.path.join(corpora, "tinystories_valid_head.txt"))
    cut = va.rfind("\nOnce upon a time", 0, len(va) - VAL_CHARS) + 1
    train = split_stories(tr) + split_stories(va[:cut])
    val = split_stories(va[cut:])
    summary = {"stories_train_chars": len(tr) + cut, "stories_val_chars": len(va) - cut}
    sh = _read(os.path.join(corpora, "tinyshakespeare_input.txt"))[:shakespeare_chars]
    train += split_chunks(sh)
    summary["shakespeare_chars"] = len(sh)
    code, n = [], 0
    for p in sorted(glob.glob("/usr/lib/python3.11/*.py")):
        if n >= code_chars:
            break
        t = _read(p)[:20_000]
        code.append(t)
        n += len(t)
    train += code
    summary["python_stdlib_chars"] = n
    lic, n = [], 0
    for p in sorted(glob.glob("/usr/share/common-licenses/*")):
        if n >= license_chars or not os.path.isfile(p):
            continue
        t = _read(p)[:license_chars - n]
        lic += split_chunks(t)
        n += len(t)
    train += lic
    summary["license_text_chars"] = n
    return train, val, summary


def train_tokenizer(docs, prefix, vocab_size=4096):
    import sentencepiece as spm
    txt = prefix + ".txt"
    with open(txt, "w", encoding="utf-8") as f:
        for d in docs:
            for line in d.split("\n"):
                if line.strip():
                    f.write(line + "\n")
    spm.SentencePieceTrainer.train(
        input=txt, model_prefix=prefix, vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        character_coverage=0.9995, split_digits=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
        input_sentence_size=2_000_000, shuffle_input_sentence=True, num_threads=2,
        minloglevel=2)
    os.remove(txt)
    return prefix + ".model"


def encode_docs(sp, docs):
    """Each document becomes BOS + pieces + EOS; '\\n' goes through byte fallback."""
    ids = []
    for ids_doc in sp.encode(docs):
        ids.append(1)
        ids.extend(ids_doc)
        ids.append(2)
    return np.asarray(ids, dtype=np.uint16)


def load_tokens(data_dir, split):
    return torch.from_numpy(np.fromfile(os.path.join(data_dir, f"{split}.bin"), dtype=np.uint16)
                            .astype(np.int64))


def batch(tokens, B, T, gen):
    """B random windows of T+1 tokens -> (inputs [B, T], targets [B, T])."""
    ix = torch.randint(0, len(tokens) - T - 1, (B,), generator=gen)
    x = torch.stack([tokens[i:i + T + 1] for i in ix.tolist()])
    return x[:, :-1], x[:, 1:]
