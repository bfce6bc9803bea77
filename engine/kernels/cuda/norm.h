// RMSNorm over token rows on the GPU.
#ifndef STOCHA_ENGINE_KERNELS_CUDA_NORM_H_
#define STOCHA_ENGINE_KERNELS_CUDA_NORM_H_

#include <cstdint>

#include "absl/status/status.h"

namespace stocha::cuda {

// out[t][j] = w[j] · (x[t][j] / sqrt(mean_j(x[t]²) + eps)) for T rows of n (device
// pointers; out may alias x). A block per row; the sum of squares is a fixed tree, so
// the result does not depend on the batch. Within a few ulp of the CPU's RmsNorm
// (which adds in sequence).
absl::Status RmsNormRows(const float* x, const float* w, int64_t T, int64_t n, float eps,
                         float* out);

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_NORM_H_
