// Where an engine runs: the CPU or one CUDA GPU (`cpu`, `cuda`, `cuda:N`), and that device's
// memory.
#ifndef STOCHA_ENGINE_DEVICE_H_
#define STOCHA_ENGINE_DEVICE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace stocha {

// Thread-safety: a value type.
struct Device {
  enum class Kind { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int ordinal = 0;  // the CUDA device ordinal (kCuda only)

  // "cpu", "cuda" (= cuda:0) or "cuda:N", case-insensitive. Anything else is
  // InvalidArgument naming `flag` (the flag or option the text came from) and the value.
  static absl::StatusOr<Device> Parse(std::string_view text, std::string_view flag = "--device");
  // "cpu" or "cuda:N": what Parse reads back.
  std::string ToString() const;

  bool operator==(const Device& o) const { return kind == o.kind && ordinal == o.ordinal; }
};

// --cuda_graphs=false has nothing to switch off on the CPU: it is ignored there, with
// this line for the log (empty when there is nothing to say), so one set of flags can
// serve CPU and GPU deployments alike.
std::string CudaGraphsIgnoredNote(const Device& device, bool cuda_graphs);

// A GPU's memory as the driver reports it (cudaMemGetInfo): what the metrics export.
struct DeviceMemoryInfo {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
  int64_t used_bytes() const { return total_bytes - free_bytes; }
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_DEVICE_H_
