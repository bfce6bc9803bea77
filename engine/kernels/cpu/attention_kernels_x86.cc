// AVX2 and AVX-512 attention loops. Scores: a block of keys is computed at once, each key
// with its own 16 canonical lanes (one zmm, or two ymm: lanes 0-7 and 8-15), so every load
// of q serves the whole block; the canonical tree is then done for all keys of the block
// together, by shuffles that pair lane j with lane j + s of the same key (a transposed
// reduction), which costs a few shuffles per key instead of a horizontal sum per key.
// Values: the hd output elements are independent fused multiply-add chains over the keys,
// so vector lanes are exact at any width.
#include "engine/kernels/cpu/attention_kernels_x86.h"

#include <cstdlib>

#include "engine/kernels/cpu/avx512_target.h"
#include "engine/kernels/cpu/clones.h"

#if defined(__x86_64__)
#define STOCHA_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace stocha {

#if defined(__x86_64__)
namespace {

// The elements past the last whole 16 of each key, as the canonical order has them: one
// fused multiply-add chain after the tree; then the scale. `r` holds the tree's results.
STOCHA_INLINE void TailAndScale(const float* q, const float* k, int64_t ldk, int keys, int hd,
                                float scale, const float* r, float* s) {
  const int body = hd & ~15;
  for (int j = 0; j < keys; ++j) {
    const float* kj = k + j * ldk;
    float acc = r[j];
    for (int i = body; i < hd; ++i) acc = __builtin_fmaf(q[i], kj[i], acc);
    s[j] = acc * scale;
  }
}

// ---- AVX2: four keys a pass, each in two ymm (canonical lanes 0-7, 8-15).

// The canonical tree of four keys' lanes; returns [key 0, 1, 2, 3].
STOCHA_AVX2 inline __m128 Tree4(const __m256* lo, const __m256* hi) {
  __m256 s8[4];
  for (int j = 0; j < 4; ++j) s8[j] = _mm256_add_ps(lo[j], hi[j]);  // lane j + lane j+8
  // lane j + lane j+4: keys 0,1 in one register, 2,3 in the other.
  const __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(s8[0], s8[1], 0x20),
                                  _mm256_permute2f128_ps(s8[0], s8[1], 0x31));
  const __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(s8[2], s8[3], 0x20),
                                  _mm256_permute2f128_ps(s8[2], s8[3], 0x31));
  // lane j + lane j+2: [0(0), 0(1), 2(0), 2(1) | 1(0), 1(1), 3(0), 3(1)].
  const __m256 z = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));
  // lane 0 + lane 1: [0, 2, 0, 2 | 1, 3, 1, 3].
  const __m256 w = _mm256_add_ps(_mm256_shuffle_ps(z, z, 0x88), _mm256_shuffle_ps(z, z, 0xDD));
  return _mm_unpacklo_ps(_mm256_castps256_ps128(w), _mm256_extractf128_ps(w, 1));
}

template <bool kFull>
STOCHA_AVX2 inline void Scores4(const float* q, const float* k, int64_t ldk, int keys, int hd,
                                float scale, float* s) {
  __m256 lo[4], hi[4];
  for (int j = 0; j < 4; ++j) lo[j] = hi[j] = _mm256_setzero_ps();
  const int body = hd & ~15;
  for (int i = 0; i < body; i += 16) {
    const __m256 q0 = _mm256_loadu_ps(q + i), q1 = _mm256_loadu_ps(q + i + 8);
    for (int j = 0; j < 4; ++j) {
      if (!kFull && j >= keys) break;
      const float* kj = k + j * ldk + i;
      lo[j] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(kj), lo[j]);
      hi[j] = _mm256_fmadd_ps(q1, _mm256_loadu_ps(kj + 8), hi[j]);
    }
  }
  const __m128 r = Tree4(lo, hi);
  if (kFull && body == hd) {
    _mm_storeu_ps(s, _mm_mul_ps(r, _mm_set1_ps(scale)));
    return;
  }
  alignas(16) float tree[4];
  _mm_store_ps(tree, r);
  TailAndScale(q, k, ldk, keys, hd, scale, tree, s);
}

