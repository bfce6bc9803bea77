// The AVX-512 VNNI integer dot kernel: per block, unsigned × signed byte products summed in
// fours straight to int32 (vpdpbusd on 256-bit vectors, AVX512_VNNI + VL), as llama.cpp's
// AVX-512 VNNI path does (ggml/src/ggml-cpu/arch/x86/quants.c: mul_sum_us8_pairs_float); the
// rest is the AVX2 kernel's, so the bits are the same.
#include "engine/kernels/cpu/int8_dot_x86.h"

#if defined(__x86_64__)

#include "engine/model/quant_blocks.h"

#define STOCHA_VNNI_KERNEL \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace stocha::int8_x86 {
namespace {

// Eight int32 partial sums of w · q over one block (no int16 stage to saturate).
STOCHA_VNNI_KERNEL inline __m256i BlockProducts(__m256i w, const int8_t* q) {
  __m256i aw, sq;
  SignSplit(w, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)), &aw, &sq);
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sq);
}

// The same for unsigned weights u <= 15 (a pair sums to at most 2·15·128: no saturation).
STOCHA_VNNI_KERNEL inline __m256i UnsignedProducts(__m256i u, const int8_t* q) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u,
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
}

// Block b's eight partial sums: Q8_0 w·q; Q4_0 (w + 8)·q, corrected after SumLanes8.
template <DType DT>
STOCHA_VNNI_KERNEL inline __m256i Products(const char* p, const int8_t* q) {
  if constexpr (DT == DType::kQ8_0) {
    return BlockProducts(LoadWeights<DT>(p), q);
  } else {
    return UnsignedProducts(LoadNibbles(p), q);
  }
}

template <DType DT>
STOCHA_VNNI_KERNEL float DotRow(const Q8Row& x, const char* row, int64_t n) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const int64_t nb = n / kQuantBlock;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b += 8) {
    const int count = static_cast<int>(nb - b < 8 ? nb - b : 8);
    __m256i v[8];
    for (int k = 0; k < 8; ++k) {
      v[k] = k < count ? Products<DT>(row + (b + k) * kBytes, x.q + (b + k) * kQuantBlock)
                       : _mm256_setzero_si256();
    }
    __m256i isum = SumLanes8(v);
    if constexpr (DT == DType::kQ4_0) isum = RemoveOffset8(isum, x.s + b, count);
    acc = Accumulate(BlockScales(row + b * kBytes, kBytes, x.d + b, count), isum, acc);
  }
  return Reduce8(acc);
}

}  // namespace

float Int8DotRowVnni(const Q8Row& x, const void* row, DType dt, int64_t n) {
  const char* p = static_cast<const char*>(row);
  return dt == DType::kQ8_0 ? DotRow<DType::kQ8_0>(x, p, n) : DotRow<DType::kQ4_0>(x, p, n);
}

}  // namespace stocha::int8_x86

#endif  // __x86_64__
