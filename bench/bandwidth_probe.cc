// BandwidthProbe: a parallel, vectorized sum over a multi-GiB buffer.
#include "bench/bandwidth_probe.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "engine/kernels/cpu/clones.h"

namespace stocha::bench {
namespace {

STOCHA_KERNEL_CLONES float SumChunk(const float* p, int64_t n) {
  float acc[16] = {};
  for (int64_t i = 0; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) acc[j] += p[i + j];
  }
  float s = 0;
  for (float a : acc) s += a;
  return s;
}

}  // namespace

BandwidthProbe::BandwidthProbe(size_t bytes)
    : buffer_(bytes / sizeof(float) * sizeof(float)), n_(bytes / sizeof(float)) {
  const int64_t n = static_cast<int64_t>(n_);
  float* data = reinterpret_cast<float*>(buffer_.data());
  // Written by the threads that read it, so its pages are faulted in (and placed) as the
  // reads will use them.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(i & 1023) * 1e-3f;
}

float BandwidthProbe::Read() const {
  const int64_t n = static_cast<int64_t>(n_);
  const float* data = reinterpret_cast<const float*>(buffer_.data());
  constexpr int64_t kChunk = 1 << 16;
  float total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (int64_t c = 0; c < n; c += kChunk) total += SumChunk(data + c, std::min(kChunk, n - c));
  return total;
}

}  // namespace stocha::bench