// ---- AVX-512: sixteen keys a pass, each in one zmm (the 16 canonical lanes).

// The canonical tree of sixteen keys' lanes; returns [key 0, 1, …, 15].
STOCHA_AVX512 inline __m512 Tree16(const __m512* a) {
  // lane j + lane j+8: b[m] = key 2m in lanes 0-7, key 2m+1 in lanes 8-15.
  __m512 b[8];
  for (int m = 0; m < 8; ++m) {
    b[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0x44),
                         _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0xEE));
  }
  // lane j + lane j+4: c[p] = keys 4p … 4p+3 in its four 128-bit quarters.
  __m512 c[4];
  for (int p = 0; p < 4; ++p) {
    c[p] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * p], b[2 * p + 1], 0x88),
                         _mm512_shuffle_f32x4(b[2 * p], b[2 * p + 1], 0xDD));
  }
  // lane j + lane j+2: quarter x of d[r] = key 8r+x (elements 0, 1) and 8r+4+x (2, 3).
  __m512 d[2];
  for (int r = 0; r < 2; ++r) {
    d[r] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * r], c[2 * r + 1], 0x44),
                         _mm512_shuffle_ps(c[2 * r], c[2 * r + 1], 0xEE));
  }
  // lane 0 + lane 1: element 4x + y is key 4y + x; put key k at element k.
  const __m512 e =
      _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xDD));
  const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  return _mm512_permutexvar_ps(order, e);
}

// Sixteen keys with q's C whole 16-float chunks held in registers (hd / 16 = C, C <= 8):
// per key one running pointer and C loads, so neither q nor sixteen key pointers are
// reloaded or spilled. `keys` < 16 in the last block (kFull false): the others stay zero.
template <int C, bool kFull>
STOCHA_AVX512 inline void Scores16(const float* q, const float* k, int64_t ldk, int64_t t0,
                                   int64_t n, int hd, float scale, float* s) {
  __m512 qv[C];
  for (int c = 0; c < C; ++c) qv[c] = _mm512_loadu_ps(q + 16 * c);
  const int keys = kFull ? 16 : static_cast<int>(n - t0);
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) {
    __m512 a = _mm512_setzero_ps();
    if (kFull || j < keys) {
      const float* kj = k + (t0 + j) * ldk;
      for (int c = 0; c < C; ++c) a = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(kj + 16 * c), a);
    }
    acc[j] = a;
  }
  const __m512 r = Tree16(acc);
  if (kFull && 16 * C == hd) {
    _mm512_storeu_ps(s + t0, _mm512_mul_ps(r, _mm512_set1_ps(scale)));
    return;
  }
  alignas(64) float tree[16];
  _mm512_store_ps(tree, r);
  TailAndScale(q, k + t0 * ldk, ldk, keys, hd, scale, tree, s + t0);
}

// Any hd (also under 16 or over 128): q reloaded per 16 elements, one pointer per key.
template <bool kFull>
STOCHA_AVX512 inline void Scores16Any(const float* q, const float* k, int64_t ldk, int64_t t0,
                                      int64_t n, int hd, float scale, float* s) {
  const int keys = kFull ? 16 : static_cast<int>(n - t0);
  const float* kb = k + t0 * ldk;
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_setzero_ps();
  const int body = hd & ~15;
  for (int i = 0; i < body; i += 16) {
    const __m512 qv = _mm512_loadu_ps(q + i);
    for (int j = 0; j < 16; ++j) {
      if (!kFull && j >= keys) break;
      acc[j] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(kb + j * ldk + i), acc[j]);
    }
  }
  const __m512 r = Tree16(acc);
  alignas(64) float tree[16];
  _mm512_store_ps(tree, r);
  TailAndScale(q, kb, ldk, keys, hd, scale, tree, s + t0);
}

