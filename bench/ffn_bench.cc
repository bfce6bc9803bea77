// FFN layer benchmark: sparse ÷ dense time at real shapes, batches and sparsities (BF16).
//
// Each layer's weights are distinct and the benchmark cycles through enough layers that
// the working set is several GiB, so the large L3 cannot hide DRAM traffic. Dense and
// sparse runs of one configuration are interleaved at random (>= 5 repetitions) and the
// ratio of their medians is printed. Sparsity is set by FfnOptions.bench_force_density.
// A third run per configuration uses the default policy (kAuto): which path it took, and
// its time against the faster of the two forced paths (1.00 = it chose right).
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "bench/bench_flags.h"
#include "bench/ratio_reporter.h"
#include "bench/synthetic_model.h"
#include "benchmark/benchmark.h"
#include "engine/step/ffn.h"

ABSL_FLAG(bool, quick, false,
          "Llama-3.2-1B only, batches 1 and 8, sparsity 0 and 90%, 1 GiB, 0.05 s runs");
ABSL_FLAG(std::optional<double>, gib, std::nullopt,
          "GiB of distinct FFN layers cycled through (default 3, --quick 1)");

namespace stocha::bench {
namespace {

constexpr char kUsage[] = R"(FFN layer, sparse vs dense, at real shapes, batches and sparsities.

  ffn_bench [--quick] [--gib=GiB] [--benchmark_repetitions=5]

Google Benchmark's --benchmark_* flags are passed on (defaults: 5 interleaved repetitions,
0.2 s each; --quick: 0.05 s). --reps=N is an old spelling.)";

struct Args {
  std::vector<Shape> shapes = {Llama32_1B(), Qwen25_1_5B(), Llama32_3B()};
  std::vector<int> batches = {1, 2, 4, 8, 16};
  std::vector<int> sparsity = {0, 50, 80, 90, 95};
  double working_set_gib = 3.0;
};

Args ArgsFromFlags() {
  Args a;
  if (absl::GetFlag(FLAGS_quick)) {
    a.shapes = {Llama32_1B()};
    a.batches = {1, 8};
    a.sparsity = {0, 90};
    a.working_set_gib = 1.0;
  }
  a.working_set_gib = absl::GetFlag(FLAGS_gib).value_or(a.working_set_gib);
  if (!(a.working_set_gib > 0)) {
    std::fprintf(stderr, "ffn_bench: --gib must be > 0\n");
    std::exit(2);
  }
  return a;
}

std::string Name(const Shape& s, int b, int sp, const char* mode) {
  return absl::StrFormat("ffn/%s/batch:%d/sparsity:%d/%s", s.name, b, sp, mode);
}

