// Causal grouped-query attention of token rows against their sequences' KV caches on the GPU.
#ifndef STOCHA_ENGINE_KERNELS_CUDA_ATTENTION_H_
#define STOCHA_ENGINE_KERNELS_CUDA_ATTENTION_H_

#include <cstdint>

#include "absl/status/status.h"

namespace stocha::cuda {

// Where one token row's keys and values are: a sequence's cache of one layer, position p
// at k + p·kv_heads·head_dim (F32, [positions][kv_heads][head_dim], as the CPU's KvCache),
// and the token's own position (it attends to 0..position). The same row tells WriteKv
// (elementwise.h) where the token's own key and value go, so the pointers are writable.
struct DeviceAttentionRow {
  float* k = nullptr;
  float* v = nullptr;
  int32_t position = 0;
};

// out[t][h] = softmax(q[t][h] · K[0..position]ᵀ / sqrt(head_dim)) · V[0..position], query
// head h reading KV head h / (heads / kv_heads); rows [T] is device memory. A block per
// (token, head): a warp per key position (a fixed shuffle tree per dot product), the
// softmax with fixed-order block reductions, then the weighted V sum in ascending
// positions; so a row's result does not depend on the batch. `scores` is scratch of
// AttentionScratchFloats(T, heads, max_position + 1). head_dim <= 256.
int64_t AttentionScratchFloats(int64_t T, int heads, int64_t positions);
absl::Status Attend(const float* q, int64_t T, int heads, int kv_heads, int head_dim,
                    const DeviceAttentionRow* rows, int64_t max_positions, float* scores,
                    float* out);

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_ATTENTION_H_
