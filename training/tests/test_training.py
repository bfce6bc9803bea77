"""CI smoke tests of the training code: activations, schedule, recipes, safetensors, resume."""
import json
import math
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import train  # noqa: E402
from stocha import data, hf_io, recipe, safetensors_io  # noqa: E402
from stocha.model import Config, LlamaModel, activation  # noqa: E402

torch.set_num_threads(1)


class ActivationTest(unittest.TestCase):
    def test_p0_is_relu_exactly(self):
        x = torch.randn(1000, 37)
        g = torch.Generator().manual_seed(0)
        self.assertTrue(torch.equal(activation(x, "stocha", 0.0, g), torch.relu(x)))

    def test_silu_branch_rate_within_binomial_bounds(self):
        x = torch.randn(400_000)
        for p in (0.3, 0.5, 0.7):
            y = activation(x, "stocha", p, torch.Generator().manual_seed(1))
            pos, neg = x >= 0, x < 0
            self.assertTrue(torch.equal(y[pos], x[pos]))
            silu_taken = y[neg] != 0
            self.assertTrue(torch.allclose(y[neg][silu_taken],
                                           torch.nn.functional.silu(x[neg][silu_taken])))
            n = int(neg.sum())
            rate = silu_taken.float().mean().item()
            sigma = math.sqrt(p * (1 - p) / n)
            self.assertLess(abs(rate - p), 5 * sigma, f"p={p} rate={rate}")

    def test_silu_and_relu(self):
        x = torch.randn(100)
        self.assertTrue(torch.equal(activation(x, "relu"), torch.relu(x)))
        self.assertTrue(torch.equal(activation(x, "silu"), torch.nn.functional.silu(x)))


