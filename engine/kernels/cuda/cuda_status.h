// Turns a CUDA runtime error into an absl::Status that names the call (nvcc-only header).
#ifndef STOCHA_ENGINE_KERNELS_CUDA_CUDA_STATUS_H_
#define STOCHA_ENGINE_KERNELS_CUDA_CUDA_STATUS_H_

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stocha::cuda {

// Out of memory is ResourceExhausted (the request is refused, the server keeps serving);
// anything else is Internal with the runtime's own text.
inline absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string msg =
      absl::StrCat(what, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

// After a kernel launch: the launch's own error (bad configuration), not the kernel's.
inline absl::Status LaunchStatus(const char* kernel) {
  return CudaStatus(cudaGetLastError(), kernel);
}

}  // namespace stocha::cuda

#endif  // STOCHA_ENGINE_KERNELS_CUDA_CUDA_STATUS_H_
