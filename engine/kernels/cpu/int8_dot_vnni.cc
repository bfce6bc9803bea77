// The AVX-512 VNNI integer dot kernels: per block, unsigned × signed byte products summed in
// fours straight to int32 (vpdpbusd on 256-bit vectors, AVX512_VNNI + VL), as llama.cpp's
// AVX-512 VNNI path does (ggml/src/ggml-cpu/arch/x86/quants.c: mul_sum_us8_pairs_float);
// the K types' int16 pair sums (vpmaddubsw) times the sub-block scale added to int32 in one
// vpdpwssd.
// Up to four rows per pass share each activation block load; Q4_0's nibbles and F16 block
// scales come out of the bytes without cross-lane inserts (vpsrlvw, vpermt2w); the weights are
// prefetched a fixed distance ahead (prefetch.h). The sums are int8_dot.h's, in its order:
// the bits of Int8DotRowsReference for every row, whichever rows share a pass.
#include "engine/kernels/cpu/int8_dot_x86.h"

#if defined(__x86_64__)

#include "engine/kernels/cpu/avx512_target.h"
#include "engine/kernels/cpu/prefetch.h"
#include "engine/model/quant_blocks.h"

#define STOCHA_VNNI_KERNEL \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace stocha::int8_x86 {
namespace {

// Eight int32 partial sums of w · q over one block (no int16 stage to saturate).
STOCHA_VNNI_KERNEL inline __m256i BlockProducts(__m256i w, __m256i q) {
  __m256i aw, sq;
  SignSplit(w, q, &aw, &sq);
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sq);
}

// Q4_0's 32 nibbles (0..15) as unsigned bytes, elements 0-15 (low nibbles) in the low
// half: the 16 bytes broadcast to both halves by the load, the high half shifted right by 4
// (vpsrlvw, AVX512_BW + VL), then masked: no cross-lane insert.
STOCHA_VNNI_KERNEL inline __m256i Nibbles(const char* p) {
  const __m256i qs =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
  const __m256i shift = _mm256_set_epi16(4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm256_and_si256(_mm256_srlv_epi16(qs, shift), _mm256_set1_epi8(15));
}

// Block b's eight partial sums: Q8_0 w·q; Q4_0 (w + 8)·q (nibbles u <= 15, a pair sums to at
// most 2·15·128: no saturation), corrected by the offset after the lane sums.
template <DType DT>
STOCHA_VNNI_KERNEL inline __m256i Products(const char* p, __m256i q) {
  if constexpr (DT == DType::kQ8_0) {
    return BlockProducts(LoadWeights<DT>(p), q);
  } else {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), Nibbles(p), q);
  }
}

STOCHA_VNNI_KERNEL inline __m256i Load32(const char* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// dw[b] · dx[b] for the eight blocks at `p` (all eight inside the row). Q4_0 blocks are 18
// bytes (9 words): the scales of blocks 0-3 are words 0, 9, 18, 27 of the 64 bytes at p, those
// of blocks 4-7 the same words of the 64 bytes at p + 72; two 256-bit vpermt2w (AVX512_BW +
// VL; 512-bit ones would slow every 256-bit instruction around them) and one unpack replace
// eight inserts. Every byte read lies inside the eight blocks. Q8_0: BlockScales' inserts.
template <DType DT>
STOCHA_VNNI_KERNEL inline __m256 Scales8(const char* p, const float* dx) {
  if constexpr (DT == DType::kQ4_0) {
    const __m256i idx = _mm256_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 27, 18, 9, 0);
    const __m256i lo = _mm256_permutex2var_epi16(Load32(p), idx, Load32(p + 32));
    const __m256i hi = _mm256_permutex2var_epi16(Load32(p + 72), idx, Load32(p + 104));
    const __m128i h = _mm_unpacklo_epi64(_mm256_castsi256_si128(lo), _mm256_castsi256_si128(hi));
    return _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(dx));
  } else {
    return BlockScales(p, static_cast<int64_t>(DTypeBlockBytes(DT)), dx, 8);
  }
}

// Asks for the cache lines of the eight blocks kPrefetchDistance ahead in row r's stream.
template <DType DT>
STOCHA_VNNI_KERNEL inline void PrefetchGroup(const RowPrefetch& pf, int64_t byte) {
  constexpr int64_t kGroupBytes = 8 * static_cast<int64_t>(DTypeBlockBytes(DT));
  for (int64_t o = 0; o < kGroupBytes; o += 64) PrefetchAt(pf, byte + o, 1);
}

// The last count < 8 blocks of one row from block b (lanes past count are 0).
template <DType DT>
STOCHA_VNNI_KERNEL __m256 TailGroup(const Q8Row& x, const char* row, int64_t b, int count,
                                    __m256 acc) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  __m256i v[8];
  for (int k = 0; k < 8; ++k) {
    v[k] = k < count ? Products<DT>(row + (b + k) * kBytes,
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                        x.q + (b + k) * kQuantBlock)))
                     : _mm256_setzero_si256();
  }
  __m256i isum = SumLanes8(v);
  if constexpr (DT == DType::kQ4_0) isum = RemoveOffset8(isum, x.s + b, count);
  return Accumulate(BlockScales(row + b * kBytes, kBytes, x.d + b, count), isum, acc);
}

