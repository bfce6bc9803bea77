// Row kernels over block-typed weight rows (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) with F32 activations: dot
// products (decode GEMV, the sparse gather) and axpy (the transposed W_down). Each result has
// exactly the bits of the same F32 kernel run on the dequantized row (quant_blocks.h:
// dequantization is exact), in the canonical order of row_dot.h, so dense, sparse, T = 1 and T > 1
// agree bit for bit. The level is row_isa.h's: AVX-512 (quant_row_avx512.h), AVX2 + FMA +
// F16C, or portable scalar code, all with the same bits.
#ifndef STOCHA_ENGINE_KERNELS_CPU_QUANT_ROW_H_
#define STOCHA_ENGINE_KERNELS_CPU_QUANT_ROW_H_

#include <cstdint>

#include "engine/model/dtype.h"

namespace stocha {

// y[r] = x · rows[r][0..n) for r < count <= kMaxQuantDotRows, dt a block type, n a
// multiple of DTypeBlockSize(dt) (32, or 256 for the K types). Several rows share each load of x
// and keep independent accumulator chains (one row alone is bound by the FMA latency of its two
// chains).
inline constexpr int kMaxQuantDotRows = 4;
void QuantDotRows(const float* x, const void* const* rows, int count, DType dt, int64_t n,
                  float* y);

inline float QuantDotRow(const float* x, const void* row, DType dt, int64_t n) {
  float y;
  QuantDotRows(x, &row, 1, dt, n, &y);
  return y;
}

// o[i] = fma(h, w[i], o[i]) for i < n (n a multiple of DTypeBlockSize(dt)), w the
// dequantized row. `next`: the row the caller reads after this one, or null; the AVX2 and
// AVX-512 kernels prefetch kPrefetchDistance ahead in that stream (prefetch.h), as the dense
// row kernels do (the sparse path's rows are scattered, so the hardware prefetchers cannot
// follow it from one row to the next).
void QuantAxpyRow(float h, const void* row, DType dt, int64_t n, float* o,
                  const void* next = nullptr);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_QUANT_ROW_H_
