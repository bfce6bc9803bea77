// Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K row kernels: portable scalar code and AVX2 + FMA + F16C,
// same bits, and the dispatch to the AVX-512 ones (quant_row_avx512.h). The AVX2 lanes follow
// row_kernels_avx2.cc: accumulator lo holds canonical lanes 0-7 (elements i ≡ 0..7 mod 16),
// hi lanes 8-15; each 32 elements feed lo, hi, lo, hi.
// Block layouts: ggml/src/ggml-common.h (block_q8_0, block_q4_0, block_q4_K, block_q5_K,
// block_q6_K), dequantization as in ggml/src/ggml-quants.c (dequantize_row_q8_0, _q4_0,
// _q4_K, _q5_K, _q6_K), each weight computed with the same F32 operations as
// DequantizeRow (quant_blocks.h), so the kernels see exactly the dequantized row.
#include "engine/kernels/cpu/quant_row.h"

#include <cmath>
#include <cstddef>

#include "engine/kernels/cpu/kblock_scales.h"
#include "engine/kernels/cpu/prefetch.h"
#include "engine/kernels/cpu/quant_block_bytes.h"
#include "engine/kernels/cpu/quant_row_avx512.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/model/quant_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define STOCHA_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace stocha {
namespace {

// One block of the row at a time (32 or 256 elements, a multiple of the 16 lanes).
void DotRowsPortable(const float* x, const void* const* rows, int count, DType dt, int64_t n,
                     float* y) {
  const size_t bb = DTypeBlockBytes(dt);
  const int64_t bs = DTypeBlockSize(dt);
  for (int r = 0; r < count; ++r) {
    float acc[16] = {};
    float w[kQK];
    for (int64_t b = 0; b < n / bs; ++b) {
      DequantizeRow(static_cast<const char*>(rows[r]) + b * bb, dt, bs, w);
      for (int j = 0; j < bs; ++j) acc[j % 16] = std::fma(x[b * bs + j], w[j], acc[j % 16]);
    }
    for (int s = 8; s > 0; s /= 2) {
      for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
    }
    y[r] = acc[0];
  }
}

void AxpyRowPortable(float h, const void* row, DType dt, int64_t n, float* o) {
  const size_t bb = DTypeBlockBytes(dt);
  const int64_t bs = DTypeBlockSize(dt);
  float w[kQK];
  for (int64_t b = 0; b < n / bs; ++b) {
    DequantizeRow(static_cast<const char*>(row) + b * bb, dt, bs, w);
    for (int j = 0; j < bs; ++j) o[b * bs + j] = std::fma(h, w[j], o[b * bs + j]);
  }
}

#if defined(__x86_64__)

// The 32 weights of one block as four vectors of 8 floats (elements 0-7, 8-15, 16-23,
// 24-31), each the exact product scale * integer.
template <DType DT>
STOCHA_AVX2 inline void LoadBlock(const char* p, __m256* w) {
  uint16_t dh;
  __m128i a, b;  // int8 elements 0-15 and 16-31
  UnpackBlockBytes<DT>(p, &dh, &a, &b);
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(dh));
  w[0] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(a)));
  w[1] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(a, 8))));
  w[2] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)));
  w[3] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8))));
}

