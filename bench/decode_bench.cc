// Whole-model benchmark on synthetic BF16 weights of real shapes: decode tokens/s with the
// sparse vs the dense FFN (at 0% sparsity), dense decode bytes/s against a streaming-read probe,
// and prefill tokens/s. Paired runs are interleaved (>= 5 repetitions); ratios of medians.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "bench/bandwidth_probe.h"
#include "bench/bench_flags.h"
#include "bench/ratio_reporter.h"
#include "bench/synthetic_model.h"
#include "benchmark/benchmark.h"
#include "engine/cpu_budget.h"
#include "engine/engine.h"
#include "engine/step/predictor.h"

ABSL_FLAG(bool, quick, false, "One shape (Llama-3.2-1B), a 64-token prefill, 0.1 s runs");
ABSL_FLAG(bool, prefill, true, "Also measure prefill (--noprefill: decode only)");
ABSL_FLAG(double, sparsity, 90, "FFN sparsity in percent, [0, 100)");
ABSL_FLAG(int, threads, 0,
          "Compute threads of the engine and of the read probe; 0 = the CPUs this process may "
          "use (OMP_NUM_THREADS if set)");
ABSL_FLAG(int, context, 0,
          "Positions already in the KV cache when decode starts (a prefill of this many "
          "tokens, untimed); decode then runs 128 positions from there");
ABSL_FLAG(bool, int8_activations, false,
          "Block-typed weights (Q8_0, Q4_0, K types): quantize each product's activations to 8 "
          "bits and sum integer products (faster, approximate; docs/ENGINE.md)");
ABSL_FLAG(std::string, weights, "bf16",
          "Weight type of the synthetic model: bf16, q8_0, q4_0, q4_k, q5_k or q6_k");

namespace stocha::bench {
namespace {

constexpr char kUsage[] =
    R"(Whole-model decode, synthetic BF16/Q8_0/Q4_0/K-quant weights: sparse vs dense.

  decode_bench [--quick] [--noprefill] [--sparsity=90] [--threads=N] [--context=N]
               [--weights=bf16|q8_0|q4_0|q4_k|q5_k|q6_k] [--int8_activations]
               [--benchmark_repetitions=5]

Google Benchmark's --benchmark_* flags are passed on (defaults: 5 interleaved repetitions,
0.5 s each; --quick: 0.1 s). --reps=N and --no-prefill are old spellings.)";

struct Args {
  std::vector<Shape> shapes = {Llama32_1B(), Qwen25_1_5B()};
  float density = 0.1f;  // active fraction of the FFN (90% sparsity)
  int prefill_tokens = 512;
  bool prefill = true;
  int context = 0;
  int predictor_rank = 128;
  DType weights = DType::kBF16;
  bool int8_activations = false;
};

Args ArgsFromFlags() {
  Args a;
  if (absl::GetFlag(FLAGS_quick)) {
    a.shapes = {Llama32_1B()};
    a.prefill_tokens = 64;
  }
  a.prefill = absl::GetFlag(FLAGS_prefill);
  a.context = absl::GetFlag(FLAGS_context);
  a.int8_activations = absl::GetFlag(FLAGS_int8_activations);
  if (a.context < 0 || a.context > 3840) {
    std::fprintf(stderr, "decode_bench: --context must be in [0, 3840]\n");
    std::exit(2);
  }
  const std::string w = absl::GetFlag(FLAGS_weights);
  a.weights = w == "q8_0"   ? DType::kQ8_0
              : w == "q4_0" ? DType::kQ4_0
              : w == "q4_k" ? DType::kQ4_K
              : w == "q5_k" ? DType::kQ5_K
              : w == "q6_k" ? DType::kQ6_K
                            : DType::kBF16;
  if (a.weights == DType::kBF16 && w != "bf16") {
    std::fprintf(stderr, "decode_bench: --weights must be bf16, q8_0, q4_0, q4_k, q5_k or q6_k\n");
    std::exit(2);
  }
  a.density = 1.0f - static_cast<float>(absl::GetFlag(FLAGS_sparsity)) / 100.0f;
  if (!(a.density > 0 && a.density <= 1)) {
    std::fprintf(stderr, "decode_bench: --sparsity must be in [0, 100)\n");
    std::exit(2);
  }
  return a;
}

