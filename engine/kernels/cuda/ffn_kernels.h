// The sparse FFN on the GPU: row dot products, the fused activation, compaction, down axpy.
#ifndef STOCHA_ENGINE_KERNELS_CUDA_FFN_KERNELS_H_
#define STOCHA_ENGINE_KERNELS_CUDA_FFN_KERNELS_H_

// A plain header: every pointer below is device memory unless it says host. Launches are
// asynchronous on the legacy default stream; errors returned are launch errors (bad
// arguments, configuration), a kernel's own faults surface at the next Synchronize().
//
// Dense and sparse give the same bits, as on the CPU (docs/ENGINE.md): a row's dot
// product is one function whatever rows are chosen, and the down projection adds each
// 256-neuron chunk in ascending neuron order, skipping zero activations, then the chunks
// in ascending order. So skipping inactive neurons never changes a computed value.

#include <cstdint>

#include "absl/status/status.h"
#include "engine/activation.h"
#include "engine/model/dtype.h"
#include "engine/rng.h"

namespace stocha::cuda {

// A row-major matrix [rows][cols] on the device, in its stored type (F32, F16 or BF16).
struct DeviceMatrix {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
};

// Up to this many token rows per call of RowDots / Activate / DownAxpy (decode batches;
// prefill chunks go through cuBLAS).
inline constexpr int kMaxDeviceBatch = 16;

enum class RowDotsMode {
  kStore,         // y[t][r] = x[t] · W[r]
  kScaleNonZero,  // y[t][r] *= x[t] · W[r] where y[t][r] != 0 (the gated FFN's up)
};

// For each chosen row r of W (all rows when `rows` is null, else rows[0..*count) with
// *count read on the device, at most `max_count`), for each of the T <= kMaxDeviceBatch
// rows of x [T][W.cols]: y[t * ldy + r] per `mode`. One warp per weight row, which is
// read once for all T; the warp's sum is a fixed shuffle tree, so results do not depend
// on the launch shape or on which rows are chosen.
absl::Status RowDots(const float* x, int T, const DeviceMatrix& w, const int32_t* rows,
                     const int32_t* count, int64_t max_count, float* y, int64_t ldy,
                     RowDotsMode mode);

// One token row's activation: ActivationKind as int, StochA's threshold
// (StochaThreshold(p)), and its RNG key with stream = the layer (docs/ENGINE.md).
struct DeviceActivation {
  int32_t kind = 0;
  uint32_t threshold = 0;
  RngKey key;
};
DeviceActivation MakeDeviceActivation(const ActivationSpec& spec, const RngKey& key);

// Applies each row's activation to h [T][F] (row stride ldh) in place, as the CPU's
// ApplyActivation does (the same StochA draws; SiLU's exp is the device's expf, within
// 2 ulp of the host's). Writes zeros[t] = exact zeros in row t (host-visible counts for
// StepStats) and active[f] = 1 when any row's h[t][f] != 0, else 0.
absl::Status Activate(float* h, int T, int64_t F, int64_t ldh, const DeviceActivation* acts,
                      int32_t* zeros, uint8_t* active);

// Benchmark knob, never used in serving (as FfnOptions.bench_force_density on the CPU):
// before a ReLU Activate, makes row t of h [T][F] keep about `density` of its neurons,
// drawn per (position, layer, neuron) from Philox: kept values become |h| + 1e-3, the
// others -1, so ReLU leaves exactly that pattern. positions [T] device memory.
absl::Status ForceDensityForBench(float* h, int T, int64_t F, int64_t ldh, float density,
                                  const int32_t* positions, uint32_t layer);

// idx[0..*count) = the f with active[f] != 0, ascending (one block, ordered scan).
absl::Status CompactActive(const uint8_t* active, int64_t F, int32_t* idx, int32_t* count);

// The down projection over W_downᵀ [F][D], "axpy" form:
//   out[t][:] = Σ_{f active, a[t][f] != 0} a[t][f] · wT[f][:]
// with the active set idx[0..*count) (ascending), or every f when idx is null. Split by
// 256-neuron chunks into `partials` (DownAxpyScratchFloats floats), then summed over the
// chunks in ascending order into out [T][D].
inline constexpr int64_t kDownChunk = 256;
int64_t DownAxpyScratchFloats(int T, int64_t F, int64_t D);
absl::Status DownAxpy(const float* a, int T, int64_t lda, const DeviceMatrix& wT,
                      const int32_t* idx, const int32_t* count, float* partials, float* out);

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_FFN_KERNELS_H_