// The canonical tree over 16 lanes: (j += j+8), (j += j+4), (j += j+2), (0 += 1).
STOCHA_AVX2 inline float Reduce(__m256 lo, __m256 hi) {
  const __m256 s = _mm256_add_ps(lo, hi);
  __m128 v = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

template <DType DT, int R>
STOCHA_AVX2 void DotRowsAvx2(const float* x, const void* const* rows, int64_t n, float* y) {
  constexpr size_t kBytes = DTypeBlockBytes(DT);
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* xb = x + b * kQuantBlock;
    const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
    const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
    for (int r = 0; r < R; ++r) {
      __m256 w[4];
      LoadBlock<DT>(static_cast<const char*>(rows[r]) + b * kBytes, w);
      lo[r] = _mm256_fmadd_ps(x0, w[0], lo[r]);
      hi[r] = _mm256_fmadd_ps(x1, w[1], hi[r]);
      lo[r] = _mm256_fmadd_ps(x2, w[2], lo[r]);
      hi[r] = _mm256_fmadd_ps(x3, w[3], hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Reduce(lo[r], hi[r]);
}

template <DType DT>
void DotRowsAvx2(const float* x, const void* const* rows, int count, int64_t n, float* y) {
  switch (count) {
    case 4:
      return DotRowsAvx2<DT, 4>(x, rows, n, y);
    case 3:
      return DotRowsAvx2<DT, 3>(x, rows, n, y);
    case 2:
      return DotRowsAvx2<DT, 2>(x, rows, n, y);
    default:
      return DotRowsAvx2<DT, 1>(x, rows, n, y);
  }
}

template <DType DT>
STOCHA_AVX2 void AxpyRowAvx2(float h, const void* row, int64_t n, float* o, const void* next) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const __m256 hv = _mm256_set1_ps(h);
  const RowPrefetch pf = PlanPrefetch(row, next, n / kQuantBlock * kBytes, 1);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    PrefetchSpan(pf, b * kBytes, (b + 1) * kBytes);
    __m256 w[4];
    LoadBlock<DT>(static_cast<const char*>(row) + b * kBytes, w);
    float* ob = o + b * kQuantBlock;
    for (int k = 0; k < 4; ++k) {
      _mm256_storeu_ps(ob + 8 * k, _mm256_fmadd_ps(hv, w[k], _mm256_loadu_ps(ob + 8 * k)));
    }
  }
}

// ---- K super-blocks: per block the sub-block scales (kblock_scales.h, once), then each group of
// 32 elements as 4 vectors of 8 weights, consumed at once (no 1 KB staging array) ----

// 16 small unsigned integers (elements e..e+15) times d, minus m: two vectors. The
// products are exact (quant_blocks.h), so mul then sub is ggml's d1 * q - m1.
STOCHA_AVX2 inline void ScaleU8(__m128i q, __m256 d, __m256 m, __m256* w) {
  w[0] = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q))), m);
  w[1] = _mm256_sub_ps(
      _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8)))), m);
}

// 16 signed integers times d (exact): two vectors.
STOCHA_AVX2 inline void ScaleI8(__m128i q, float d, __m256* w) {
  const __m256 s = _mm256_set1_ps(d);
  w[0] = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  w[1] = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))));
}

// Group g (elements 32g..32g+31) of a K block as 4 vectors.
// Q4_K/Q5_K: sub-block g, from the low (g even) or high (g odd) nibbles of
// qs[32(g/2)..+31], plus (Q5_K) bit g of qh[l] as 16.
// Q6_K: half n = g / 4, group k = g % 4: nibble k / 2 of ql[64n + l + 32 (k % 2)] and bits
// 2k, 2k + 1 of qh[32n + l], minus 32; elements l < 16 and l >= 16 have scales
// 8n + 2k and 8n + 2k + 1.
template <DType DT>
STOCHA_AVX2 inline void LoadKGroup(const char* p, const KScales& s, int g, __m256* w) {
  const __m128i nib = _mm_set1_epi8(15);
  if constexpr (DT == DType::kQ6_K) {
    const int n = g / 4, k = g % 4;
    const char* ql = p + 64 * n + 32 * (k % 2);
    const char* qh = p + offsetof(BlockQ6_K, qh) + 32 * n;
    const __m128i lshift = _mm_cvtsi32_si128(4 * (k / 2)), hshift = _mm_cvtsi32_si128(2 * k);
    const __m128i three = _mm_set1_epi8(3), off = _mm_set1_epi8(32);
    for (int h = 0; h < 2; ++h) {
      const __m128i l = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + 16 * h));
      const __m128i hb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qh + 16 * h));
      const __m128i lo = _mm_and_si128(_mm_srl_epi16(l, lshift), nib);
      const __m128i hi = _mm_and_si128(_mm_srl_epi16(hb, hshift), three);
      // hi <= 3: shifted left by 4 it stays inside its byte.
      const __m128i q = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), off);
      ScaleI8(q, s.d[8 * n + 2 * k + h], w + 2 * h);  // (d * sc) * q, as ggml
    }
  } else {
    constexpr bool kQ5 = DT == DType::kQ5_K;
    const char* qs = p + (kQ5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs)) + 32 * (g / 2);
    const __m128i shift = _mm_cvtsi32_si128(4 * (g % 2));
    const __m256 d1 = _mm256_set1_ps(s.d[g]), m1 = _mm256_set1_ps(s.m[g]);
    for (int h = 0; h < 2; ++h) {
      __m128i q = _mm_and_si128(
          _mm_srl_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16 * h)), shift),
          nib);
      if constexpr (kQ5) {
        const __m128i qh =
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + offsetof(BlockQ5_K, qh) + 16 * h));
        // (bit g of each byte) << 4: the 0/1 stays inside its byte through the 16-bit shifts.
        const __m128i bit =
            _mm_and_si128(_mm_srl_epi16(qh, _mm_cvtsi32_si128(g)), _mm_set1_epi8(1));
        q = _mm_or_si128(q, _mm_slli_epi16(bit, 4));
      }
      ScaleU8(q, d1, m1, w + 2 * h);
    }
  }
}

