// A streaming-read probe: how many bytes/s the machine's threads can read from DRAM.
#ifndef STOCHA_BENCH_BANDWIDTH_PROBE_H_
#define STOCHA_BENCH_BANDWIDTH_PROBE_H_

#include <cstddef>
#include <vector>

namespace stocha::bench {

// Owns a buffer much larger than the L3 cache; Read() sums it with all OpenMP threads
// (vectorized loads, one pass) and returns the sum so the compiler keeps the reads.
class BandwidthProbe {
 public:
  explicit BandwidthProbe(size_t bytes);
  float Read() const;
  size_t bytes() const { return data_.size() * sizeof(float); }

 private:
  std::vector<float> data_;
};

}  // namespace stocha::bench

#endif  // STOCHA_BENCH_BANDWIDTH_PROBE_H_
