// Percentiles and error counts of a load-generator run.
#ifndef STOCHA_CLIENT_LATENCY_STATS_H_
#define STOCHA_CLIENT_LATENCY_STATS_H_

#include <map>
#include <string>
#include <vector>

namespace stocha::client {

// One finished call as the load generator saw it.
struct CallResult {
  std::string code = "OK";  // gRPC status code name
  double total_ms = 0;
  double ttft_ms = -1;        // < 0: no token arrived (or unary)
  int completion_tokens = 0;  // all samples of the call
  int prompt_tokens_computed = 0;
  int samples = 1;  // samples the call generated together (MultiSample's n)
};

struct Distribution {
  int count = 0;
  double p50 = 0, p90 = 0, p99 = 0, mean = 0, max = 0;
};

// Nearest-rank percentiles of `values` (sorted in place).
Distribution Summarize(std::vector<double>& values);

struct RunStats {
  double wall_s = 0;
  int ok = 0;
  std::map<std::string, int> errors;  // by status code
  double requests_per_s = 0, tokens_per_s = 0;
  long long completion_tokens = 0, prompt_tokens_computed = 0;
  Distribution total_ms, ttft_ms, tpot_ms;  // OK calls only
};

// Failed calls count only in `errors` (their tokens are not throughput). Time per output
// token = (total - ttft) / (tokens per sample - 1), for calls with >= 2 tokens per sample:
// the n samples of a MultiSample call advance together, so the interval a reader of one
// sample sees is n times what dividing by all n samples' tokens would report.
RunStats Compute(const std::vector<CallResult>& results, double wall_s);

}  // namespace stocha::client

#endif  // STOCHA_CLIENT_LATENCY_STATS_H_
