// The AVX2 and AVX-512 attention loops behind attention_kernels.h, called only at the level
// row_isa.h chose (the CPU has the instructions); same arguments and same bits as the
// references there.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ATTENTION_KERNELS_X86_H_
#define STOCHA_ENGINE_KERNELS_CPU_ATTENTION_KERNELS_X86_H_

#include <cstdint>

namespace stocha {

void AttentionScoresAvx2(const float* q, const float* k, int64_t ldk, int64_t n, int hd,
                         float scale, float* s);
void AttentionValuesAvx2(const float* a, const float* v, int64_t ldv, int64_t n, int hd,
                         float* out);
void AttentionScoresAvx512(const float* q, const float* k, int64_t ldk, int64_t n, int hd,
                           float scale, float* s);
void AttentionValuesAvx512(const float* a, const float* v, int64_t ldv, int64_t n, int hd,
                           float* out);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ATTENTION_KERNELS_X86_H_
