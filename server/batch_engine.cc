// WrapEngine: forwards BatchEngine calls to stocha::Engine.
#include "server/batch_engine.h"

#include <string>
#include <utility>

#include "engine/model/weight_types.h"

namespace stocha::server {
namespace {

class EngineAdapter final : public BatchEngine {
 public:
  explicit EngineAdapter(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}

  absl::StatusOr<SequenceId> AddSequence(const SequenceOptions& options) override {
    return engine_->AddSequence(options);
  }
  absl::StatusOr<SequenceId> Fork(SequenceId parent, uint32_t sample_index) override {
    return engine_->Fork(parent, sample_index);
  }
  absl::Status RemoveSequence(SequenceId seq) override { return engine_->RemoveSequence(seq); }
  absl::StatusOr<StepOutput> Step(absl::Span<const StepInput> inputs) override {
    return engine_->Step(inputs);
  }
  const ModelConfig& config() const override { return engine_->model().config(); }
  const Tokenizer* tokenizer() const override { return engine_->model().tokenizer(); }
  int max_context() const override { return engine_->max_context(); }
  int64_t KvBytesPerPosition() const override { return engine_->KvBytesPerPosition(); }
  KvReservation kv_reservation() const override { return engine_->kv_reservation(); }
  bool deterministic() const override { return engine_->options().deterministic; }
  std::string weight_type() const override { return WeightTypeSummary(engine_->model().weights()); }
  std::string backend() const override { return engine_->backend(); }
  std::string activation_format() const override {
    return engine_->options().activation_format == ActivationFormat::kInt8 ? "int8" : "f32";
  }
  std::optional<DeviceMemoryInfo> DeviceMemory() const override { return engine_->DeviceMemory(); }

 private:
  std::unique_ptr<Engine> engine_;
};

}  // namespace

std::unique_ptr<BatchEngine> WrapEngine(std::unique_ptr<Engine> engine) {
  return std::make_unique<EngineAdapter>(std::move(engine));
}

}  // namespace stocha::server
