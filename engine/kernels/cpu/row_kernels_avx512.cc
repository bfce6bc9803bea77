// AVX-512 row kernels. One zmm accumulator per input is the 16 canonical lanes (lane j holds
// elements i ≡ j mod 16); the reduction follows the canonical tree (j += j + 8, + 4, + 2,
// + 1), then the tail in order. Single-input dots are bound by the latency of that one FMA
// chain (the order allows no second chain), like the AVX2 kernel's two 8-lane chains: the
// gain is half the loads, conversions and prefetch bookkeeping per byte.
#include "engine/kernels/cpu/row_kernels_avx512.h"

#include <cstdlib>

#include "engine/kernels/cpu/avx512_target.h"
#include "engine/kernels/cpu/row_dot.h"

namespace stocha {

bool Avx512RowKernelsSupported() {
#if defined(__x86_64__)
  // avx512f also checks that the OS saves the ZMM and mask registers.
  static const bool supported = __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl") && Avx2RowKernelsSupported();
  return supported;
#else
  return false;
#endif
}

#if defined(__x86_64__)
namespace {

// 16-bit weights widened to floats (exact conversions).
template <DType DT>
STOCHA_AVX512 inline __m512 Widen16(__m256i h) {
  if constexpr (DT == DType::kBF16) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_cvtph_ps(h);
  }
}

// Sixteen weights from element i on, as floats.
template <DType DT>
STOCHA_AVX512 inline __m512 Load16(const void* row, int64_t i) {
  if constexpr (DT == DType::kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(row) + i);
  } else {
    return Widen16<DT>(_mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + i)));
  }
}

// The weights of element i on selected by `k` (zero elsewhere; unselected bytes are not
// read, so a tail never touches memory past the row).
template <DType DT>
STOCHA_AVX512 inline __m512 LoadMasked16(const void* row, int64_t i, __mmask16 k) {
  if constexpr (DT == DType::kF32) {
    return _mm512_maskz_loadu_ps(k, static_cast<const float*>(row) + i);
  } else {
    return Widen16<DT>(_mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(row) + i));
  }
}

// Prefetches for elements [i, i + 32): one per 64-byte line of this row's stream.
template <DType DT, bool kPf>
STOCHA_AVX512 inline void Prefetch32(const RowPrefetch* pf, int64_t i) {
  if constexpr (kPf) {
    constexpr int64_t esize = kWeightSize<DT>;
    for (int64_t k = 0; k < 32 * esize; k += 64) PrefetchAt(*pf, i + k / esize, esize);
  }
}

// The canonical tree over the 16 lanes of acc, then the tail elements in order.
template <DType DT>
STOCHA_AVX512 inline float Finish(__m512 acc, const float* x, const void* row, int64_t i,
                                  int64_t n) {
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  float r = _mm_cvtss_f32(s1);
  for (; i < n; ++i) r = __builtin_fmaf(x[i], Weight(row, DT, i), r);
  return r;
}

// R rows of x against one weight row: per 16 elements the weights are loaded once and each
// row keeps its own accumulator.
template <DType DT, int R, bool kPf>
STOCHA_AVX512 void DotMulti(const float* x, int64_t ldx, const void* row, int64_t n,
                            const RowPrefetch* pf, float* y) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if constexpr (kPf) {
      if ((i * kWeightSize<DT>) % 64 == 0) PrefetchAt(*pf, i, kWeightSize<DT>);
    }
    const __m512 w = Load16<DT>(row, i);
    for (int r = 0; r < R; ++r) {
      acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * ldx + i), w, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Finish<DT>(acc[r], x + r * ldx, row, i, n);
}

template <DType DT, bool kPf>
STOCHA_AVX512 float Dot(const float* x, const void* row, int64_t n, const RowPrefetch* pf) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    Prefetch32<DT, kPf>(pf, i);
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), Load16<DT>(row, i), acc);
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), Load16<DT>(row, i + 16), acc);
  }
  if (i + 16 <= n) {
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), Load16<DT>(row, i), acc);
    i += 16;
  }
  return Finish<DT>(acc, x, row, i, n);
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

template <DType DT, bool kPf>
STOCHA_AVX512 void Axpy(float h, const void* row, int64_t n, float* o, const RowPrefetch* pf) {
  const __m512 hv = _mm512_set1_ps(h);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    Prefetch32<DT, kPf>(pf, i);
    _mm512_storeu_ps(o + i, _mm512_fmadd_ps(hv, Load16<DT>(row, i), _mm512_loadu_ps(o + i)));
    _mm512_storeu_ps(o + i + 16,
                     _mm512_fmadd_ps(hv, Load16<DT>(row, i + 16), _mm512_loadu_ps(o + i + 16)));
  }
  if (i + 16 <= n) {
    _mm512_storeu_ps(o + i, _mm512_fmadd_ps(hv, Load16<DT>(row, i), _mm512_loadu_ps(o + i)));
    i += 16;
  }
  if (i < n) {  // 1-15 elements: masked, element for element the same fused multiply-add
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 v =
        _mm512_fmadd_ps(hv, LoadMasked16<DT>(row, i, k), _mm512_maskz_loadu_ps(k, o + i));
    _mm512_mask_storeu_ps(o + i, k, v);
  }
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

void DotRowMultiAvx512(const float* x, int64_t ldx, int rows, const void* row, DType dt, int64_t n,
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

void AxpyRowAvx512(float h, const void* row, DType dt, int64_t n, float* o, const RowPrefetch* pf) {
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

void DotRowMultiAvx512(const float*, int64_t, int, const void*, DType, int64_t, const RowPrefetch*,
                       float*) {
  std::abort();
}
void AxpyRowAvx512(float, const void*, DType, int64_t, float*, const RowPrefetch*) { std::abort(); }

#endif

}  // namespace stocha
