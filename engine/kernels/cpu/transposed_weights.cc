// Blocked transpose of a 2-byte or 4-byte weight matrix.
#include "engine/kernels/cpu/transposed_weights.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/model/quant_blocks.h"

namespace stocha {
namespace {

template <typename E>
void Transpose(const E* src, int64_t rows, int64_t cols, E* dst, int threads) {
  constexpr int64_t kB = 64;
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : omp_get_max_threads())
  for (int64_t c0 = 0; c0 < cols; c0 += kB) {
    for (int64_t r0 = 0; r0 < rows; r0 += kB) {
      for (int64_t c = c0; c < std::min(cols, c0 + kB); ++c) {
        for (int64_t r = r0; r < std::min(rows, r0 + kB); ++r)
          dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

// A Q8_0/Q4_0 [rows][cols] matrix transposed and re-blocked to Q8_0 along its rows (the
// old columns): dequantize (exact), transpose in F32, quantize each new row with ggml's
// reference Q8_0 rounding. Lossy (a second rounding): see docs/ENGINE.md.
void TransposeQuantized(const Tensor& w, uint8_t* dst, int threads) {
  const int64_t rows = w.rows(), cols = w.cols();
  std::vector<float> f32(static_cast<size_t>(rows * cols)), t32(f32.size());
  const size_t row_bytes = DTypeBytes(w.dtype, cols);
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(static_cast<const char*>(w.data) + r * row_bytes, w.dtype, cols,
                  f32.data() + r * cols);
  }
  Transpose(f32.data(), rows, cols, t32.data(), threads);
  const size_t out_bytes = DTypeBytes(DType::kQ8_0, rows);
  for (int64_t c = 0; c < cols; ++c) {
    QuantizeRow(t32.data() + c * rows, rows, DType::kQ8_0, dst + c * out_bytes);
  }
}

}  // namespace

TransposedMatrix::TransposedMatrix(TransposedMatrix&& o) noexcept
    : bytes(std::move(o.bytes)), tensor(std::move(o.tensor)) {
  tensor.data = bytes.data();
}

TransposedMatrix TransposedMatrix::Of(const Tensor& w, int threads) {
  TransposedMatrix t;
  const int64_t rows = w.rows(), cols = w.cols();
  const DType dtype = IsQuantized(w.dtype) ? DType::kQ8_0 : w.dtype;
  t.bytes = HugePageBuffer(DTypeBytes(dtype, w.numel()));
  if (IsQuantized(w.dtype)) {
    TransposeQuantized(w, t.bytes.data(), threads);
  } else if (DTypeSize(w.dtype) == 4) {
    Transpose(static_cast<const uint32_t*>(w.data), rows, cols,
              reinterpret_cast<uint32_t*>(t.bytes.data()), threads);
  } else {
    Transpose(static_cast<const uint16_t*>(w.data), rows, cols,
              reinterpret_cast<uint16_t*>(t.bytes.data()), threads);
  }
  t.tensor.name = w.name + " (transposed)";
  t.tensor.dtype = dtype;
  t.tensor.shape = {cols, rows};
  t.tensor.data = t.bytes.data();
  return t;
}

}  // namespace stocha
