// Rotary position embeddings over token rows on the GPU (both pair layouts).
#ifndef STOCHA_ENGINE_KERNELS_CUDA_ROPE_H_
#define STOCHA_ENGINE_KERNELS_CUDA_ROPE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engine/model/model_config.h"

namespace stocha::cuda {

// Rotates v [T][heads][head_dim] in place, row t at positions[t], with the per-pair
// inverse frequencies inv_freq [head_dim / 2] that the CPU's Rope computed (llama3
// scaling and GGUF rope_freqs already applied there, so both sides use the same
// frequencies bit for bit). kInterleaved pairs (2i, 2i+1) as llama2.c; kHalf pairs
// (i, i + head_dim / 2) as HF rotate_half. All pointers are device memory. The angle is
// position · inv_freq in F32 as on the CPU; cosf/sinf are the device's (within 2 ulp).
absl::Status RopeRows(float* v, int64_t T, int heads, int head_dim, const int32_t* positions,
                      const float* inv_freq, RopeStyle style);

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_ROPE_H_