// Decodes one token per iteration from `base`'s position (a sequence prefilled once, or
// none: from position 0); restarts every 128 decoded tokens from a fork of `base` (a KV
// copy, not a new prefill) so attention cost stays about constant.
void Decode(benchmark::State& st, Engine& e, const FfnOptions& o, std::optional<SequenceId> base) {
  if (absl::Status set = e.SetFfnOptions(o); !set.ok()) {
    st.SkipWithError(set.ToString().c_str());
    return;
  }
  SequenceId s = 0;
  bool started = false;
  int pos = 128;
  for (auto _ : st) {
    if (pos == 128) {
      st.PauseTiming();
      if (started) (void)e.RemoveSequence(s);
      started = true;
      s = base ? *e.Fork(*base, 0) : *e.AddSequence({ActivationSpec{ActivationKind::kRelu, 0}});
      pos = 0;
      st.ResumeTiming();
    }
    auto out = e.Step({StepInput{s, {pos % 100 + 3}, false, true}});
    benchmark::DoNotOptimize(out->logits[0].data());
    ++pos;
  }
  (void)e.RemoveSequence(s);
}

void Prefill(benchmark::State& st, Engine& e, int tokens) {
  FfnOptions dense;
  dense.policy = FfnPolicy::kDense;
  if (absl::Status set = e.SetFfnOptions(dense); !set.ok()) {
    st.SkipWithError(set.ToString().c_str());
    return;
  }
  std::vector<int> prompt(tokens);
  for (int i = 0; i < tokens; ++i) prompt[i] = (i * 7919) % 1000 + 3;
  for (auto _ : st) {
    SequenceId s = *e.AddSequence({ActivationSpec{ActivationKind::kSilu, 0}});
    auto out = e.Step({StepInput{s, prompt, true, true}});
    benchmark::DoNotOptimize(out->logits[0].data());
    (void)e.RemoveSequence(s);
  }
}