// R rows at once: each group of eight activation blocks is loaded once for the R rows.
// `next`: the rows the caller reads after these (prefetch only; may be null).
template <DType DT, int R>
STOCHA_VNNI_KERNEL void DotRows(const Q8Row& x, const char* const* rows, const char* const* next,
                                int64_t n, float* y) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const int64_t nb = n / kQuantBlock, full = nb / 8 * 8;
  RowPrefetch pf[R];
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    pf[r] = PlanPrefetch(rows[r], next != nullptr ? next[r] : nullptr, nb * kBytes, 1);
    acc[r] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < full; b += 8) {
    __m256i h[R][4];
    for (int k = 0; k < 8; k += 2) {
      const auto* q = reinterpret_cast<const __m256i*>(x.q + b * kQuantBlock + k * kQuantBlock);
      const __m256i q0 = _mm256_loadu_si256(q), q1 = _mm256_loadu_si256(q + 1);
      for (int r = 0; r < R; ++r) {
        const char* p = rows[r] + (b + k) * kBytes;
        h[r][k / 2] = _mm256_hadd_epi32(Products<DT>(p, q0), Products<DT>(p + kBytes, q1));
      }
    }
    __m256i s8 = _mm256_setzero_si256();
    if constexpr (DT == DType::kQ4_0) {
      s8 = _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.s + b)), 3);
    }
    for (int r = 0; r < R; ++r) {
      PrefetchGroup<DT>(pf[r], b * kBytes);
      // SumLanes8's last two levels: lane b = block b's total.
      const __m256i g0 = _mm256_hadd_epi32(h[r][0], h[r][1]);
      const __m256i g1 = _mm256_hadd_epi32(h[r][2], h[r][3]);
      __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(g0, g1, 0x20),
                                      _mm256_permute2x128_si256(g0, g1, 0x31));
      if constexpr (DT == DType::kQ4_0) isum = _mm256_sub_epi32(isum, s8);
      acc[r] = Accumulate(Scales8<DT>(rows[r] + b * kBytes, x.d + b), isum, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    if (full < nb) acc[r] = TailGroup<DT>(x, rows[r], full, static_cast<int>(nb - full), acc[r]);
    y[r] = Reduce8(acc[r]);
  }
}

// The row read after single row r of the tail: row r + 1, and after the last one the caller's
// `after` (null: none), for the prefetch plan.
class TailNext {
 public:
  TailNext(const char* const* rows, int count, const void* after)
      : rows_(rows), count_(count), after_(static_cast<const char*>(after)) {}
  const char* const* of(int r) const {
    if (r + 1 < count_) return rows_ + r + 1;
    return after_ != nullptr ? &after_ : nullptr;
  }

 private:
  const char* const* rows_;
  int count_;
  const char* after_;
};

template <DType DT>
STOCHA_VNNI_KERNEL void DotRowsAll(const Q8Row& x, const void* const* rows, int count, int64_t n,
                                   float* y, const void* after) {
  const auto* p = reinterpret_cast<const char* const*>(rows);
  int r = 0;
  for (; r + 4 <= count; r += 4) {
    DotRows<DT, 4>(x, p + r, r + 8 <= count ? p + r + 4 : nullptr, n, y + r);
  }
  const TailNext next(p, count, after);
  for (; r < count; ++r) DotRows<DT, 1>(x, p + r, next.of(r), n, y + r);
}

