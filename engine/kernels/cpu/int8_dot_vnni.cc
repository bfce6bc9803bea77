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

template <DType DT>
STOCHA_VNNI_KERNEL float DotRow(const Q8Row& x, const char* row, int64_t n) {
  constexpr int64_t kBytes = static_cast<int64_t>(DTypeBlockBytes(DT));
  const int64_t nb = n / kQuantBlock;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b += 8) {
    const int count = static_cast<int>(nb - b < 8 ? nb - b : 8);
    __m256i v[8];
    for (int k = 0; k < 8; ++k) {
      v[k] = k < count ? BlockProducts(LoadWeights<DT>(row + (b + k) * kBytes),
                                       x.q + (b + k) * kQuantBlock)
                       : _mm256_setzero_si256();
    }
    acc = Accumulate(BlockScales(row + b * kBytes, kBytes, x.d + b, count), SumLanes8(v), acc);
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
