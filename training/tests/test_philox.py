"""The Python Philox4x32-10 (stocha/philox.py) against Random123's known answers, and its StochA draws."""
import os
import sys
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from stocha import model as model_mod  # noqa: E402
from stocha import philox  # noqa: E402

# Random123 (github.com/DEShawResearch/random123, commit 9545ff6), tests/kat_vectors lines
# 27-29, verbatim: "philox4x32 10", counter[4], key[2], expected result[4].
KAT = """
philox4x32 10 00000000 00000000 00000000 00000000 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8
philox4x32 10 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   408f276d 41c83b0e a20bc7c6 6d5451fd
philox4x32 10 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   d16cfe09 94fdcceb 5001e420 24126ea1
"""
# The same file's 7-round lines (lines 24-26): a check that the round count is honoured.
KAT7 = """
philox4x32 7 00000000 00000000 00000000 00000000 00000000 00000000   5f6fb709 0d893f64 4f121f81 4f730a48
philox4x32 7 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   5207ddc2 45165e59 4d8ee751 8c52f662
philox4x32 7 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   4dfccaba 190a87f0 c47362ba b6b5242a
"""


def parse(text):
    for line in text.strip().splitlines():
        f = line.split()
        w = [int(x, 16) for x in f[2:]]
        yield int(f[1]), w[0:4], w[4:6], w[6:10]


class PhiloxKnownAnswers(unittest.TestCase):
    def test_scalar_matches_random123(self):
        for rounds, ctr, key, want in list(parse(KAT)) + list(parse(KAT7)):
            self.assertEqual(philox.philox4x32(ctr, key, rounds), want, (rounds, ctr, key))

    def test_vectorized_matches_random123(self):
        cases = list(parse(KAT)) + list(parse(KAT7))
        for rounds, ctr, key, want in cases:
            got = philox.philox4x32_many(*[np.array([c]) for c in ctr], *key, rounds=rounds)
            self.assertEqual([int(g[0]) for g in got], want)

    def test_vectorized_matches_scalar_on_many_counters(self):
        rng = np.random.default_rng(5)
        ctr = rng.integers(0, 2**32, size=(4, 200), dtype=np.uint64)
        key = (0x89ABCDEF, 0x01234567)
        got = np.stack(philox.philox4x32_many(*ctr, *key), axis=1)
        for j in range(ctr.shape[1]):
            self.assertEqual(got[j].tolist(), philox.philox4x32(ctr[:, j], key))


class EngineStochADraws(unittest.TestCase):
    def test_element_i_takes_word_i_mod_4_of_counter_i_div_4(self):
        seed, sample, pos, layer = 0x0000_0005_DEAD_BEEF, 2, 17, 3
        words = philox.stocha_words(seed, sample, pos, layer, 11)
        for i in range(11):
            block = philox.philox4x32([i // 4, pos, layer, sample], [0xDEADBEEF, 5])
            self.assertEqual(int(words[i]), block[i % 4])

    def test_threshold_is_the_engines_floor_of_float_p(self):
        self.assertEqual(philox.silu_threshold(0.5), 1 << 23)
        self.assertEqual(philox.silu_threshold(0.0), 0)
        self.assertEqual(philox.silu_threshold(1.0), 1 << 24)
        self.assertEqual(philox.silu_threshold(0.7), 11744051)  # float32(0.7) * 2^24 = 11744051.2

    def test_silu_fraction_is_p(self):
        take = philox.stocha_take_silu(42, 0, 9, 1, 40000, 0.3)
        self.assertAlmostEqual(float(take.mean()), 0.3, delta=0.01)

    def test_activation_uses_the_masks_only_for_negative_inputs(self):
        src = philox.EngineStochA(seed=7, p=0.5, sample=1, prompt_len=2)
        x = torch.randn(1, 3, 64)
        y = model_mod.activation(x, "stocha", 0.5, src.at(4, 1))
        for t, pos in enumerate(range(1, 4)):
            sample = 0 if pos < 2 else 1  # prompt positions draw with sample index 0
            take = torch.from_numpy(philox.stocha_take_silu(7, sample, pos, 4, 64, 0.5))
            want = torch.where((x[0, t] < 0) & take, torch.nn.functional.silu(x[0, t]),
                               torch.relu(x[0, t]))
            self.assertTrue(torch.equal(y[0, t], want))
        self.assertTrue(torch.equal(y[x >= 0], x[x >= 0]))


if __name__ == "__main__":
    unittest.main()