std::vector<std::string> RunShape(const Shape& shape, const Args& args, const BandwidthProbe& probe,
                                  int64_t* repetitions) {
  auto model = SyntheticModel(shape, 0, /*tiny_attention=*/false, args.weights);
  EngineOptions eo;
  eo.max_context = 4096;
  eo.num_threads = omp_get_max_threads();  // main() set it from --threads
  if (args.int8_activations) eo.activation_format = ActivationFormat::kInt8;
  auto engine = std::move(*Engine::Create(model, eo));
  Engine& e = *engine;
  const std::string n = shape.name;
  // --context: one prefill, forked by every decode run.
  std::optional<SequenceId> base;
  if (args.context > 0) {
    std::vector<int> prompt(args.context);
    for (int i = 0; i < args.context; ++i) prompt[i] = (i * 7919) % 1000 + 3;
    base = *e.AddSequence({ActivationSpec{ActivationKind::kRelu, 0}});
    (void)e.Step({StepInput{*base, prompt, true, false}});
  }
  FfnOptions dense, sparse;
  // The dense baseline is what a dense engine does: every weight read. stocha's dense path
  // skips W_downᵀ rows of zero activations, so it runs at 0% sparsity (density 1: every
  // gate value kept), as ffn_bench's "dense at 0%".
  dense.policy = FfnPolicy::kDense;
  dense.bench_force_density = 1.0f;
  sparse.bench_force_density = args.density;
  auto reg = [](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  reg("decode/" + n + "/dense", [&](benchmark::State& st) { Decode(st, e, dense, base); });
  reg("decode/" + n + "/sparse", [&](benchmark::State& st) { Decode(st, e, sparse, base); });
  FfnOptions predicted;
  predicted.predictor =
      ActivityPredictor::RandomForBenchmark(shape.layers, shape.D, shape.F, args.predictor_rank);
  predicted.predictor_density = args.density;
  reg("decode/" + n + "/predictor", [&](benchmark::State& st) { Decode(st, e, predicted, base); });
  reg("probe/" + n, [&](benchmark::State& st) {
    for (auto _ : st) benchmark::DoNotOptimize(probe.Read());
  });
  MedianCollector c;
  benchmark::RunSpecifiedBenchmarks(&c);
  *repetitions = c.repetitions();
  benchmark::ClearRegisteredBenchmarks();
  double prefill = 0;
  if (args.prefill) {
    benchmark::RegisterBenchmark(("prefill/" + n).c_str(),
                                 [&](benchmark::State& st) { Prefill(st, e, args.prefill_tokens); })
        ->UseRealTime()
        ->Unit(benchmark::kSecond)
        ->Iterations(1)
        ->Repetitions(3);
    benchmark::RunSpecifiedBenchmarks(&c);
    benchmark::ClearRegisteredBenchmarks();
    prefill = c.Median("prefill/" + n + "/iterations:1/repeats:3");
  }

  const double td = c.Median("decode/" + n + "/dense"), ts = c.Median("decode/" + n + "/sparse");
  const double tp = c.Median("decode/" + n + "/predictor");
  const double probe_bps = probe.bytes() / c.Median("probe/" + n);
  // Block-typed files read W_downᵀ as Q8_0 (re-blocked); counted at the file's type here.
  const double bpw =
      IsQuantized(args.weights)
          ? static_cast<double>(DTypeBlockBytes(args.weights)) / DTypeBlockSize(args.weights)
          : 2.0;
  const double bytes = DenseBytesPerToken(shape, bpw);
  const double ffn = bpw * shape.layers * 3.0 * shape.D * shape.F;
  const double sparse_bytes = bytes - ffn * (1.0 - (1.0 + 2.0 * args.density) / 3.0);
  std::vector<std::string> rows;
  rows.push_back(
      absl::StrFormat("| %s | %.2f | %.2f | **%.2fx** | %.2fx | %.2f | **%.2fx** | %.1f GB/s | "
                      "%.1f GB/s | **%.0f%%** | %s |",
                      n, 1 / td, 1 / ts, td / ts, bytes / sparse_bytes, 1 / tp, td / tp,
                      bytes / td / 1e9, probe_bps / 1e9, 100 * (bytes / td) / probe_bps,
                      prefill > 0 ? absl::StrFormat("%.1f", args.prefill_tokens / prefill) : "-"));
  return rows;
}

}  // namespace
}  // namespace stocha::bench

int main(int argc, char** argv) {
  using namespace stocha::bench;  // NOLINT(google-build-using-namespace)
  BenchmarkFlags flags = BenchmarkFlags::Init(argc, argv, kUsage, {5, 0.5});
  if (absl::GetFlag(FLAGS_quick)) flags.SetDefaults({5, 0.1});
  const Args args = ArgsFromFlags();
  // The probe reads with OpenMP threads: the same count as the engine's pool.
  const int threads = absl::GetFlag(FLAGS_threads) > 0 ? absl::GetFlag(FLAGS_threads)
                                                       : stocha::DefaultCpuBudget().threads;
  omp_set_num_threads(threads);
  const BandwidthProbe probe(size_t{4} << 30);
  std::vector<std::string> table;
  int64_t reps = 0;
  for (const Shape& s : args.shapes) {
    for (auto& r : RunShape(s, args, probe, &reps)) table.push_back(r);
  }
  std::printf(
      "\nWhole-model decode, batch 1, %s%s, FFN sparsity %.0f%%, %d threads, %s row kernels; "
      "medians of %d interleaved repetitions; dense = every weight read (0%% sparsity)\n",
      std::string(stocha::DTypeName(args.weights)).c_str(),
      args.int8_activations ? " with int8 activations" : "", 100 * (1 - args.density),
      omp_get_max_threads(), std::string(stocha::CpuRowKernels()).c_str(), static_cast<int>(reps));
  std::printf(
      "| shape | dense tok/s | sparse tok/s | speedup | bytes ceiling | predictor tok/s "
      "(rank %d) | predictor speedup | dense bytes/s | probe read | dense / probe "
      "| prefill tok/s (%d-token prompt, dense) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n",
      args.predictor_rank, args.prefill_tokens);
  for (const std::string& r : table) std::printf("%s\n", r.c_str());
  return 0;
}
