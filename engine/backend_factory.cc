// CreateBackend: the one place that knows which backends this binary was built with.
#include <memory>
#include <utility>

#include "engine/backend.h"
#include "engine/cpu_backend.h"
#if STOCHA_CUDA
#include "engine/cuda/cuda_backend.h"
#endif

namespace stocha {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::shared_ptr<const Model> model,
                                                       const EngineOptions& options,
                                                       int max_context) {
  if (options.device.kind == Device::Kind::kCpu) {
    return CpuBackend::Create(std::move(model), options, max_context);
  }
#if STOCHA_CUDA
  return cuda::CudaBackend::Create(std::move(model), options, max_context);
#else
  return absl::UnimplementedError(
      "--device=" + options.device.ToString() +
      ": this binary was built without CUDA; rebuild with -DSTOCHA_CUDA=ON (docs/CUDA.md), "
      "or use --device=cpu");
#endif
}

bool BuiltWithCuda() { return STOCHA_CUDA != 0; }

}  // namespace stocha
