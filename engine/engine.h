// The batched inference engine: sequences, KV caches and one Step() for many sequences.
#ifndef STOCHA_ENGINE_ENGINE_H_
#define STOCHA_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/activation.h"
#include "engine/device.h"
#include "engine/kv_reservation.h"
#include "engine/model/model.h"
#include "engine/step/ffn.h"
#include "engine/step_stats.h"

namespace stocha {

using SequenceId = int64_t;

struct EngineOptions {
  // Where the forward pass runs (--device): the CPU, or a CUDA GPU in a binary built with
  // -DSTOCHA_CUDA=ON (docs/CUDA.md lists the options the GPU refuses).
  Device device;
  // --cuda_graphs: on a GPU, decode-sized steps (up to 16 rows) replay a CUDA graph of
  // their kernels instead of launching ~20 kernels per layer (docs/CUDA.md). Same bits
  // either way; off is the reference. Ignored on the CPU.
  bool cuda_graphs = true;
  // Logits of a sequence never depend on what else is in the batch (fixed reduction
  // order per row). The default mode may differ in the last bits between batchings.
  bool deterministic = false;
  // 0: DefaultCpuBudget() (OMP_NUM_THREADS if set, else the affinity mask and cgroup CPU
  // quota: the CPUs this process may really use; engine/cpu_budget.h).
  int num_threads = 0;
  // 0: the model's max_position_embeddings. Create() refuses (ResourceExhausted) a context
  // whose KV cache for one sequence exceeds the machine's physical memory.
  int max_context = 0;
  // kInt8: every product over block-typed weights (Q8_0, Q4_0, K types; attention projections, FFN
  // gate and up, dense and sparse, the LM head) quantizes its input rows to 8 bits and sums integer
  // products (engine/kernels/cpu/int8_dot.h; docs/ENGINE.md "8-bit activations"): faster,
  // and approximate. Default kF32: the exact dot of the dequantized weights.
  ActivationFormat activation_format = ActivationFormat::kF32;
  // Sparse FFN policy and knobs (ffn.threads, ffn.deterministic and ffn.activation_format are
  // set from the fields above).
  FfnOptions ffn;
};

struct SequenceOptions {
  std::optional<ActivationSpec> activation;  // default: the model's DefaultActivation()
  uint64_t seed = 0;                         // keys StochA draws (with sample_index)
  uint32_t sample_index = 0;                 // prompt positions always use index 0
};

// One sequence's share of a step: `tokens` are appended at the sequence's current
// position (several tokens = a prefill chunk). Logits are returned for the last token.
struct StepInput {
  SequenceId seq = 0;
  std::vector<int> tokens;
  bool is_prompt = false;  // counts these tokens as prompt (vs generated) in the stats
  bool want_logits = true;
};

struct StepOutput {
  std::vector<std::vector<float>> logits;  // [inputs][V] (empty where !want_logits)
  StepStats stats;                         // the whole step, with per-layer seconds
  std::vector<StepStats> per_input;        // token and zero counts of each input (no seconds)
};

// The CPU row kernels this process's engines use: "avx512", "avx2" or "portable" (the best
// the CPU has, lowered by the STOCHA_ISA environment variable; docs/ENGINE.md "Determinism").
// All give the same bits; only speed differs.
std::string_view CpuRowKernels();

// Thread-safety: not thread-safe; one thread (the scheduler's inference thread) owns it.
class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(std::shared_ptr<const Model> model,
                                                        const EngineOptions& options = {});
  ~Engine();

  absl::StatusOr<SequenceId> AddSequence(const SequenceOptions& options = {});
  // A new sequence sharing `parent`'s KV cache, position, activation and seed (no
  // recomputation); later positions draw StochA randomness with `sample_index`.
  absl::StatusOr<SequenceId> Fork(SequenceId parent, uint32_t sample_index);
  absl::Status RemoveSequence(SequenceId seq);
  absl::StatusOr<int> Position(SequenceId seq) const;  // tokens in the KV cache

  // Advances every listed sequence; each sequence at most once per step. Running out of
  // memory is ResourceExhausted (no sequence advances), never an exception.
  absl::StatusOr<StepOutput> Step(absl::Span<const StepInput> inputs);

  // KV-cache bytes one position of one sequence takes (for admission budgets).
  int64_t KvBytesPerPosition() const;
  // How the backend takes that memory: kGrowing on the CPU (positions as written),
  // kWholeContext on the GPU (max_context positions from AddSequence/Fork to
  // RemoveSequence). An admission budget charges a sequence accordingly.
  KvReservation kv_reservation() const;
  int num_sequences() const;

  // Called with each layer's normalized FFN input [T][D] during Step() (calibration of
  // the activity predictor); null to stop. FailedPrecondition on a backend that cannot
  // (the GPU's).
  using FfnInputObserver = std::function<void(int layer, const float* x, int64_t T)>;
  absl::Status SetFfnInputObserver(FfnInputObserver observer);

  // Changes the FFN policy/knobs between steps (benchmarks, tests). An error naming the
  // option when the backend does not support it (the GPU: the predictor).
  absl::Status SetFfnOptions(const FfnOptions& options);

  // The backend that runs the forward pass: "cpu", or "cuda:0 NVIDIA H200" (GetModelInfo
  // and the stocha_model_info metric report it).
  const std::string& backend() const;
  // The GPU's memory free and total (cudaMemGetInfo); nullopt on the CPU backend. Unlike
  // the rest of Engine, safe to call from any thread (the metrics scrape).
  std::optional<DeviceMemoryInfo> DeviceMemory() const;

  const Model& model() const;
  const EngineOptions& options() const;
  int max_context() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  absl::StatusOr<StepOutput> StepUnchecked(absl::Span<const StepInput> inputs);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_ENGINE_H_
