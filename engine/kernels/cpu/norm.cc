// RMSNorm and softmax in F32, in the summation order of the llama2.c reference.
#include "engine/kernels/cpu/norm.h"

#include <cmath>

namespace stocha {

void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out) {
  float ss = 0.0f;
  for (int64_t j = 0; j < n; ++j) ss += x[j] * x[j];
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / std::sqrt(ss);
  for (int64_t j = 0; j < n; ++j) out[j] = w[j] * (ss * x[j]);
}

void Softmax(float* x, int64_t n) {
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
  // The exponentials first, then their in-order sum: the same sum as one fused loop, but
  // the exp calls no longer wait on the add chain (attention calls this per head, per
  // position: 1M exps per token of a 1B model at 2048 positions).
  for (int64_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - max);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  for (int64_t i = 0; i < n; ++i) x[i] /= sum;
}

}  // namespace stocha
