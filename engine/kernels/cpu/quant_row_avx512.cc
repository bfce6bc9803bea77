// AVX-512 quantized row kernels. One zmm accumulator per weight row is the 16 canonical lanes
// of row_dot.h (lane j: elements i ≡ j mod 16); each 32 weights are decoded into two zmm
// (elements 0-15, then 16-31) and fed to it in that order, which is the reference's order in
// every lane (the AVX2 kernels feed the same lanes as lo, hi, lo, hi). The reduction is the
// canonical tree. What the width buys: half the sign-extends, int->float conversions, scale
// multiplies and FMAs per weight; a single row stays bound by its one FMA chain (two FMAs
// per 32 weights, as the AVX2 kernel's two chains), which is why four rows share a pass.
// Layouts and dequantization: quant_blocks.h (ggml/src/ggml-common.h, ggml-quants.c).
#include "engine/kernels/cpu/quant_row_avx512.h"

#include <cstddef>
#include <cstdlib>

#include "engine/kernels/cpu/avx512_target.h"
#include "engine/kernels/cpu/kblock_scales.h"
#include "engine/kernels/cpu/prefetch.h"
#include "engine/kernels/cpu/quant_block_bytes.h"
#include "engine/model/quant_blocks.h"

namespace stocha {

#if defined(__x86_64__)
namespace {

STOCHA_AVX512 inline __m512 I8ToF32(__m128i q) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
}

STOCHA_AVX512 inline __m512 U8ToF32(__m128i q) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q));
}

// The canonical tree over the 16 lanes: (j += j+8), (j += j+4), (j += j+2), (0 += 1).
STOCHA_AVX512 inline float Reduce(__m512 acc) {
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), hi);
  __m128 v = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

// ---- Q8_0 / Q4_0: 32-element blocks ----

// The 32 weights of one block as two vectors (elements 0-15, 16-31), each the exact
// product d * q. Q4_0's low nibbles are elements 0-15 and its high nibbles 16-31, so each
// vector is one 16-byte load's worth.
template <DType DT>
STOCHA_AVX512 inline void LoadBlock(const char* p, __m512* w) {
  uint16_t dh;
  __m128i a, b;  // int8 elements 0-15 and 16-31
  UnpackBlockBytes<DT>(p, &dh, &a, &b);
  const __m512 d = _mm512_set1_ps(_cvtsh_ss(dh));
  w[0] = _mm512_mul_ps(d, I8ToF32(a));
  w[1] = _mm512_mul_ps(d, I8ToF32(b));
}

template <DType DT, int R>
STOCHA_AVX512 void DotRows(const float* x, const void* const* rows, int64_t n, float* y) {
  constexpr size_t kBytes = DTypeBlockBytes(DT);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* xb = x + b * kQuantBlock;
    const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
    for (int r = 0; r < R; ++r) {
      __m512 w[2];
      LoadBlock<DT>(static_cast<const char*>(rows[r]) + b * kBytes, w);
      acc[r] = _mm512_fmadd_ps(x0, w[0], acc[r]);
      acc[r] = _mm512_fmadd_ps(x1, w[1], acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Reduce(acc[r]);
}

template <DType DT>
STOCHA_AVX512 void AxpyRow(float h, const void* row, int64_t n, float* o, const void* next) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const __m512 hv = _mm512_set1_ps(h);
  const RowPrefetch pf = PlanPrefetch(row, next, n / kQuantBlock * kBytes, 1);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    PrefetchSpan(pf, b * kBytes, (b + 1) * kBytes);
    __m512 w[2];
    LoadBlock<DT>(static_cast<const char*>(row) + b * kBytes, w);
    float* ob = o + b * kQuantBlock;
    _mm512_storeu_ps(ob, _mm512_fmadd_ps(hv, w[0], _mm512_loadu_ps(ob)));
    _mm512_storeu_ps(ob + 16, _mm512_fmadd_ps(hv, w[1], _mm512_loadu_ps(ob + 16)));
  }
}

