// AVX2 + FMA + F16C row kernels. Lanes: accumulator lo holds canonical lanes 0-7 (elements
// i ≡ 0..7 mod 16), hi lanes 8-15; the reduction follows the canonical tree exactly.
#include "engine/kernels/cpu/row_kernels_avx2.h"

#include <cstdlib>

#include "engine/kernels/cpu/row_dot.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define STOCHA_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace stocha {

#if defined(__x86_64__)
namespace {

// F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has no "f16c".
bool HasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
}

}  // namespace
#endif

bool Avx2RowKernelsSupported() {
#if defined(__x86_64__)
  // avx2 also checks that the OS saves the YMM registers.
  static const bool supported =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && HasF16c();
  return supported;
#else
  return false;
#endif
}

#if defined(__x86_64__)
namespace {

// Eight weights from element i on, as floats (exact conversions).
template <DType DT>
STOCHA_AVX2 inline __m256 Load8(const void* row, int64_t i) {
  if constexpr (DT == DType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(row) + i);
  } else {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + i));
    if constexpr (DT == DType::kBF16) {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
      return _mm256_cvtph_ps(h);
    }
  }
}

// Prefetches for elements [i, i + 32): one per 64-byte line of this row's stream.
template <DType DT, bool kPf>
STOCHA_AVX2 inline void Prefetch32(const RowPrefetch* pf, int64_t i) {
  if constexpr (kPf) {
    constexpr int64_t esize = kWeightSize<DT>;
    for (int64_t k = 0; k < 32 * esize; k += 64) PrefetchAt(*pf, i + k / esize, esize);
  }
}

// Canonical tree over lanes lo (0-7) and hi (8-15): lane j += lane j + 8, + 4, + 2, + 1;
// then the tail elements in order.
template <DType DT>
STOCHA_AVX2 inline float Finish(__m256 lo, __m256 hi, const float* x, const void* row, int64_t i,
                                int64_t n) {
  const __m256 s8 = _mm256_add_ps(lo, hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  float r = _mm_cvtss_f32(s1);
  for (; i < n; ++i) r = __builtin_fmaf(x[i], Weight(row, DT, i), r);
  return r;
}

// R rows of x against one weight row: per 16 elements the weights are loaded once and
// each row keeps its own two accumulators.
template <DType DT, int R, bool kPf>
STOCHA_AVX2 void DotMulti(const float* x, int64_t ldx, const void* row, int64_t n,
                          const RowPrefetch* pf, float* y) {
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if constexpr (kPf) {
      if ((i * kWeightSize<DT>) % 64 == 0) PrefetchAt(*pf, i, kWeightSize<DT>);
    }
    const __m256 w0 = Load8<DT>(row, i), w1 = Load8<DT>(row, i + 8);
    for (int r = 0; r < R; ++r) {
      lo[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * ldx + i), w0, lo[r]);
      hi[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * ldx + i + 8), w1, hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Finish<DT>(lo[r], hi[r], x + r * ldx, row, i, n);
}

template <DType DT, bool kPf>
STOCHA_AVX2 float Dot(const float* x, const void* row, int64_t n, const RowPrefetch* pf) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    Prefetch32<DT, kPf>(pf, i);
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), Load8<DT>(row, i), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), Load8<DT>(row, i + 8), hi);
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), Load8<DT>(row, i + 16), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), Load8<DT>(row, i + 24), hi);
  }
  if (i + 16 <= n) {
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), Load8<DT>(row, i), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), Load8<DT>(row, i + 8), hi);
    i += 16;
  }
  return Finish<DT>(lo, hi, x, row, i, n);
}

template <DType DT, bool kPf>
void DotMultiR(const float* x, int64_t ldx, int rows, const void* row, int64_t n,
               const RowPrefetch* pf, float* y) {
  switch (rows) {
    case 1:  // the single-row kernel, unrolled over 32 elements
      y[0] = Dot<DT, kPf>(x, row, n, pf);
      return;
    case 2:
      return DotMulti<DT, 2, kPf>(x, ldx, row, n, pf, y);
    case 3:
      return DotMulti<DT, 3, kPf>(x, ldx, row, n, pf, y);
    default:
      return DotMulti<DT, 4, kPf>(x, ldx, row, n, pf, y);
  }
}

template <DType DT>
void DotMultiPf(const float* x, int64_t ldx, int rows, const void* row, int64_t n,
                const RowPrefetch* pf, float* y) {
  if (pf != nullptr) {
    DotMultiR<DT, true>(x, ldx, rows, row, n, pf, y);
  } else {
    DotMultiR<DT, false>(x, ldx, rows, row, n, pf, y);
  }
}

