// Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K row kernels: portable scalar code and AVX2 + FMA + F16C,
// same bits. The AVX2 lanes follow row_kernels_avx2.cc: accumulator lo holds canonical
// lanes 0-7 (elements i ≡ 0..7 mod 16), hi lanes 8-15; each 32 elements feed lo, hi, lo, hi.
// Block layouts: ggml/src/ggml-common.h (block_q8_0, block_q4_0, block_q4_K, block_q5_K,
// block_q6_K), dequantization as in ggml/src/ggml-quants.c (dequantize_row_q8_0, _q4_0,
// _q4_K, _q5_K, _q6_K), each weight computed with the same F32 operations as
// DequantizeRow (quant_blocks.h), so the kernels see exactly the dequantized row.
#include "engine/kernels/cpu/quant_row.h"

#include <cmath>
#include <cstddef>

#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/row_kernels_avx2.h"
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
  __builtin_memcpy(&dh, p, sizeof dh);
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(dh));
  __m128i a, b;  // int8 elements 0-15 and 16-31
  if constexpr (DT == DType::kQ8_0) {
    a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18));
  } else {
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i nib = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    a = _mm_sub_epi8(_mm_and_si128(qs, nib), eight);
    b = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), nib), eight);
  }
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
STOCHA_AVX2 void AxpyRowAvx2(float h, const void* row, int64_t n, float* o) {
  constexpr size_t kBytes = DTypeBlockBytes(DT);
  const __m256 hv = _mm256_set1_ps(h);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    __m256 w[4];
    LoadBlock<DT>(static_cast<const char*>(row) + b * kBytes, w);
    float* ob = o + b * kQuantBlock;
    for (int k = 0; k < 4; ++k) {
      _mm256_storeu_ps(ob + 8 * k, _mm256_fmadd_ps(hv, w[k], _mm256_loadu_ps(ob + 8 * k)));
    }
  }
}

// ---- K super-blocks: the 256 weights as 32 vectors of 8, in element order ----

// 16 bytes of small integers (elements e..e+15) times an F32 scale, minus `m`: two vectors.
// The products are exact (quant_blocks.h), so mul then sub is ggml's d1 * q - m1.
STOCHA_AVX2 inline void ScaleU8(__m128i q, __m256 d, __m256 m, __m256* w) {
  w[0] = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q))), m);
  w[1] = _mm256_sub_ps(
      _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8)))), m);
}

// Q4_K (no qh) and Q5_K: sub-block j = 2c + half covers elements 32j..32j+31, from the
// low (half 0) or high (half 1) nibbles of qs[32c..32c+31], plus bit j of qh[l] as 16.
template <DType DT>
STOCHA_AVX2 inline void LoadQ45_K(const char* p, __m256* w) {
  uint16_t dh, mh;
  __builtin_memcpy(&dh, p, sizeof dh);
  __builtin_memcpy(&mh, p + 2, sizeof mh);
  const float d = _cvtsh_ss(dh), dmin = _cvtsh_ss(mh);
  const auto* scales = reinterpret_cast<const uint8_t*>(p + 4);
  constexpr bool kQ5 = DT == DType::kQ5_K;
  const char* qs = p + (kQ5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs));
  const char* qhp = p + offsetof(BlockQ5_K, qh);
  const __m128i nib = _mm_set1_epi8(15), one = _mm_set1_epi8(1);
  for (int c = 0; c < 4; ++c) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 32 * c));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 32 * c + 16));
    for (int half = 0; half < 2; ++half) {
      const int j = 2 * c + half;
      int sc = 0, m = 0;
      KScaleMin(j, scales, &sc, &m);
      const __m256 d1 = _mm256_set1_ps(d * static_cast<float>(sc));
      const __m256 m1 = _mm256_set1_ps(dmin * static_cast<float>(m));
      const __m128i shift = _mm_cvtsi32_si128(4 * half);
      __m128i qa = _mm_and_si128(_mm_srl_epi16(a, shift), nib);
      __m128i qb = _mm_and_si128(_mm_srl_epi16(b, shift), nib);
      if constexpr (kQ5) {
        const __m128i hs = _mm_cvtsi32_si128(j);
        const __m128i ha = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qhp));
        const __m128i hb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qhp + 16));
        // (bit j of each byte) << 4: the 0/1 stays inside its byte through the 16-bit shift.
        qa = _mm_or_si128(qa, _mm_slli_epi16(_mm_and_si128(_mm_srl_epi16(ha, hs), one), 4));
        qb = _mm_or_si128(qb, _mm_slli_epi16(_mm_and_si128(_mm_srl_epi16(hb, hs), one), 4));
      }
      ScaleU8(qa, d1, m1, w + 4 * j);
      ScaleU8(qb, d1, m1, w + 4 * j + 2);
    }
  }
}

