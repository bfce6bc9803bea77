// Dense F32-accumulating matmul over F32/F16/BF16 weights, runtime-dispatched clones.
#include "engine/kernels/matmul.h"

#include <algorithm>
#include <vector>

#include <omp.h>

#include "engine/dtype.h"

namespace stocha {
namespace {

constexpr int kLanes = 16;

// Fixed reduction: lane j accumulates elements i ≡ j (mod 16), then a pairwise tree,
// then the tail in order. With -ffp-contract=off every clone gives the same bits, and
// converting a weight on the fly is exact, so mixed-dtype dots equal convert-then-dot.
template <typename Load>
inline float DotWith(const float* a, int64_t n, Load b) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b(i + j);
  }
  for (int w = kLanes / 2; w > 0; w /= 2) {
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  }
  float s = acc[0];
  for (; i < n; ++i) s += a[i] * b(i);
  return s;
}

inline float Dot(const float* a, const float* b, int64_t n) {
  return DotWith(a, n, [b](int64_t i) { return b[i]; });
}

inline float DotRow(const float* x, const void* row, DType dt, int64_t n) {
  if (dt == DType::kBF16) {
    const auto* w = static_cast<const uint16_t*>(row);
    return DotWith(x, n, [w](int64_t i) { return BF16ToF32(w[i]); });
  }
  if (dt == DType::kF16) {
    const auto* w = static_cast<const uint16_t*>(row);
    return DotWith(x, n, [w](int64_t i) { return F16ToF32(w[i]); });
  }
  return Dot(x, static_cast<const float*>(row), n);
}

inline void ConvertRow(const void* src, DType dt, int64_t n, float* dst) {
  if (dt == DType::kBF16) {
    const auto* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = BF16ToF32(s[i]);
  } else if (dt == DType::kF16) {
    const auto* s = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(s[i]);
  } else {
    std::copy_n(static_cast<const float*>(src), n, dst);
  }
}

std::vector<float> BiasF32(const Tensor* bias, int64_t n) {
  std::vector<float> b(n, 0.0f);
  if (bias != nullptr && bias->present()) ConvertRow(bias->data, bias->dtype, n, b.data());
  return b;
}

// Rows [n0, n1) of the output, for all T inputs. `scratch` holds one converted row.
__attribute__((target_clones("avx512f", "avx2", "default"))) void MatMulRows(
    const float* x, int64_t T, const Tensor& w, const float* bias, float* y, int64_t n0,
    int64_t n1, float* scratch) {
  const int64_t N = w.rows(), K = w.cols();
  const size_t row_bytes = static_cast<size_t>(K) * DTypeSize(w.dtype);
  for (int64_t n = n0; n < n1; ++n) {
    const void* src = static_cast<const char*>(w.data) + n * row_bytes;
    if (T <= 2) {  // decode: convert in registers, read the weights once
      for (int64_t t = 0; t < T; ++t) y[t * N + n] = DotRow(x + t * K, src, w.dtype, K) + bias[n];
      continue;
    }
    const float* row;
    if (w.dtype == DType::kF32) {
      row = static_cast<const float*>(src);
    } else {
      ConvertRow(src, w.dtype, K, scratch);
      row = scratch;
    }
    for (int64_t t = 0; t < T; ++t) y[t * N + n] = Dot(x + t * K, row, K) + bias[n];
  }
}

}  // namespace

float DotF32(const float* a, const float* b, int64_t n) { return Dot(a, b, n); }

__attribute__((target_clones("avx512f", "avx2", "default"))) void DotWeightRows(
    const float* x, const Tensor& w, const int32_t* idx, int64_t count, float* y) {
  const int64_t K = w.cols();
  const size_t row_bytes = static_cast<size_t>(K) * DTypeSize(w.dtype);
  for (int64_t j = 0; j < count; ++j) {
    y[j] = DotRow(x, static_cast<const char*>(w.data) + idx[j] * row_bytes, w.dtype, K);
  }
}

void RowToF32(const Tensor& t, int64_t r, float* out) {
  const int64_t cols = t.shape.size() < 2 ? t.numel() : t.cols();
  const char* src = static_cast<const char*>(t.data) + r * cols * DTypeSize(t.dtype);
  ConvertRow(src, t.dtype, cols, out);
}

void MatMul(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y,
            int threads) {
  const int64_t N = w.rows(), K = w.cols();
  const std::vector<float> b = BiasF32(bias, N);
  // Small products are not worth waking threads for.
  const bool parallel = N * K * T >= (1 << 16) && threads != 1;
  constexpr int64_t kBlock = 16;
  const int64_t blocks = (N + kBlock - 1) / kBlock;
#pragma omp parallel if (parallel) num_threads(threads > 0 ? threads : omp_get_max_threads())
  {
    std::vector<float> scratch(w.dtype == DType::kF32 ? 0 : K);
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      MatMulRows(x, T, w, b.data(), y, blk * kBlock, std::min(N, (blk + 1) * kBlock),
                 scratch.data());
    }
  }
}

void MatMulReference(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y) {
  const int64_t N = w.rows(), K = w.cols();
  const std::vector<float> b = BiasF32(bias, N);
  std::vector<float> row(K);
  for (int64_t n = 0; n < N; ++n) {
    RowToF32(w, n, row.data());
    for (int64_t t = 0; t < T; ++t) {
      // The same order as Dot, written out scalar.
      float acc[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= K; i += kLanes) {
        for (int j = 0; j < kLanes; ++j) acc[j] += x[t * K + i + j] * row[i + j];
      }
      for (int wd = kLanes / 2; wd > 0; wd /= 2) {
        for (int j = 0; j < wd; ++j) acc[j] += acc[j + wd];
      }
      float s = acc[0];
      for (; i < K; ++i) s += x[t * K + i] * row[i];
      y[t * N + n] = s + b[n];
    }
  }
}

}  // namespace stocha
