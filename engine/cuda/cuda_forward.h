// The decoder forward pass on the GPU: device KV caches and one step of up to 256 token rows.
#ifndef STOCHA_ENGINE_CUDA_CUDA_FORWARD_H_
#define STOCHA_ENGINE_CUDA_CUDA_FORWARD_H_

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/activation.h"
#include "engine/cuda/device_weights.h"
#include "engine/cuda/step_graph_key.h"
#include "engine/kernels/cuda/device.h"
#include "engine/kernels/cuda/graph.h"
#include "engine/model/model.h"
#include "engine/rng.h"
#include "engine/step/ffn.h"

namespace stocha::cuda {

// The most token rows one Step takes (a prefill chunk). A step of kGemmMinRows rows or
// more runs its projections and its FFN through cuBLAS (kernels/cuda/gemm.h), below that
// through RowDots with the sparse FFN. 256 rows: a GEMM of 256 rows against the 1B-3B
// models' 2048-8192-wide weights already fills the GPU's tensor cores (32-128 output
// tiles of 128x128), while the step's scratch stays about 31 MiB at the Llama-3.2-1B
// shape (AllocateScratch) and a decode that shares the step waits for one chunk only.
inline constexpr int kMaxStepRows = 256;
// The row-dot kernels take at most kMaxDeviceBatch rows, so cuBLAS takes over by 17 at
// the latest; whether it should take over earlier is the crossover cuda_decode_bench
// --crossover measures (docs/PERFORMANCE.md).
inline constexpr int kGemmMinRows = kMaxDeviceBatch + 1;

// One token row of a step: appended to cache `cache` at `position` (the cache's
// positions before it must be filled), activated with `activation` and the StochA key
// `key` (whose stream the forward pass sets to each layer, as the CPU engine does).
struct TokenRow {
  int32_t token = 0;
  int cache = 0;
  int32_t position = 0;
  ActivationSpec activation;
  RngKey key;
  bool want_logits = false;
};

struct ForwardOutput {
  std::vector<std::vector<float>> logits;   // per row; empty where !want_logits
  std::vector<std::vector<int32_t>> zeros;  // [layer][row]: exact zeros of the FFN activation
  bool sparse = false;                      // the FFN took the sparse path (every layer)
  // [layer]: neurons active in at least one row (the compacted list's length) on the
  // sparse path; F on the dense path, which reads every neuron.
  std::vector<int32_t> union_active;
  // [layer]: seconds of the attention block and of the FFN block, from CUDA events read
  // after the step's one synchronization (the logits copy).
  std::vector<double> attention_seconds, ffn_seconds;
  // The step's kernels ran as a replay of a captured CUDA graph (SetCudaGraphs).
  bool graph = false;
};

// This is the CUDA backend's compute, before the Engine seam (docs/CUDA.md): a caller
// (today the tests and the benchmark) holds caches and steps rows through it. Every layer
// runs the kernels of engine/kernels/cuda/: the FFN takes the sparse path (compaction,
// active rows only) whenever a row's activation can give zeros, else the dense one; both
// give the same bits. Thread-safety: not thread-safe; one thread drives it.
class CudaForward {
 public:
  // Uploads the weights to the current device; caches hold `max_context` positions.
  static absl::StatusOr<std::unique_ptr<CudaForward>> Create(std::shared_ptr<const Model> model,
                                                             int max_context);

  // A new, empty KV cache on the device (ResourceExhausted when it does not fit).
  absl::StatusOr<int> NewCache();
  // A new cache holding the first `positions` positions of `parent` (device copy).
  absl::StatusOr<int> ForkCache(int parent, int positions);
  absl::Status FreeCache(int cache);
  // The whole cache on the host, [layer][K|V][position][kv_dim] F32 (tests: a chunk's
  // keys and values against those of 16-row steps). Waits for the device.
  absl::StatusOr<std::vector<float>> ReadCache(int cache) const;

  // Runs rows.size() <= kMaxStepRows token rows through every layer, at most
  // kMaxDeviceBatch of them wanting logits. Rows of one cache must come in position order
  // (a prefill chunk); each attends to its cache up to its own position. From
  // kGemmMinRows rows on, the projections and the FFN run through cuBLAS, dense (the
  // activation's zeros are still counted per row; the FFN policy applies below that).
  absl::StatusOr<ForwardOutput> Step(absl::Span<const TokenRow> rows);

