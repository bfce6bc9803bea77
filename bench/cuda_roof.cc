// Prints the GPU and measures the device-to-device copy roof for the CUDA benchmarks.
#include "bench/cuda_roof.h"

#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/kernels/cuda/device.h"

namespace stocha::cuda {

std::optional<double> PrintDeviceAndCopyRoof(const char* program) {
  std::string why;
  if (DeviceCount(&why) == 0) {
    std::printf("%s: no GPU: %s\n", program, why.c_str());
    return std::nullopt;
  }
  absl::StatusOr<std::string> name = DeviceName(0);
  std::printf("device: %s\n", name.ok() ? name->c_str() : name.status().ToString().c_str());
  absl::StatusOr<double> bw = CopyBandwidth(int64_t{2} << 30, 20);
  if (!bw.ok()) {
    std::printf("%s: copy bandwidth: %s\n", program, bw.status().ToString().c_str());
    return std::nullopt;
  }
  std::printf("device-to-device copy: %.0f GB/s (2 GiB buffer, read + write)\n", *bw / 1e9);
  return *bw;
}

}  // namespace stocha::cuda
