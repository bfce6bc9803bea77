"""Train (or fine-tune an HF checkpoint) with one of the recipes silu|relu|swi+ft|stocha|stocha+ft."""
import argparse
import json
import math
import os
import sys
import time


def _set_blas_threads(argv):
    """OpenBLAS (the BLAS of Debian's torch) sizes its own pthread pool at import time and
    ignores torch.set_num_threads: without this, `--threads 1` still keeps 2 cores busy."""
    n = "2"
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif arg.startswith("--threads="):
            n = arg.split("=", 1)[1]
    os.environ.setdefault("OPENBLAS_NUM_THREADS", n)


_set_blas_threads(sys.argv)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stocha import data, hf_io, recipe  # noqa: E402
from stocha.model import Config, LlamaModel  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    a = ap.add_argument
    a("--data", default="training/runs/data", help="dir with train.bin, val.bin, tokenizer.model")
    a("--out", required=True, help="run dir: log.jsonl, ckpt.pt, export/")
    a("--recipe", choices=recipe.RECIPES, default="stocha+ft")
    a("--p", type=float, default=0.5, help="StochA SiLU-branch probability")
    a("--alpha", type=float, default=0.1, help="fraction of steps fine-tuned with ReLU (*+ft)")
    a("--init", help="HF-layout dir to fine-tune (config.json + model.safetensors)")
    a("--dim", type=int, default=256)
    a("--layers", type=int, default=6)
    a("--heads", type=int, default=8)
    a("--kv-heads", type=int, default=4)
    a("--ffn", type=int, default=512)
    a("--plain-ffn", action="store_true", help="up/down FFN without the gate")
    a("--seq", type=int, default=128)
    a("--batch", type=int, default=32)
    a("--steps", type=int, default=1000)
    a("--lr", type=float, default=3e-3)
    a("--min-lr-frac", type=float, default=0.01)
    a("--warmup", type=int, default=100)
    a("--wd", type=float, default=0.1)
    a("--clip", type=float, default=1.0)
    a("--seed", type=int, default=1234)
    a("--threads", type=int, default=2)
    a("--log-every", type=int, default=10)
    a("--eval-every", type=int, default=200)
    a("--ckpt-every", type=int, default=200)
    a("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    a("--max-minutes", type=float, default=0.0,
      help="wall budget: before the ReLU switch, shrink --steps if the measured rate would "
           "overrun it (the cosine is re-stretched to the new length); 0 = off")
    a("--stop-after", type=int, default=0, help="exit after this step (tests of --resume)")
    a("--export-dtype", choices=["f32", "bf16"], default="f32")
    return ap.parse_args(argv)


def build_model(args, vocab):
    if args.init:
        model = hf_io.load(args.init)
        model.cfg.stocha_p = args.p
        return model
    cfg = Config(vocab_size=vocab, hidden_size=args.dim, intermediate_size=args.ffn,
                 num_hidden_layers=args.layers, num_attention_heads=args.heads,
                 num_key_value_heads=args.kv_heads, max_position_embeddings=max(512, args.seq),
                 mlp_gated=not args.plain_ffn, stocha_p=args.p)
    return LlamaModel(cfg)


@torch.no_grad()
def val_loss(model, val, T, act, p, n_batches=None, seed=0):
    """Mean next-token NLL over contiguous val windows (all of val unless n_batches)."""
    model.eval()
    prev = (model.act, model.p)
    model.set_activation(act, p)
    gen = torch.Generator().manual_seed(seed)
    n = (len(val) - 1) // T
    xs = val[:n * T + 1]
    tot, cnt = 0.0, 0
    rows = list(range(n)) if n_batches is None else list(range(min(n, n_batches * 16)))
    for i in range(0, len(rows), 16):
        r = rows[i:i + 16]
        x = torch.stack([xs[j * T:(j + 1) * T] for j in r])
        y = torch.stack([xs[j * T + 1:(j + 1) * T + 1] for j in r])
        lo = model(x, gen=gen)
        tot += F.cross_entropy(lo.float().reshape(-1, lo.shape[-1]), y.reshape(-1),
                               reduction="sum").item()
        cnt += y.numel()
    model.set_activation(*prev)
    model.train()
    return tot / cnt


def replan(args, step, elapsed, tps, tokens_per_step):
    """Steps that fit args.max_minutes at the current rate; only changes before the switch."""
    if not args.max_minutes or step < args.warmup:
        return args.steps
    sw = recipe.switch_step(args.recipe, args.steps, args.alpha)
    if sw is not None and step >= sw:
        return args.steps
    per_step = tokens_per_step / max(tps, 1e-9) * 1.05     # 5% margin for evals/checkpoints
    left = args.max_minutes * 60 - elapsed - 30             # export and a last eval
    fit = step + 1 + int(left / per_step)
    return min(args.steps, max(fit, step + 20))