// R weight rows against one input: Dot's two accumulators per row, so 2R independent FMA
// chains. Dot alone is bound by the FMA latency (each accumulator takes one FMA per 16
// elements, 4 cycles apart on Zen 3: 24 GB/s of F16 on one core in the L2, row_kernel_bench);
// R rows at once are not. Each row's stream is planned on its own: row r prefetches ahead
// into next[r], the row read after it in that slot (null: none), PassPrefetchDistance(R)
// ahead so that the pass as a whole runs kPrefetchDistance ahead. Same bits as Dot per row.
template <DType DT, int R>
STOCHA_AVX2 void DotWeightRows(const float* x, const void* const* rows, const void* const* next,
                               int64_t n, float* y) {
  constexpr int64_t esize = kWeightSize<DT>;
  RowPrefetch pf[R];
  for (int r = 0; r < R; ++r) {
    pf[r] = PlanPrefetch(rows[r], next[r], n * esize, esize, PassPrefetchDistance(R));
  }
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if ((i * esize) % 64 == 0) {
      for (int r = 0; r < R; ++r) PrefetchAt(pf[r], i, esize);
    }
    const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
    for (int r = 0; r < R; ++r) {
      lo[r] = _mm256_fmadd_ps(x0, Load8<DT>(rows[r], i), lo[r]);
      hi[r] = _mm256_fmadd_ps(x1, Load8<DT>(rows[r], i + 8), hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Finish<DT>(lo[r], hi[r], x, rows[r], i, n);
}

template <DType DT>
void DotWeightRowsR(const float* x, const void* const* rows, const void* const* next, int count,
                    int64_t n, float* y) {
  switch (count) {
    case 1:
      return DotWeightRows<DT, 1>(x, rows, next, n, y);
    case 2:
      return DotWeightRows<DT, 2>(x, rows, next, n, y);
    case 3:
      return DotWeightRows<DT, 3>(x, rows, next, n, y);
    case 4:
      return DotWeightRows<DT, 4>(x, rows, next, n, y);
    case 5:
      return DotWeightRows<DT, 5>(x, rows, next, n, y);
    default:
      return DotWeightRows<DT, kMaxWeightRows>(x, rows, next, n, y);
  }
}

template <DType DT, bool kPf>
STOCHA_AVX2 void Axpy(float h, const void* row, int64_t n, float* o, const RowPrefetch* pf) {
  const __m256 hv = _mm256_set1_ps(h);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    Prefetch32<DT, kPf>(pf, i);
    for (int k = 0; k < 32; k += 8) {
      _mm256_storeu_ps(o + i + k,
                       _mm256_fmadd_ps(hv, Load8<DT>(row, i + k), _mm256_loadu_ps(o + i + k)));
    }
  }
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(o + i, _mm256_fmadd_ps(hv, Load8<DT>(row, i), _mm256_loadu_ps(o + i)));
  }
  for (; i < n; ++i) o[i] = __builtin_fmaf(h, Weight(row, DT, i), o[i]);
}

template <DType DT>
void AxpyPf(float h, const void* row, int64_t n, float* o, const RowPrefetch* pf) {
  if (pf != nullptr) {
    Axpy<DT, true>(h, row, n, o, pf);
  } else {
    Axpy<DT, false>(h, row, n, o, pf);
  }
}

}  // namespace

void DotRowMultiAvx2(const float* x, int64_t ldx, int rows, const void* row, DType dt, int64_t n,
                     const RowPrefetch* pf, float* y) {
  switch (dt) {
    case DType::kBF16:
      return DotMultiPf<DType::kBF16>(x, ldx, rows, row, n, pf, y);
    case DType::kF16:
      return DotMultiPf<DType::kF16>(x, ldx, rows, row, n, pf, y);
    default:
      return DotMultiPf<DType::kF32>(x, ldx, rows, row, n, pf, y);
  }
}

void DotWeightRowsAvx2(const float* x, const void* const* rows, const void* const* next, int count,
                       DType dt, int64_t n, float* y) {
  switch (dt) {
    case DType::kBF16:
      return DotWeightRowsR<DType::kBF16>(x, rows, next, count, n, y);
    case DType::kF16:
      return DotWeightRowsR<DType::kF16>(x, rows, next, count, n, y);
    default:
      return DotWeightRowsR<DType::kF32>(x, rows, next, count, n, y);
  }
}

void AxpyRowAvx2(float h, const void* row, DType dt, int64_t n, float* o, const RowPrefetch* pf) {
  switch (dt) {
    case DType::kBF16:
      AxpyPf<DType::kBF16>(h, row, n, o, pf);
      break;
    case DType::kF16:
      AxpyPf<DType::kF16>(h, row, n, o, pf);
      break;
    default:
      AxpyPf<DType::kF32>(h, row, n, o, pf);
      break;
  }
}

#else  // not x86-64: never enabled

void DotRowMultiAvx2(const float*, int64_t, int, const void*, DType, int64_t, const RowPrefetch*,
                     float*) {
  std::abort();
}
void AxpyRowAvx2(float, const void*, DType, int64_t, float*, const RowPrefetch*) { std::abort(); }
void DotWeightRowsAvx2(const float*, const void* const*, const void* const*, int, DType, int64_t,
                       float*) {
  std::abort();
}

#endif

}  // namespace stocha
