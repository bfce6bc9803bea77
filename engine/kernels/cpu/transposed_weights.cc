// Blocked transpose of a 2-byte or 4-byte weight matrix.
#include "engine/kernels/cpu/transposed_weights.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

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

}  // namespace

TransposedMatrix::TransposedMatrix(TransposedMatrix&& o) noexcept
    : bytes(std::move(o.bytes)), tensor(std::move(o.tensor)) {
  tensor.data = bytes.data();
}

TransposedMatrix TransposedMatrix::Of(const Tensor& w, int threads) {
  TransposedMatrix t;
  const int64_t rows = w.rows(), cols = w.cols();
  t.bytes = HugePageBuffer(w.nbytes());
  if (DTypeSize(w.dtype) == 4) {
    Transpose(static_cast<const uint32_t*>(w.data), rows, cols,
              reinterpret_cast<uint32_t*>(t.bytes.data()), threads);
  } else {
    Transpose(static_cast<const uint16_t*>(w.data), rows, cols,
              reinterpret_cast<uint16_t*>(t.bytes.data()), threads);
  }
  t.tensor.name = w.name + " (transposed)";
  t.tensor.dtype = w.dtype;
  t.tensor.shape = {cols, rows};
  t.tensor.data = t.bytes.data();
  return t;
}

}  // namespace stocha
