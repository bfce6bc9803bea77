// The small per-token kernels of a decoder step on the GPU: embedding, bias, residual, KV write.
#ifndef STOCHA_ENGINE_KERNELS_CUDA_ELEMENTWISE_H_
#define STOCHA_ENGINE_KERNELS_CUDA_ELEMENTWISE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engine/kernels/cuda/attention.h"
#include "engine/kernels/cuda/ffn_kernels.h"

namespace stocha::cuda {

// out[t][:] = embed[tokens[t]][:] as F32 (embed F32/F16/BF16 [V][D]; tokens [T] device).
absl::Status EmbedRows(const DeviceMatrix& embed, const int32_t* tokens, int64_t T, float* out);

// y[t][j] += bias[j] for T rows of n.
absl::Status AddBiasRows(float* y, const float* bias, int64_t T, int64_t n);

// x[i] += y[i] for i < n (the residual stream).
absl::Status AddInPlace(float* x, const float* y, int64_t n);

// h[i] *= u[i] where h[i] != 0, for i < n: the gated FFN's up product after the
// activation, leaving an exact zero as it is (as RowDots' kScaleNonZero does).
absl::Status MulNonZero(float* h, const float* u, int64_t n);

// out[i][:] = x[rows[i]][:] for i < n (rows [n] device memory, x and out [.][D]).
absl::Status GatherRows(const float* x, const int32_t* rows, int64_t n, int64_t D, float* out);

// rows[t].k[position][:] = k[t][:], and the same for v, for each token row t (rows [T]
// device memory, the rows Attend reads).
absl::Status WriteKv(const float* k, const float* v, int64_t T, int64_t kv_dim,
                     const DeviceAttentionRow* rows);

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_ELEMENTWISE_H_