// ---- K super-blocks: per block the sub-block scales (kblock_scales.h, once), then each
// group of 32 elements as two vectors of 16 weights, consumed at once ----

// Group g (elements 32g..32g+31) of a K block as two vectors (elements +0-15, +16-31); one
// 32-byte load of the quants, as the AVX2 kernel's two 16-byte ones.
// Q4_K/Q5_K: sub-block g, from the low (g even) or high (g odd) nibbles of
// qs[32(g/2)..+31], plus (Q5_K) bit g of qh[l] as 16; d1 * q - m1 (exact product, one
// rounding in the subtraction, as ggml).
// Q6_K: half n = g / 4, group k = g % 4: nibble k / 2 of ql[64n + l + 32 (k % 2)] and bits
// 2k, 2k + 1 of qh[32n + l], minus 32; elements l < 16 and l >= 16 have scales 8n + 2k and
// 8n + 2k + 1; (d * sc) * q, both products exact.
template <DType DT>
STOCHA_AVX512 inline void LoadKGroup(const char* p, const KScales& s, int g, __m512* w) {
  const __m256i nib = _mm256_set1_epi8(15);
  if constexpr (DT == DType::kQ6_K) {
    const int n = g / 4, k = g % 4;
    const __m256i l =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * n + 32 * (k % 2)));
    const __m256i hb =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + offsetof(BlockQ6_K, qh) + 32 * n));
    const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(l, _mm_cvtsi32_si128(4 * (k / 2))), nib);
    const __m256i hi =
        _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * k)), _mm256_set1_epi8(3));
    // hi <= 3: shifted left by 4 it stays inside its byte.
    const __m256i q =
        _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), _mm256_set1_epi8(32));
    w[0] = _mm512_mul_ps(_mm512_set1_ps(s.d[8 * n + 2 * k]), I8ToF32(_mm256_castsi256_si128(q)));
    w[1] = _mm512_mul_ps(_mm512_set1_ps(s.d[8 * n + 2 * k + 1]),
                         I8ToF32(_mm256_extracti128_si256(q, 1)));
  } else {
    constexpr bool kQ5 = DT == DType::kQ5_K;
    const char* qs = p + (kQ5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs)) + 32 * (g / 2);
    __m256i q =
        _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)),
                                          _mm_cvtsi32_si128(4 * (g % 2))),
                         nib);
    if constexpr (kQ5) {
      const __m256i qh =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + offsetof(BlockQ5_K, qh)));
      // (bit g of each byte) << 4: the 0/1 stays inside its byte through the 16-bit shifts.
      const __m256i bit =
          _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(g)), _mm256_set1_epi8(1));
      q = _mm256_or_si256(q, _mm256_slli_epi16(bit, 4));
    }
    const __m512 d1 = _mm512_set1_ps(s.d[g]), m1 = _mm512_set1_ps(s.m[g]);
    w[0] = _mm512_sub_ps(_mm512_mul_ps(d1, U8ToF32(_mm256_castsi256_si128(q))), m1);
    w[1] = _mm512_sub_ps(_mm512_mul_ps(d1, U8ToF32(_mm256_extracti128_si256(q, 1))), m1);
  }
}

