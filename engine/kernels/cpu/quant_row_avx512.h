// AVX-512 versions of the quantized row kernels of quant_row.h (Q8_0, Q4_0, Q4_K, Q5_K,
// Q6_K with F32 activations), the same bits as the scalar reference and the AVX2 ones.
// Called only by QuantDotRows / QuantAxpyRow while row_isa.h's level is kAvx512.
#ifndef STOCHA_ENGINE_KERNELS_CPU_QUANT_ROW_AVX512_H_
#define STOCHA_ENGINE_KERNELS_CPU_QUANT_ROW_AVX512_H_

#include <cstdint>

#include "engine/model/dtype.h"

namespace stocha {

// As QuantDotRows: y[r] = x · rows[r][0..n) for r < count <= kMaxQuantDotRows.
void QuantDotRowsAvx512(const float* x, const void* const* rows, int count, DType dt, int64_t n,
                        float* y);

// As QuantAxpyRow: o[i] = fma(h, w[i], o[i]) for i < n.
void QuantAxpyRowAvx512(float h, const void* row, DType dt, int64_t n, float* o, const void* next);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_QUANT_ROW_AVX512_H_
