// RMSNorm on the GPU: a block per token row, a fixed-order tree for the sum of squares.
#include <cuda_runtime.h>

#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/norm.h"

namespace stocha::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void RmsNormKernel(const float* __restrict__ x, const float* __restrict__ w, int64_t n,
                              float eps, float* out) {
  __shared__ float part[kThreads];
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * n;
  float* outr = out + static_cast<int64_t>(blockIdx.x) * n;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) ss = fmaf(xr[j], xr[j], ss);
  part[threadIdx.x] = ss;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  const float scale = 1.0f / sqrtf(part[0] / static_cast<float>(n) + eps);
  for (int64_t j = threadIdx.x; j < n; j += kThreads) outr[j] = w[j] * (scale * xr[j]);
}

}  // namespace

absl::Status RmsNormRows(const float* x, const float* w, int64_t T, int64_t n, float eps,
                         float* out) {
  if (T <= 0 || n <= 0) return absl::OkStatus();
  RmsNormKernel<<<static_cast<unsigned>(T), kThreads>>>(x, w, n, eps, out);
  return LaunchStatus("RmsNormKernel");
}

}  // namespace stocha::cuda
