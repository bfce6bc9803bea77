#!/usr/bin/env python3
"""llama.cpp and stocha side by side on the same GGUF file (issue 13).

One command runs everything: writes the synthetic GGUFs (bench/synthetic_gguf) if absent,
installs the pinned llama.cpp (npm ci of bench/peer/package-lock.json into --node-dir),
then for each file and thread count runs, interleaved, --reps times each:
  stocha dense (peer_decode --activation=silu, with the streaming-read probe),
  llama.cpp dense (llama_peer.mjs, timed by llama_perf_context),
  stocha forced-sparse (peer_decode --activation=relu --sparsity=90, as decode_bench).
Prints every run, then medians and the ratios stocha / llama.cpp, and how many greedy
tokens of stocha dense and llama.cpp agree.

  bench/peer/run.py [--build build] [--threads 1,2] [--reps 3] [--tokens 64]
                    [--int8-activations]  # stocha's peer_decode --int8_activations
  bench/peer/run.py --quick     # smoke run on stories260K (seconds)
  bench/peer/run.py --agree     # the CI check: both match upstream run.c on stories260K,
                                # and PyTorch on the reference's llama3 / qwen2 GGUFs
  bench/peer/run.py --agree-quantized   # the CI check on files stocha-quantize writes:
                                # stocha and llama.cpp give the same greedy tokens, up to ties
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = os.path.join(ROOT, "bench", "peer")
SHARED = os.environ.get("STOCHA_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
STORIES = os.path.join(SHARED, "data", "stories260K", "stories260K.gguf")
UPSTREAM = os.path.join(SHARED, "data", "stories260K", "expected",
                        "runc_t0_once_upon_a_time_n64.tokens.json")
REFERENCE = os.path.join(ROOT, "tests", "reference", "make_reference_models.py")
TIE = 1e-3  # logits of F32 engines differ by ~1e-5 (summation order)
DEFAULT_MODEL = os.path.join(ROOT, "models", "default")
# --agree-quantized: (label, source, type) written by stocha-quantize. stories260K (D 64,
# F 172) keeps F16 for W_down (172 is not a multiple of 32) and for every matrix as Q4_K
# (64-element rows are not whole 256-element super-blocks), so its K file is F16; the K
# kernels are checked on models/default (D 256, F 1024: whole super-blocks).
QUANT_CASES = [("stories260K", STORIES, "q8_0"), ("stories260K", STORIES, "q4_0"),
               ("stories260K", STORIES, "q4_k"), ("models/default", DEFAULT_MODEL, "q8_0"),
               ("models/default", DEFAULT_MODEL, "q4_0"), ("models/default", DEFAULT_MODEL, "q4_k")]
QUANT_PROMPT = [1, 403, 407, 261, 378]
QUANT_TOKENS = 48
# llama.cpp rounds the activations to 8 bits for its quantized dot products (Q8_0 blocks
# for Q8_0/Q4_0 weights, Q8_K for the K types: ggml/src/ggml-cpu/ggml-cpu.c, type_traits_cpu
# .vec_dot_type), stocha keeps them F32 (docs/ENGINE.md), so their logits differ by far more than
# two F32 engines' (TIE): a first divergence is accepted where stocha's top-2 logit margin
# is below QUANT_TIE (logits of these models are O(10)).
QUANT_TIE = 0.05
SHAPES = [("llama32_1b", "F16"), ("llama32_1b", "BF16"), ("qwen25_1_5b", "BF16")]
NAMES = {"llama32_1b": "Llama-3.2-1B shape", "qwen25_1_5b": "Qwen2.5-1.5B shape (qwen2)"}
# The architecture each shape is written as; part of the cached file's name (the qwen2
# shape was written as llama before real qwen2 files loaded).
ARCHS = {"llama32_1b": "llama", "qwen25_1_5b": "qwen2"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_node(node_dir):
    """Copies the pinned package and the script to node_dir; npm ci when the lock changed."""
    os.makedirs(node_dir, exist_ok=True)
    for f in ("package.json", "package-lock.json", "llama_peer.mjs"):
        shutil.copyfile(os.path.join(PEER, f), os.path.join(node_dir, f))
    stamp = os.path.join(node_dir, "node_modules", ".stocha-lock")
    lock = open(os.path.join(PEER, "package-lock.json")).read()
    if os.path.exists(stamp) and open(stamp).read() == lock:
        return
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true", CI="true")
    # Only the prebuilt linux-x64 binaries (a direct dependency); no install scripts, so
    # nothing is compiled or downloaded beyond the registry's tarballs.
    subprocess.run(["npm", "ci", "--omit=optional", "--ignore-scripts", "--no-audit", "--no-fund"],
                   cwd=node_dir, env=env, check=True, stdout=sys.stderr)
    open(stamp, "w").write(lock)


def run_json(cmd, cwd=None):
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def stocha(args, model, threads, prompt, tokens, sparse=False, probe=0, predictor_rank=0):
    cmd = [os.path.join(args.build, "bench", "peer_decode"), f"--model={model}",
           f"--threads={threads}", "--prompt_ids=" + ",".join(map(str, prompt)),
           f"--tokens={tokens}", f"--probe_gib={probe}"]
    cmd += ["--activation=relu", f"--sparsity={args.sparsity}"] if sparse else ["--activation=silu"]
    if predictor_rank:
        cmd.append(f"--predictor_rank={predictor_rank}")
    if getattr(args, "int8_activations", False):
        cmd.append("--int8_activations")
    return run_json(cmd)


def llama(args, model, threads, prompt, tokens):
    return run_json(["node", os.path.join(args.node_dir, "llama_peer.mjs"), "--model", model,
                     "--threads", str(threads), "--prompt-ids", ",".join(map(str, prompt)),
                     "--tokens", str(tokens)])


def agreement(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def upstream():
    u = json.load(open(UPSTREAM))
    prompt = u["prompt_ids"]
    # generated_ids[i] is run.c's token at position i+1: the prompt's tail, then greedy ones.
    return prompt, u["generated_ids"][len(prompt) - 1:]


def reference_models(args):
    """The PyTorch reference's random models (ctest's make_reference_models fixture writes
    them; written here when run by hand). Debian's python3 has torch."""
    d = os.path.join(args.build, "reference_models")
    if not os.path.exists(os.path.join(d, "manifest.json")):
        subprocess.run(["/usr/bin/python3", REFERENCE, d], check=True, stdout=sys.stderr)
    return d


