// SiLU, ReLU and StochA(p) over one FFN hidden row (PAPER.md definitions).
#include "engine/kernels/cpu/activation_kernel.h"

namespace stocha {

int64_t ApplyActivation(const ActivationSpec& spec, const RngKey& key, float* x, int64_t n) {
  int64_t zeros = 0;
  switch (spec.kind) {
    case ActivationKind::kSilu:
      for (int64_t i = 0; i < n; ++i) {
        x[i] = Silu(x[i]);
        zeros += x[i] == 0.0f;
      }
      break;
    case ActivationKind::kRelu:
      for (int64_t i = 0; i < n; ++i) {
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        zeros += x[i] == 0.0f;
      }
      break;
    case ActivationKind::kStochA: {
      // One Philox call yields 4 words: element i uses word i % 4 of counter i / 4.
      // Draws happen only for negative inputs; p = 0 never takes the SiLU branch.
      const uint32_t threshold = static_cast<uint32_t>(static_cast<double>(spec.p) * 16777216.0);
      for (int64_t i = 0; i < n; ++i) {
        if (x[i] >= 0.0f) {
          zeros += x[i] == 0.0f;
          continue;
        }
        uint32_t words[4];
        Philox4x32(key, static_cast<uint32_t>(i / 4), words);
        const bool silu = (words[i % 4] >> 8) < threshold;
        x[i] = silu ? Silu(x[i]) : 0.0f;
        zeros += x[i] == 0.0f;
      }
      break;
    }
  }
  return zeros;
}

}  // namespace stocha
