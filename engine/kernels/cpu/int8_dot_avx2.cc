// The AVX2 integer dot kernels: per block, unsigned × signed byte products (vpmaddubsw) summed in
// pairs to int16, then to int32 (vpmaddwd; for Q4_K/Q5_K against the sub-block scale), as
// llama.cpp's AVX2 path does (ggml/src/ggml-cpu/arch/x86/quants.c: mul_sum_i8_pairs_float,
// ggml_vec_dot_q4_K_q8_K, _q5_K_q8_K, _q6_K_q8_K); the F32 part is int8_dot.h's. One row at a
// time, each prefetched ahead into the next (DotRow's comment says why not four at a time).
#include "engine/kernels/cpu/int8_dot_x86.h"

#if defined(__x86_64__)

#include "engine/kernels/cpu/prefetch.h"
#include "engine/model/quant_blocks.h"

#define STOCHA_AVX2_KERNEL __attribute__((target("avx2,fma,f16c")))

namespace stocha::int8_x86 {
namespace {

// Eight int32 partial sums of w · q over one block.
STOCHA_INT8_AVX2 __m256i BlockProducts(__m256i w, const int8_t* q) {
  __m256i aw, sq;
  SignSplit(w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)), &aw, &sq);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sq), _mm256_set1_epi16(1));
}

// Sixteen int16 pair sums of u · q for unsigned weights u <= 31 (at most 2·31·128: no
// saturation).
STOCHA_INT8_AVX2 __m256i UnsignedProducts16(__m256i u, const int8_t* q) {
  return _mm256_maddubs_epi16(u, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
}

// Eight int32 partial sums of u · q for unsigned weights u <= 15 (Q4_0): those pairs, summed.
STOCHA_INT8_AVX2 __m256i UnsignedProducts(__m256i u, const int8_t* q) {
  return _mm256_madd_epi16(UnsignedProducts16(u, q), _mm256_set1_epi16(1));
}

// Block b's eight partial sums: Q8_0 w·q; Q4_0 (w + 8)·q, corrected after SumLanes8.
template <DType DT>
STOCHA_INT8_AVX2 __m256i Products(const char* p, const int8_t* q) {
  if constexpr (DT == DType::kQ8_0) {
    return BlockProducts(LoadWeights<DT>(p), q);
  } else {
    return UnsignedProducts(LoadNibbles(p), q);
  }
}

// Q4_0 blocks k and k + 4 (at p and p + 4 · 18 bytes) against their activations arranged as
// Q8Row::halves (`h`: that pair's 64 bytes): one 256-bit vector holds both blocks' 16 nibble
// bytes, so one mask and one shift unpack two blocks (LoadNibbles takes that per block), and the
// pair sums come out as blocks k (lanes 0-3) and k + 4 (lanes 4-7), each an unsigned (w + 8)·q
// sum as UnsignedProducts'. The two vpmaddubsw results are added as int16: each pair sum is at
// most 2·15·127, the two at most 7620.
STOCHA_INT8_AVX2 __m256i Q4PairProducts(const char* p, const int8_t* h) {
  constexpr int64_t kBytes = static_cast<int64_t>(sizeof(BlockQ4_0));
  const __m256i v = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 4 * kBytes + 2)), 1);
  const __m256i nib = _mm256_set1_epi8(15);
  const __m256i lo = _mm256_and_si256(v, nib);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
  const __m256i s16 = _mm256_add_epi16(UnsignedProducts16(lo, h), UnsignedProducts16(hi, h + 32));
  return _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
}

// Lane b = the sum of block b's four lanes, for the pairs v[i] = (block i, block i + 4) of
// Q4PairProducts: three vphaddd (SumLanes8 takes six and two lane permutes for eight blocks).
STOCHA_INT8_AVX2 __m256i SumPairLanes(const __m256i* v) {
  // Per 128-bit half (low: blocks 0-3, high: blocks 4-7): [i, i, i+1, i+1] after the first
  // level, [0, 1, 2, 3] (or [4, 5, 6, 7]) after the second.
  return _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
}

// The last count < 8 blocks of one row from block b (lanes past count are 0).
template <DType DT>
STOCHA_INT8_AVX2 __m256 TailGroup(const Q8Row& x, const char* row, int64_t b, int count,
                                  __m256 acc) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  __m256i v[8];
  for (int k = 0; k < 8; ++k) {
    v[k] = k < count ? Products<DT>(row + (b + k) * kBytes, x.q + (b + k) * kQuantBlock)
                     : _mm256_setzero_si256();
  }
  __m256i isum = SumLanes8(v);
  if constexpr (DT == DType::kQ4_0) isum = RemoveOffset8(isum, x.s + b, count);
  return Accumulate(BlockScales(row + b * kBytes, kBytes, x.d + b, count), isum, acc);
}