def fmt_eta(s):
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m{int(s % 60):02d}s"


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    tr, va = data.load_tokens(args.data, "train"), data.load_tokens(args.data, "val")
    tok_path = os.path.join(args.data, "tokenizer.model")
    import sentencepiece as spm
    vocab = spm.SentencePieceProcessor(model_file=tok_path).get_piece_size()
    model = build_model(args, vocab)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)        # batch sampling
    act_gen = torch.Generator().manual_seed(args.seed + 1)  # StochA coin flips
    start, elapsed0 = 0, 0.0
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        act_gen.set_state(ck["act_gen"])
        start, elapsed0 = ck["step"], ck["elapsed"]
        args.steps = ck.get("steps", args.steps)
        print(f"resumed from {ckpt_path} at step {start}", flush=True)
    with open(os.path.join(args.out, "args.json"), "w") as f:
        json.dump(vars(args), f, indent=1)
    n_params = sum(p.numel() for p in model.parameters())
    tokens_per_step = args.batch * args.seq
    sw = recipe.switch_step(args.recipe, args.steps, args.alpha)
    print(f"params {n_params / 1e6:.2f}M  train tokens {len(tr)}  recipe {args.recipe} "
          f"p={args.p} alpha={args.alpha} switch_step={sw}  "
          f"budget {args.steps * tokens_per_step / 1e6:.2f}M tokens = "
          f"{args.steps * tokens_per_step / len(tr):.1f} epochs", flush=True)
    log = open(os.path.join(args.out, "log.jsonl"), "a")
    t0, t_last, loss_acc, n_acc = time.time() - elapsed0, time.time(), 0.0, 0
    model.train()
    step = start
    while step < args.steps:
        act = recipe.activation_at(args.recipe, step, args.steps, args.alpha)
        model.set_activation(act, args.p)
        lr = recipe.lr_at(step, args.steps, args.lr, args.warmup, args.min_lr_frac)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = data.batch(tr, args.batch, args.seq, gen)
        logits = model(x, gen=act_gen)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip).item()
        opt.step()
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"loss is {loss.item()} at step {step}")
        loss_acc, n_acc = loss_acc + loss.item(), n_acc + 1
        rec = {"step": step, "loss": loss.item(), "lr": lr, "act": act, "gnorm": gnorm,
               "tokens": (step + 1) * tokens_per_step, "elapsed": time.time() - t0}
        last = step + 1 == args.steps
        if args.eval_every and ((step + 1) % args.eval_every == 0 or last):
            rec["val_loss"] = val_loss(model, va, args.seq, act, args.p, n_batches=4)
        log.write(json.dumps(rec) + "\n")
        if (step + 1) % args.log_every == 0 or last:
            now = time.time()
            tps = n_acc * tokens_per_step / (now - t_last)
            eta = (args.steps - step - 1) * tokens_per_step / max(tps, 1e-9)
            v = f" val {rec['val_loss']:.3f}" if "val_loss" in rec else ""
            print(f"step {step + 1}/{args.steps} [{act}] loss {loss_acc / n_acc:.4f}{v} "
                  f"lr {lr:.2e} gnorm {gnorm:.2f} {tps:.0f} tok/s elapsed "
                  f"{fmt_eta(now - t0)} eta {fmt_eta(eta)}", flush=True)
            log.flush()
            t_last, loss_acc, n_acc = now, 0.0, 0
            new = replan(args, step, now - t0, tps, tokens_per_step)
            if new != args.steps:
                print(f"re-planned steps {args.steps} -> {new} to fit {args.max_minutes} min",
                      flush=True)
                args.steps = new
                sw = recipe.switch_step(args.recipe, args.steps, args.alpha)
                with open(os.path.join(args.out, "args.json"), "w") as f:
                    json.dump(vars(args), f, indent=1)
        if (step + 1) % args.ckpt_every == 0 or last:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step + 1,
                        "gen": gen.get_state(), "act_gen": act_gen.get_state(),
                        "elapsed": time.time() - t0, "steps": args.steps}, ckpt_path)
        step += 1
        if args.stop_after and step >= args.stop_after and step < args.steps:
            log.close()
            return model
    log.close()
    model.cfg.hidden_act = recipe.default_activation(args.recipe)
    model.cfg.stocha = {"recipe": args.recipe, "p": args.p,
                        "alpha": args.alpha if sw is not None else 0.0,
                        "default_activation": recipe.default_activation(args.recipe),
                        "train_steps": args.steps, "train_tokens": args.steps * tokens_per_step,
                        "wall_time_s": round(time.time() - t0, 1)}
    if args.init:
        model.cfg.stocha["init"] = os.path.abspath(args.init)
    hf_io.save(model, os.path.join(args.out, "export"), args.export_dtype, tok_path)
    print(f"exported {os.path.join(args.out, 'export')} wall {fmt_eta(time.time() - t0)}",
          flush=True)
    return model


if __name__ == "__main__":
    train(parse_args())
