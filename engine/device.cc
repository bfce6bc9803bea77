// Device: parsing and printing of `--device` values.
#include "engine/device.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stocha {

absl::StatusOr<Device> Device::Parse(std::string_view text, std::string_view flag) {
  std::string t(text);
  absl::StripAsciiWhitespace(&t);
  absl::AsciiStrToLower(&t);
  if (t == "cpu") return Device{};
  if (t == "cuda") return Device{Kind::kCuda, 0};
  // Digits only after "cuda:" (SimpleAtoi would take "+1"); at most 4 of them.
  const std::string prefix = "cuda:";
  const std::string n = t.substr(0, prefix.size()) == prefix ? t.substr(prefix.size()) : "";
  int ordinal = -1;
  if (!n.empty() && n.size() <= 4 && n.find_first_not_of("0123456789") == std::string::npos &&
      absl::SimpleAtoi(n, &ordinal)) {
    return Device{Kind::kCuda, ordinal};
  }
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(flag), "=", std::string(text),
                   ": expected cpu, cuda or cuda:N (N the GPU's ordinal, 0, 1, ...)"));
}

std::string Device::ToString() const {
  return kind == Kind::kCpu ? "cpu" : absl::StrCat("cuda:", ordinal);
}

std::string CudaGraphsIgnoredNote(const Device& device, bool cuda_graphs) {
  if (device.kind != Device::Kind::kCpu || cuda_graphs) return "";
  return "--cuda_graphs=false ignored: --device=cpu launches no CUDA kernels";
}

}  // namespace stocha