// One row, its weights prefetched kPrefetchDistance ahead in the stream of rows (`next`: the
// row read after this one, or null): the hardware prefetchers do not cross 4 KB pages, and on
// the AMD EPYC machines of this project the BF16 row kernels read 12-14 GB/s without software
// prefetch and 16-18 GB/s with it (prefetch.h). Rows are taken one at a time: two or four rows
// sharing each activation load (the VNNI kernel's way) ran 5-35% slower on an L2-resident
// GEMV here (int8_dot_bench, Zen 3), the sixteen ymm registers of AVX2 spilling
// (docs/PERFORMANCE.md).
template <DType DT>
STOCHA_AVX2_KERNEL float DotRow(const Q8Row& x, const char* row, const char* next, int64_t n) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const int64_t nb = n / kQuantBlock, full = nb / 8 * 8;
  const RowPrefetch pf = PlanPrefetch(row, next, nb * kBytes, 1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < full; b += 8) {
    for (int64_t o = 0; o < 8 * kBytes; o += 64) PrefetchAt(pf, b * kBytes + o, 1);
    __m256i isum;
    if constexpr (DT == DType::kQ4_0) {
      __m256i v[4];
      for (int i = 0; i < 4; ++i)
        v[i] = Q4PairProducts(row + (b + i) * kBytes, x.halves + b * kQuantBlock + 64 * i);
      isum = RemoveOffset8(SumPairLanes(v), x.s + b, 8);
    } else {
      __m256i v[8];
      for (int k = 0; k < 8; ++k)
        v[k] = Products<DT>(row + (b + k) * kBytes, x.q + (b + k) * kQuantBlock);
      isum = SumLanes8(v);
    }
    acc = Accumulate(BlockScales(row + b * kBytes, kBytes, x.d + b, 8), isum, acc);
  }
  if (full < nb) acc = TailGroup<DT>(x, row, full, static_cast<int>(nb - full), acc);
  return Reduce8(acc);
}

// Q4_K/Q5_K: per super-block, P (int8_dot.h) in eight int32 lanes, sub-block pair by pair
// (values <= 31: a vpmaddubsw pair is at most 2·31·128, no saturation).
template <DType DT>
STOCHA_AVX2_KERNEL float DotRowK(const Q8Row& x, const char* row, const char* next, int64_t n) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const RowPrefetch pf = PlanPrefetch(row, next, n / kQK * kBytes, 1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK; ++b) {
    PrefetchBlock(pf, b * kBytes, kBytes);
    const char* p = row + b * kBytes;
    const int8_t* q = x.q + b * kQK;
    uint64_t sc = 0, m = 0;
    KScaleMins(p, &sc, &m);
    const __m256i scales = KScales16(sc), qh = KHighBits<DT>(p);
    __m256i psum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      KValues<DT>(p, qh, c, &lo, &hi);
      const __m256i plo = UnsignedProducts16(lo, q + 64 * c);
      const __m256i phi = UnsignedProducts16(hi, q + 64 * c + 32);
      psum = _mm256_add_epi32(psum, _mm256_madd_epi16(plo, KScaleOf(scales, 2 * c)));
      psum = _mm256_add_epi32(psum, _mm256_madd_epi16(phi, KScaleOf(scales, 2 * c + 1)));
    }
    float a = 0, cm = 0;
    KBlockScales(p, x.d[b], &a, &cm);
    acc = AccumulateK(a, cm, psum, KMinSums(m, x.bsums + b * (kQK / 16)), acc);
  }
  return Reduce8(acc);
}

// Q6_K: per super-block, P (int8_dot.h) in eight int32 lanes, 32 elements at a time: the
// signed values by the sign split (|w| <= 32), vpmaddwd against the two 16-element scales.
STOCHA_AVX2_KERNEL float DotRowQ6K(const Q8Row& x, const char* row, const char* next, int64_t n) {
  constexpr int64_t kBytes = sizeof(BlockQ6_K);
  const RowPrefetch pf = PlanPrefetch(row, next, n / kQK * kBytes, 1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK; ++b) {
    for (int64_t o = 0; o < kBytes; o += 64) PrefetchAt(pf, b * kBytes + o, 1);
    const char* p = row + b * kBytes;
    const int8_t* q = x.q + b * kQK;
    __m256i slo, shi;
    Q6KScales16(p, &slo, &shi);
    __m256i psum = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      __m256i aw, sq;
      SignSplit(Q6KValues(p, j), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * j)),
                &aw, &sq);
      psum = _mm256_add_epi32(
          psum, _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sq), Q6KScaleOf(slo, shi, j)));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(Q6KBlockScale(p, x.d[b])), _mm256_cvtepi32_ps(psum), acc);
  }
  return Reduce8(acc);
}

}  // namespace

void Int8DotRowsAvx2(const Q8Row& x, const void* const* rows, int count, DType dt, int64_t n,
                     float* y, const void* after) {
  for (int r = 0; r < count; ++r) {
    const char* p = static_cast<const char*>(rows[r]);
    const char* next = static_cast<const char*>(r + 1 < count ? rows[r + 1] : after);
    switch (dt) {
      case DType::kQ8_0:
        y[r] = DotRow<DType::kQ8_0>(x, p, next, n);
        break;
      case DType::kQ4_0:
        y[r] = DotRow<DType::kQ4_0>(x, p, next, n);
        break;
      case DType::kQ4_K:
        y[r] = DotRowK<DType::kQ4_K>(x, p, next, n);
        break;
      case DType::kQ5_K:
        y[r] = DotRowK<DType::kQ5_K>(x, p, next, n);
        break;
      default:
        y[r] = DotRowQ6K(x, p, next, n);
    }
  }
}

}  // namespace stocha::int8_x86

#endif  // __x86_64__
