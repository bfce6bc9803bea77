// Scalar references of the attention loops, and the dispatch to the intrinsic versions.
#include "engine/kernels/cpu/attention_kernels.h"

#include "engine/kernels/cpu/attention_kernels_x86.h"
#include "engine/kernels/cpu/clones.h"
#include "engine/kernels/cpu/row_dot.h"
#include "engine/kernels/cpu/row_isa.h"

namespace stocha {

STOCHA_KERNEL_CLONES void AttentionScoresReference(const float* q, const float* k, int64_t ldk,
                                                   int64_t n, int hd, float scale, float* s) {
  for (int64_t t = 0; t < n; ++t) s[t] = DotRowT<DType::kF32>(q, k + t * ldk, hd) * scale;
}

STOCHA_KERNEL_CLONES void AttentionValuesReference(const float* a, const float* v, int64_t ldv,
                                                   int64_t n, int hd, float* out) {
  for (int i = 0; i < hd; ++i) out[i] = 0.0f;
  for (int64_t t = 0; t < n; ++t) {
    const float* vt = v + t * ldv;
    for (int i = 0; i < hd; ++i) out[i] = __builtin_fmaf(a[t], vt[i], out[i]);
  }
}

void AttentionScores(const float* q, const float* k, int64_t ldk, int64_t n, int hd, float scale,
                     float* s) {
  switch (ActiveRowIsa()) {
    case RowIsa::kAvx512:
      return AttentionScoresAvx512(q, k, ldk, n, hd, scale, s);
    case RowIsa::kAvx2:
      return AttentionScoresAvx2(q, k, ldk, n, hd, scale, s);
    default:
      return AttentionScoresReference(q, k, ldk, n, hd, scale, s);
  }
}

void AttentionValues(const float* a, const float* v, int64_t ldv, int64_t n, int hd, float* out) {
  switch (ActiveRowIsa()) {
    case RowIsa::kAvx512:
      return AttentionValuesAvx512(a, v, ldv, n, hd, out);
    case RowIsa::kAvx2:
      return AttentionValuesAvx2(a, v, ldv, n, hd, out);
    default:
      return AttentionValuesReference(a, v, ldv, n, hd, out);
  }
}

}  // namespace stocha
