// The slice of the engine the scheduler drives, as an interface so tests can fake it.
#ifndef STOCHA_SERVER_BATCH_ENGINE_H_
#define STOCHA_SERVER_BATCH_ENGINE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "engine/kv_reservation.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer.h"

namespace stocha::server {

// Thread-safety: none; only the scheduler's inference thread calls it (after Create).
// The methods mean what stocha::Engine's do.
class BatchEngine {
 public:
  virtual ~BatchEngine() = default;

  virtual absl::StatusOr<SequenceId> AddSequence(const SequenceOptions& options) = 0;
  virtual absl::StatusOr<SequenceId> Fork(SequenceId parent, uint32_t sample_index) = 0;
  virtual absl::Status RemoveSequence(SequenceId seq) = 0;
  virtual absl::StatusOr<StepOutput> Step(absl::Span<const StepInput> inputs) = 0;

  virtual const ModelConfig& config() const = 0;
  virtual const Tokenizer* tokenizer() const = 0;  // may be null: no text output
  virtual int max_context() const = 0;
  virtual int64_t KvBytesPerPosition() const = 0;
  virtual KvReservation kv_reservation() const = 0;
  virtual bool deterministic() const = 0;
  // WeightTypeSummary of the model's weights (engine/model/weight_types.h); "" in fakes.
  virtual std::string weight_type() const { return ""; }
  // Engine::backend(): "cpu" or "cuda:0 NVIDIA H200".
  virtual std::string backend() const { return "cpu"; }
  // EngineOptions.activation_format: "f32" or "int8".
  virtual std::string activation_format() const { return "f32"; }
  // Engine::DeviceMemory(): the GPU's memory, nullopt on the CPU. Unlike the rest, any
  // thread may call it (the metrics scrape does).
  virtual std::optional<DeviceMemoryInfo> DeviceMemory() const { return std::nullopt; }
};

// Adapts the real engine (which keeps its model alive).
std::unique_ptr<BatchEngine> WrapEngine(std::unique_ptr<Engine> engine);

}  // namespace stocha::server

#endif  // STOCHA_SERVER_BATCH_ENGINE_H_
