// Causal grouped-query attention of one token against its sequence's KV cache.
#ifndef STOCHA_ENGINE_STEP_ATTENTION_H_
#define STOCHA_ENGINE_STEP_ATTENTION_H_

#include "engine/step/kv_cache.h"

namespace stocha {

struct AttentionShape {
  int heads;     // H
  int kv_heads;  // KV
  int head_dim;  // hd
};

// out[H*hd] = softmax(q_h · K[0..pos]ᵀ / sqrt(hd)) · V[0..pos], query head h reading KV
// head h / (H / KV). `scores` is scratch of at least pos + 1 floats.
void AttendOne(const AttentionShape& shape, const float* q, const KvCache& cache, int layer,
               int pos, float* scores, float* out);

}  // namespace stocha

#endif  // STOCHA_ENGINE_STEP_ATTENTION_H_
