// Sparse FFN kernels with runtime-dispatched clones (AVX-512, AVX2, baseline).
#include "engine/kernels/cpu/ffn_kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/kernels/cpu/clones.h"
#include "engine/kernels/cpu/int8_dot.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/quant_row.h"
#include "engine/kernels/cpu/row_dot.h"
#include "engine/kernels/cpu/thread_pool.h"

namespace stocha {
namespace {

// Smallest column block per task.
constexpr int64_t kColBlock = 256;

template <DType DT>
STOCHA_INLINE void AxpyRowT(float h, const void* row, int64_t n, float* o) {
  for (int64_t i = 0; i < n; ++i) o[i] = __builtin_fmaf(h, Weight(row, DT, i), o[i]);
}

// o[0..n) += h * row[0..n) (one fused multiply-add per element, so any vector width gives
// the same bits). With `stream`, row is one of a stream of rows and `next` is read after it
// (nullptr: the last): prefetch ahead.
STOCHA_INLINE void AxpyRow(float h, const void* row, DType dt, int64_t n, float* o, bool stream,
                           const void* next) {
  if (IsQuantized(dt)) return QuantAxpyRow(h, row, dt, n, o, stream ? next : nullptr);
  const int64_t esize = static_cast<int64_t>(DTypeSize(dt));
  if (IntrinsicRowKernels()) {
    if (!stream) return AxpyRowIntrinsic(h, row, dt, n, o, nullptr);
    const RowPrefetch pf = PlanPrefetch(row, next, n * esize, esize);
    return AxpyRowIntrinsic(h, row, dt, n, o, &pf);
  }
  if (stream && next != nullptr) PrefetchBytes(next, n * esize);
  switch (dt) {
    case DType::kBF16:
      AxpyRowT<DType::kBF16>(h, row, n, o);
      break;
    case DType::kF16:
      AxpyRowT<DType::kF16>(h, row, n, o);
      break;
    default:
      AxpyRowT<DType::kF32>(h, row, n, o);
      break;
  }
}

// Accumulates rows of wT (of element type `dt`) into out[t][d0..d1).
STOCHA_KERNEL_CLONES void AxpyBlock(const float* h, int64_t T, int64_t F, const void* wT, DType dt,
                                    int64_t D, const int32_t* active, int64_t count, float* out,
                                    int64_t d0, int64_t d1) {
  const int64_t n = d1 - d0;
  for (int64_t t = 0; t < T; ++t) std::fill_n(out + t * D + d0, n, 0.0f);
  const char* base = static_cast<const char*>(wT);
  for (int64_t j = 0; j < count; ++j) {
    const int64_t f = active[j];
    // d0 is a multiple of the block size, so a block-typed row splits on block boundaries.
    const char* row = base + DTypeBytes(dt, f * D + d0);
    const char* next = j + 1 < count ? base + DTypeBytes(dt, active[j + 1] * D + d0) : nullptr;
    bool first = true;  // the first row t to use this weight row streams it from memory
    for (int64_t t = 0; t < T; ++t) {
      const float a = h[t * F + f];
      if (a == 0.0f) continue;
      AxpyRow(a, row, dt, n, out + t * D + d0, first, next);
      first = false;
    }
  }
}

// `xq`: x quantized (ActivationFormat::kInt8), or null.
STOCHA_KERNEL_CLONES void UpDownRow(const float* x, const Q8Row* xq, float* a, const Tensor& w_up,
                                    const Tensor& wT, const int32_t* active, int64_t count,
                                    float* out) {
  const int64_t D = wT.cols(), K = w_up.cols();
  const int64_t up_bytes = static_cast<int64_t>(DTypeBytes(w_up.dtype, K));
  const int64_t down_bytes = static_cast<int64_t>(DTypeBytes(wT.dtype, D));
  const char* up = static_cast<const char*>(w_up.data);
  const char* down = static_cast<const char*>(wT.data);
  std::fill_n(out, D, 0.0f);
  // The stream of rows read: up[f0], down[f0], up[f1], down[f1], ...
  for (int64_t j = 0; j < count; ++j) {
    const int64_t f = active[j];
    if (a[f] == 0.0f) continue;
    const char* down_row = down + f * down_bytes;
    const char* up_row = up + f * up_bytes;
    float dot = 0.0f;
    if (xq != nullptr) {
      const void* rows[1] = {up_row};
      Int8DotRows(*xq, rows, 1, w_up.dtype, K, &dot, /*after=*/down_row);
    } else {
      dot = IsQuantized(w_up.dtype) ? QuantDotRow(x, up_row, w_up.dtype, K)
                                    : DotRowAhead(x, up_row, down_row, w_up.dtype, K);
    }
    const float h = a[f] * dot;
    a[f] = h;
    if (h == 0.0f) continue;
    const char* next_up = j + 1 < count ? up + active[j + 1] * up_bytes : nullptr;
    AxpyRow(h, down_row, wT.dtype, D, out, /*stream=*/true, next_up);
  }
}

}  // namespace

void SparseUpDownRow(const float* x, float* a, const Tensor& w_up, const Tensor& wT,
                     const int32_t* active, int64_t count, float* out, ActivationFormat act) {
  if (act == ActivationFormat::kInt8 && Int8DotSupported(w_up.dtype)) {
    Q8Activations xq;
    xq.Quantize(x, 1, w_up.cols(), w_up.dtype);
    const Q8Row row = xq.row(0);
    return UpDownRow(x, &row, a, w_up, wT, active, count, out);
  }
  UpDownRow(x, nullptr, a, w_up, wT, active, count, out);
}

void SparseUpDownRowReference(const float* x, float* a, const Tensor& w_up, const Tensor& wT,
                              const int32_t* active, int64_t count, float* out,
                              ActivationFormat act) {
  std::vector<int32_t> nz;
  for (int64_t j = 0; j < count; ++j) {
    if (a[active[j]] != 0.0f) nz.push_back(active[j]);
  }
  std::vector<float> v(nz.size());
  DotRowsReference(x, w_up, nz.data(), static_cast<int64_t>(nz.size()), v.data(), act);
  for (size_t j = 0; j < nz.size(); ++j) a[nz[j]] *= v[j];
  AxpyRowsReference(a, 1, wT, nz.data(), static_cast<int64_t>(nz.size()), out);
}

void DotRows(const float* x, const Tensor& w, const int32_t* idx, int64_t count, float* y,
             int threads, ActivationFormat act) {
  const int nt = count * w.cols() >= (1 << 20) ? ResolveThreads(threads) : 1;
  if (act == ActivationFormat::kInt8 && Int8DotSupported(w.dtype)) {
    Q8Activations xq;  // once, before the parts (as MatMul)
    xq.Quantize(x, 1, w.cols(), w.dtype);
    RunParallel(nt, nt, [&](int p) {
      int64_t j0 = 0, j1 = 0;
      SplitRange(count, nt, 16, p, &j0, &j1);
      if (j0 < j1) DotWeightRowsInt8(xq.row(0), w, idx + j0, j1 - j0, y + j0);
    });
    return;
  }
  // Split by active rows, not by neuron index: every thread reads the same number of
  // rows whichever neurons fired. Boundaries at 16 entries keep writes to y apart.
  RunParallel(nt, nt, [&](int p) {
    int64_t j0 = 0, j1 = 0;
    SplitRange(count, nt, 16, p, &j0, &j1);
    if (j0 < j1) DotWeightRows(x, w, idx + j0, j1 - j0, y + j0);
  });
}

void DotRowsReference(const float* x, const Tensor& w, const int32_t* idx, int64_t count, float* y,
                      ActivationFormat act) {
  const int64_t K = w.cols();
  if (act == ActivationFormat::kInt8 && Int8DotSupported(w.dtype)) {
    Q8Activations xq;
    xq.Quantize(x, 1, K, w.dtype);
    const size_t row_bytes = DTypeBytes(w.dtype, K);
    for (int64_t j = 0; j < count; ++j) {
      const void* row = static_cast<const char*>(w.data) + idx[j] * row_bytes;
      Int8DotRowsReference(xq.row(0), &row, 1, w.dtype, K, y + j);
    }
    return;
  }
  std::vector<float> row(K);
  for (int64_t j = 0; j < count; ++j) {
    RowToF32(w, idx[j], row.data());
    y[j] = DotF32(x, row.data(), K);
  }
}

void AxpyRows(const float* h, int64_t T, const Tensor& wT, const int32_t* active, int64_t count,
              float* out, int threads) {
  const int64_t F = wT.rows(), D = wT.cols();
  const int nt = count * D * T >= (1 << 20) ? ResolveThreads(threads) : 1;
  // One long column block per thread reads each weight row in few, long runs (the
  // hardware prefetcher needs them); the accumulators (T x block floats) stay in L1. Every
  // thread reads the same bytes of each active row: the split is by bytes whatever fired.
  int64_t block = (D + nt - 1) / nt;
  block = std::min(block, std::max<int64_t>(kColBlock, 8192 / std::max<int64_t>(T, 1)));
  // Multiples of 32 (of 256 for a K-type wT): block-typed rows split on block boundaries
  // (the bits do not depend on it).
  const int64_t align = std::max<int64_t>(32, DTypeBlockSize(wT.dtype));
  block = std::max<int64_t>(align, (block + align - 1) / align * align);
  const int64_t blocks = (D + block - 1) / block;
  RunParallel(nt, nt, [&](int p) {
    int64_t b0 = 0, b1 = 0;
    SplitRange(blocks, nt, 1, p, &b0, &b1);
    for (int64_t b = b0; b < b1; ++b) {
      AxpyBlock(h, T, F, wT.data, wT.dtype, D, active, count, out, b * block,
                std::min(D, (b + 1) * block));
    }
  });
}

void AxpyRowsReference(const float* h, int64_t T, const Tensor& wT, const int32_t* active,
                       int64_t count, float* out) {
  const int64_t F = wT.rows(), D = wT.cols();
  std::vector<float> row(D);
  std::fill_n(out, T * D, 0.0f);
  for (int64_t j = 0; j < count; ++j) {
    RowToF32(wT, active[j], row.data());
    for (int64_t t = 0; t < T; ++t) {
      const float a = h[t * F + active[j]];
      if (a == 0.0f) continue;
      for (int64_t d = 0; d < D; ++d) out[t * D + d] = std::fma(a, row[d], out[t * D + d]);
    }
  }
}

int64_t CollectNonZero(const float* a, int64_t n, int32_t* idx) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; ++i) {
    idx[c] = static_cast<int32_t>(i);
    c += a[i] != 0.0f;
  }
  return c;
}

}  // namespace stocha
