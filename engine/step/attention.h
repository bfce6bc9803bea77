// Causal grouped-query attention of one token against its sequence's KV cache.
#ifndef STOCHA_ENGINE_STEP_ATTENTION_H_
#define STOCHA_ENGINE_STEP_ATTENTION_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "engine/step/kv_cache.h"

namespace stocha {

struct AttentionShape {
  int heads;     // H
  int kv_heads;  // KV
  int head_dim;  // hd
};

// out[H*hd] = softmax(q_h · K[0..pos]ᵀ / sqrt(hd)) · V[0..pos], query head h reading KV
// head h / (H / KV). `scores` is scratch of at least pos + 1 floats. The rounding order is
// that of kernels/cpu/attention_kernels.h (each score the canonical 16-lane dot product,
// scaled; norm.h's Softmax; each output element one fused chain over the positions), so
// every ISA level (row_isa.h) gives the same bits.
void AttendOne(const AttentionShape& shape, const float* q, const KvCache& cache, int layer,
               int pos, float* scores, float* out);

// The query heads [h_begin, h_end) of AttendOne; out's other heads are left as they are.
// A head's result does not depend on which heads run beside it, so any split of a step's
// (token, head) items across threads gives the same bits (docs/ENGINE.md, same bits).
void AttendHeads(const AttentionShape& shape, const float* q, const KvCache& cache, int layer,
                 int pos, int h_begin, int h_end, float* scores, float* out);

// A step's attention split into `parts` contiguous runs of about equal work: item (t, h)
// (token t, query head h, in that order) weighs positions[t], the positions token t
// attends to. Part p gets the items whose start in the total work W lies in
// [W*p/parts, W*(p+1)/parts): fn(t, h_begin, h_end) is called once per token it touches,
// in order. Over p in [0, parts) every item is visited exactly once. Contiguous heads keep
// a thread on its own KV heads (GQA groups are contiguous); weighing by positions balances
// a causal prefill, whose last token attends to T times the positions of its first.
void ForEachAttentionRun(absl::Span<const int64_t> positions, int heads, int parts, int p,
                         absl::FunctionRef<void(int64_t, int, int)> fn);

}  // namespace stocha

#endif  // STOCHA_ENGINE_STEP_ATTENTION_H_
