#!/usr/bin/python3
"""Serving benchmark: stocha-loadgen against a real stocha-server on one machine.

Prints three markdown tables (docs/PERFORMANCE.md, "Serving"):
  1. aggregate throughput and latency percentiles at 1..32 concurrent streams;
  2. serving overhead at one stream: the engine alone (stocha-generate) against Generate and
     GenerateStream on the same prompt, greedy, run alternately in pairs, ratio of medians;
  3. MultiSample n=8 against 8 concurrent GenerateStream calls on a long prompt;
  4. (--only metrics) throughput with the metrics endpoint off and on (scraped every second),
     alternating, side by side (docs/PERFORMANCE.md, "Metrics cost");
  5. (--only threads) throughput at 1..32 streams of a server on one compute thread and of
     one on --threads (default 2), alternating, side by side (docs/PERFORMANCE.md, "Serving
     on two compute threads").

Usage: bench/serving_bench.py [--build build-release] [--model models/default] [--quick]
Tables 1-4 run with one compute thread (OMP_NUM_THREADS=1, --threads=1).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def start_server(build, model, env, workdir, extra_flags=(), threads=1):
    port_file = os.path.join(workdir, "port")
    log = open(os.path.join(workdir, "server.log"), "w")
    env = dict(env, OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen(
        [os.path.join(build, "server/stocha-server"), f"--model={model}", f"--threads={threads}",
         "--host=127.0.0.1", "--port=0", f"--port_file={port_file}", "--metrics_host=127.0.0.1",
         "--metrics_port=0", f"--metrics_port_file={port_file}.metrics", *extra_flags],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.time() > deadline:
            sys.exit("stocha-server did not start; see " + log.name)
        time.sleep(0.05)
    target = "127.0.0.1:" + open(port_file).read().strip()
    cli = os.path.join(build, "client/stocha-cli")
    while subprocess.run([cli, f"--target={target}", "health"], env=env,
                         capture_output=True).returncode != 0:
        if time.time() > deadline:
            sys.exit("stocha-server not SERVING in time; see " + log.name)
        time.sleep(0.1)
    return proc, target


def loadgen(build, target, env, **flags):
    cmd = [os.path.join(build, "client/stocha-loadgen"), f"--target={target}", "--json",
           "--progress=false"] + [f"--{k}={v}" for k, v in flags.items()]
    return run_json(cmd, env)


def throughput_table(build, target, env, duration):
    print("\n| streams | calls | req/s | tok/s | total p50 / p90 / p99 ms "
          "| TTFT p50 / p90 / p99 ms | TPOT p50 / p90 / p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for c in (1, 2, 4, 8, 16, 32):
        r = loadgen(build, target, env, concurrency=c, duration=duration, max_new_tokens=128)
        p = lambda k: " / ".join(f"{r[k][q]:.1f}" for q in ("p50", "p90", "p99"))  # noqa: E731
        print(f"| {c} | {r['ok']} | {r['requests_per_s']:.2f} | {r['tokens_per_s']:.0f} | "
              f"{p('total_ms')} | {p('ttft_ms')} | {p('tpot_ms')} | {r['errors'] or 0} |",
              flush=True)


def overhead_table(build, model, target, env, pairs):
    gen = [os.path.join(build, "engine/tools/stocha-generate"), "--model", model, "--prompt",
           "Once upon a time", "--max_new_tokens", "128", "--temperature", "0", "--threads", "1",
           "--json"]
    engine, unary, stream, tokens = [], [], [], set()
    for _ in range(pairs):
        g = run_json(gen, env)
        t = g["timings"]
        engine.append((t["prefill_seconds"] + t["decode_seconds"]) * 1e3)
        tokens.add(t["generated_tokens"])
        for rpc, into in (("generate", unary), ("stream", stream)):
            r = loadgen(build, target, env, rpc=rpc, concurrency=1, requests=1,
                        max_new_tokens=128, ignore_eos="false", temperature=0)
            into.append(r["total_ms"]["p50"])
    ratios = lambda xs: statistics.median(x / e for x, e in zip(xs, engine))  # noqa: E731
    print(f"\n{pairs} alternating runs, 'Once upon a time', greedy, "
          f"{'/'.join(map(str, sorted(tokens)))} new tokens")
    print("| path | median ms | ratio to the engine alone (median of per-run ratios) |")
    print("|---|---|---|")
    print(f"| engine alone (`stocha-generate`, prefill + decode) | "
          f"{statistics.median(engine):.1f} | 1.00 |")
    print(f"| `Generate`, client wall time | {statistics.median(unary):.1f} | "
          f"**{ratios(unary):.3f}** |")
    print(f"| `GenerateStream`, client wall time | {statistics.median(stream):.1f} | "
          f"**{ratios(stream):.3f}** |", flush=True)


def multisample_table(build, target, env, rounds):
    prompt = " ".join(["Once upon a time, there was a little girl named Lily who loved to play "
                       "in the park with her dog."] * 6)
    rows = []
    for _ in range(rounds):
        m = loadgen(build, target, env, rpc="multi-sample", n=8, concurrency=1, requests=2,
                    max_new_tokens=64, prompt=prompt)
        s = loadgen(build, target, env, rpc="stream", concurrency=8, requests=16,
                    max_new_tokens=64, prompt=prompt)
        rows.append((m, s))
    print("\n| per 8 samples | prompt tokens computed | TTFT p50 ms | total p50 ms | tok/s |")
    print("|---|---|---|---|---|")
    for label, idx, calls_per_8 in (("`MultiSample` n = 8", 0, 1), ("8 × `GenerateStream`", 1, 8)):
        rs = [r[idx] for r in rows]
        computed = statistics.median(r["prompt_tokens_computed"] / r["ok"] * calls_per_8
                                     for r in rs)
        print(f"| {label} | {computed:.0f} | "
              f"{statistics.median(r['ttft_ms']['p50'] for r in rs):.1f} | "
              f"{statistics.median(r['total_ms']['p50'] for r in rs):.1f} | "
              f"{statistics.median(r['tokens_per_s'] for r in rs):.0f} |", flush=True)


def scraper(port, stop):
    """Scrapes /metrics every second, as Prometheus would."""
    while not stop.wait(1.0):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()


def side_by_side(build, model, env, work, variants, streams, duration, rounds, scrape=None):
    """Starts one server per variant (label -> (flags, threads)) and runs loadgen against
    them alternately at each stream count; prints median tok/s per variant and the median
    of the per-round ratios of the second variant to the first. `scrape`: the label of a
    variant whose metrics endpoint is scraped every second while it is measured."""
    servers, metrics_port_files = {}, {}
    for label, (flags, threads) in variants.items():
        d = os.path.join(work, label.replace(" ", "_"))
        os.makedirs(d)
        servers[label] = start_server(build, model, env, d, flags, threads)
        metrics_port_files[label] = os.path.join(d, "port.metrics")
    first, second = list(variants)
    print(f"\n| streams | tok/s {first} | tok/s {second} "
          f"| {second} / {first} (median of per-round ratios) |")
    print("|---|---|---|---|")
    try:
        for c in streams:
            got = {label: [] for label in variants}
            for _ in range(rounds):
                for label in variants:
                    stop = threading.Event()
                    t = None
                    if label == scrape:
                        port = int(open(metrics_port_files[label]).read())
                        t = threading.Thread(target=scraper, args=(port, stop))
                        t.start()
                    r = loadgen(build, servers[label][1], env, concurrency=c,
                                duration=duration, max_new_tokens=128)
                    stop.set()
                    if t:
                        t.join()
                    got[label].append(r["tokens_per_s"])
            a, b = statistics.median(got[first]), statistics.median(got[second])
            ratio = statistics.median(y / x for x, y in zip(got[first], got[second]))
            print(f"| {c} | {a:.0f} | {b:.0f} | {ratio:.3f} |", flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-release"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/default"))
    ap.add_argument("--quick", action="store_true", help="2 s per level, 4 pairs, 1 round")
    ap.add_argument("--only", choices=("throughput", "overhead", "multisample", "metrics",
                                       "threads"),
                    help="run one table (metrics, threads: only on request)")
    ap.add_argument("--threads", type=int, default=2,
                    help="--only threads: the compute threads of the second server")
    ap.add_argument("--pairs", type=int, help="overhead runs (default 12, --quick 4)")
    ap.add_argument("--server-flag", action="append", default=[],
                    help="extra stocha-server flag, e.g. --server-flag=--stream_interval=4")
    args = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    duration, rounds = "2s" if args.quick else "6s", args.pairs or (2 if args.quick else 5)
    flags = args.server_flag
    if args.only == "metrics":
        with tempfile.TemporaryDirectory() as work:
            print(f"metrics off/on, --threads=1, {os.cpu_count()} CPUs, load average "
                  f"{os.getloadavg()[0]:.2f} at start; medians of alternating runs")
            side_by_side(args.build, args.model, env, work,
                         {"metrics off": ([*flags, "--metrics=false"], 1),
                          "metrics on": (flags, 1)},
                         (1, 4, 16, 32), duration, rounds, scrape="metrics on")
        return
    if args.only == "threads":
        with tempfile.TemporaryDirectory() as work:
            print(f"--threads=1 against --threads={args.threads}, {os.cpu_count()} CPUs, load "
                  f"average {os.getloadavg()[0]:.2f} at start; medians of alternating runs")
            side_by_side(args.build, args.model, env, work,
                         {"1 thread": (flags, 1), f"{args.threads} threads": (flags, args.threads)},
                         (1, 2, 4, 8, 16, 32), duration, rounds)
        return
    with tempfile.TemporaryDirectory() as work:
        proc, target = start_server(args.build, args.model, env, work, args.server_flag)
        try:
            print(f"stocha-server on {args.model}, --threads=1 {' '.join(args.server_flag)}; "
                  f"loadgen on the same machine "
                  f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start)")
            if args.only in (None, "throughput"):
                throughput_table(args.build, target, env, "2s" if args.quick else "8s")
            if args.only in (None, "overhead"):
                overhead_table(args.build, args.model, target, env,
                               args.pairs or (4 if args.quick else 12))
            if args.only in (None, "multisample"):
                multisample_table(args.build, target, env, 1 if args.quick else 3)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
