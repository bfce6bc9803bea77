"""Philox4x32-10 and the engine's StochA draws, written again in Python for independent goldens.

The engine (engine/rng.h, engine/kernels/cpu/activation_kernel.cc) keys every StochA draw by
(seed, sample index, position, stream = layer) and counts with the neuron index: neuron i
of layer l at position pos takes word i % 4 of

    Philox4x32-10(counter = (i // 4, pos, l, sample), key = (seed & 0xffffffff, seed >> 32))

and a negative input takes the SiLU branch iff (word >> 8) < floor(p * 2^24) (p as a
float32, the engine's type). Prompt positions always use sample index 0.
tests/test_philox.py checks philox4x32 against Random123's known-answer vectors.
"""
import numpy as np
import torch

M0, M1 = 0xD2511F53, 0xCD9E8D57      # Random123 PHILOX_M4x32_0/1
W0, W1 = 0x9E3779B9, 0xBB67AE85      # Weyl key increments (golden ratio, sqrt(3) - 1)
MASK32 = 0xFFFFFFFF


def philox4x32(ctr, key, rounds=10):
    """Random123's philox4x32_R on one counter: ctr 4 words, key 2 words -> 4 words."""
    c0, c1, c2, c3 = (int(x) & MASK32 for x in ctr)
    k0, k1 = (int(x) & MASK32 for x in key)
    for r in range(rounds):
        if r > 0:
            k0, k1 = (k0 + W0) & MASK32, (k1 + W1) & MASK32
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32
    return [c0, c1, c2, c3]


def philox4x32_many(c0, c1, c2, c3, k0, k1, rounds=10):
    """philox4x32 over arrays of counters (uint64 numpy arrays holding 32-bit values)."""
    c = [np.asarray(x, dtype=np.uint64) & np.uint64(MASK32) for x in (c0, c1, c2, c3)]
    c = np.broadcast_arrays(*c)
    c0, c1, c2, c3 = (x.copy() for x in c)
    k0, k1 = int(k0) & MASK32, int(k1) & MASK32
    m0, m1, m32 = np.uint64(M0), np.uint64(M1), np.uint64(MASK32)
    s32 = np.uint64(32)
    for r in range(rounds):
        if r > 0:
            k0, k1 = (k0 + W0) & MASK32, (k1 + W1) & MASK32
        p0, p1 = m0 * c0, m1 * c2       # < 2^64: no wrap-around in uint64
        c0, c1, c2, c3 = ((p1 >> s32) ^ c1 ^ np.uint64(k0), p1 & m32,
                          (p0 >> s32) ^ c3 ^ np.uint64(k1), p0 & m32)
    return c0, c1, c2, c3


def stocha_words(seed, sample, position, stream, n):
    """The engine's 32-bit word for elements 0..n-1 of key (seed, sample, position, stream)."""
    counters = np.arange((n + 3) // 4, dtype=np.uint64)
    words = philox4x32_many(counters, position, stream, sample, seed & MASK32, seed >> 32)
    return np.stack(words, axis=1).reshape(-1)[:n].astype(np.uint32)   # element i: word i % 4


def silu_threshold(p):
    """The engine's integer threshold: static_cast<uint32_t>(double(float(p)) * 2^24)."""
    return int(float(np.float32(p)) * 16777216.0)


def stocha_take_silu(seed, sample, position, layer, n, p):
    """Bool [n]: would a negative input at this neuron take StochA's SiLU branch?"""
    return (stocha_words(seed, sample, position, layer, n) >> 8) < silu_threshold(p)


class EngineStochA:
    """The mask source model.LlamaModel takes as `gen` to draw StochA exactly as the engine.

    One sequence (batch of 1): positions below `prompt_len` use sample index 0, later ones
    `sample`, as the engine's prefill-then-fork does.
    """

    def __init__(self, seed, p, sample=0, prompt_len=0):
        self.seed, self.p, self.sample, self.prompt_len = int(seed), float(p), sample, prompt_len

    def at(self, layer, start):
        """A callable shape [1, T, F] -> bool take-SiLU mask for positions start..start+T-1."""
        def masks(shape):
            if len(shape) != 3 or shape[0] != 1:
                raise ValueError(f"EngineStochA draws for one sequence, got shape {tuple(shape)}")
            rows = []
            for t in range(shape[1]):
                pos = start + t
                sample = 0 if pos < self.prompt_len else self.sample
                rows.append(stocha_take_silu(self.seed, sample, pos, layer, shape[2], self.p))
            return torch.from_numpy(np.stack(rows)).unsqueeze(0)
        return masks
