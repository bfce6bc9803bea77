// The compute behind Engine: KV slots and one forward pass of a step's token rows, on the CPU or a
// GPU.
#ifndef STOCHA_ENGINE_BACKEND_H_
#define STOCHA_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/device.h"
#include "engine/engine.h"
#include "engine/kv_reservation.h"
#include "engine/model/model.h"
#include "engine/step/ffn.h"
#include "engine/step_stats.h"

namespace stocha {

// One token row of a step. Rows of one slot come in position order (a prefill chunk),
// each at the slot's next position; a row attends to its slot up to its own position.
struct BackendRow {
  int token = 0;
  int slot = 0;      // a KV slot from NewSlot / ForkSlot
  int position = 0;  // where this row's key and value go
  FfnRow ffn;        // activation and StochA key; the backend sets key.stream to the layer
};

struct BackendStep {
  std::vector<BackendRow> rows;     // T rows
  std::vector<int64_t> logit_rows;  // ascending indices into rows whose logits are wanted
};

struct BackendOutput {
  std::vector<std::vector<float>> logits;   // [logit_rows][V]
  std::vector<std::vector<int64_t>> zeros;  // [L][T]: exact zeros of each row's FFN activation
  // [L]: seconds and the FFN call counters (ffn_calls, union_active, sparse_calls,
  // predictor_calls); the token and zero counts are the Engine's to add (from `zeros`).
  std::vector<LayerStats> layers;
};

// What Engine delegates: the Engine keeps the sequences, validation, StochA keys and the
// step statistics; a backend holds the weights in its own form, the KV caches ("slots")
// and runs the layers. Every backend gives the Engine the same answers up to its own
// rounding (docs/ENGINE.md "Backends"). Thread-safety: as Engine's (one thread drives
// it), except DeviceMemory(), which any thread may call.
class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", or "cuda:0 NVIDIA H200": GetModelInfo's backend and the metric's label.
  virtual const std::string& name() const = 0;

  // An empty KV slot; ResourceExhausted when it does not fit.
  virtual absl::StatusOr<int> NewSlot() = 0;
  // A new slot holding the first `positions` positions of `parent`.
  virtual absl::StatusOr<int> ForkSlot(int parent, int positions) = 0;
  virtual void FreeSlot(int slot) = 0;

  // Runs the step's rows through every layer: writes their keys and values, fills `out`.
  // Room is made for every row before anything is written, so a failure for lack of
  // memory (ResourceExhausted) leaves the slots as they were for the rows' positions.
  virtual absl::Status Forward(const BackendStep& step, BackendOutput& out) = 0;

  // KV-cache bytes one position of one sequence takes (for admission budgets).
  virtual int64_t KvBytesPerPosition() const = 0;
  // Whether a slot's memory grows with its positions or is taken whole at NewSlot/ForkSlot:
  // what an admission budget must charge (engine/kv_reservation.h).
  virtual KvReservation kv_reservation() const = 0;
  // The GPU's memory; nullopt on the CPU.
  virtual std::optional<DeviceMemoryInfo> DeviceMemory() const { return std::nullopt; }

  // An error when this backend cannot do what is asked (naming the option and --device).
  virtual absl::Status SetFfnOptions(const FfnOptions& options) = 0;
  virtual absl::Status SetFfnInputObserver(Engine::FfnInputObserver observer) = 0;
};

// KV-cache bytes per position of one sequence when keys and values are held in F32 (both
// backends today): every layer's key and value rows.
inline int64_t F32KvBytesPerPosition(const ModelConfig& c) {
  return 2LL * c.num_layers * c.num_kv_heads * c.head_dim * static_cast<int64_t>(sizeof(float));
}

// The backend EngineOptions.device names, for `model` with `max_context` positions per
// slot (already checked against the model). --device=cuda in a binary built without
// -DSTOCHA_CUDA=ON is Unimplemented saying so; with it but no usable GPU,
// FailedPrecondition carrying the driver's reason.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::shared_ptr<const Model> model,
                                                       const EngineOptions& options,
                                                       int max_context);

// Whether this binary has the CUDA backend (-DSTOCHA_CUDA=ON).
bool BuiltWithCuda();

}  // namespace stocha

#endif  // STOCHA_ENGINE_BACKEND_H_
