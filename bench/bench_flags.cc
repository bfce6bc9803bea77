// BenchmarkFlags: Google Benchmark's flags first, then the program's absl flags.
#include "bench/bench_flags.h"

#include <algorithm>
#include <cstdio>

#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "engine/tools/flag_aliases.h"
#include "engine/tools/program_usage.h"

namespace stocha::bench {
namespace {

std::string& ProgramName() {
  static std::string name;
  return name;
}

// --help, caught by benchmark::Initialize: its flags, then ours (absl prints and exits).
void PrintHelp() {
  benchmark::PrintDefaultHelp();
  std::fputs("\n", stdout);
  std::fflush(stdout);
  std::string help = "--help";
  char* argv[] = {ProgramName().data(), help.data(), nullptr};
  absl::ParseCommandLine(2, argv);
}

std::vector<std::string> DefaultArgs(const BenchmarkDefaults& d) {
  return {absl::StrFormat("--benchmark_repetitions=%d", d.repetitions),
          "--benchmark_enable_random_interleaving=true", "--benchmark_report_aggregates_only=true",
          absl::StrFormat("--benchmark_min_time=%g", d.min_time)};
}

// benchmark::Initialize on argv0 + defaults + args; returns what it left of `args`.
std::vector<char*> InitializeBenchmark(const std::string& argv0, const BenchmarkDefaults& d,
                                       std::vector<char*> args) {
  std::vector<std::string> defaults = DefaultArgs(d);
  std::string name = argv0;
  std::vector<char*> all = {name.data()};
  for (std::string& s : defaults) all.push_back(s.data());
  all.insert(all.end(), args.begin(), args.end());
  all.push_back(nullptr);
  int n = static_cast<int>(all.size()) - 1;
  benchmark::Initialize(&n, all.data(), PrintHelp);
  std::vector<char*> left;
  for (int i = 1; i < n; ++i) {
    if (std::find(args.begin(), args.end(), all[i]) != args.end()) left.push_back(all[i]);
  }
  return left;
}

}  // namespace

BenchmarkFlags BenchmarkFlags::Init(int argc, char** argv, const char* usage,
                                    const BenchmarkDefaults& defaults) {
  SetProgramUsage(usage, "bench/");
  ProgramName() = argv[0];

  AliasedArgv aliased(argc, argv, {{"reps", "benchmark_repetitions"}, {"no-prefill", "noprefill"}});
  BenchmarkFlags flags;
  flags.argv0_ = argv[0];
  std::vector<char*> args(aliased.argv() + 1, aliased.argv() + aliased.argc());
  const std::vector<char*> left = InitializeBenchmark(flags.argv0_, defaults, args);
  for (char* a : args) {
    if (std::find(left.begin(), left.end(), a) == left.end()) flags.user_.emplace_back(a);
  }
  std::vector<char*> rest = {aliased.argv()[0]};
  rest.insert(rest.end(), left.begin(), left.end());
  const std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(rest.size()), rest.data());
  if (positional.size() > 1) {
    std::fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", argv[0], positional[1]);
    std::exit(2);
  }
  return flags;
}

void BenchmarkFlags::SetDefaults(const BenchmarkDefaults& defaults) {
  std::vector<char*> args;
  for (std::string& s : user_) args.push_back(s.data());
  InitializeBenchmark(argv0_, defaults, args);
}

}  // namespace stocha::bench
