// Internal to the int8_dot_*.cc kernels: the x86 pieces both levels share (weight blocks as
// int8 vectors, the per-block horizontal sums, the K types' values, scales and mins, the F32
// combination of int8_dot.h), compiled for AVX2 + FMA + F16C; the VNNI kernels inline them into
// their wider target.
#ifndef STOCHA_ENGINE_KERNELS_CPU_INT8_DOT_X86_H_
#define STOCHA_ENGINE_KERNELS_CPU_INT8_DOT_X86_H_

#include <cstddef>
#include <cstdint>

#include "engine/kernels/cpu/q8_activation.h"
#include "engine/model/dtype.h"
#include "engine/model/quant_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define STOCHA_INT8_AVX2 __attribute__((target("avx2,fma,f16c"), always_inline)) inline

namespace stocha::int8_x86 {

// The 32 integers of weight block `p` (Q8_0: the int8 values; Q4_0: nibble - 8, elements
// 0-15 from the low nibbles of qs, 16-31 from the high ones: ggml-common.h block_q4_0).
template <DType DT>
STOCHA_INT8_AVX2 __m256i LoadWeights(const char* p) {
  if constexpr (DT == DType::kQ8_0) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
  } else {
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i nib = _mm_set1_epi8(15);
    const __m256i v =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), nib), _mm_and_si128(qs, nib));
    return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
  }
}

// Q4_0's 32 nibbles (0..15) as unsigned bytes: w + 8, the offset taken off the block's sum.
STOCHA_INT8_AVX2 __m256i LoadNibbles(const char* p) {
  const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
  const __m128i nib = _mm_set1_epi8(15);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), nib), _mm_and_si128(qs, nib));
}

// Block sums Σ (w + 8)·q less 8·Σ q (Q8Row::s): Σ w·q, exact. Lanes past `count` stay 0.
STOCHA_INT8_AVX2 __m256i RemoveOffset8(__m256i sums, const int32_t* s, int count) {
  alignas(32) int32_t t[8] = {};
  const __m256i sv = count == 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s))
                                : (__builtin_memcpy(t, s, sizeof(int32_t) * count),
                                   _mm256_load_si256(reinterpret_cast<const __m256i*>(t)));
  return _mm256_sub_epi32(sums, _mm256_slli_epi32(sv, 3));
}

// Unsigned |w| and the activations with w's sign: |w| · sign(w)·q = w · q, so unsigned × signed
// byte products (maddubs, vpdpbusd) give the signed products. |w| <= 128 (a Q8_0 -128 is 128 as
// an unsigned byte) and |q| <= 127 (negating q cannot overflow): a pair sums to at most 32512,
// inside maddubs' int16.
STOCHA_INT8_AVX2 void SignSplit(__m256i w, __m256i q, __m256i* aw, __m256i* sq) {
  *aw = _mm256_abs_epi8(w);
  *sq = _mm256_sign_epi8(q, w);
}

// Lane b = the sum of the eight int32 lanes of v[b] (exact; any order).
STOCHA_INT8_AVX2 __m256i SumLanes8(const __m256i* v) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
  // Per 128-bit half: [v0, v1, v2, v3] (g0) and [v4, v5, v6, v7] (g1), each over that half.
  const __m256i g0 = _mm256_hadd_epi32(h01, h23), g1 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(g0, g1, 0x20),
                          _mm256_permute2x128_si256(g0, g1, 0x31));
}

// The products dw[b] · dx[b] of eight blocks starting at weight block `p` (stride `bytes`),
// exact; lanes at and past `count` are 0. The eight F16 scales go into one vector by
// inserts (a store of 2-byte pieces reloaded as 16 bytes would stall on store forwarding).
STOCHA_INT8_AVX2 __m256 BlockScales(const char* p, int64_t bytes, const float* dx, int count) {
  if (count == 8) {
    const auto at = [&](int k) {
      uint16_t h;
      __builtin_memcpy(&h, p + k * bytes, sizeof h);
      return static_cast<int>(h);
    };
    __m128i dw = _mm_cvtsi32_si128(at(0));
    dw = _mm_insert_epi16(dw, at(1), 1);
    dw = _mm_insert_epi16(dw, at(2), 2);
    dw = _mm_insert_epi16(dw, at(3), 3);
    dw = _mm_insert_epi16(dw, at(4), 4);
    dw = _mm_insert_epi16(dw, at(5), 5);
    dw = _mm_insert_epi16(dw, at(6), 6);
    dw = _mm_insert_epi16(dw, at(7), 7);
    return _mm256_mul_ps(_mm256_cvtph_ps(dw), _mm256_loadu_ps(dx));
  }
  alignas(16) uint16_t dw[8] = {};
  alignas(32) float x[8] = {};
  for (int k = 0; k < count; ++k) {
    __builtin_memcpy(&dw[k], p + k * bytes, sizeof dw[k]);
    x[k] = dx[k];
  }
  return _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dw))),
                       _mm256_load_ps(x));
}