def agree_reference(args):
    """On the reference's model.gguf files (llama with rope_freqs, qwen2 with biases, laid
    out as llama.cpp's converter does), the greedy tokens of stocha and llama.cpp both equal
    PyTorch's, up to a numerical tie: a first divergence where PyTorch's top-2 margin is
    below TIE is reported and accepted."""
    d = reference_models(args)
    ok = True
    for name, arch in json.load(open(os.path.join(d, "manifest.json")))["gguf"].items():
        ref = json.load(open(os.path.join(d, name, "reference.json")))
        want, margins, path = ref["greedy_silu"], ref["greedy_margins"], \
            os.path.join(d, name, "model.gguf")
        for who, got in (("stocha", stocha(args, path, 1, ref["tokens"], len(want))["tokens"]),
                         ("llama.cpp", llama(args, path, 1, ref["tokens"], len(want))["tokens"])):
            n = agreement(got, want)
            tie = n < len(want) and margins[n] < TIE
            note = "" if n == len(want) else \
                f"; first divergence at {n}, PyTorch top-2 margin {margins[n]:.2g}" + \
                (" (a tie)" if tie else "")
            print(f"{name} ({arch}) {who}: {n}/{len(want)} greedy tokens equal PyTorch's{note}")
            ok = ok and (n == len(want) or tie)
    return ok


def agree(args):
    """Greedy tokens of stocha (silu) and llama.cpp on stories260K both equal upstream
    run.c's, and on the reference GGUFs PyTorch's."""
    prompt, want = upstream()
    ok = True
    for name, got in (("stocha", stocha(args, STORIES, 1, prompt, len(want))["tokens"]),
                      ("llama.cpp", llama(args, STORIES, 1, prompt, len(want))["tokens"])):
        n = agreement(got, want)
        print(f"{name}: {n}/{len(want)} greedy tokens equal upstream run.c")
        ok = ok and n == len(want)
    ok = agree_reference(args) and ok
    return 0 if ok else 1


