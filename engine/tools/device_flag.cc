// The --device flag, defined once for stocha-server, stocha-generate and stocha-predictor.
#include "engine/tools/device_flag.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, device, "cpu",
          "Where the engine runs: cpu, cuda (= cuda:0) or cuda:N (a binary built with "
          "-DSTOCHA_CUDA=ON; docs/CUDA.md lists what the GPU refuses)");

namespace stocha {

absl::StatusOr<Device> DeviceFromFlag() { return Device::Parse(absl::GetFlag(FLAGS_device)); }

}  // namespace stocha