class CorporaTest(unittest.TestCase):
    def test_missing_corpora_name_the_flag_and_the_variable(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(FileNotFoundError) as e:
                data.corpora_dir(d)
            self.assertIn("--corpora", str(e.exception))
            self.assertIn(data.CORPORA_ENV, str(e.exception))
            self.assertIn("tinystories_train_head.txt", str(e.exception))

    def test_flag_then_variable_then_beside_the_repository(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            for d in (a, b):
                for f in data.CORPUS_FILES:
                    open(os.path.join(d, f), "w").close()
            old = os.environ.get(data.CORPORA_ENV)
            os.environ[data.CORPORA_ENV] = b
            try:
                self.assertEqual(data.corpora_dir(a), a)
                self.assertEqual(data.corpora_dir(), b)
                del os.environ[data.CORPORA_ENV]
                default = os.path.join(data.REPO, "..", "shared", "data", "corpora")
                if all(os.path.isfile(os.path.join(default, f)) for f in data.CORPUS_FILES):
                    self.assertEqual(data.corpora_dir(), default)
                else:
                    self.assertRaises(FileNotFoundError, data.corpora_dir)
            finally:
                if old is not None:
                    os.environ[data.CORPORA_ENV] = old
                else:
                    os.environ.pop(data.CORPORA_ENV, None)


class ScheduleTest(unittest.TestCase):
    def test_cosine_endpoints_and_no_restart(self):
        steps, warm, peak = 1000, 50, 3e-3
        self.assertAlmostEqual(recipe.lr_at(warm - 1, steps, peak, warm), peak)
        self.assertAlmostEqual(recipe.lr_at(warm, steps, peak, warm), peak)
        self.assertAlmostEqual(recipe.lr_at(steps - 1, steps, peak, warm), 0.01 * peak)
        self.assertLess(recipe.lr_at(0, steps, peak, warm), peak / 10)
        lrs = [recipe.lr_at(s, steps, peak, warm) for s in range(warm, steps)]
        self.assertTrue(all(a >= b for a, b in zip(lrs, lrs[1:])), "one monotone cosine")

    def test_switch_step(self):
        for r in ("swi+ft", "stocha+ft"):
            sw = recipe.switch_step(r, 100, 0.1)
            self.assertEqual(sw, 90)
            self.assertNotEqual(recipe.activation_at(r, 89, 100, 0.1), "relu")
            self.assertEqual(recipe.activation_at(r, 90, 100, 0.1), "relu")
        self.assertEqual(recipe.activation_at("swi+ft", 0, 100, 0.1), "silu")
        self.assertEqual(recipe.activation_at("stocha+ft", 0, 100, 0.1), "stocha")
        for r in ("silu", "relu", "stocha"):
            self.assertIsNone(recipe.switch_step(r, 100, 0.1))
            self.assertEqual(recipe.activation_at(r, 99, 100, 0.1), recipe.activation_at(r, 0, 100, 0.1))


class SafetensorsTest(unittest.TestCase):
    def test_round_trip(self):
        t = {"a": torch.randn(3, 5), "b": torch.randn(7).to(torch.bfloat16),
             "c": torch.randn(2, 2, 2).to(torch.float16)}
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.safetensors")
            safetensors_io.write(p, t, {"format": "pt"})
            with open(p, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
                header = json.loads(f.read(n))
            self.assertEqual(n % 8, 0)
            self.assertEqual(header["b"]["dtype"], "BF16")
            back = safetensors_io.read(p)
            for k in t:
                self.assertEqual(back[k].dtype, t[k].dtype)
                self.assertTrue(torch.equal(back[k], t[k]))
            safetensors_io.write_sharded(d, t, 2)
            self.assertEqual(set(safetensors_io.read_dir(d)), set(t))

    def test_hf_export_load(self):
        cfg = Config(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=12,
                     attention_bias=True, tie_word_embeddings=False, hidden_act="relu")
        m = LlamaModel(cfg)
        x = torch.randint(0, 64, (2, 9))
        with tempfile.TemporaryDirectory() as d:
            hf_io.save(m, d, "f32")
            m2 = hf_io.load(d)
            self.assertTrue(torch.equal(m(x), m2(x)))


class ModelTest(unittest.TestCase):
    def test_kv_cache_matches_full_forward(self):
        cfg = Config(vocab_size=50, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=1, hidden_act="relu",
                     rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                   "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 8})
        m = LlamaModel(cfg).eval()
        x = torch.randint(0, 50, (1, 10))
        full = m(x)
        caches = [dict() for _ in range(2)]
        a = m(x[:, :6], caches, 0)
        b = m(x[:, 6:], caches, 6)
        self.assertTrue(torch.allclose(torch.cat([a, b], 1), full, atol=1e-5))


def tiny_data(d):
    import sentencepiece as spm
    words = "the cat dog sat ran on a mat big red sun and then she he it was happy".split()
    rng = np.random.default_rng(0)
    text = "\n".join(" ".join(rng.choice(words, 12)) for _ in range(400))
    with open(os.path.join(d, "t.txt"), "w") as f:
        f.write(text)
    spm.SentencePieceTrainer.train(input=os.path.join(d, "t.txt"),
                                   model_prefix=os.path.join(d, "tokenizer"), vocab_size=300,
                                   model_type="bpe", byte_fallback=True, unk_id=0, bos_id=1,
                                   eos_id=2, pad_id=-1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
    ids = np.asarray([1] + sp.encode(text.replace("\n", " ")), dtype=np.uint16)
    ids[:4000].tofile(os.path.join(d, "train.bin"))
    ids[4000:5000].tofile(os.path.join(d, "val.bin"))


TINY = ["--dim", "32", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "48",
        "--seq", "16", "--batch", "4", "--warmup", "2", "--eval-every", "5",
        "--log-every", "5", "--threads", "1", "--lr", "3e-3"]


class RecipeSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = os.path.join(cls.tmp.name, "data")
        os.makedirs(cls.data)
        tiny_data(cls.data)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_recipe(self, name, extra=()):
        out = os.path.join(self.tmp.name, name.replace("+", "_"))
        args = train.parse_args(["--data", self.data, "--out", out, *TINY, *extra])
        train.train(args)
        with open(os.path.join(out, "log.jsonl")) as f:
            return out, [json.loads(line) for line in f]

    def test_every_recipe_and_switch(self):
        for r in recipe.RECIPES:
            out, log = self.run_recipe(r, ["--recipe", r, "--steps", "10", "--alpha", "0.2"])
            acts = [rec["act"] for rec in log]
            expect = [recipe.activation_at(r, s, 10, 0.2) for s in range(10)]
            self.assertEqual(acts, expect)
            if r.endswith("+ft"):
                self.assertEqual(acts.index("relu"), 8)
            self.assertTrue(all(math.isfinite(rec["loss"]) for rec in log))
            with open(os.path.join(out, "export", "config.json")) as f:
                cfg = json.load(f)
            self.assertEqual(cfg["stocha"]["recipe"], r)
            self.assertEqual(cfg["hidden_act"], recipe.default_activation(r))
            self.assertTrue(os.path.exists(os.path.join(out, "export", "tokenizer.model")))

    def test_resume_is_exact_and_finetune_loads(self):
        base = ["--recipe", "stocha+ft", "--steps", "8", "--alpha", "0.25", "--ckpt-every", "2"]
        a, _ = self.run_recipe("full", base)
        b, _ = self.run_recipe("split", base + ["--stop-after", "4"])
        b, _ = self.run_recipe("split", base + ["--resume"])
        wa = safetensors_io.read(os.path.join(a, "export", "model.safetensors"))
        wb = safetensors_io.read(os.path.join(b, "export", "model.safetensors"))
        for k in wa:
            self.assertTrue(torch.equal(wa[k], wb[k]), k)
        out, log = self.run_recipe("relufy", ["--init", os.path.join(a, "export"), "--recipe",
                                              "swi+ft", "--alpha", "1.0", "--steps", "4"])
        self.assertEqual({rec["act"] for rec in log}, {"relu"})


if __name__ == "__main__":
    unittest.main()
