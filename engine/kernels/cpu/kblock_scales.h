// Internal to the quantized row kernels (quant_row.cc, quant_row_avx512.cc): the sub-block
// scales of one K super-block as F32, formed once per block before its weights are decoded.
// x86-64 only (F16C); not a public header: it carries intrinsics.
#ifndef STOCHA_ENGINE_KERNELS_CPU_KBLOCK_SCALES_H_
#define STOCHA_ENGINE_KERNELS_CPU_KBLOCK_SCALES_H_

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "engine/model/dtype.h"
#include "engine/model/quant_blocks.h"

namespace stocha {

// Q4_K/Q5_K: d[j] = d * sc and m[j] = dmin * m for the 8 sub-blocks of 32; Q6_K: d[i] =
// d * sc for the 16 sub-blocks of 16. The products are exact (quant_blocks.h), so they are
// ggml's d1, m1 and d * sc bit for bit.
struct KScales {
  float d[16];
  float m[8];
};

// F16C only; inlined into the AVX2 and the AVX-512 kernels (both targets include it).
template <DType DT>
__attribute__((target("f16c"), always_inline)) inline void LoadKScales(const char* p, KScales* s) {
  if constexpr (DT == DType::kQ6_K) {
    uint16_t dh;
    __builtin_memcpy(&dh, p + offsetof(BlockQ6_K, d), sizeof dh);
    const float d = _cvtsh_ss(dh);
    const auto* sc = reinterpret_cast<const int8_t*>(p + offsetof(BlockQ6_K, scales));
    for (int i = 0; i < 16; ++i) s->d[i] = d * static_cast<float>(sc[i]);
  } else {
    uint16_t dh, mh;
    __builtin_memcpy(&dh, p, sizeof dh);
    __builtin_memcpy(&mh, p + 2, sizeof mh);
    const float d = _cvtsh_ss(dh), dmin = _cvtsh_ss(mh);
    const auto* scales = reinterpret_cast<const uint8_t*>(p + offsetof(BlockQ4_K, scales));
    for (int j = 0; j < 8; ++j) {
      int sc = 0, m = 0;
      KScaleMin(j, scales, &sc, &m);
      s->d[j] = d * static_cast<float>(sc);
      s->m[j] = dmin * static_cast<float>(m);
    }
  }
}

}  // namespace stocha

#endif  // __x86_64__
#endif  // STOCHA_ENGINE_KERNELS_CPU_KBLOCK_SCALES_H_
