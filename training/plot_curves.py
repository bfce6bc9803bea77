"""Plot training-loss curves (log.jsonl of each run) with the ReLU switch marked, to a PNG."""
import argparse
import json
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def smooth(v, k=5):
    return [sum(v[max(0, i - k + 1):i + 1]) / len(v[max(0, i - k + 1):i + 1])
            for i in range(len(v))]


def load(run):
    with open(os.path.join(run, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def plot_diffs(ax, pairs):
    for pair in pairs:
        a, b = pair.split(":")
        la, lb = load(a), load(b)
        n = min(len(la), len(lb))
        d = [la[i]["loss"] - lb[i]["loss"] for i in range(n)]
        line, = ax.plot([r["step"] for r in la[:n]], d, lw=1.0,
                        label=f"{os.path.basename(a.rstrip('/'))} - {os.path.basename(b.rstrip('/'))}")
        acts = [r["act"] for r in la[:n]]
        for i in range(1, n):
            if acts[i] != acts[i - 1]:
                ax.axvline(la[i]["step"], color=line.get_color(), ls="--", lw=0.8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("step (dashed: switch to ReLU)")
    ax.set_ylabel("train loss difference on identical batches (nats)")
    ax.set_title("paired difference: the switch spike")
    ax.legend()
    ax.grid(alpha=0.3)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("runs", nargs="+", help="run dirs holding log.jsonl")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default="training loss")
    ap.add_argument("--smooth", type=int, default=5)
    ap.add_argument("--diff", action="append", default=[],
                    help="RUN_A:RUN_B adds a panel of loss(A) - loss(B) per step (same seed -> "
                         "same batches, so the difference isolates the activation change)")
    args = ap.parse_args()
    if args.diff:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 5))
        plot_diffs(ax2, args.diff)
    else:
        fig, ax = plt.subplots(figsize=(9, 5))
    for run in args.runs:
        with open(os.path.join(run, "log.jsonl")) as f:
            log = [json.loads(line) for line in f]
        steps = [r["step"] for r in log]
        line, = ax.plot(steps, smooth([r["loss"] for r in log], args.smooth),
                        label=os.path.basename(run.rstrip("/")), lw=1.2)
        acts = [r["act"] for r in log]
        for i in range(1, len(acts)):
            if acts[i] != acts[i - 1]:
                ax.axvline(steps[i], color=line.get_color(), ls="--", lw=0.8)
        val = [(r["step"], r["val_loss"]) for r in log if "val_loss" in r]
        if val:
            ax.plot(*zip(*val), "o", color=line.get_color(), ms=3)
    ax.set_xlabel("step (dashed: switch to ReLU; dots: val loss, 4 batches)")
    ax.set_ylabel(f"train loss (moving mean of {args.smooth})")
    ax.set_title(args.title)
    lo = min(min(json.loads(x)["loss"] for x in open(os.path.join(r, "log.jsonl")))
             for r in args.runs)
    ax.set_ylim(lo - 0.2, lo + 3.0)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
