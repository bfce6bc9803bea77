// A Q8_0 / Q4_0 block's integers as two 16-byte vectors, shared by the AVX2 and AVX-512 kernels.
#ifndef STOCHA_ENGINE_KERNELS_CPU_QUANT_BLOCK_BYTES_H_
#define STOCHA_ENGINE_KERNELS_CPU_QUANT_BLOCK_BYTES_H_

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "engine/model/dtype.h"

namespace stocha {

// Block `p` (ggml-common.h block_q8_0 / block_q4_0: an F16 scale, then the quants): its
// scale's F16 bits in *dh, int8 elements 0-15 in *a and 16-31 in *b (Q4_0: low nibbles are
// elements 0-15, high nibbles 16-31, each minus 8). SSE2 only, the x86-64 baseline, so it
// inlines into kernels of any wider target.
template <DType DT>
inline void UnpackBlockBytes(const char* p, uint16_t* dh, __m128i* a, __m128i* b) {
  __builtin_memcpy(dh, p, sizeof *dh);
  if constexpr (DT == DType::kQ8_0) {
    *a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    *b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18));
  } else {
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i nib = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    *a = _mm_sub_epi8(_mm_and_si128(qs, nib), eight);
    *b = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), nib), eight);
  }
}

}  // namespace stocha

#endif  // __x86_64__

#endif  // STOCHA_ENGINE_KERNELS_CPU_QUANT_BLOCK_BYTES_H_