  // kAuto (the default): the sparse FFN path when any row's activation can give zeros;
  // kDense / kSparse: always that path. Both give the same bits (docs/CUDA.md).
  // A change drops the captured graphs (they hold the old path's launches).
  void SetFfnPolicy(FfnPolicy policy);

  // Benchmark knob (0 = off), never set in serving: ReLU rows keep about this fraction of
  // their FFN neurons (ForceDensityForBench), to emulate a trained model's sparsity on
  // random weights, as decode_bench does on the CPU. A change drops the captured graphs.
  void SetBenchForceDensity(float density);

  // On (the default): a step of at most kMaxGraphRows rows replays a CUDA graph of its
  // kernels, captured the first time its (rows, sparse path) key is seen; larger steps
  // and off run the plain launches, which are the reference (same kernels, same
  // arguments, so the same bits). Off drops the graphs. A capture that fails (a call
  // inside that cannot be captured, or another thread synchronizing the same GPU, which
  // invalidates a capture in any mode) is counted (graph_capture_failures) and that step
  // runs the plain launches: the step itself still succeeds, since a graph is only an
  // optimization. The key tries again at its next step, up to kCaptureTries failures,
  // then stays plain until the graphs are dropped.
  void SetCudaGraphs(bool on);
  bool cuda_graphs() const { return graphs_on_; }
  // Graphs held now (at most kGraphSlots) and captures that failed since Create.
  int graphs_held() const;
  int graph_capture_failures() const { return capture_failures_; }
  // Test hook: the next capture makes a call that is not capturable (a device
  // synchronize) inside it, so the failure path runs against the real runtime.
  void FailNextCaptureForTest() { fail_next_capture_ = true; }

  const Model& model() const { return *model_; }
  const DeviceWeights& weights() const { return weights_; }
  int64_t cache_bytes() const { return cache_bytes_; }

 private:
  CudaForward(std::shared_ptr<const Model> model, DeviceWeights weights, int max_context);
  absl::Status AllocateScratch();
  absl::Status RunLayer(int l, int T, bool sparse);
  // Every launch of a step after its inputs are on the device, up to the logits of its
  // first n_logits gathered rows (logit_rows_).
  absl::Status LaunchStep(int T, int n_logits, bool sparse);
  // LaunchStep, as a graph replay where the key has one (capturing it the first time).
  absl::StatusOr<bool> LaunchStepMaybeGraph(int T, int n_logits, bool sparse);
  void DropGraphs();
  absl::Status Attention(int l, int T);
  absl::Status Ffn(int l, int T, bool sparse);
  // y [T][ldy] = x [T][w.cols] · Wᵀ: RowDots below kGemmMinRows rows, else cuBLAS.
  absl::Status Project(const float* x, int T, const DeviceMatrix& w, float* y, int64_t ldy);

  std::shared_ptr<const Model> model_;
  DeviceWeights weights_;
  int max_context_;
  int64_t cache_bytes_;  // per cache: every layer's keys and values
  absl::flat_hash_map<int, DeviceBuffer> caches_;
  int next_cache_ = 1;
  float bench_force_density_ = 0.0f;
  FfnPolicy policy_ = FfnPolicy::kAuto;
  DeviceEvents events_;  // [2L + 1]: before layer 0, then after each attention and FFN block
  // Scratch for kMaxStepRows rows (the activations, cuBLAS's 16-bit copy of them in
  // half_) or kMaxDeviceBatch rows (the sparse FFN's, attention's, logits), allocated once.
  DeviceBuffer x_, xb_, q_, k_, v_, att_, out_, h_, u_, half_, partials_, scores_, logits_;
  DeviceBuffer tokens_, positions_, logit_rows_, att_rows_, acts_, zeros_, active_, idx_;
  DeviceBuffer count_;  // [L]
  // Declared after the buffers and events they point to, so destroyed before them.
  bool graphs_on_ = true;
  bool fail_next_capture_ = false;
  int capture_failures_ = 0;
  std::array<DeviceGraph, kGraphSlots> graphs_;  // [StepGraphSlot]
  static constexpr int kCaptureTries = 3;
  std::array<int, kGraphSlots> slot_failures_ = {};  // failed captures per key
};

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_CUDA_CUDA_FORWARD_H_
