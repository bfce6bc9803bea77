// Explicit AVX-512 kernels for one weight row (dot product, axpy), the AVX2 ones
// (row_kernels_avx2.h) at twice the width: one zmm register holds exactly the 16 canonical
// lanes of row_dot.h, so the dot products give the same bits as the portable and AVX2 kernels
// and the axpy (one fused multiply-add per element) does at any width. Compiled for
// AVX-512 F/BW/VL with a target attribute and called only where row_isa.h found the
// instructions at run time.
//
// Not used: AVX512_BF16's vdpbf16ps. It multiplies bf16 by bf16, so x would be rounded to
// bf16 (8 bits of mantissa) and pairs of products summed before the accumulation: a
// different result, not a reordering, which the same-bits contract (docs/ENGINE.md) and the
// non-deterministic mode (batch-dependent order only) both exclude.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX512_H_
#define STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX512_H_

#include <cstdint>

#include "engine/kernels/cpu/prefetch.h"
#include "engine/kernels/cpu/row_kernels_avx2.h"
#include "engine/model/dtype.h"

namespace stocha {

// Whether this CPU (and OS) has AVX-512 F, BW and VL, and the AVX2 kernels' FMA and F16C.
bool Avx512RowKernelsSupported();

// Up to kMaxDotRows rows of x (ldx floats apart) against one weight row, the row's loads
// shared: y[r] = x[r] · row[0..n), each in the canonical order. `pf`: where to prefetch
// (nullptr: nowhere). As DotRowMultiAvx2, bit for bit.
void DotRowMultiAvx512(const float* x, int64_t ldx, int rows, const void* row, DType dt, int64_t n,
                       const RowPrefetch* pf, float* y);

// o[i] = fma(h, row[i], o[i]) for i < n, prefetching as above.
void AxpyRowAvx512(float h, const void* row, DType dt, int64_t n, float* o, const RowPrefetch* pf);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX512_H_
