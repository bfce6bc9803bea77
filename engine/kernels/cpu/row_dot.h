// The canonical dot product of an F32 vector with one weight row (F32/F16/BF16), inlined
// into each kernel clone: every dense and sparse path computes a row's value with it, so
// skipping rows never changes the bits of the rows computed.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ROW_DOT_H_
#define STOCHA_ENGINE_KERNELS_CPU_ROW_DOT_H_

#include <cstdint>

#include "engine/kernels/cpu/clones.h"
#include "engine/kernels/cpu/prefetch.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/row_kernels_avx2.h"
#include "engine/kernels/cpu/row_kernels_avx512.h"
#include "engine/model/dtype.h"

namespace stocha {

inline constexpr int kLanes = 16;

template <DType DT>
inline constexpr int64_t kWeightSize = DT == DType::kF32 ? 4 : 2;

STOCHA_INLINE float Weight(const void* row, DType dt, int64_t i) {
  if (dt == DType::kBF16) return BF16ToF32(static_cast<const uint16_t*>(row)[i]);
  if (dt == DType::kF16) return F16ToF32(static_cast<const uint16_t*>(row)[i]);
  return static_cast<const float*>(row)[i];
}

// One row of x against one weight row of any dtype, converting in registers.
template <DType DT>
STOCHA_INLINE float DotRowT(const float* x, const void* row, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j)
      acc[j] = __builtin_fmaf(x[i + j], Weight(row, DT, i + j), acc[j]);
  }
  for (int s = kLanes / 2; s > 0; s /= 2) {
    for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
  }
  float r = acc[0];
  for (; i < n; ++i) r = __builtin_fmaf(x[i], Weight(row, DT, i), r);
  return r;
}

STOCHA_INLINE float DotRow(const float* x, const void* row, DType dt, int64_t n) {
  switch (dt) {
    case DType::kBF16:
      return DotRowT<DType::kBF16>(x, row, n);
    case DType::kF16:
      return DotRowT<DType::kF16>(x, row, n);
    default:
      return DotRowT<DType::kF32>(x, row, n);
  }
}

// The one dispatch point between the intrinsic row kernels (row_isa.h): whether they are
// on, and DotRowMulti / AxpyRow of the active level. Same bits at every level.
STOCHA_INLINE bool IntrinsicRowKernels() { return ActiveRowIsa() != RowIsa::kPortable; }

// DotRowMultiAvx2 or DotRowMultiAvx512; only while IntrinsicRowKernels().
STOCHA_INLINE void DotRowMultiIntrinsic(const float* x, int64_t ldx, int rows, const void* row,
                                        DType dt, int64_t n, const RowPrefetch* pf, float* y) {
  if (ActiveRowIsa() == RowIsa::kAvx512) return DotRowMultiAvx512(x, ldx, rows, row, dt, n, pf, y);
  DotRowMultiAvx2(x, ldx, rows, row, dt, n, pf, y);
}

// AxpyRowAvx2 or AxpyRowAvx512; only while IntrinsicRowKernels().
STOCHA_INLINE void AxpyRowIntrinsic(float h, const void* row, DType dt, int64_t n, float* o,
                                    const RowPrefetch* pf) {
  if (ActiveRowIsa() == RowIsa::kAvx512) return AxpyRowAvx512(h, row, dt, n, o, pf);
  AxpyRowAvx2(h, row, dt, n, o, pf);
}

// DotRow for one row of a stream of rows (`next` is read after it; nullptr for the last),
// prefetching ahead: the intrinsic kernel where enabled, else the portable one with the next
// row requested in one burst. Same bits either way.
STOCHA_INLINE float DotRowAhead(const float* x, const void* row, const void* next, DType dt,
                                int64_t n) {
  const int64_t esize = static_cast<int64_t>(DTypeSize(dt));
  if (IntrinsicRowKernels()) {
    const RowPrefetch pf = PlanPrefetch(row, next, n * esize, esize);
    float y;
    DotRowMultiIntrinsic(x, n, 1, row, dt, n, &pf, &y);
    return y;
  }
  if (next != nullptr) PrefetchBytes(next, n * esize);
  return DotRow(x, row, dt, n);
}

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ROW_DOT_H_
