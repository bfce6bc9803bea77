// The k-th largest of n floats by a radix select: the benchmark's forced sparsity
// (FfnOptions::bench_force_density) takes it for every layer of every step, where
// std::nth_element over a copy of 8192 gate values took 1.5-3.4% of a 2-thread sparse decode's
// samples on one thread while the other waited (docs/PERFORMANCE.md).
#ifndef STOCHA_ENGINE_KERNELS_CPU_KTH_LARGEST_H_
#define STOCHA_ENGINE_KERNELS_CPU_KTH_LARGEST_H_

#include <cstdint>
#include <vector>

namespace stocha {

// The value v[k - 1] of a[0..n) sorted in descending order (1 <= k <= n): the same float as
// std::nth_element with std::greater gives, for finite values and infinities (-0 and +0 are
// ordered -0 first, so either may come out where a zero is the answer; they compare equal).
// No NaN. `scratch` is reused between calls.
float KthLargest(const float* a, int64_t n, int64_t k, std::vector<uint32_t>* scratch);

}  // namespace stocha

#endif  // STOCHA_ENGINE_KERNELS_CPU_KTH_LARGEST_H_