template <int C>
STOCHA_AVX512 void ScoresC(const float* q, const float* k, int64_t ldk, int64_t n, int hd,
                           float scale, float* s) {
  int64_t t = 0;
  for (; t + 16 <= n; t += 16) Scores16<C, true>(q, k, ldk, t, n, hd, scale, s);
  if (t < n) Scores16<C, false>(q, k, ldk, t, n, hd, scale, s);
}

// R zmm of outputs (the last one masked by `last`), one chain per element over the keys.
template <int R>
STOCHA_AVX512 void Values16(const float* a, const float* v, int64_t ldv, int64_t n, __mmask16 last,
                            float* out) {
  __m512 acc[R];
  for (auto& x : acc) x = _mm512_setzero_ps();
  for (int64_t t = 0; t < n; ++t) {
    const __m512 at = _mm512_set1_ps(a[t]);
    const float* vt = v + t * ldv;
    for (int r = 0; r + 1 < R; ++r) {
      acc[r] = _mm512_fmadd_ps(at, _mm512_loadu_ps(vt + 16 * r), acc[r]);
    }
    acc[R - 1] = _mm512_fmadd_ps(at, _mm512_maskz_loadu_ps(last, vt + 16 * (R - 1)), acc[R - 1]);
  }
  for (int r = 0; r + 1 < R; ++r) _mm512_storeu_ps(out + 16 * r, acc[r]);
  _mm512_mask_storeu_ps(out + 16 * (R - 1), last, acc[R - 1]);
}

