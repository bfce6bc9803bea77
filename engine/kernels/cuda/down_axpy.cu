// The FFN down projection over W_downᵀ in axpy form, split by neuron chunks (dense or sparse).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/ffn_kernels.h"
#include "engine/kernels/cuda/weight_load.cuh"

namespace stocha::cuda {
namespace {

constexpr int kThreads = 256;

// First position in idx[0..n) whose value is >= v (idx ascending).
__device__ __forceinline__ int64_t LowerBound(const int32_t* idx, int64_t n, int64_t v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (idx[mid] < v) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Block (column tile, chunk c): each thread owns column d for every row t and adds the
// chunk's active neurons in ascending order, a multiply then an add (no contraction, as
// the CPU's AxpyRows), skipping zero activations. Reads of wT[f][tile] are coalesced.
template <typename W>
__global__ void DownChunksKernel(const float* __restrict__ a, int T, int64_t lda,
                                 const W* __restrict__ wT, int64_t F, int64_t D,
                                 const int32_t* __restrict__ idx, const int32_t* __restrict__ count,
                                 float* __restrict__ partials) {
  const int64_t d = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t c = blockIdx.y;
  const int64_t f_lo = c * kDownChunk, f_hi = min(F, f_lo + kDownChunk);
  int64_t e_lo = f_lo, e_hi = f_hi;
  if (idx != nullptr) {
    const int64_t n = *count;
    e_lo = LowerBound(idx, n, f_lo);
    e_hi = LowerBound(idx, n, f_hi);
  }
  float acc[kMaxDeviceBatch];
#pragma unroll
  for (int t = 0; t < kMaxDeviceBatch; ++t) acc[t] = 0.0f;
  if (d < D) {
    for (int64_t e = e_lo; e < e_hi; ++e) {
      const int64_t f = idx != nullptr ? idx[e] : e;
      const float w = ToFloat(wT[f * D + d]);
#pragma unroll
      for (int t = 0; t < kMaxDeviceBatch; ++t) {
        if (t < T) {
          const float av = __ldg(a + t * lda + f);
          if (av != 0.0f) acc[t] = __fadd_rn(acc[t], __fmul_rn(av, w));
        }
      }
    }
#pragma unroll
    for (int t = 0; t < kMaxDeviceBatch; ++t) {
      if (t < T) partials[(c * T + t) * D + d] = acc[t];
    }
  }
}

// out[t][d] = partials of chunk 0 + chunk 1 + ... in ascending chunk order.
__global__ void SumChunksKernel(const float* __restrict__ partials, int64_t chunks, int T,
                                int64_t D, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= static_cast<int64_t>(T) * D) return;
  const int64_t stride = static_cast<int64_t>(T) * D;
  float s = partials[i];
  for (int64_t c = 1; c < chunks; ++c) s = __fadd_rn(s, partials[c * stride + i]);
  out[i] = s;
}

template <typename W>
absl::Status Launch(const float* a, int T, int64_t lda, const DeviceMatrix& wT, const int32_t* idx,
                    const int32_t* count, float* partials, float* out) {
  const int64_t F = wT.rows, D = wT.cols;
  const int64_t chunks = (F + kDownChunk - 1) / kDownChunk;
  const dim3 grid(static_cast<unsigned>((D + kThreads - 1) / kThreads),
                  static_cast<unsigned>(chunks));
  DownChunksKernel<W>
      <<<grid, kThreads>>>(a, T, lda, static_cast<const W*>(wT.data), F, D, idx, count, partials);
  absl::Status s = LaunchStatus("DownChunksKernel");
  if (!s.ok()) return s;
  const int64_t n = static_cast<int64_t>(T) * D;
  SumChunksKernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads>>>(
      partials, chunks, T, D, out);
  return LaunchStatus("SumChunksKernel");
}

}  // namespace

int64_t DownAxpyScratchFloats(int T, int64_t F, int64_t D) {
  return (F + kDownChunk - 1) / kDownChunk * T * D;
}

absl::Status DownAxpy(const float* a, int T, int64_t lda, const DeviceMatrix& wT,
                      const int32_t* idx, const int32_t* count, float* partials, float* out) {
  if (T < 1 || T > kMaxDeviceBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("DownAxpy: T = ", T, " token rows, outside [1, ", kMaxDeviceBatch, "]"));
  }
  if (wT.rows <= 0 || wT.cols <= 0) return absl::OkStatus();
  if ((idx == nullptr) != (count == nullptr)) {
    return absl::InvalidArgumentError("DownAxpy: idx and count go together");
  }
  switch (wT.dtype) {
    case DType::kF32:
      return Launch<float>(a, T, lda, wT, idx, count, partials, out);
    case DType::kF16:
      return Launch<__half>(a, T, lda, wT, idx, count, partials, out);
    case DType::kBF16:
      return Launch<__nv_bfloat16>(a, T, lda, wT, idx, count, partials, out);
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "DownAxpy: weight type ", std::string(DTypeName(wT.dtype)), " is not on the GPU"));
  }
}

}  // namespace stocha::cuda