def quantize(args, src, dtype, out):
    """Writes src as dtype with stocha-quantize; returns its printed lines (fallbacks)."""
    p = subprocess.run([os.path.join(args.build, "engine", "tools", "stocha-quantize"),
                        f"--model={src}", f"--type={dtype}", f"--out={out}"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"stocha-quantize failed ({p.returncode}) on {src}:\n{p.stderr[-4000:]}")
    return p.stdout.strip().splitlines()


def agree_quantized(args):
    """Files written by stocha-quantize load in llama.cpp, and stocha (silu) and llama.cpp
    give the same QUANT_TOKENS greedy tokens, up to a numerical tie: a first divergence
    where stocha's top-2 logit margin is below QUANT_TIE is printed and accepted."""
    d = os.path.join(args.build, "peer-quant")
    os.makedirs(d, exist_ok=True)
    ok = True
    for label, src, dtype in QUANT_CASES:
        if not os.path.exists(src):
            print(f"SKIP {label} {dtype}: {src} not found")
            continue
        path = os.path.join(d, f"{label.replace('/', '_')}_{dtype}.gguf")
        lines = quantize(args, src, dtype, path)
        kept = [l.split(":", 1)[1].strip() for l in lines if l.startswith("fallback:")]
        print(f"{label} as {dtype.upper()}: {len(kept)} matrices kept F16" +
              (f" ({'; '.join(sorted(set(k.split(' ')[0].split('.')[-2] for k in kept)))})"
               if kept else ""))
        s = stocha(args, path, 1, QUANT_PROMPT, QUANT_TOKENS)
        l = llama(args, path, 1, QUANT_PROMPT, QUANT_TOKENS)
        n = agreement(s["tokens"], l["tokens"])
        if n == QUANT_TOKENS:
            print(f"  {n}/{QUANT_TOKENS} greedy tokens equal")
            continue
        margin = s["margins"][n]
        tie = margin < QUANT_TIE
        print(f"  {n}/{QUANT_TOKENS} greedy tokens equal; first divergence at token {n}: "
              f"stocha {s['tokens'][n]}, llama.cpp {l['tokens'][n]}, stocha's top-2 margin "
              f"{margin:.4g} " + (f"(< {QUANT_TIE}: a tie)" if tie else f"(>= {QUANT_TIE}: FAIL)"))
        ok = ok and tie
    return 0 if ok else 1


def ensure_gguf(args, shape, dtype):
    path = os.path.join(args.gguf_dir, f"{shape}_{ARCHS[shape]}_{dtype.lower()}.gguf")
    if not os.path.exists(path):
        os.makedirs(args.gguf_dir, exist_ok=True)
        log(f"writing {path}")
        subprocess.run([os.path.join(args.build, "bench", "synthetic_gguf"), f"--shape={shape}",
                        f"--dtype={dtype}", f"--out={path}.tmp", f"--vocab_from={STORIES}"],
                       check=True, stdout=sys.stderr)
        os.rename(path + ".tmp", path)
    return path


def bench_file(args, label, path, prompt):
    rows = []
    for t in args.threads:
        runs = {"dense": [], "llama": [], "sparse": []}
        if args.predictor_rank:
            runs["predictor"] = []
        for r in range(args.reps):
            d = stocha(args, path, t, prompt, args.tokens, probe=args.probe_gib)
            runs["dense"].append(d)
            runs["llama"].append(llama(args, path, t, prompt, args.tokens))
            runs["sparse"].append(stocha(args, path, t, prompt, args.tokens, sparse=True))
            if args.predictor_rank:
                runs["predictor"].append(stocha(args, path, t, prompt, args.tokens, sparse=True,
                                                predictor_rank=args.predictor_rank))
            bpt = d["weight_bytes_per_token"]
            for k in runs:
                x = runs[k][-1]
                log(f"{label} t={t} rep {r + 1} {k:6s} {x['tok_s']:8.2f} tok/s "
                    f"{x['tok_s'] * bpt / 1e9:6.1f} GB/s(dense bytes)")
            log(f"{label} t={t} rep {r + 1} probe  {d['probe_bytes_per_s'] / 1e9:6.1f} GB/s")
        med = {k: statistics.median(x["tok_s"] for x in v) for k, v in runs.items()}
        probe = statistics.median(x["probe_bytes_per_s"] for x in runs["dense"])
        bpt = runs["dense"][0]["weight_bytes_per_token"]
        agree_n = min(agreement(d["tokens"], l["tokens"])
                      for d, l in zip(runs["dense"], runs["llama"]))
        rows.append(f"| {label} | {t} | {med['llama']:.2f} | {med['dense']:.2f} | "
                    f"**{med['dense'] / med['llama']:.2f}** | {med['sparse']:.2f} | "
                    f"**{med['sparse'] / med['llama']:.2f}** | {med['llama'] * bpt / 1e9:.1f} | "
                    f"{med['dense'] * bpt / 1e9:.1f} | {probe / 1e9:.1f} | "
                    f"{100 * med['dense'] * bpt / probe if probe else 0:.0f}% | "
                    f"{agree_n}/{args.tokens} |" +
                    (f" {med['predictor']:.2f} | **{med['predictor'] / med['llama']:.2f}** |"
                     if args.predictor_rank else ""))
        log("row: " + rows[-1])  # so a stopped run keeps its finished rows
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--node-dir", default=None, help="where npm ci puts llama.cpp "
                    "(default BUILD/peer-node)")
    ap.add_argument("--gguf-dir", default=None, help="synthetic GGUFs (default BUILD/peer-gguf)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--sparsity", type=float, default=90)
    ap.add_argument("--probe-gib", type=float, default=1)
    ap.add_argument("--predictor-rank", type=int, default=0,
                    help="also run stocha sparse with a random low-rank predictor of this rank "
                         "choosing the active rows (no full gate), as decode_bench")
    ap.add_argument("--int8-activations", action="store_true",
                    help="stocha with 8-bit activations on Q8_0/Q4_0 weights, as llama.cpp")
    ap.add_argument("--shapes", default=",".join(f"{s}:{d}" for s, d in SHAPES),
                    help="shape:dtype list (llama32_1b, qwen25_1_5b; F16, BF16)")
    ap.add_argument("--quick", action="store_true", help="stories260K only, small probe")
    ap.add_argument("--agree", action="store_true", help="stories260K vs upstream run.c only")
    ap.add_argument("--agree-quantized", action="store_true",
                    help="stocha vs llama.cpp on stocha-quantize's Q8_0/Q4_0/Q4_K files")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.node_dir = os.path.abspath(args.node_dir or os.path.join(args.build, "peer-node"))
    args.gguf_dir = os.path.abspath(args.gguf_dir or os.path.join(args.build, "peer-gguf"))
    args.threads = [int(t) for t in args.threads.split(",")]
    if not os.path.exists(STORIES):
        print(f"SKIP: {STORIES} not found (../shared/data is absent)")
        return 0
    ensure_node(args.node_dir)
    if args.agree:
        return agree(args)
    if args.agree_quantized:
        return agree_quantized(args)
    prompt, _ = upstream()
    files = [("stories260K", STORIES)]
    if args.quick:
        args.probe_gib = min(args.probe_gib, 0.25)
    else:
        files = [(f"{NAMES[s]}, {d}", ensure_gguf(args, s, d))
                 for s, d in (x.split(":") for x in args.shapes.split(","))]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    rows = []
    for label, path in files:
        rows += bench_file(args, label, path, prompt)
    print(f"\nCPU: {cpu}, {os.cpu_count()} CPUs; {args.tokens} greedy tokens after a "
          f"{len(prompt)}-token prompt; medians of {args.reps} interleaved runs; "
          f"sparse = stocha ReLU with {args.sparsity:.0f}% FFN sparsity forced" +
          (f"; predictor = the same, rows chosen by a rank-{args.predictor_rank} predictor"
           if args.predictor_rank else ""))
    extra = " stocha predictor tok/s | predictor ÷ llama.cpp |" if args.predictor_rank else ""
    print("| file (synthetic, llama arch) | threads | llama.cpp tok/s | stocha dense tok/s | "
          "dense ÷ llama.cpp | stocha sparse tok/s | sparse ÷ llama.cpp | llama.cpp GB/s | "
          "stocha dense GB/s | probe GB/s | dense / probe | tokens agreeing |" + extra)
    print("|---|---|---|---|---|---|---|---|---|---|---|---|" +
          ("---|---|" if args.predictor_rank else ""))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
