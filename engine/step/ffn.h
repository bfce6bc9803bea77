// The feed-forward block: one class that runs the dense or the sparse path, chosen per call.
#ifndef STOCHA_ENGINE_STEP_FFN_H_
#define STOCHA_ENGINE_STEP_FFN_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/activation.h"
#include "engine/kernels/cpu/q8_activation.h"
#include "engine/kernels/cpu/transposed_weights.h"
#include "engine/model/model.h"
#include "engine/rng.h"

namespace stocha {

class ActivityPredictor;

// How one token's row is activated: its sequence's mode and its RNG key (the caller sets
// key.stream to the layer index).
struct FfnRow {
  ActivationSpec activation;
  RngKey key;
};

// What one Forward() call did, for the step statistics.
struct FfnCallInfo {
  int64_t union_active = 0;  // neurons nonzero in at least one row
  bool sparse = false;       // took the sparse path
  bool predicted = false;    // the sparse path with rows chosen by the predictor
};

enum class FfnPolicy {
  kAuto,    // sparse when the rows' mean activation density is at most the limit below
  kDense,   // always every row of every matrix
  kSparse,  // always skip inactive neurons (even when it does not pay)
};

struct FfnOptions {
  FfnPolicy policy = FfnPolicy::kAuto;
  // kAuto's limits on the mean density of the rows' activations (nonzeros / (T·F)); the
  // sparse path's cost follows it (each row gathers its own W_up rows), not the union's.
  // One row (decode): the sparse path costs 0.80-0.85 of the dense one at density 0.5 and
  // about the same at 1.0. Two rows or more, where the dense path shares each weight row
  // between inputs: break-even between 0.3 and 0.5 (bench/ffn_bench, docs/SPARSE.md).
  float max_sparse_density = 0.7f;
  float max_sparse_density_batch = 0.33f;
  int threads = 1;
  // Batch-invariant kernels only (set from EngineOptions.deterministic): no oneDNN GEMM.
  bool deterministic = false;
  // Set from EngineOptions.activation_format: kInt8 feeds the gate, up (dense and sparse)
  // and SiLU rows' down products over block-typed weights 8-bit activations
  // (q8_activation.h). W_downᵀ's axpy (ReLU-family rows) stays F32: it scales weight rows
  // by single activations, there is no dot to take.
  ActivationFormat activation_format = ActivationFormat::kF32;
  // Predictor mode (opt-in, approximate; off when null): for ReLU rows, compute the gate
  // only for the round(predictor_density·F) neurons the predictor ranks highest.
  std::shared_ptr<const ActivityPredictor> predictor;
  float predictor_density = 0.1f;
  // Benchmark knob, 0 = off: instead of the activation, keep exactly the round(d·F)
  // largest gate values of each sparse-mode row and zero the rest, to emulate a trained
  // model's sparsity on synthetic weights. Never set in serving.
  float bench_force_density = 0.0f;
};

// Gated: out = W_down · (act(W_gate · x) ⊙ (W_up · x)); plain: out = W_down · act(W_up · x).
// Each call takes the dense path (every row of every matrix) or the sparse one (a dense
// gate, then only the active neurons' rows of W_up and W_downᵀ) per FfnOptions.policy.
// The down projection of a row whose activation can be sparse runs over W_downᵀ (transposed
// once, see Create) in ascending-neuron "axpy" order skipping zeros, so the sparse and
// the dense path give the same bits for every row. A SiLU row (DownByDot) never has zeros to
// skip: its down projection is MatMul over the file's W_down in the activation format
// whichever path the policy names, so dense = sparse holds there too. That is the GEMV the
// rest of the model runs (six weight rows per pass on AVX2, at the memory system's speed);
// the axpy over W_downᵀ read-modify-writes the output per neuron and ran 10% slower whole-model
// on F16/BF16 (docs/PERFORMANCE.md), and for block types the file's bytes are about half of
// W_downᵀ's Q8_0 re-blocking with no second rounding. A row never depends on the other rows
// of the batch.
// Thread-safety: not thread-safe (owns scratch); one per engine.
class Ffn {
 public:
  // `model` must outlive the Ffn. W_downᵀ, the axpy rows' copy, is built here when the
  // model's own activation is ReLU-family (its rows are the norm; the file's W_down pages are
  // then released: a SiLU row faults them back in), else on the first ReLU-family row that
  // needs it, layer by layer: a SiLU model served SiLU rows keeps one copy of W_down, the
  // file's (docs/ENGINE.md, "W_down").
  static absl::StatusOr<std::unique_ptr<Ffn>> Create(const Model& model, const FfnOptions& options);
  Ffn(const Ffn&) = delete;
  Ffn& operator=(const Ffn&) = delete;

  // How many layers' W_downᵀ exist so far (see Create).
  int transposed_layers() const;
  // For benchmarks and tests (not while Forward runs); `threads`, `deterministic` and
  // `activation_format` are kept.
  void SetOptions(const FfnOptions& options);
  // xb: [T][D] normalized input. out: [T][D], overwritten. zeros[t]: exact zeros in row
  // t of the activation (act(gate x) when gated, act(up x) when plain).
  FfnCallInfo Forward(const LayerWeights& w, int layer, const float* xb, int64_t T,
                      const FfnRow* rows, float* out, int64_t* zeros);

 private:
  Ffn(const Model& model, const FfnOptions& o);

  // Layer `layer`'s W_downᵀ, transposed on first use (see Create).
  const Tensor& DownT(int layer);

  // The ascending union of nonzero neurons over the rows (every neuron if a row is SiLU).
  void BuildUnion(int64_t T, const FfnRow* rows);
  int64_t KeepLargest(float* a, float density);
  bool UsePredictor(int64_t T, const FfnRow* rows) const;
  // kAuto's choice from the rows' mean activation density (zeros[t] per row).
  bool SparseIsCheaper(int64_t T, const int64_t* zeros) const;
  void PredictGate(const Tensor& gate, int layer, const float* xb, int64_t T, int64_t* zeros);
  void DenseGate(const LayerWeights& w, const float* xb, int64_t T, const FfnRow* rows,
                 int64_t* zeros);
  void SparseUp(const LayerWeights& w, const float* xb, int64_t T, const FfnRow* rows);
  // Whether `row`'s down projection is MatMul over the file's W_down (see the class).
  static bool DownByDot(const FfnRow& row);
  // out = W_down · a_ for the T rows; `active` lists the neurons the axpy rows visit.
  void Down(const LayerWeights& w, int layer, int64_t T, const FfnRow* rows,
            const std::vector<int32_t>& active, float* out);

  bool gated_;
  int F_, D_;
  FfnOptions options_;
  const Model* model_;
  bool release_w_down_;  // the model's own activation is ReLU-family
  std::vector<std::unique_ptr<TransposedMatrix>> down_t_;  // [layer] W_downᵀ [F][D], or null
  std::vector<int32_t> all_;                               // 0..F-1
  std::vector<float> a_, up_;                              // [T][F]
  std::vector<char> mask_;
  std::vector<int32_t> union_, row_idx_;
  std::vector<float> row_vals_, scratch_;
  std::vector<uint32_t> keys_;                 // KeepLargest's
  std::vector<int64_t> dot_rows_, axpy_rows_;  // Down's split of the batch
  std::vector<float> gather_a_, gather_out_;   // Down's mixed-batch rows, [n][F] and [n][D]
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_STEP_FFN_H_
