// The CUDA backend: the Engine's forward pass and KV slots on one GPU, over CudaForward.
#ifndef STOCHA_ENGINE_CUDA_CUDA_BACKEND_H_
#define STOCHA_ENGINE_CUDA_CUDA_BACKEND_H_

#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/cuda/cuda_forward.h"

namespace stocha::cuda {

// Slots are CudaForward's device caches (max_context positions each, allocated whole:
// an AddSequence or Fork that does not fit is that request's ResourceExhausted). A step
// runs in pieces of at most kMaxStepRows rows, at most kMaxDeviceBatch of them wanting
// logits, in row order, so a prefill's later rows see the keys its earlier pieces wrote;
// a piece of kGemmMinRows rows or more (a prefill chunk) runs through cuBLAS. Each piece
// synchronizes once (its logits copy). Refused, naming the option and --device: 8-bit activations,
// predictor mode and the FFN input observer (CPU only). Thread-safety: as Backend's; the
// GPU is made current on the calling thread by every call, so the Engine may be built on
// one thread and stepped on another.
class CudaBackend final : public Backend {
 public:
  // FailedPrecondition with the driver's reason when no GPU can be used; InvalidArgument
  // for an ordinal this machine lacks or an option the GPU does not run.
  static absl::StatusOr<std::unique_ptr<Backend>> Create(std::shared_ptr<const Model> model,
                                                         const EngineOptions& options,
                                                         int max_context);

  const std::string& name() const override { return name_; }
  absl::StatusOr<int> NewSlot() override;
  absl::StatusOr<int> ForkSlot(int parent, int positions) override;
  void FreeSlot(int slot) override;
  absl::Status Forward(const BackendStep& step, BackendOutput& out) override;
  int64_t KvBytesPerPosition() const override;
  KvReservation kv_reservation() const override { return KvReservation::kWholeContext; }
  std::optional<DeviceMemoryInfo> DeviceMemory() const override;
  absl::Status SetFfnOptions(const FfnOptions& options) override;
  absl::Status SetFfnInputObserver(Engine::FfnInputObserver observer) override;

 private:
  CudaBackend(std::unique_ptr<CudaForward> forward, int ordinal, std::string name);

  std::unique_ptr<CudaForward> forward_;
  int ordinal_;
  std::string name_;
};

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_CUDA_CUDA_BACKEND_H_
