// The two inner loops of attention (one query head against a run of keys, and the weighted
// sum of the values), each with a scalar reference and one fixed rounding order.
//
// Same bits at every level (docs/ENGINE.md, Determinism): a score is the canonical dot
// product of row_dot.h (16 interleaved fused partial sums, the pairwise tree, then the
// tail in order) times `scale`; an output element is one fused multiply-add chain over the
// keys in order, starting from +0. The intrinsic versions (AVX2, AVX-512; chosen by
// row_isa.h, STOCHA_ISA lowers it) compute exactly these operations, only several keys or
// elements at once, so they give the reference's bits.
#ifndef STOCHA_ENGINE_KERNELS_CPU_ATTENTION_KERNELS_H_
#define STOCHA_ENGINE_KERNELS_CPU_ATTENTION_KERNELS_H_

#include <cstdint>

namespace stocha {

// s[t] = (q · k_t) * scale for t in [0, n), k_t = k + t * ldk, each dot over hd elements in
// the canonical order. Dispatched on ActiveRowIsa().
void AttentionScores(const float* q, const float* k, int64_t ldk, int64_t n, int hd, float scale,
                     float* s);

// out[i] = Σ_t a[t] · v_t[i] for i in [0, hd), v_t = v + t * ldv: per i one fused
// multiply-add chain over t = 0, 1, …, n − 1 from +0. Dispatched on ActiveRowIsa().
void AttentionValues(const float* a, const float* v, int64_t ldv, int64_t n, int hd, float* out);

// The scalar references (also what the portable level runs): one key, one element at a
// time, in the order the contract above states.
void AttentionScoresReference(const float* q, const float* k, int64_t ldk, int64_t n, int hd,
                              float scale, float* s);
void AttentionValuesReference(const float* a, const float* v, int64_t ldv, int64_t n, int hd,
                              float* out);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_ATTENTION_KERNELS_H_
