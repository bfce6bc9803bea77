// Explicit AVX2 + FMA + F16C kernels for one weight row (dot product, axpy) that prefetch
// ahead in a stream of rows. They give the same bits as the portable kernels (row_dot.h
// canonical order); row_isa.h picks them, the AVX-512 ones (row_kernels_avx512.h) or the
// portable clones. Written with intrinsics because GCC's vectorization of the
// portable loops spills accumulators or falls back to scalar code once a prefetch sits in
// the loop (seen in `perf annotate`), and the prefetch is what reaches the memory bandwidth.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX2_H_
#define STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX2_H_

#include <cstdint>

#include "engine/kernels/cpu/prefetch.h"
#include "engine/model/dtype.h"

namespace stocha {

// Whether this CPU has AVX2, FMA and F16C.
bool Avx2RowKernelsSupported();

// Up to kMaxDotRows rows of x (ldx floats apart) against one weight row, the row's loads
// shared: y[r] = x[r] · row[0..n), each in the canonical order (16 lanes, pairwise tree,
// tail). `pf`: where to prefetch (nullptr: nowhere).
inline constexpr int kMaxDotRows = 4;
void DotRowMultiAvx2(const float* x, int64_t ldx, int rows, const void* row, DType dt, int64_t n,
                     const RowPrefetch* pf, float* y);

// One input: x · row[0..n).
inline float DotRowAvx2(const float* x, const void* row, DType dt, int64_t n,
                        const RowPrefetch* pf) {
  float y;
  DotRowMultiAvx2(x, n, 1, row, dt, n, pf, &y);
  return y;
}

// Weight rows per DotWeightRowsAvx2 pass. Each row takes two accumulators; six rows (twelve,
// plus the two input registers and one converted weight register) fill AVX2's sixteen, and
// the input's loads are shared by six rows instead of four: decode on one thread +5% (F16)
// and +3% (BF16). Eight rows spill accumulators to the stack and were slower
// (docs/PERFORMANCE.md, "Six weight rows per pass, one prefetch lead").
inline constexpr int kMaxWeightRows = 6;

// Decode's GEMV: count <= kMaxWeightRows weight rows against one input, y[r] = x · rows[r][0..n),
// each the canonical dot (the bits of DotRowAvx2). Each row's stream prefetches ahead into
// next[r] (the row read after rows[r] in its slot; null: none).
void DotWeightRowsAvx2(const float* x, const void* const* rows, const void* const* next, int count,
                       DType dt, int64_t n, float* y);

// o[i] = fma(h, row[i], o[i]) for i < n, prefetching as above.
void AxpyRowAvx2(float h, const void* row, DType dt, int64_t n, float* o, const RowPrefetch* pf);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ROW_KERNELS_AVX2_H_
