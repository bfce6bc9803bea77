// RMSNorm and softmax, the two reductions of the forward pass.
#ifndef STOCHA_ENGINE_KERNELS_CPU_NORM_H_
#define STOCHA_ENGINE_KERNELS_CPU_NORM_H_

#include <cstdint>

namespace stocha {

// out_j = w_j · (x_j / sqrt(mean(x²) + eps)), as llama2.c and HF Llama compute it.
// `out` may alias `x`.
void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out);

// In-place softmax over n values (subtracts the max first).
void Softmax(float* x, int64_t n);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_NORM_H_
