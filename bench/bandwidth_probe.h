// A streaming-read probe: how many bytes/s the machine's threads can read from DRAM.
#ifndef STOCHA_BENCH_BANDWIDTH_PROBE_H_
#define STOCHA_BENCH_BANDWIDTH_PROBE_H_

#include <cstddef>

#include "engine/model/huge_page_buffer.h"

namespace stocha::bench {

// Owns a buffer much larger than the L3 cache; Read() sums it with all OpenMP threads
// (vectorized loads, one pass) and returns the sum so the compiler keeps the reads.
// The buffer sits on transparent huge pages (HugePageBuffer), as the engine's weight
// buffers do: with 4 KB pages the same read ran at 12.0 GB/s on a 2-vCPU AMD EPYC (Zen 3)
// where huge pages gave 21.1 GB/s (docs/PERFORMANCE.md, "The read probe on huge pages"),
// so a probe on 4 KB pages understated the machine and flattered every "% of the probe".
class BandwidthProbe {
 public:
  explicit BandwidthProbe(size_t bytes);
  float Read() const;
  size_t bytes() const { return n_ * sizeof(float); }

 private:
  HugePageBuffer buffer_;
  size_t n_;  // floats
};

}  // namespace stocha::bench

#endif  // STOCHA_BENCH_BANDWIDTH_PROBE_H_