// acc[b % 8] = fma(d, float(isum), acc) for eight blocks: exact conversion, one rounding.
STOCHA_INT8_AVX2 __m256 Accumulate(__m256 d, __m256i isum, __m256 acc) {
  return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
}

// The tree (j += j+4), (j += j+2), (0 += 1).
STOCHA_INT8_AVX2 float Reduce8(__m256 acc) {
  __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

// ---- Q4_K / Q5_K × Q8_K (int8_dot.h's second formula) ----

// Offsets in block_q4_K / block_q5_K (quant_blocks.h): d, dmin, the 12 scale bytes (the same
// in both), Q5_K's qh, then qs.
inline constexpr int kKScalesAt = offsetof(BlockQ4_K, scales);
static_assert(offsetof(BlockQ5_K, scales) == offsetof(BlockQ4_K, scales), "one scale layout");
template <DType DT>
inline constexpr int kKQsAt = DT == DType::kQ5_K ? offsetof(BlockQ5_K, qs)
                                                 : offsetof(BlockQ4_K, qs);

// The eight 6-bit sub-block scales (sc) and mins (m) of the Q4_K/Q5_K block at p, byte j of
// each result being sub-block j's: KScaleMin's unpacking done on the three 32-bit words at
// once (bytes 0-3 hold scales 0-3 and the top bits of scales 4-7, bytes 4-7 mins 0-3 and the
// top bits of mins 4-7, bytes 8-11 the low nibbles of scales 4-7 and mins 4-7).
STOCHA_INT8_AVX2 void KScaleMins(const char* p, uint64_t* sc, uint64_t* m) {
  // Three separate loads: a 12-byte copy into an array went through the stack.
  uint32_t w[3];
  for (int i = 0; i < 3; ++i) __builtin_memcpy(&w[i], p + kKScalesAt + 4 * i, sizeof w[i]);
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kTop2 = 0x03030303;
  const uint32_t sc_hi = (w[2] & kLow4) | (((w[0] >> 6) & kTop2) << 4);
  const uint32_t m_hi = ((w[2] >> 4) & kLow4) | (((w[1] >> 6) & kTop2) << 4);
  *sc = (w[0] & kLow6) | (static_cast<uint64_t>(sc_hi) << 32);
  *m = (w[1] & kLow6) | (static_cast<uint64_t>(m_hi) << 32);
}

// The eight scales as int16 words 0-7 of both 128-bit halves, for KScaleOf.
STOCHA_INT8_AVX2 __m256i KScales16(uint64_t sc) {
  return _mm256_broadcastsi128_si256(
      _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(sc))));
}

// Sub-block j's scale in all sixteen int16 lanes (a byte shuffle inside each half: no
// cross-lane broadcast).
STOCHA_INT8_AVX2 __m256i KScaleOf(__m256i scales16, int j) {
  return _mm256_shuffle_epi8(scales16,
                             _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * j)));
}

// Sub-blocks 2c and 2c + 1 (c < 4) as unsigned bytes, elements in order: the low and the high
// nibbles of qs[32c..32c+31] (block_q4_K's layout); Q5_K adds bits 2c and 2c + 1 of qh[0..31]
// as 16 (block_q5_K's), values 0..31. `qh`: Q5_K's 32 qh bytes, loaded once per block.
template <DType DT>
STOCHA_INT8_AVX2 void KValues(const char* p, __m256i qh, int c, __m256i* lo, __m256i* hi) {
  const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + kKQsAt<DT> + 32 * c));
  const __m256i nib = _mm256_set1_epi8(15);
  *lo = _mm256_and_si256(raw, nib);
  *hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), nib);
  if constexpr (DT == DType::kQ5_K) {
    // (bit k of each byte) << 4, k = 2c or 2c + 1: shifted in 16-bit lanes, so a neighbour's
    // bits come in above bit 0 and the mask drops them.
    const __m256i one = _mm256_set1_epi8(1);
    const __m256i b0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), one);
    const __m256i b1 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c + 1)), one);
    *lo = _mm256_or_si256(*lo, _mm256_slli_epi16(b0, 4));
    *hi = _mm256_or_si256(*hi, _mm256_slli_epi16(b1, 4));
  }
}

// Q5_K's 32 qh bytes of the block at p (zero for Q4_K, which has none).
template <DType DT>
STOCHA_INT8_AVX2 __m256i KHighBits(const char* p) {
  if constexpr (DT == DType::kQ5_K) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + offsetof(BlockQ5_K, qh)));
  } else {
    return _mm256_setzero_si256();
  }
}

