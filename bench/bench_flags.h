// Command-line flags of a benchmark program: Google Benchmark's --benchmark_* flags and the
// program's own absl flags, in one command line.
//
// benchmark::Initialize sees argv first, with this project's defaults placed before the
// user's arguments so that a --benchmark_* flag the user gives wins:
//   --benchmark_repetitions=R (>= 2 for the medians; 5 by default)
//   --benchmark_enable_random_interleaving=true (paired runs see the same machine state)
//   --benchmark_report_aggregates_only=true, --benchmark_min_time=T
// What it leaves goes to absl::ParseCommandLine; --help prints both sets. Old spellings
// kept as aliases: --reps=N (--benchmark_repetitions=N), --no-prefill (--noprefill).
#ifndef STOCHA_BENCH_BENCH_FLAGS_H_
#define STOCHA_BENCH_BENCH_FLAGS_H_

#include <string>
#include <vector>

namespace stocha::bench {

struct BenchmarkDefaults {
  int repetitions = 5;
  double min_time = 0.5;  // seconds per repetition of one benchmark
};

// The --benchmark_* arguments the user gave, kept so that the defaults can change after
// the program's own flags are known (--quick). One per main(); not thread-safe.
class BenchmarkFlags {
 public:
  // Parses both sets; exits with absl's or Google Benchmark's message on a bad flag.
  static BenchmarkFlags Init(int argc, char** argv, const char* usage,
                             const BenchmarkDefaults& defaults);
  // benchmark::Initialize again with other defaults; the user's flags still win.
  void SetDefaults(const BenchmarkDefaults& defaults);

 private:
  std::string argv0_;
  std::vector<std::string> user_;  // the user's --benchmark_* arguments
};

}  // namespace stocha::bench

#endif  // STOCHA_BENCH_BENCH_FLAGS_H_