// Q6_K: in half n, group k (elements 128n + 32k + l) takes nibble k / 2 of ql[64n + l +
// 32 * (k % 2)] and bits 2k, 2k + 1 of qh[32n + l], minus 32; scale d * sc[8n + l / 16 + 2k].
STOCHA_AVX2 inline void LoadQ6_K(const char* p, __m256* w) {
  uint16_t dh;
  __builtin_memcpy(&dh, p + offsetof(BlockQ6_K, d), sizeof dh);
  const float d = _cvtsh_ss(dh);
  const auto* sc = reinterpret_cast<const int8_t*>(p + offsetof(BlockQ6_K, scales));
  const __m128i nib = _mm_set1_epi8(15), three = _mm_set1_epi8(3), off = _mm_set1_epi8(32);
  for (int n = 0; n < 2; ++n) {
    for (int h = 0; h < 2; ++h) {  // l in [16h, 16h + 16)
      const char* ql = p + 64 * n + 16 * h;
      const __m128i l0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql));
      const __m128i l1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + 32));
      const __m128i qh = _mm_loadu_si128(
          reinterpret_cast<const __m128i*>(p + offsetof(BlockQ6_K, qh) + 32 * n + 16 * h));
      for (int k = 0; k < 4; ++k) {
        const __m128i src = k % 2 == 0 ? l0 : l1;
        const __m128i lo = _mm_and_si128(_mm_srl_epi16(src, _mm_cvtsi32_si128(4 * (k / 2))), nib);
        const __m128i hi = _mm_and_si128(_mm_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), three);
        const __m128i q = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), off);
        // (d * sc) * q as ggml evaluates d * sc * q; both products exact.
        const __m256 s = _mm256_set1_ps(d * static_cast<float>(sc[8 * n + h + 2 * k]));
        __m256* o = w + (128 * n + 32 * k + 16 * h) / 8;
        o[0] = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
        o[1] = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))));
      }
    }
  }
}

template <DType DT>
STOCHA_AVX2 inline void LoadKBlock(const char* p, __m256* w) {
  if constexpr (DT == DType::kQ6_K) {
    LoadQ6_K(p, w);
  } else {
    LoadQ45_K<DT>(p, w);
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
      __m256 w[kQK / 8];
      LoadKBlock<DT>(static_cast<const char*>(rows[r]) + b * kBytes, w);
      for (int g = 0; g < kQK / 32; ++g) {
        const float* xg = xb + 32 * g;
        lo[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xg), w[4 * g], lo[r]);
        hi[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xg + 8), w[4 * g + 1], hi[r]);
        lo[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xg + 16), w[4 * g + 2], lo[r]);
        hi[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xg + 24), w[4 * g + 3], hi[r]);
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
STOCHA_AVX2 void AxpyRowKAvx2(float h, const void* row, int64_t n, float* o) {
  constexpr size_t kBytes = DTypeBlockBytes(DT);
  const __m256 hv = _mm256_set1_ps(h);
  for (int64_t b = 0; b < n / kQK; ++b) {
    __m256 w[kQK / 8];
    LoadKBlock<DT>(static_cast<const char*>(row) + b * kBytes, w);
    float* ob = o + b * kQK;
    for (int k = 0; k < kQK / 8; ++k) {
      _mm256_storeu_ps(ob + 8 * k, _mm256_fmadd_ps(hv, w[k], _mm256_loadu_ps(ob + 8 * k)));
    }
  }
}

#endif  // __x86_64__

}  // namespace

void QuantDotRows(const float* x, const void* const* rows, int count, DType dt, int64_t n,
                  float* y) {
#if defined(__x86_64__)
  // AVX-512 CPUs run the AVX2 quantized kernels too (no AVX-512 ones yet).
  if (ActiveRowIsa() >= RowIsa::kAvx2) {
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

void QuantAxpyRow(float h, const void* row, DType dt, int64_t n, float* o) {
#if defined(__x86_64__)
  if (ActiveRowIsa() >= RowIsa::kAvx2) {
    switch (dt) {
      case DType::kQ8_0:
        return AxpyRowAvx2<DType::kQ8_0>(h, row, n, o);
      case DType::kQ4_0:
        return AxpyRowAvx2<DType::kQ4_0>(h, row, n, o);
      case DType::kQ4_K:
        return AxpyRowKAvx2<DType::kQ4_K>(h, row, n, o);
      case DType::kQ5_K:
        return AxpyRowKAvx2<DType::kQ5_K>(h, row, n, o);
      default:
        return AxpyRowKAvx2<DType::kQ6_K>(h, row, n, o);
    }
  }
#endif
  AxpyRowPortable(h, row, dt, n, o);
}

}  // namespace stocha