// Per block: every row's scales, then group by group one load of x shared by the R rows.
// Each accumulator still sees its row's groups in order, so the per-lane order is the
// reference's.
template <DType DT, int R>
STOCHA_AVX512 void DotRowsK(const float* x, const void* const* rows, int64_t n, float* y) {
  constexpr size_t kBytes = DTypeBlockBytes(DT);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* xb = x + b * kQK;
    const char* p[R];
    KScales s[R];
    for (int r = 0; r < R; ++r) {
      p[r] = static_cast<const char*>(rows[r]) + b * kBytes;
      LoadKScales<DT>(p[r], &s[r]);
    }
    for (int g = 0; g < kQK / 32; ++g) {
      const __m512 x0 = _mm512_loadu_ps(xb + 32 * g), x1 = _mm512_loadu_ps(xb + 32 * g + 16);
      for (int r = 0; r < R; ++r) {
        __m512 w[2];
        LoadKGroup<DT>(p[r], s[r], g, w);
        acc[r] = _mm512_fmadd_ps(x0, w[0], acc[r]);
        acc[r] = _mm512_fmadd_ps(x1, w[1], acc[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Reduce(acc[r]);
}

template <DType DT>
STOCHA_AVX512 void AxpyRowK(float h, const void* row, int64_t n, float* o, const void* next) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const __m512 hv = _mm512_set1_ps(h);
  const RowPrefetch pf = PlanPrefetch(row, next, n / kQK * kBytes, 1);
  for (int64_t b = 0; b < n / kQK; ++b) {
    PrefetchSpan(pf, b * kBytes, (b + 1) * kBytes);
    const char* p = static_cast<const char*>(row) + b * kBytes;
    KScales s;
    LoadKScales<DT>(p, &s);
    for (int g = 0; g < kQK / 32; ++g) {
      __m512 w[2];
      LoadKGroup<DT>(p, s, g, w);
      float* og = o + b * kQK + 32 * g;
      _mm512_storeu_ps(og, _mm512_fmadd_ps(hv, w[0], _mm512_loadu_ps(og)));
      _mm512_storeu_ps(og + 16, _mm512_fmadd_ps(hv, w[1], _mm512_loadu_ps(og + 16)));
    }
  }
}

// ---- dispatch on the row count and the type ----

template <DType DT, int R>
void DotRowsR(const float* x, const void* const* rows, int64_t n, float* y) {
  if constexpr (IsKQuant(DT)) {
    DotRowsK<DT, R>(x, rows, n, y);
  } else {
    DotRows<DT, R>(x, rows, n, y);
  }
}

template <DType DT>
void DotRowsOf(const float* x, const void* const* rows, int count, int64_t n, float* y) {
  switch (count) {
    case 4:
      return DotRowsR<DT, 4>(x, rows, n, y);
    case 3:
      return DotRowsR<DT, 3>(x, rows, n, y);
    case 2:
      return DotRowsR<DT, 2>(x, rows, n, y);
    default:
      return DotRowsR<DT, 1>(x, rows, n, y);
  }
}

}  // namespace

void QuantDotRowsAvx512(const float* x, const void* const* rows, int count, DType dt, int64_t n,
                        float* y) {
  switch (dt) {
    case DType::kQ8_0:
      return DotRowsOf<DType::kQ8_0>(x, rows, count, n, y);
    case DType::kQ4_0:
      return DotRowsOf<DType::kQ4_0>(x, rows, count, n, y);
    case DType::kQ4_K:
      return DotRowsOf<DType::kQ4_K>(x, rows, count, n, y);
    case DType::kQ5_K:
      return DotRowsOf<DType::kQ5_K>(x, rows, count, n, y);
    default:
      return DotRowsOf<DType::kQ6_K>(x, rows, count, n, y);
  }
}

void QuantAxpyRowAvx512(float h, const void* row, DType dt, int64_t n, float* o, const void* next) {
  switch (dt) {
    case DType::kQ8_0:
      return AxpyRow<DType::kQ8_0>(h, row, n, o, next);
    case DType::kQ4_0:
      return AxpyRow<DType::kQ4_0>(h, row, n, o, next);
    case DType::kQ4_K:
      return AxpyRowK<DType::kQ4_K>(h, row, n, o, next);
    case DType::kQ5_K:
      return AxpyRowK<DType::kQ5_K>(h, row, n, o, next);
    default:
      return AxpyRowK<DType::kQ6_K>(h, row, n, o, next);
  }
}

#else  // not x86-64: never enabled (row_isa.h never selects kAvx512)

void QuantDotRowsAvx512(const float*, const void* const*, int, DType, int64_t, float*) {
  std::abort();
}
void QuantAxpyRowAvx512(float, const void*, DType, int64_t, float*, const void*) { std::abort(); }

#endif

}  // namespace stocha
