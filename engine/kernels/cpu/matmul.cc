// Dense F32-accumulating matmul over F32/F16/BF16 weights, runtime-dispatched clones.
#include "engine/kernels/cpu/matmul.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/kernels/cpu/clones.h"
#include "engine/kernels/cpu/int8_dot.h"
#include "engine/kernels/cpu/quant_row.h"
#include "engine/kernels/cpu/row_dot.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/row_kernels_avx2.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/model/dtype.h"
#include "engine/model/quant_blocks.h"

namespace stocha {
namespace {

// Tree-reduces 16 lanes, then adds the tail in order.
STOCHA_INLINE float Finish(float* acc, const float* a, int64_t i, int64_t n, const float* w) {
  for (int s = kLanes / 2; s > 0; s /= 2) {
    for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
  }
  float r = acc[0];
  for (; i < n; ++i) r = __builtin_fmaf(a[i], w[i], r);
  return r;
}

// R rows of x against one F32 weight row. Each row's result is the canonical dot: lane j
// accumulates i ≡ j (mod 16) with fused multiply-adds, a pairwise tree, then the tail.
template <int R>
STOCHA_INLINE void DotBlock(const float* x, int64_t ldx, const float* w, int64_t n, float* out) {
  float acc[R][kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int r = 0; r < R; ++r) {
      for (int j = 0; j < kLanes; ++j) {
        acc[r][j] = __builtin_fmaf(x[r * ldx + i + j], w[i + j], acc[r][j]);
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = Finish(acc[r], x + r * ldx, i, n, w);
}

STOCHA_INLINE void ConvertRow(const void* src, DType dt, int64_t n, float* dst) {
  if (IsQuantized(dt)) return DequantizeRow(src, dt, n, dst);
  for (int64_t i = 0; i < n; ++i) dst[i] = Weight(src, dt, i);
}

std::vector<float> BiasF32(const Tensor* bias, int64_t n) {
  std::vector<float> b(n, 0.0f);
  if (bias != nullptr && bias->present()) ConvertRow(bias->data, bias->dtype, n, b.data());
  return b;
}

// y[j] = x · row_of(j) for j < count (F32/F16/BF16 rows of n weights), kMaxWeightRows rows per
// DotWeightRowsAvx2 pass; slot q prefetches the row it reads next, row_of(j + kMaxWeightRows).
template <typename RowOf>
void WeightRowsAvx2(const float* x, int64_t count, DType dt, int64_t n, const RowOf& row_of,
                    float* y) {
  for (int64_t j = 0; j < count; j += kMaxWeightRows) {
    const int r = static_cast<int>(std::min<int64_t>(kMaxWeightRows, count - j));
    const void* rows[kMaxWeightRows];
    const void* next[kMaxWeightRows];
    for (int q = 0; q < r; ++q) {
      rows[q] = row_of(j + q);
      next[q] = j + q + kMaxWeightRows < count ? row_of(j + q + kMaxWeightRows) : nullptr;
    }
    DotWeightRowsAvx2(x, rows, next, r, dt, n, y + j);
  }
}

// MatMulRows for Q8_0/Q4_0 weights: decode (T == 1) reads four weight rows per pass with the
// quantized kernels; larger T dequantizes each row once into `scratch` (exact) and runs the
// F32 kernels on it. Both give the canonical dot of the dequantized row: the same bits.
STOCHA_KERNEL_CLONES void QuantMatMulRows(const float* x, int64_t T, const Tensor& w,
                                          const float* bias, float* y, int64_t n0, int64_t n1,
                                          float* scratch) {
  const int64_t N = w.rows(), K = w.cols();
  const size_t row_bytes = DTypeBytes(w.dtype, K);
  const char* base = static_cast<const char*>(w.data);
  if (T == 1) {
    for (int64_t n = n0; n < n1; n += kMaxQuantDotRows) {
      const int r = static_cast<int>(std::min<int64_t>(kMaxQuantDotRows, n1 - n));
      const void* rows[kMaxQuantDotRows];
      for (int q = 0; q < r; ++q) rows[q] = base + (n + q) * row_bytes;
      float out[kMaxQuantDotRows];
      QuantDotRows(x, rows, r, w.dtype, K, out);
      for (int q = 0; q < r; ++q) y[n + q] = out[q] + bias[n + q];
    }
    return;
  }
  for (int64_t n = n0; n < n1; ++n) {
    DequantizeRow(base + n * row_bytes, w.dtype, K, scratch);
    float out[kMaxDotRows];
    for (int64_t t = 0; t < T; t += kMaxDotRows) {
      const int r = static_cast<int>(std::min<int64_t>(kMaxDotRows, T - t));
      if (IntrinsicRowKernels()) {
        DotRowMultiIntrinsic(x + t * K, K, r, scratch, DType::kF32, K, nullptr, out);
      } else {
        for (int q = 0; q < r; ++q) out[q] = DotRowT<DType::kF32>(x + (t + q) * K, scratch, K);
      }
      for (int q = 0; q < r; ++q) y[(t + q) * N + n] = out[q] + bias[n];
    }
  }
}

// Output rows [n0, n1) for all T inputs. With the intrinsic row kernels: four inputs at a time
// per weight row, converting in registers. Portable: decode (T <= 2) converts weights in
// registers; larger T converts each weight row once into `scratch` and reuses it for
// blocks of 4.
STOCHA_KERNEL_CLONES void MatMulRows(const float* x, int64_t T, const Tensor& w, const float* bias,
                                     float* y, int64_t n0, int64_t n1, float* scratch) {
  if (IsQuantized(w.dtype)) return QuantMatMulRows(x, T, w, bias, y, n0, n1, scratch);
  const int64_t N = w.rows(), K = w.cols();
  const size_t row_bytes = static_cast<size_t>(K) * DTypeSize(w.dtype);
  if (T == 1 && ActiveRowIsa() == RowIsa::kAvx2) {
    // Decode: kMaxWeightRows weight rows per pass, each its own FMA chains (DotWeightRowsAvx2).
    const char* first = static_cast<const char*>(w.data) + n0 * row_bytes;
    WeightRowsAvx2(
        x, n1 - n0, w.dtype, K, [&](int64_t j) { return first + j * row_bytes; }, y + n0);
    for (int64_t n = n0; n < n1; ++n) y[n] += bias[n];
    return;
  }
  for (int64_t n = n0; n < n1; ++n) {
    const void* src = static_cast<const char*>(w.data) + n * row_bytes;
    // Rows are contiguous; the stream runs on into the next block (usually this thread's
    // next).
    const void* next = n + 1 < N ? static_cast<const char*>(src) + row_bytes : nullptr;
    if (IntrinsicRowKernels()) {
      // Up to four inputs per pass over the row (in L1 after the first), converting in
      // registers; the first pass streams the row and prefetches ahead.
      const RowPrefetch pf = PlanPrefetch(src, next, static_cast<int64_t>(row_bytes),
                                          static_cast<int64_t>(DTypeSize(w.dtype)));
      float out[kMaxDotRows];
      for (int64_t t = 0; t < T; t += kMaxDotRows) {
        const int r = static_cast<int>(std::min<int64_t>(kMaxDotRows, T - t));
        DotRowMultiIntrinsic(x + t * K, K, r, src, w.dtype, K, t == 0 ? &pf : nullptr, out);
        for (int q = 0; q < r; ++q) y[(t + q) * N + n] = out[q] + bias[n];
      }
      continue;
    }
    if (T <= 2) {
      y[n] = DotRowAhead(x, src, next, w.dtype, K) + bias[n];
      if (T == 2) y[N + n] = DotRow(x + K, src, w.dtype, K) + bias[n];
      continue;
    }
    const float* row = static_cast<const float*>(src);
    if (w.dtype != DType::kF32) {
      ConvertRow(src, w.dtype, K, scratch);
      row = scratch;
    }
    float out[4];
    int64_t t = 0;
    for (; t + 4 <= T; t += 4) {
      DotBlock<4>(x + t * K, K, row, K, out);
      for (int r = 0; r < 4; ++r) y[(t + r) * N + n] = out[r] + bias[n];
    }
    for (; t < T; ++t) {
      DotBlock<1>(x + t * K, K, row, K, out);
      y[t * N + n] = out[0] + bias[n];
    }
  }
}

// Rows handed to Int8DotRows per call: its kernels read four per pass and prefetch the next
// pass's rows, so a longer list keeps the weight stream prefetched across passes.
constexpr int kInt8RowsPerCall = 64;

// Output rows [n0, n1) of ActivationFormat::kInt8. Decode: kInt8RowsPerCall weight rows per
// call. T > 1: four weight rows at a time, each against every input (the rows stay in L1
// across the T inputs). A row's bits are the same either way (int8_dot.h).
void Int8MatMulRows(const Q8Activations& xq, int64_t T, const Tensor& w, const float* bias,
                    float* y, int64_t n0, int64_t n1) {
  const int64_t N = w.rows(), K = w.cols();
  const size_t row_bytes = DTypeBytes(w.dtype, K);
  const char* base = static_cast<const char*>(w.data);
  const int64_t per_call = T == 1 ? kInt8RowsPerCall : kMaxQuantDotRows;
  for (int64_t n = n0; n < n1; n += per_call) {
    const int r = static_cast<int>(std::min<int64_t>(per_call, n1 - n));
    const void* rows[kInt8RowsPerCall];
    for (int q = 0; q < r; ++q) rows[q] = base + (n + q) * row_bytes;
    for (int64_t t = 0; t < T; ++t) {
      float out[kInt8RowsPerCall];
      Int8DotRows(xq.row(t), rows, r, w.dtype, K, out);
      for (int q = 0; q < r; ++q) y[t * N + n + q] = out[q] + bias[n + q];
    }
  }
}

}  // namespace

float DotF32(const float* a, const float* b, int64_t n) { return DotRowT<DType::kF32>(a, b, n); }

STOCHA_KERNEL_CLONES void DotWeightRows(const float* x, const Tensor& w, const int32_t* idx,
                                        int64_t count, float* y) {
  const int64_t K = w.cols();
  const size_t row_bytes = DTypeBytes(w.dtype, K);
  const char* base = static_cast<const char*>(w.data);
  if (IsQuantized(w.dtype)) {
    for (int64_t j = 0; j < count; j += kMaxQuantDotRows) {
      const int r = static_cast<int>(std::min<int64_t>(kMaxQuantDotRows, count - j));
      const void* rows[kMaxQuantDotRows];
      for (int q = 0; q < r; ++q) rows[q] = base + idx[j + q] * row_bytes;
      QuantDotRows(x, rows, r, w.dtype, K, y + j);
    }
    return;
  }
  if (ActiveRowIsa() == RowIsa::kAvx2) {  // MatMulRows' decode kernel, on gathered rows
    WeightRowsAvx2(
        x, count, w.dtype, K, [&](int64_t j) { return base + idx[j] * row_bytes; }, y);
    return;
  }
  for (int64_t j = 0; j < count; ++j) {
    const char* next = j + 1 < count ? base + idx[j + 1] * row_bytes : nullptr;
    y[j] = DotRowAhead(x, base + idx[j] * row_bytes, next, w.dtype, K);
  }
}

void DotWeightRowsInt8(const Q8Row& x, const Tensor& w, const int32_t* idx, int64_t count,
                       float* y) {
  const int64_t K = w.cols();
  const size_t row_bytes = DTypeBytes(w.dtype, K);
  const char* base = static_cast<const char*>(w.data);
  for (int64_t j = 0; j < count; j += kInt8RowsPerCall) {
    const int r = static_cast<int>(std::min<int64_t>(kInt8RowsPerCall, count - j));
    const void* rows[kInt8RowsPerCall];
    for (int q = 0; q < r; ++q) rows[q] = base + idx[j + q] * row_bytes;
    Int8DotRows(x, rows, r, w.dtype, K, y + j);
  }
}

void RowToF32(const Tensor& t, int64_t r, float* out) {
  const int64_t cols = t.shape.size() < 2 ? t.numel() : t.cols();
  ConvertRow(static_cast<const char*>(t.data) + DTypeBytes(t.dtype, r * cols), t.dtype, cols, out);
}

void MatMul(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y, int threads,
            ActivationFormat act) {
  const int64_t N = w.rows(), K = w.cols();
  const std::vector<float> b = BiasF32(bias, N);
  // Small products are not worth waking threads for.
  const int nt = N * K * T >= (1 << 20) ? ResolveThreads(threads) : 1;
  if (act == ActivationFormat::kInt8 && Int8DotSupported(w.dtype)) {
    Q8Activations xq;  // once per product, before the parts: every part reads the same
    xq.Quantize(x, T, K, w.dtype);
    RunParallel(nt, nt, [&](int p) {
      int64_t n0 = 0, n1 = 0;
      SplitRange(N, nt, 16, p, &n0, &n1);
      if (n0 < n1) Int8MatMulRows(xq, T, w, b.data(), y, n0, n1);
    });
    return;
  }
  // One contiguous run of rows per thread, equal in bytes (every row is K weights); the
  // boundaries are multiples of 16 rows, so no two threads write one cache line of y
  // (64 bytes) when N is a multiple of 16. Scratch for the portable path is allocated here:
  // nothing may throw inside a part.
  std::vector<float> scratch(w.dtype == DType::kF32 ? 0 : static_cast<size_t>(nt) * K);
  RunParallel(nt, nt, [&](int p) {
    int64_t n0 = 0, n1 = 0;
    SplitRange(N, nt, 16, p, &n0, &n1);
    if (n0 < n1)
      MatMulRows(x, T, w, b.data(), y, n0, n1, scratch.data() + (scratch.empty() ? 0 : p * K));
  });
}

void MatMulReference(const float* x, int64_t T, const Tensor& w, const Tensor* bias, float* y) {
  const int64_t N = w.rows(), K = w.cols();
  const std::vector<float> b = BiasF32(bias, N);
  std::vector<float> row(K);
  for (int64_t n = 0; n < N; ++n) {
    RowToF32(w, n, row.data());
    for (int64_t t = 0; t < T; ++t) {
      // The canonical order, written out scalar with std::fma.
      float acc[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= K; i += kLanes) {
        for (int j = 0; j < kLanes; ++j) acc[j] = std::fma(x[t * K + i + j], row[i + j], acc[j]);
      }
      for (int s = kLanes / 2; s > 0; s /= 2) {
        for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
      }
      float r = acc[0];
      for (; i < K; ++i) r = std::fma(x[t * K + i], row[i], r);
      y[t * N + n] = r + b[n];
    }
  }
}

}  // namespace stocha
