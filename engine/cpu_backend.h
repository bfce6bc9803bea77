// The CPU backend: the batched forward pass of a Llama-family decoder over the CPU kernels.
#ifndef STOCHA_ENGINE_CPU_BACKEND_H_
#define STOCHA_ENGINE_CPU_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/backend.h"
#include "engine/step/ffn.h"
#include "engine/step/forward_state.h"
#include "engine/step/kv_cache.h"
#include "engine/step/rope.h"

namespace stocha {

// KV slots are KvCaches grown on demand; a step's rows run as one batch through every
// layer (RunLayer: attention block, FFN block), then the final norm and the LM head for
// the rows that want logits. Thread-safety: as Backend's.
class CpuBackend final : public Backend {
 public:
  // Refuses (ResourceExhausted) a context whose KV cache for one sequence exceeds the
  // machine's physical memory.
  static absl::StatusOr<std::unique_ptr<Backend>> Create(std::shared_ptr<const Model> model,
                                                         const EngineOptions& options,
                                                         int max_context);

  const std::string& name() const override { return name_; }
  absl::StatusOr<int> NewSlot() override;
  absl::StatusOr<int> ForkSlot(int parent, int positions) override;
  void FreeSlot(int slot) override { caches_.erase(slot); }
  absl::Status Forward(const BackendStep& step, BackendOutput& out) override;
  int64_t KvBytesPerPosition() const override;
  KvReservation kv_reservation() const override { return KvReservation::kGrowing; }
  absl::Status SetFfnOptions(const FfnOptions& options) override;
  absl::Status SetFfnInputObserver(Engine::FfnInputObserver observer) override;

 private:
  CpuBackend(std::shared_ptr<const Model> model, const EngineOptions& options, int max_context);
  void RunLayer(int layer, BackendOutput& out);
  void Logits(const BackendStep& step, BackendOutput& out);

  const std::string name_ = "cpu";
  std::shared_ptr<const Model> model_;
  EngineOptions options_;
  int threads_ = 1;
  int max_context_ = 0;
  Rope rope_;
  std::unique_ptr<Ffn> ffn_;
  absl::flat_hash_map<int, std::unique_ptr<KvCache>> caches_;
  int next_slot_ = 1;
  std::vector<std::vector<float>> attn_norm_, ffn_norm_;  // F32 copies, [L][D]
  std::vector<float> final_norm_;
  ForwardState state_;  // scratch, reused across steps
  Engine::FfnInputObserver observer_;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_CPU_BACKEND_H_
