// CudaBackend: the Engine's seam on a GPU; steps cut into device-sized pieces, stats from CUDA
// events.
#include "engine/cuda/cuda_backend.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/cuda/step_pieces.h"
#include "engine/format/status_macros.h"

namespace stocha::cuda {
namespace {

// Predictor mode is the CPU's (Create's check, before the device is touched, and
// SetFfnOptions').
absl::Status RefusePredictor(const FfnOptions& o, int ordinal) {
  if (o.predictor == nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("EngineOptions.ffn.predictor (--predictor): predictor mode runs on the CPU "
                   "only, not with --device=cuda:",
                   ordinal, "; drop it or use --device=cpu"));
}

// The options the GPU does not run, refused by name before the device is touched.
absl::Status CheckOptions(const EngineOptions& o, int ordinal) {
  const std::string device = absl::StrCat("--device=cuda:", ordinal);
  if (o.activation_format == ActivationFormat::kInt8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EngineOptions.activation_format int8 (--int8_activations): 8-bit activations run on "
        "the CPU only, not with ",
        device, "; drop it or use --device=cpu"));
  }
  return RefusePredictor(o.ffn, ordinal);
}

}  // namespace

CudaBackend::CudaBackend(std::unique_ptr<CudaForward> forward, int ordinal, std::string name)
    : forward_(std::move(forward)), ordinal_(ordinal), name_(std::move(name)) {}

absl::StatusOr<std::unique_ptr<Backend>> CudaBackend::Create(std::shared_ptr<const Model> model,
                                                             const EngineOptions& options,
                                                             int max_context) {
  const int ordinal = options.device.ordinal;
  STOCHA_RETURN_IF_ERROR(CheckOptions(options, ordinal));
  std::string why;
  const int count = DeviceCount(&why);
  if (count == 0) {
    // `why` is a Status's text ("INTERNAL: cudaGetDeviceCount: ..."): keep the driver's part.
    if (const std::string code = "INTERNAL: "; why.rfind(code, 0) == 0) why.erase(0, code.size());
    return absl::FailedPreconditionError(
        absl::StrCat("--device=cuda:", ordinal, ": no usable GPU: ", why));
  }
  if (ordinal >= count) {
    return absl::InvalidArgumentError(absl::StrCat("--device=cuda:", ordinal, ": this machine has ",
                                                   count, " GPU(s), cuda:0 to cuda:", count - 1));
  }
  STOCHA_RETURN_IF_ERROR(SetDevice(ordinal));
  STOCHA_ASSIGN_OR_RETURN(std::string description, DeviceName(ordinal));
  // "NVIDIA H200, sm_90, ..." -> "cuda:0 NVIDIA H200": one metric label value per GPU model.
  const std::string name =
      absl::StrCat("cuda:", ordinal, " ", description.substr(0, description.find(',')));
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<CudaForward> forward,
                          CudaForward::Create(std::move(model), max_context));
  forward->SetCudaGraphs(options.cuda_graphs);
  auto backend = std::unique_ptr<CudaBackend>(new CudaBackend(std::move(forward), ordinal, name));
  STOCHA_RETURN_IF_ERROR(backend->SetFfnOptions(options.ffn));
  return std::unique_ptr<Backend>(std::move(backend));
}

absl::StatusOr<int> CudaBackend::NewSlot() {
  STOCHA_RETURN_IF_ERROR(SetDevice(ordinal_));
  return forward_->NewCache();
}

absl::StatusOr<int> CudaBackend::ForkSlot(int parent, int positions) {
  STOCHA_RETURN_IF_ERROR(SetDevice(ordinal_));
  return forward_->ForkCache(parent, positions);
}

void CudaBackend::FreeSlot(int slot) {
  // A slot the Engine holds always exists, and cudaFree of it cannot fail for want of a
  // current device: the status carries nothing to act on.
  (void)SetDevice(ordinal_);
  (void)forward_->FreeCache(slot);
}

absl::Status CudaBackend::Forward(const BackendStep& step, BackendOutput& out) {
  STOCHA_RETURN_IF_ERROR(SetDevice(ordinal_));
  const int64_t T = static_cast<int64_t>(step.rows.size());
  const int L = static_cast<int>(forward_->weights().layers().size());
  out.layers.assign(L, LayerStats{});
  out.zeros.assign(L, std::vector<int64_t>(T, 0));
  out.logits.resize(step.logit_rows.size());
  std::vector<char> want(T, 0);
  for (int64_t r : step.logit_rows) want[r] = 1;
  std::vector<TokenRow> rows;
  size_t next_logits = 0;  // index into step.logit_rows
  // Pieces of at most kMaxStepRows rows (a prefill chunk runs through cuBLAS in one) and
  // at most kMaxDeviceBatch rows wanting logits (the step's logits scratch), in row order.
  for (const auto& [begin, end] : CutStep(want, kMaxStepRows, kMaxDeviceBatch)) {
    rows.clear();
    for (int64_t t = begin; t < end; ++t) {
      const BackendRow& r = step.rows[t];
      rows.push_back(
          TokenRow{r.token, r.slot, r.position, r.ffn.activation, r.ffn.key, want[t] != 0});
    }
    STOCHA_ASSIGN_OR_RETURN(ForwardOutput piece, forward_->Step(rows));
    for (int l = 0; l < L; ++l) {
      LayerStats& ls = out.layers[l];
      ls.attention_seconds += piece.attention_seconds[l];
      ls.ffn_seconds += piece.ffn_seconds[l];
      ls.ffn_calls += 1;
      ls.union_active += piece.union_active[l];
      ls.sparse_calls += piece.sparse ? 1 : 0;
      std::copy(piece.zeros[l].begin(), piece.zeros[l].end(), out.zeros[l].begin() + begin);
    }
    for (; next_logits < step.logit_rows.size() && step.logit_rows[next_logits] < end;
         ++next_logits) {
      out.logits[next_logits] = std::move(piece.logits[step.logit_rows[next_logits] - begin]);
    }
  }
  return absl::OkStatus();
}

int64_t CudaBackend::KvBytesPerPosition() const {
  // F32 keys and values, as on the CPU; a slot holds max_context of them from its start.
  return F32KvBytesPerPosition(forward_->model().config());
}

std::optional<DeviceMemoryInfo> CudaBackend::DeviceMemory() const {
  if (!SetDevice(ordinal_).ok()) return std::nullopt;
  absl::StatusOr<cuda::DeviceMemory> m = MemoryInfo();
  if (!m.ok()) return std::nullopt;
  return DeviceMemoryInfo{m->free, m->total};
}

absl::Status CudaBackend::SetFfnOptions(const FfnOptions& options) {
  STOCHA_RETURN_IF_ERROR(RefusePredictor(options, ordinal_));
  // The sparse/dense density limits are the CPU's break-even points; the GPU's threshold
  // is still to be measured (docs/CUDA.md), so kAuto takes the sparse path whenever a
  // row's activation can give zeros.
  forward_->SetFfnPolicy(options.policy);
  forward_->SetBenchForceDensity(options.bench_force_density);
  return absl::OkStatus();
}

absl::Status CudaBackend::SetFfnInputObserver(Engine::FfnInputObserver observer) {
  if (!observer) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the FFN input observer (predictor calibration, stocha-predictor fit) runs on the CPU "
      "only, not with --device=cuda:",
      ordinal_, "; use --device=cpu"));
}

}  // namespace stocha::cuda