// R ymm of outputs, whole ones only (the caller chains the last 1-7 elements in scalar code).
template <int R>
STOCHA_AVX2 void Values8(const float* a, const float* v, int64_t ldv, int64_t n, float* out) {
  __m256 acc[R];
  for (auto& x : acc) x = _mm256_setzero_ps();
  for (int64_t t = 0; t < n; ++t) {
    const __m256 at = _mm256_set1_ps(a[t]);
    const float* vt = v + t * ldv;
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(at, _mm256_loadu_ps(vt + 8 * r), acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(out + 8 * r, acc[r]);
}

STOCHA_AVX2 void ScoresAvx2(const float* q, const float* k, int64_t ldk, int64_t n, int hd,
                            float scale, float* s) {
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) Scores4<true>(q, k + t * ldk, ldk, 4, hd, scale, s + t);
  if (t < n) Scores4<false>(q, k + t * ldk, ldk, static_cast<int>(n - t), hd, scale, s + t);
}

STOCHA_AVX2 void ValuesAvx2(const float* a, const float* v, int64_t ldv, int64_t n, int hd,
                            float* out) {
  // Up to 64 elements (8 ymm) a pass over the keys.
  int i = 0;
  for (; i + 64 <= hd; i += 64) Values8<8>(a, v + i, ldv, n, out + i);
  switch ((hd - i) / 8) {
    case 7:
      Values8<7>(a, v + i, ldv, n, out + i);
      break;
    case 6:
      Values8<6>(a, v + i, ldv, n, out + i);
      break;
    case 5:
      Values8<5>(a, v + i, ldv, n, out + i);
      break;
    case 4:
      Values8<4>(a, v + i, ldv, n, out + i);
      break;
    case 3:
      Values8<3>(a, v + i, ldv, n, out + i);
      break;
    case 2:
      Values8<2>(a, v + i, ldv, n, out + i);
      break;
    case 1:
      Values8<1>(a, v + i, ldv, n, out + i);
      break;
    default:
      break;
  }
  i += (hd - i) / 8 * 8;
  for (; i < hd; ++i) {  // 1-7 elements: the same chain per element
    float o = 0.0f;
    for (int64_t t = 0; t < n; ++t) o = __builtin_fmaf(a[t], v[t * ldv + i], o);
    out[i] = o;
  }
}

STOCHA_AVX512 void ScoresAvx512(const float* q, const float* k, int64_t ldk, int64_t n, int hd,
                                float scale, float* s) {
  switch (hd / 16) {
    case 1:
      return ScoresC<1>(q, k, ldk, n, hd, scale, s);
    case 2:
      return ScoresC<2>(q, k, ldk, n, hd, scale, s);
    case 3:
      return ScoresC<3>(q, k, ldk, n, hd, scale, s);
    case 4:
      return ScoresC<4>(q, k, ldk, n, hd, scale, s);
    case 5:
      return ScoresC<5>(q, k, ldk, n, hd, scale, s);
    case 6:
      return ScoresC<6>(q, k, ldk, n, hd, scale, s);
    case 7:
      return ScoresC<7>(q, k, ldk, n, hd, scale, s);
    case 8:
      return ScoresC<8>(q, k, ldk, n, hd, scale, s);
    default:
      break;
  }
  int64_t t = 0;
  for (; t + 16 <= n; t += 16) Scores16Any<true>(q, k, ldk, t, n, hd, scale, s);
  if (t < n) Scores16Any<false>(q, k, ldk, t, n, hd, scale, s);
}

STOCHA_AVX512 void ValuesAvx512(const float* a, const float* v, int64_t ldv, int64_t n, int hd,
                                float* out) {
  // Up to 128 elements (8 zmm) a pass over the keys; the last zmm masked.
  for (int i = 0; i < hd; i += 128) {
    const int m = hd - i < 128 ? hd - i : 128;
    const int regs = (m + 15) / 16;
    const __mmask16 last = static_cast<__mmask16>(0xFFFFu >> (16 * regs - m));
    const float* vi = v + i;
    float* oi = out + i;
    switch (regs) {
      case 1:
        Values16<1>(a, vi, ldv, n, last, oi);
        break;
      case 2:
        Values16<2>(a, vi, ldv, n, last, oi);
        break;
      case 3:
        Values16<3>(a, vi, ldv, n, last, oi);
        break;
      case 4:
        Values16<4>(a, vi, ldv, n, last, oi);
        break;
      case 5:
        Values16<5>(a, vi, ldv, n, last, oi);
        break;
      case 6:
        Values16<6>(a, vi, ldv, n, last, oi);
        break;
      case 7:
        Values16<7>(a, vi, ldv, n, last, oi);
        break;
      default:
        Values16<8>(a, vi, ldv, n, last, oi);
        break;
    }
  }
}

}  // namespace

// The exported entry points carry no target attribute (GCC would take a declaration and a
// definition with different targets for two versions of one function); the work is in the
// attributed functions above.
void AttentionScoresAvx2(const float* q, const float* k, int64_t ldk, int64_t n, int hd,
                         float scale, float* s) {
  ScoresAvx2(q, k, ldk, n, hd, scale, s);
}
void AttentionValuesAvx2(const float* a, const float* v, int64_t ldv, int64_t n, int hd,
                         float* out) {
  ValuesAvx2(a, v, ldv, n, hd, out);
}
void AttentionScoresAvx512(const float* q, const float* k, int64_t ldk, int64_t n, int hd,
                           float scale, float* s) {
  ScoresAvx512(q, k, ldk, n, hd, scale, s);
}
void AttentionValuesAvx512(const float* a, const float* v, int64_t ldv, int64_t n, int hd,
                           float* out) {
  ValuesAvx512(a, v, ldv, n, hd, out);
}

#else  // not x86-64: never enabled

void AttentionScoresAvx2(const float*, const float*, int64_t, int64_t, int, float, float*) {
  std::abort();
}
void AttentionValuesAvx2(const float*, const float*, int64_t, int64_t, int, float*) {
  std::abort();
}
void AttentionScoresAvx512(const float*, const float*, int64_t, int64_t, int, float, float*) {
  std::abort();
}
void AttentionValuesAvx512(const float*, const float*, int64_t, int64_t, int, float*) {
  std::abort();
}

#endif

}  // namespace stocha
