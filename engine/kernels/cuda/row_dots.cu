// Row dot products of F32 activations with weight rows in their stored type, a warp per row.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/ffn_kernels.h"
#include "engine/kernels/cuda/launch_shape.cuh"
#include "engine/kernels/cuda/weight_load.cuh"

namespace stocha::cuda {
namespace {

// Lane l accumulates elements l, l + 32, ... of its row (8 consecutive elements per
// load when the row allows 16-byte loads), then the warp adds its lanes with a fixed
// butterfly: the value depends only on the row and x, never on the grid.
template <typename W>
__global__ void RowDotsKernel(const float* __restrict__ x, int T, const W* __restrict__ w,
                              int64_t K, const int32_t* __restrict__ rows,
                              const int32_t* __restrict__ count, int64_t n_rows,
                              float* __restrict__ y, int64_t ldy, int mode) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  const int64_t n = count != nullptr ? *count : n_rows;
  for (int64_t j = warp; j < n; j += warps) {
    const int64_t r = rows != nullptr ? rows[j] : j;
    const W* row = w + r * K;
    float acc[kMaxDeviceBatch];
#pragma unroll
    for (int t = 0; t < kMaxDeviceBatch; ++t) acc[t] = 0.0f;
    int64_t k = 0;
    if (K % (32 * 8) == 0) {
      for (; k < K; k += 32 * 8) {
        float wv[8];
        Load8(row + k + lane * 8, wv);
#pragma unroll
        for (int t = 0; t < kMaxDeviceBatch; ++t) {
          if (t < T) {
            const float* xt = x + t * K + k + lane * 8;
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[t] = fmaf(__ldg(xt + e), wv[e], acc[t]);
          }
        }
      }
    } else {
      for (k = lane; k < K; k += 32) {
        const float wv = ToFloat(row[k]);
#pragma unroll
        for (int t = 0; t < kMaxDeviceBatch; ++t) {
          if (t < T) acc[t] = fmaf(__ldg(x + t * K + k), wv, acc[t]);
        }
      }
    }
#pragma unroll
    for (int t = 0; t < kMaxDeviceBatch; ++t) {
      if (t >= T) break;
      float v = acc[t];
      for (int s = 16; s > 0; s /= 2) v += __shfl_xor_sync(0xffffffffu, v, s);
      if (lane == 0) {
        float* out = y + t * ldy + r;
        if (mode == 0) {
          *out = v;
        } else if (*out != 0.0f) {
          *out = *out * v;
        }
      }
    }
  }
}

}  // namespace

absl::Status RowDots(const float* x, int T, const DeviceMatrix& w, const int32_t* rows,
                     const int32_t* count, int64_t max_count, float* y, int64_t ldy,
                     RowDotsMode mode) {
  if (T < 1 || T > kMaxDeviceBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("RowDots: T = ", T, " token rows, outside [1, ", kMaxDeviceBatch, "]"));
  }
  const int64_t n_rows = rows != nullptr ? max_count : w.rows;
  if (n_rows <= 0) return absl::OkStatus();
  constexpr int kThreads = 256;
  const int blocks = GridFor(n_rows * 32, kThreads);
  const int m = mode == RowDotsMode::kStore ? 0 : 1;
  switch (w.dtype) {
    case DType::kF32:
      RowDotsKernel<float><<<blocks, kThreads>>>(x, T, static_cast<const float*>(w.data), w.cols,
                                                 rows, count, n_rows, y, ldy, m);
      break;
    case DType::kF16:
      RowDotsKernel<__half><<<blocks, kThreads>>>(x, T, static_cast<const __half*>(w.data), w.cols,
                                                  rows, count, n_rows, y, ldy, m);
      break;
    case DType::kBF16:
      RowDotsKernel<__nv_bfloat16><<<blocks, kThreads>>>(
          x, T, static_cast<const __nv_bfloat16*>(w.data), w.cols, rows, count, n_rows, y, ldy, m);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("RowDots: weight type ", std::string(DTypeName(w.dtype)),
                       " is not on the GPU (F32, F16 and BF16 are; quantized files are "
                       "dequantized at load)"));
  }
  return LaunchStatus("RowDotsKernel");
}

}  // namespace stocha::cuda
