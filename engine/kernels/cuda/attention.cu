// GQA attention on the GPU: a block per (token, query head), scores in device scratch.
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/attention.h"
#include "engine/kernels/cuda/cuda_status.h"

namespace stocha::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// A fixed-order tree over the block's kThreads values in `buf`; every thread gets the
// result. `op` is max or sum.
template <typename Op>
__device__ float BlockReduce(float v, float* buf, Op op) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (static_cast<int>(threadIdx.x) < s)
      buf[threadIdx.x] = op(buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  const float r = buf[0];
  __syncthreads();  // buf is reused by the caller's next reduction
  return r;
}

__global__ void AttendKernel(const float* __restrict__ q, int heads, int kv_heads, int head_dim,
                             const DeviceAttentionRow* __restrict__ rows, int64_t max_positions,
                             float* __restrict__ scores, float* __restrict__ out) {
  __shared__ float buf[kThreads];
  const int64_t t = blockIdx.x / heads;
  const int h = static_cast<int>(blockIdx.x % heads);
  const int kvh = h / (heads / kv_heads);
  const DeviceAttentionRow row = rows[t];
  const int64_t n = static_cast<int64_t>(row.position) + 1;
  const int64_t kv_stride = static_cast<int64_t>(kv_heads) * head_dim;
  const float* qh = q + (t * heads + h) * head_dim;
  float* s = scores + static_cast<int64_t>(blockIdx.x) * max_positions;
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) / 32;
  const float scale = 1.0f / sqrtf(static_cast<float>(head_dim));

  // 1. Scores: a warp per position.
  for (int64_t p = warp; p < n; p += kWarps) {
    const float* k = row.k + p * kv_stride + kvh * head_dim;
    float acc = 0.0f;
    for (int i = lane; i < head_dim; i += 32) acc = fmaf(qh[i], k[i], acc);
    for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) s[p] = acc * scale;
  }
  __syncthreads();

  // 2. Softmax over s[0..n).
  float m = -INFINITY;
  for (int64_t p = threadIdx.x; p < n; p += kThreads) m = fmaxf(m, s[p]);
  m = BlockReduce(m, buf, [](float a, float b) { return fmaxf(a, b); });
  float sum = 0.0f;
  for (int64_t p = threadIdx.x; p < n; p += kThreads) {
    const float e = expf(s[p] - m);
    s[p] = e;
    sum += e;
  }
  sum = BlockReduce(sum, buf, [](float a, float b) { return a + b; });
  const float inv = 1.0f / sum;

  // 3. out = Σ_p a_p V[p]: `groups` thread groups of head_dim threads each take every
  // groups-th position, ascending; the groups' sums are then added in group order.
  const int groups = head_dim <= kThreads ? kThreads / head_dim : 1;
  const int g = static_cast<int>(threadIdx.x) / head_dim,
            d = static_cast<int>(threadIdx.x) % head_dim;
  float acc = 0.0f;
  if (g < groups) {
    for (int64_t p = g; p < n; p += groups) {
      acc = fmaf(s[p], row.v[p * kv_stride + kvh * head_dim + d], acc);
    }
  }
  buf[threadIdx.x] = g < groups ? acc : 0.0f;
  __syncthreads();
  if (g == 0) {
    float r = buf[d];
    for (int j = 1; j < groups; ++j) r += buf[j * head_dim + d];
    out[(t * heads + h) * head_dim + d] = r * inv;
  }
}

}  // namespace

int64_t AttentionScratchFloats(int64_t T, int heads, int64_t positions) {
  return T * heads * positions;
}

absl::Status Attend(const float* q, int64_t T, int heads, int kv_heads, int head_dim,
                    const DeviceAttentionRow* rows, int64_t max_positions, float* scores,
                    float* out) {
  if (head_dim < 1 || head_dim > kThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("Attend: head_dim ", head_dim, " is outside [1, ", kThreads, "]"));
  }
  if (kv_heads < 1 || heads % kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Attend: ", heads, " query heads do not group over ", kv_heads, " KV heads"));
  }
  if (T <= 0) return absl::OkStatus();
  AttendKernel<<<static_cast<unsigned>(T * heads), kThreads>>>(q, heads, kv_heads, head_dim, rows,
                                                               max_positions, scores, out);
  return LaunchStatus("AttendKernel");
}

}  // namespace stocha::cuda
