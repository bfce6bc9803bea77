// The fused FFN activation on the GPU (SiLU, ReLU, StochA), zero counts and active-set compaction.
#include <cuda_runtime.h>

#include "engine/kernels/cuda/cuda_status.h"
#include "engine/kernels/cuda/ffn_kernels.h"
#include "engine/kernels/cuda/launch_shape.cuh"

namespace stocha::cuda {
namespace {

__device__ __forceinline__ float DeviceSilu(float x) { return x / (1.0f + expf(-x)); }

// A thread per neuron f, over the T rows: the thread owns active[f]; each warp adds its
// rows' zero counts with one atomic per row (integer adds: the order does not matter).
__global__ void ActivateKernel(float* __restrict__ h, int T, int64_t F, int64_t ldh,
                               const DeviceActivation* __restrict__ acts,
                               int32_t* __restrict__ zeros, uint8_t* __restrict__ active) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  // Every lane of a warp runs the same number of iterations, so the ballots below are
  // taken by the whole warp (threads past F take part with nothing to count).
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t warp_first = first - lane;
  for (int64_t base = warp_first; base < F; base += stride) {
    const int64_t f = base + lane;
    const bool in = f < F;
    bool any = false;
    for (int t = 0; t < T; ++t) {
      float v = 0.0f;
      if (in) {
        const DeviceActivation& a = acts[t];
        v = h[t * ldh + f];
        if (a.kind == static_cast<int32_t>(ActivationKind::kSilu)) {
          v = DeviceSilu(v);
        } else if (a.kind == static_cast<int32_t>(ActivationKind::kRelu)) {
          v = v > 0.0f ? v : 0.0f;
        } else if (v < 0.0f) {
          v = StochaKeepsSilu(a.key, static_cast<uint32_t>(f), a.threshold) ? DeviceSilu(v) : 0.0f;
        }
        h[t * ldh + f] = v;
        any = any || v != 0.0f;
      }
      const unsigned zero_lanes = __ballot_sync(0xffffffffu, in && v == 0.0f);
      if (lane == 0 && zero_lanes != 0) atomicAdd(zeros + t, __popc(zero_lanes));
    }
    if (in) active[f] = any ? 1 : 0;
  }
}

__global__ void ForceDensityKernel(float* __restrict__ h, int T, int64_t F, int64_t ldh,
                                   uint32_t threshold, const int32_t* __restrict__ positions,
                                   uint32_t layer) {
  const int64_t n = static_cast<int64_t>(T) * F;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / F, f = i % F;
    const RngKey key{0xBE7C4ull, 0, static_cast<uint32_t>(positions[t]), layer};
    float& v = h[t * ldh + f];
    v = StochaKeepsSilu(key, static_cast<uint32_t>(f), threshold) ? fabsf(v) + 1e-3f : -1.0f;
  }
}

// One block of 1024 threads walks F in tiles of 1024: a ballot gives each warp's
// active lanes, a scan over the 32 warp counts gives the tile's offsets, so indices come
// out ascending without atomics.
constexpr int kCompactThreads = 1024;

__global__ void CompactKernel(const uint8_t* __restrict__ active, int64_t F,
                              int32_t* __restrict__ idx, int32_t* __restrict__ count) {
  __shared__ int warp_counts[kCompactThreads / 32];
  __shared__ int warp_offsets[kCompactThreads / 32];
  __shared__ int total;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  if (threadIdx.x == 0) total = 0;
  __syncthreads();
  for (int64_t base = 0; base < F; base += kCompactThreads) {
    const int64_t f = base + threadIdx.x;
    const bool on = f < F && active[f] != 0;
    const unsigned mask = __ballot_sync(0xffffffffu, on);
    if (lane == 0) warp_counts[warp] = __popc(mask);
    __syncthreads();
    if (threadIdx.x == 0) {
      int run = total;
      for (int w = 0; w < kCompactThreads / 32; ++w) {
        warp_offsets[w] = run;
        run += warp_counts[w];
      }
      total = run;
    }
    __syncthreads();
    if (on) {
      const int before = __popc(mask & ((1u << lane) - 1u));
      idx[warp_offsets[warp] + before] = static_cast<int32_t>(f);
    }
    __syncthreads();  // the offsets are rewritten by the next tile
  }
  if (threadIdx.x == 0) *count = total;
}

}  // namespace

DeviceActivation MakeDeviceActivation(const ActivationSpec& spec, const RngKey& key) {
  DeviceActivation a;
  a.kind = static_cast<int32_t>(spec.kind);
  a.threshold = spec.kind == ActivationKind::kStochA ? StochaThreshold(spec.p) : 0;
  a.key = key;
  return a;
}

absl::Status Activate(float* h, int T, int64_t F, int64_t ldh, const DeviceActivation* acts,
                      int32_t* zeros, uint8_t* active) {
  if (T < 1 || T > kMaxDeviceBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("Activate: T = ", T, " token rows, outside [1, ", kMaxDeviceBatch, "]"));
  }
  absl::Status s = CudaStatus(cudaMemsetAsync(zeros, 0, sizeof(int32_t) * T), "cudaMemsetAsync");
  if (!s.ok() || F <= 0) return s;
  constexpr int kThreads = 256;
  ActivateKernel<<<GridFor(F, kThreads), kThreads>>>(h, T, F, ldh, acts, zeros, active);
  return LaunchStatus("ActivateKernel");
}

absl::Status ForceDensityForBench(float* h, int T, int64_t F, int64_t ldh, float density,
                                  const int32_t* positions, uint32_t layer) {
  if (T <= 0 || F <= 0) return absl::OkStatus();
  constexpr int kThreads = 256;
  ForceDensityKernel<<<GridFor(static_cast<int64_t>(T) * F, kThreads), kThreads>>>(
      h, T, F, ldh, StochaThreshold(density), positions, layer);
  return LaunchStatus("ForceDensityKernel");
}

absl::Status CompactActive(const uint8_t* active, int64_t F, int32_t* idx, int32_t* count) {
  CompactKernel<<<1, kCompactThreads>>>(active, F, idx, count);
  return LaunchStatus("CompactKernel");
}

}  // namespace stocha::cuda
