// RoPE on the GPU: a thread per (token, head, pair).
#include <cuda_runtime.h>

#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/launch_shape.cuh"
#include "engine/kernels/cuda/rope.h"

namespace stocha::cuda {
namespace {

__global__ void RopeKernel(float* __restrict__ v, int64_t T, int heads, int head_dim,
                           const int32_t* __restrict__ positions,
                           const float* __restrict__ inv_freq, bool interleaved) {
  const int half = head_dim / 2;
  const int64_t n = T * heads * half;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(k % half);
    const int64_t th = k / half;  // t * heads + h
    const int64_t t = th / heads;
    const float angle = __fmul_rn(static_cast<float>(positions[t]), inv_freq[i]);
    float s, c;
    sincosf(angle, &s, &c);
    float* x = v + th * head_dim;
    const int a = interleaved ? 2 * i : i;
    const int b = interleaved ? 2 * i + 1 : i + half;
    const float x0 = x[a], x1 = x[b];
    x[a] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
    x[b] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
  }
}

}  // namespace

absl::Status RopeRows(float* v, int64_t T, int heads, int head_dim, const int32_t* positions,
                      const float* inv_freq, RopeStyle style) {
  if (T <= 0 || heads <= 0 || head_dim < 2) return absl::OkStatus();
  constexpr int kThreads = 256;
  const int64_t n = T * heads * (head_dim / 2);
  RopeKernel<<<GridFor(n, kThreads), kThreads>>>(v, T, heads, head_dim, positions, inv_freq,
                                                 style == RopeStyle::kInterleaved);
  return LaunchStatus("RopeKernel");
}

}  // namespace stocha::cuda