void RunShape(const Shape& shape, const Args& args, std::vector<std::string>& table,
              int64_t* repetitions) {
  const double layer_bytes = 3.0 * shape.D * shape.F * 2;  // gate + up + down (BF16)
  const int layers = std::max(2, static_cast<int>(args.working_set_gib * (1 << 30) / layer_bytes));
  std::fprintf(stderr, "%s: %d layers, %.2f GiB of FFN weights read per pass\n", shape.name.c_str(),
               layers, layers * layer_bytes / (1 << 30));
  auto model = SyntheticModel(shape, layers, /*tiny_attention=*/true);
  FfnOptions fo;
  fo.threads = omp_get_max_threads();
  auto ffn = std::move(*Ffn::Create(*model, fo));
  const int maxb = *std::max_element(args.batches.begin(), args.batches.end());
  std::vector<float> x(static_cast<size_t>(maxb) * shape.D), out(x.size());
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0, 1);
  for (float& v : x) v = nd(rng);
  std::vector<int64_t> zeros(maxb);
  std::vector<FfnRow> rows(maxb);
  for (int b = 0; b < maxb; ++b) rows[b] = FfnRow{{ActivationKind::kRelu, 0}, {1, 0, 0, 0}};

  for (int b : args.batches) {
    for (int sp : args.sparsity) {
      for (const char* mode : {"dense", "sparse", "auto"}) {
        const FfnPolicy policy = mode[0] == 's'   ? FfnPolicy::kSparse
                                 : mode[0] == 'd' ? FfnPolicy::kDense
                                                  : FfnPolicy::kAuto;
        benchmark::RegisterBenchmark(
            Name(shape, b, sp, mode).c_str(),
            [&, b, sp, policy](benchmark::State& st) {
              FfnOptions o;
              o.policy = policy;
              o.bench_force_density = 1.0f - sp / 100.0f;
              ffn->SetOptions(o);
              int layer = 0;
              int64_t active = 0, calls = 0, sparse_calls = 0;
              for (auto _ : st) {
                FfnCallInfo info = ffn->Forward(model->weights().layers[layer], layer, x.data(), b,
                                                rows.data(), out.data(), zeros.data());
                benchmark::DoNotOptimize(out.data());
                active += info.union_active;
                sparse_calls += info.sparse ? 1 : 0;
                ++calls;
                layer = (layer + 1) % layers;
              }
              st.counters["union_density"] = static_cast<double>(active) / (calls * shape.F);
              st.counters["sparse_share"] = static_cast<double>(sparse_calls) / calls;
            })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  MedianCollector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  *repetitions = collector.repetitions();
  benchmark::ClearRegisteredBenchmarks();

  for (int b : args.batches) {
    for (int sp : args.sparsity) {
      const std::string sn = Name(shape, b, sp, "sparse");
      const double dense = collector.Median(Name(shape, b, sp, "dense"));
      const double sparse = collector.Median(sn);
      const double u = collector.Counter(sn, "union_density");
      const double autom = collector.Median(Name(shape, b, sp, "auto"));
      const bool auto_sparse = collector.Counter(Name(shape, b, sp, "auto"), "sparse_share") > 0.5;
      // A dense engine does the same work at any sparsity; stocha's dense path does not
      // quite (its W_downᵀ accumulation skips zero activations), so the honest baseline
      // is the dense path at 0% sparsity, measured in the same interleaved run.
      const std::string d0 = Name(shape, b, 0, "dense");
      const double dense0 = collector.Median(d0) > 0 ? collector.Median(d0) : dense;
      const double ceiling = (1.0 + 2.0 * u) / 3.0;  // gate dense + union rows of up, down
      table.push_back(absl::StrFormat(
          "| %s | %d | %d%% | %.3f | %.3f | %.3f | %.2f | %.3f | **%.3f** | %.3f | %s | %.2f |",
          shape.name, b, sp, dense0 * 1e3, dense * 1e3, sparse * 1e3, u, sparse / dense,
          sparse / dense0, ceiling, auto_sparse ? "sparse" : "dense",
          autom / std::min(dense, sparse)));
    }
  }
}

}  // namespace
}  // namespace stocha::bench

int main(int argc, char** argv) {
  using namespace stocha::bench;  // NOLINT(google-build-using-namespace)
  BenchmarkFlags flags = BenchmarkFlags::Init(argc, argv, kUsage, {5, 0.2});
  if (absl::GetFlag(FLAGS_quick)) flags.SetDefaults({5, 0.05});
  const Args args = ArgsFromFlags();
  std::vector<std::string> table;
  int64_t reps = 0;
  for (const Shape& s : args.shapes) RunShape(s, args, table, &reps);
  std::printf("\nFFN layer, BF16 weights, %d threads, median of %d interleaved repetitions\n",
              omp_get_max_threads(), static_cast<int>(reps));
  std::printf(
      "| shape | batch | sparsity | dense ms at 0%% | dense ms | sparse ms | union density "
      "| sparse/dense (same activations) | sparse/dense at 0%% | bytes ceiling | auto picks "
      "| auto / faster of the two |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& row : table) std::printf("%s\n", row.c_str());
  return 0;
}
