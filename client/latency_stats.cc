// Summarize and Compute.
#include "client/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace stocha::client {

Distribution Summarize(std::vector<double>& v) {
  Distribution d;
  d.count = static_cast<int>(v.size());
  if (v.empty()) {
    return d;
  }
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    const size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
  };
  d.p50 = rank(0.50);
  d.p90 = rank(0.90);
  d.p99 = rank(0.99);
  d.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  d.max = v.back();
  return d;
}

RunStats Compute(const std::vector<CallResult>& results, double wall_s) {
  RunStats s;
  s.wall_s = wall_s;
  std::vector<double> total, ttft, tpot;
  for (const CallResult& r : results) {
    if (r.code != "OK") {
      ++s.errors[r.code];
      continue;
    }
    ++s.ok;
    s.completion_tokens += r.completion_tokens;
    s.prompt_tokens_computed += r.prompt_tokens_computed;
    total.push_back(r.total_ms);
    if (r.ttft_ms >= 0) {
      ttft.push_back(r.ttft_ms);
      const double per_sample =
          static_cast<double>(r.completion_tokens) / static_cast<double>(std::max(1, r.samples));
      if (per_sample >= 2) {
        tpot.push_back((r.total_ms - r.ttft_ms) / (per_sample - 1));
      }
    }
  }
  if (wall_s > 0) {
    s.requests_per_s = s.ok / wall_s;
    s.tokens_per_s = static_cast<double>(s.completion_tokens) / wall_s;
  }
  s.total_ms = Summarize(total);
  s.ttft_ms = Summarize(ttft);
  s.tpot_ms = Summarize(tpot);
  return s;
}

}  // namespace stocha::client