// M[j] = m[j] · (bsums[2j] + bsums[2j + 1]) in lane j: each min duplicated into two int16
// words, one vpmaddwd against the sixteen sums of 16 (exact).
STOCHA_INT8_AVX2 __m256i KMinSums(uint64_t m, const int16_t* bsums) {
  const __m128i mv = _mm_cvtsi64_si128(static_cast<int64_t>(m));
  const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv));
  return _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsums)), m16);
}

// a = d · dx and c = dmin · dx of the Q4_K/Q5_K block at p (F32, one rounding each).
STOCHA_INT8_AVX2 void KBlockScales(const char* p, float dx, float* a, float* c) {
  uint16_t h[2];
  __builtin_memcpy(h, p, sizeof h);
  *a = _cvtsh_ss(h[0]) * dx;
  *c = _cvtsh_ss(h[1]) * dx;
}

// acc[l] = fma(a, float(P[l]), acc[l]), then fma(-c, float(M[l]), acc[l]): both conversions
// exact (|P| < 2^23, |M| < 2^18); vfnmadd is fma(-c, M, acc) with its one rounding.
STOCHA_INT8_AVX2 __m256 AccumulateK(float a, float c, __m256i psum, __m256i msum, __m256 acc) {
  acc = _mm256_fmadd_ps(_mm256_set1_ps(a), _mm256_cvtepi32_ps(psum), acc);
  return _mm256_fnmadd_ps(_mm256_set1_ps(c), _mm256_cvtepi32_ps(msum), acc);
}

// ---- Q6_K × Q8_K (int8_dot.h's third formula) ----

inline constexpr int kQ6KQhAt = offsetof(BlockQ6_K, qh);
inline constexpr int kQ6KScalesAt = offsetof(BlockQ6_K, scales);
inline constexpr int kQ6KDAt = offsetof(BlockQ6_K, d);

// Elements 32j..32j+31 (j < 8) of the Q6_K block at p as signed bytes w = u - 32 in
// [-32, 31]: half h = j / 4, k = j % 4: nibble k / 2 of ql[64h + 32(k % 2) + l] and bits 2k,
// 2k + 1 of qh[32h + l] as 16 and 32 (block_q6_K's layout, as LoadKGroup in quant_row.cc).
STOCHA_INT8_AVX2 __m256i Q6KValues(const char* p, int j) {
  const int h = j / 4, k = j % 4;
  const __m256i ql =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * h + 32 * (k % 2)));
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + kQ6KQhAt + 32 * h));
  const __m256i lo =
      _mm256_and_si256(_mm256_srl_epi16(ql, _mm_cvtsi32_si128(4 * (k / 2))), _mm256_set1_epi8(15));
  const __m256i hi =
      _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), _mm256_set1_epi8(3));
  // hi <= 3: shifted left by 4 it stays inside its byte.
  return _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), _mm256_set1_epi8(32));
}

// The sixteen int8 scales of the Q6_K block at p widened to int16: scales 0-7 (*lo) and 8-15
// (*hi), each in words 0-7 of both 128-bit halves, for Q6KScaleOf.
STOCHA_INT8_AVX2 void Q6KScales16(const char* p, __m256i* lo, __m256i* hi) {
  const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kQ6KScalesAt));
  *lo = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(s));
  *hi = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(s, 8)));
}

// The scales of elements 32j..32j+31 as int16 words: scale 2j in the low 128-bit half (its
// elements 0-15 land there after vpmaddubsw), 2j + 1 in the high half.
STOCHA_INT8_AVX2 __m256i Q6KScaleOf(__m256i lo, __m256i hi, int j) {
  const int m = j % 4;
  const __m256i mask = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(0x0302 + 0x0404 * m)),
                                        _mm_set1_epi16(static_cast<int16_t>(0x0100 + 0x0404 * m)));
  return _mm256_shuffle_epi8(j < 4 ? lo : hi, mask);
}

// d · dx of the Q6_K block at p (F32, one rounding).
STOCHA_INT8_AVX2 float Q6KBlockScale(const char* p, float dx) {
  uint16_t h;
  __builtin_memcpy(&h, p + kQ6KDAt, sizeof h);
  return _cvtsh_ss(h) * dx;
}

// The per-level kernels (int8_dot_avx2.cc, int8_dot_vnni.cc): Int8DotRows for one level.
void Int8DotRowsAvx2(const Q8Row& x, const void* const* rows, int count, DType dt, int64_t n,
                     float* y, const void* after);
void Int8DotRowsVnni(const Q8Row& x, const void* const* rows, int count, DType dt, int64_t n,
                     float* y, const void* after);

}  // namespace stocha::int8_x86

#endif  // __x86_64__

#endif  // STOCHA_ENGINE_KERNELS_CPU_INT8_DOT_X86_H_
