// MedianCollector: medians out of Google Benchmark's aggregate reports.
#include "bench/ratio_reporter.h"

#include <algorithm>

namespace stocha::bench {

void MedianCollector::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const Run& r : runs) {
    if (r.run_type != Run::RT_Aggregate || r.aggregate_name != "median") continue;
    repetitions_ = std::max<int64_t>(repetitions_, r.repetitions);
    std::string name = r.run_name.str();
    // UseRealTime() appends "/real_time" to the run name: key by the registered name.
    if (const size_t p = name.rfind("/real_time"); p != std::string::npos) name.erase(p);
    median_[name] = r.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
    for (const auto& [k, c] : r.counters) counters_[name][k] = c.value;
  }
}

double MedianCollector::Median(const std::string& name) const {
  auto it = median_.find(name);
  return it == median_.end() ? 0.0 : it->second;
}

double MedianCollector::Counter(const std::string& name, const std::string& counter) const {
  auto it = counters_.find(name);
  if (it == counters_.end()) return 0.0;
  auto c = it->second.find(counter);
  return c == it->second.end() ? 0.0 : c->second;
}

}  // namespace stocha::bench