template <DType DT, int R>
STOCHA_AVX2 void DotRowsKAvx2(const float* x, const void* const* rows, int64_t n, float* y) {
  constexpr size_t kBytes = DTypeBlockBytes(DT);
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* xb = x + b * kQK;
    for (int r = 0; r < R; ++r) {
      const char* p = static_cast<const char*>(rows[r]) + b * kBytes;
      KScales s;
      LoadKScales<DT>(p, &s);
      for (int g = 0; g < kQK / 32; ++g) {
        __m256 w[4];
        LoadKGroup<DT>(p, s, g, w);
        const float* xg = xb + 32 * g;
        lo[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xg), w[0], lo[r]);
        hi[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xg + 8), w[1], hi[r]);
        lo[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xg + 16), w[2], lo[r]);
        hi[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xg + 24), w[3], hi[r]);
      }
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Reduce(lo[r], hi[r]);
}

template <DType DT>
void DotRowsKAvx2(const float* x, const void* const* rows, int count, int64_t n, float* y) {
  switch (count) {
    case 4:
      return DotRowsKAvx2<DT, 4>(x, rows, n, y);
    case 3:
      return DotRowsKAvx2<DT, 3>(x, rows, n, y);
    case 2:
      return DotRowsKAvx2<DT, 2>(x, rows, n, y);
    default:
      return DotRowsKAvx2<DT, 1>(x, rows, n, y);
  }
}

template <DType DT>
STOCHA_AVX2 void AxpyRowKAvx2(float h, const void* row, int64_t n, float* o, const void* next) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const __m256 hv = _mm256_set1_ps(h);
  const RowPrefetch pf = PlanPrefetch(row, next, n / kQK * kBytes, 1);
  for (int64_t b = 0; b < n / kQK; ++b) {
    PrefetchSpan(pf, b * kBytes, (b + 1) * kBytes);
    const char* p = static_cast<const char*>(row) + b * kBytes;
    KScales s;
    LoadKScales<DT>(p, &s);
    for (int g = 0; g < kQK / 32; ++g) {
      __m256 w[4];
      LoadKGroup<DT>(p, s, g, w);
      float* og = o + b * kQK + 32 * g;
      for (int k = 0; k < 4; ++k) {
        _mm256_storeu_ps(og + 8 * k, _mm256_fmadd_ps(hv, w[k], _mm256_loadu_ps(og + 8 * k)));
      }
    }
  }
}

#endif  // __x86_64__

}  // namespace

void QuantDotRows(const float* x, const void* const* rows, int count, DType dt, int64_t n,
                  float* y) {
#if defined(__x86_64__)
  const RowIsa isa = ActiveRowIsa();
  if (isa == RowIsa::kAvx512) return QuantDotRowsAvx512(x, rows, count, dt, n, y);
  if (isa == RowIsa::kAvx2) {
    switch (dt) {
      case DType::kQ8_0:
        return DotRowsAvx2<DType::kQ8_0>(x, rows, count, n, y);
      case DType::kQ4_0:
        return DotRowsAvx2<DType::kQ4_0>(x, rows, count, n, y);
      case DType::kQ4_K:
        return DotRowsKAvx2<DType::kQ4_K>(x, rows, count, n, y);
      case DType::kQ5_K:
        return DotRowsKAvx2<DType::kQ5_K>(x, rows, count, n, y);
      default:
        return DotRowsKAvx2<DType::kQ6_K>(x, rows, count, n, y);
    }
  }
#endif
  DotRowsPortable(x, rows, count, dt, n, y);
}

void QuantAxpyRow(float h, const void* row, DType dt, int64_t n, float* o, const void* next) {
#if defined(__x86_64__)
  const RowIsa isa = ActiveRowIsa();
  if (isa == RowIsa::kAvx512) return QuantAxpyRowAvx512(h, row, dt, n, o, next);
  if (isa == RowIsa::kAvx2) {
    switch (dt) {
      case DType::kQ8_0:
        return AxpyRowAvx2<DType::kQ8_0>(h, row, n, o, next);
      case DType::kQ4_0:
        return AxpyRowAvx2<DType::kQ4_0>(h, row, n, o, next);
      case DType::kQ4_K:
        return AxpyRowKAvx2<DType::kQ4_K>(h, row, n, o, next);
      case DType::kQ5_K:
        return AxpyRowKAvx2<DType::kQ5_K>(h, row, n, o, next);
      default:
        return AxpyRowKAvx2<DType::kQ6_K>(h, row, n, o, next);
    }
  }
#else
  (void)next;
#endif
  AxpyRowPortable(h, row, dt, n, o);
}

}  // namespace stocha
