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
      // Draws happen only for negative inputs; p = 0 never takes the SiLU branch.
      const uint32_t threshold = StochaThreshold(spec.p);
      for (int64_t i = 0; i < n; ++i) {
        if (x[i] >= 0.0f) {
          zeros += x[i] == 0.0f;
          continue;
        }
        const bool silu = StochaKeepsSilu(key, static_cast<uint32_t>(i), threshold);
        x[i] = silu ? Silu(x[i]) : 0.0f;
        zeros += x[i] == 0.0f;
      }
      break;
    }
  }
  return zeros;
}

}  // namespace stocha
