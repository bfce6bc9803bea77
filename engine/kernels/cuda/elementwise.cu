// Embedding gather, bias, residual add and KV-cache writes on the GPU (exact: copies and
// single adds, the CPU's roundings).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/elementwise.h"
#include "engine/kernels/cuda/launch_shape.cuh"
#include "engine/kernels/cuda/weight_load.cuh"

namespace stocha::cuda {
namespace {

constexpr int kThreads = 256;

template <typename W>
__global__ void EmbedKernel(const W* __restrict__ embed, int64_t D,
                            const int32_t* __restrict__ tokens, int64_t T,
                            float* __restrict__ out) {
  const int64_t n = T * D;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / D, d = i % D;
    out[i] = ToFloat(embed[static_cast<int64_t>(tokens[t]) * D + d]);
  }
}

__global__ void AddBiasKernel(float* __restrict__ y, const float* __restrict__ bias, int64_t T,
                              int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < T * n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = __fadd_rn(y[i], bias[i % n]);
  }
}

__global__ void AddKernel(float* __restrict__ x, const float* __restrict__ y, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = __fadd_rn(x[i], y[i]);
  }
}

__global__ void MulNonZeroKernel(float* __restrict__ h, const float* __restrict__ u, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (h[i] != 0.0f) h[i] = __fmul_rn(h[i], u[i]);
  }
}

__global__ void GatherRowsKernel(const float* __restrict__ x, const int32_t* __restrict__ rows,
                                 int64_t n, int64_t D, float* __restrict__ out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n * D;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = x[static_cast<int64_t>(rows[i / D]) * D + i % D];
  }
}

__global__ void WriteKvKernel(const float* __restrict__ k, const float* __restrict__ v, int64_t T,
                              int64_t kv_dim, const DeviceAttentionRow* __restrict__ rows) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < T * kv_dim;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / kv_dim, j = i % kv_dim;
    const DeviceAttentionRow s = rows[t];
    s.k[static_cast<int64_t>(s.position) * kv_dim + j] = k[i];
    s.v[static_cast<int64_t>(s.position) * kv_dim + j] = v[i];
  }
}

}  // namespace

absl::Status EmbedRows(const DeviceMatrix& embed, const int32_t* tokens, int64_t T, float* out) {
  if (T <= 0) return absl::OkStatus();
  const int grid = GridFor(T * embed.cols, kThreads);
  switch (embed.dtype) {
    case DType::kF32:
      EmbedKernel<<<grid, kThreads>>>(static_cast<const float*>(embed.data), embed.cols, tokens, T,
                                      out);
      break;
    case DType::kF16:
      EmbedKernel<<<grid, kThreads>>>(static_cast<const __half*>(embed.data), embed.cols, tokens, T,
                                      out);
      break;
    case DType::kBF16:
      EmbedKernel<<<grid, kThreads>>>(static_cast<const __nv_bfloat16*>(embed.data), embed.cols,
                                      tokens, T, out);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "EmbedRows: embedding type ", std::string(DTypeName(embed.dtype)), " is not on the GPU"));
  }
  return LaunchStatus("EmbedKernel");
}

absl::Status AddBiasRows(float* y, const float* bias, int64_t T, int64_t n) {
  if (T * n <= 0) return absl::OkStatus();
  AddBiasKernel<<<GridFor(T * n, kThreads), kThreads>>>(y, bias, T, n);
  return LaunchStatus("AddBiasKernel");
}

absl::Status AddInPlace(float* x, const float* y, int64_t n) {
  if (n <= 0) return absl::OkStatus();
  AddKernel<<<GridFor(n, kThreads), kThreads>>>(x, y, n);
  return LaunchStatus("AddKernel");
}

absl::Status WriteKv(const float* k, const float* v, int64_t T, int64_t kv_dim,
                     const DeviceAttentionRow* rows) {
  if (T * kv_dim <= 0) return absl::OkStatus();
  WriteKvKernel<<<GridFor(T * kv_dim, kThreads), kThreads>>>(k, v, T, kv_dim, rows);
  return LaunchStatus("WriteKvKernel");
}

absl::Status MulNonZero(float* h, const float* u, int64_t n) {
  if (n <= 0) return absl::OkStatus();
  MulNonZeroKernel<<<GridFor(n, kThreads), kThreads>>>(h, u, n);
  return LaunchStatus("MulNonZeroKernel");
}

absl::Status GatherRows(const float* x, const int32_t* rows, int64_t n, int64_t D, float* out) {
  if (n * D <= 0) return absl::OkStatus();
  GatherRowsKernel<<<GridFor(n * D, kThreads), kThreads>>>(x, rows, n, D, out);
  return LaunchStatus("GatherRowsKernel");
}

}  // namespace stocha::cuda