// Q4_K/Q5_K, R rows at once: each activation sub-block pair and its bsums loaded once for
// the R rows; P (int8_dot.h) accumulated by vpdpwssd (int16 pairs times the sub-block scale,
// summed to int32: madd + add of the AVX2 kernel in one instruction, the same exact sums).
template <DType DT, int R>
STOCHA_VNNI_KERNEL void DotRowsK(const Q8Row& x, const char* const* rows, const char* const* next,
                                 int64_t n, float* y) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const int64_t nb = n / kQK;
  RowPrefetch pf[R];
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    pf[r] = PlanPrefetch(rows[r], next != nullptr ? next[r] : nullptr, nb * kBytes, 1);
    acc[r] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* q = x.q + b * kQK;
    __m256i scales[R], psum[R], qh[R];
    uint64_t mins[R];
    for (int r = 0; r < R; ++r) {
      uint64_t sc = 0;
      KScaleMins(rows[r] + b * kBytes, &sc, &mins[r]);
      scales[r] = KScales16(sc);
      qh[r] = KHighBits<DT>(rows[r] + b * kBytes);
      psum[r] = _mm256_setzero_si256();
    }
    for (int c = 0; c < 4; ++c) {
      const __m256i q0 = Load32(reinterpret_cast<const char*>(q + 64 * c));
      const __m256i q1 = Load32(reinterpret_cast<const char*>(q + 64 * c + 32));
      for (int r = 0; r < R; ++r) {
        __m256i lo, hi;
        KValues<DT>(rows[r] + b * kBytes, qh[r], c, &lo, &hi);
        psum[r] =
            _mm256_dpwssd_epi32(psum[r], _mm256_maddubs_epi16(lo, q0), KScaleOf(scales[r], 2 * c));
        psum[r] = _mm256_dpwssd_epi32(psum[r], _mm256_maddubs_epi16(hi, q1),
                                      KScaleOf(scales[r], 2 * c + 1));
      }
    }
    const int16_t* bsums = x.bsums + b * (kQK / 16);
    for (int r = 0; r < R; ++r) {
      for (int64_t o = 0; o < kBytes; o += 64) PrefetchAt(pf[r], b * kBytes + o, 1);
      float a = 0, cm = 0;
      KBlockScales(rows[r] + b * kBytes, x.d[b], &a, &cm);
      acc[r] = AccumulateK(a, cm, psum[r], KMinSums(mins[r], bsums), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Reduce8(acc[r]);
}

template <DType DT>
STOCHA_VNNI_KERNEL void DotRowsAllK(const Q8Row& x, const void* const* rows, int count, int64_t n,
                                    float* y, const void* after) {
  const auto* p = reinterpret_cast<const char* const*>(rows);
  int r = 0;
  for (; r + 4 <= count; r += 4) {
    DotRowsK<DT, 4>(x, p + r, r + 8 <= count ? p + r + 4 : nullptr, n, y + r);
  }
  const TailNext next(p, count, after);
  for (; r < count; ++r) DotRowsK<DT, 1>(x, p + r, next.of(r), n, y + r);
}

// Q6_K, R rows at once: each 32 activations loaded once for the R rows; vpdpwssd as above.
template <int R>
STOCHA_VNNI_KERNEL void DotRowsQ6K(const Q8Row& x, const char* const* rows, const char* const* next,
                                   int64_t n, float* y) {
  constexpr int64_t kBytes = sizeof(BlockQ6_K);
  const int64_t nb = n / kQK;
  RowPrefetch pf[R];
  __m256 acc[R];
  for (int r = 0; r < R; ++r) {
    pf[r] = PlanPrefetch(rows[r], next != nullptr ? next[r] : nullptr, nb * kBytes, 1);
    acc[r] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* q = x.q + b * kQK;
    __m256i slo[R], shi[R], psum[R];
    for (int r = 0; r < R; ++r) {
      Q6KScales16(rows[r] + b * kBytes, &slo[r], &shi[r]);
      psum[r] = _mm256_setzero_si256();
    }
    for (int j = 0; j < 8; ++j) {
      const __m256i qv = Load32(reinterpret_cast<const char*>(q + 32 * j));
      for (int r = 0; r < R; ++r) {
        __m256i aw, sq;
        SignSplit(Q6KValues(rows[r] + b * kBytes, j), qv, &aw, &sq);
        psum[r] = _mm256_dpwssd_epi32(psum[r], _mm256_maddubs_epi16(aw, sq),
                                      Q6KScaleOf(slo[r], shi[r], j));
      }
    }
    for (int r = 0; r < R; ++r) {
      for (int64_t o = 0; o < kBytes; o += 64) PrefetchAt(pf[r], b * kBytes + o, 1);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(Q6KBlockScale(rows[r] + b * kBytes, x.d[b])),
                               _mm256_cvtepi32_ps(psum[r]), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = Reduce8(acc[r]);
}

STOCHA_VNNI_KERNEL void DotRowsAllQ6K(const Q8Row& x, const void* const* rows, int count, int64_t n,
                                      float* y, const void* after) {
  const auto* p = reinterpret_cast<const char* const*>(rows);
  int r = 0;
  for (; r + 4 <= count; r += 4) {
    DotRowsQ6K<4>(x, p + r, r + 8 <= count ? p + r + 4 : nullptr, n, y + r);
  }
  const TailNext next(p, count, after);
  for (; r < count; ++r) DotRowsQ6K<1>(x, p + r, next.of(r), n, y + r);
}

}  // namespace

void Int8DotRowsVnni(const Q8Row& x, const void* const* rows, int count, DType dt, int64_t n,
                     float* y, const void* after) {
  switch (dt) {
    case DType::kQ8_0:
      return DotRowsAll<DType::kQ8_0>(x, rows, count, n, y, after);
    case DType::kQ4_0:
      return DotRowsAll<DType::kQ4_0>(x, rows, count, n, y, after);
    case DType::kQ4_K:
      return DotRowsAllK<DType::kQ4_K>(x, rows, count, n, y, after);
    case DType::kQ5_K:
      return DotRowsAllK<DType::kQ5_K>(x, rows, count, n, y, after);
    default:
      return DotRowsAllQ6K(x, rows, count, n, y, after);
  }
}

}  // namespace stocha::int8_x86

#endif  // __x86_64__
