// A Google Benchmark reporter that keeps each benchmark's median and prints paired ratios.
#ifndef STOCHA_BENCH_RATIO_REPORTER_H_
#define STOCHA_BENCH_RATIO_REPORTER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace stocha::bench {

// Passes everything to the console reporter and remembers, per run name, the median of
// the repetitions' real time (seconds per iteration) and their user counters.
class MedianCollector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override;
  // Median seconds per iteration of `name`; 0 if it did not run.
  double Median(const std::string& name) const;
  double Counter(const std::string& name, const std::string& counter) const;
  // Repetitions of the runs reported so far (--benchmark_repetitions).
  int64_t repetitions() const { return repetitions_; }

 private:
  std::map<std::string, double> median_;
  std::map<std::string, std::map<std::string, double>> counters_;
  int64_t repetitions_ = 0;
};

}  // namespace stocha::bench

#endif  // STOCHA_BENCH_RATIO_REPORTER_H_
