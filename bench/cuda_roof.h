// The preamble of every CUDA benchmark: which GPU, and the copy bandwidth figures are read against.
#ifndef STOCHA_BENCH_CUDA_ROOF_H_
#define STOCHA_BENCH_CUDA_ROOF_H_

#include <optional>

namespace stocha::cuda {

// Prints the device and a 2 GiB device-to-device copy's bandwidth (bytes/s, read + write
// counted), measured now so that figures of the same run are compared with it. Without a
// GPU, or when the copy fails, prints why (prefixed with `program`) and returns nullopt.
std::optional<double> PrintDeviceAndCopyRoof(const char* program);

}  // namespace stocha::cuda

#endif  // STOCHA_BENCH_CUDA_ROOF_H_
