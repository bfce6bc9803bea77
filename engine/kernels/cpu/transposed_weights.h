// An owned transposed copy of a weight matrix, in the source's dtype (Q8_0 for a block-typed
// source: blocks run along the new rows).
#ifndef STOCHA_ENGINE_KERNELS_CPU_TRANSPOSED_WEIGHTS_H_
#define STOCHA_ENGINE_KERNELS_CPU_TRANSPOSED_WEIGHTS_H_

#include <cstdint>

#include "engine/model/huge_page_buffer.h"
#include "engine/model/tensor.h"

namespace stocha {

// W_down is stored [D][F]; the sparse FFN wants one contiguous D-long row per neuron. A
// Q8_0/Q4_0 W_down is re-blocked to Q8_0 along D (D a multiple of 32; lossy, not exact).
// Thread-safety: immutable after Of().
struct TransposedMatrix {
  HugePageBuffer bytes;
  Tensor tensor;  // [cols][rows] of the source; data points into `bytes`

  static TransposedMatrix Of(const Tensor& w, int threads);
  TransposedMatrix() = default;
  TransposedMatrix(TransposedMatrix&& o) noexcept;
  TransposedMatrix& operator=(TransposedMatrix&&) = delete;
  TransposedMatrix(const TransposedMatrix&) = delete;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_TRANSPOSED_WEIGHTS_H_
