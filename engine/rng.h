// Counter-based random numbers (Philox4x32-10): a pure function of a key and a counter.
#ifndef STOCHA_ENGINE_RNG_H_
#define STOCHA_ENGINE_RNG_H_

#include <cstdint>

#include "engine/host_device.h"

namespace stocha {

// Every random decision in stocha is a function of (request seed, sample index, position,
// stream, element), never of a mutable generator state. So a sequence gives the same draws
// whatever it is batched with, and n samples can share one prefill (prompt positions use
// sample index 0). `stream` separates users: layer index for StochA, kSamplerStream for
// token sampling.
struct RngKey {
  uint64_t seed = 0;
  uint32_t sample = 0;
  uint32_t position = 0;
  uint32_t stream = 0;
};

inline constexpr uint32_t kSamplerStream = 0xFFFF0001u;

namespace rng_internal {
STOCHA_HD inline void PhiloxRound(uint32_t ctr[4], const uint32_t key[2]) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr[0];
  const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr[2];
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  ctr[0] = hi1 ^ ctr[1] ^ key[0];
  ctr[1] = lo1;
  ctr[2] = hi0 ^ ctr[3] ^ key[1];
  ctr[3] = lo0;
}
}  // namespace rng_internal

// Philox4x32-10 (Salmon et al., SC'11). Returns 4 independent 32-bit words.
STOCHA_HD inline void Philox4x32(const RngKey& k, uint32_t element, uint32_t out[4]) {
  uint32_t key[2] = {static_cast<uint32_t>(k.seed), static_cast<uint32_t>(k.seed >> 32)};
  uint32_t ctr[4] = {element, k.position, k.stream, k.sample};
  for (int r = 0; r < 10; ++r) {
    rng_internal::PhiloxRound(ctr, key);
    key[0] += 0x9E3779B9u;
    key[1] += 0xBB67AE85u;
  }
  for (int i = 0; i < 4; ++i) out[i] = ctr[i];
}

// A uniform float in [0, 1) with 24 random bits, for element `element`.
STOCHA_HD inline float UniformFloat(const RngKey& k, uint32_t element) {
  uint32_t out[4];
  Philox4x32(k, element, out);
  return static_cast<float>(out[0] >> 8) * (1.0f / 16777216.0f);
}

// StochA's draw for element i of a hidden row: one Philox call yields 4 words, so element i
// uses word i % 4 of counter i / 4; SiLU is kept when its top 24 bits fall below
// StochaThreshold(p). The CPU kernel and the CUDA kernel both call these.
STOCHA_HD inline uint32_t StochaThreshold(float p) {
  return static_cast<uint32_t>(static_cast<double>(p) * 16777216.0);
}
STOCHA_HD inline bool StochaKeepsSilu(const RngKey& k, uint32_t i, uint32_t threshold) {
  uint32_t words[4];
  Philox4x32(k, i / 4, words);
  return (words[i % 4] >> 8) < threshold;
}

}  // namespace stocha

#endif  // STOCHA_ENGINE_RNG_H_
