// The --device flag, defined once for stocha-server, stocha-generate and stocha-predictor.
#include "engine/tools/device_flag.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, device, "cpu",
          "Where the engine runs: cpu, cuda (= cuda:0) or cuda:N (a binary built with "
          "-DSTOCHA_CUDA=ON; docs/CUDA.md lists what the GPU refuses)");

ABSL_FLAG(bool, cuda_graphs, true,
          "With --device=cuda: replay each decode-sized step (up to 16 rows) as a CUDA graph "
          "captured at its first use, instead of ~20 kernel launches per layer; same results. "
          "false runs the plain launches. Ignored (logged) with --device=cpu");

namespace stocha {

absl::StatusOr<Device> DeviceFromFlag() { return Device::Parse(absl::GetFlag(FLAGS_device)); }

bool CudaGraphsFromFlag(const Device& device, std::string* note) {
  const bool on = absl::GetFlag(FLAGS_cuda_graphs);
  if (note != nullptr) *note = CudaGraphsIgnoredNote(device, on);
  return on;
}

}  // namespace stocha
