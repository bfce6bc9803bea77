// Row-kernel benchmark: the intrinsic row kernels of every level this CPU has (AVX2,
// AVX-512; prefetching a fixed distance ahead) against the portable ones (whole next row
// prefetched in one burst), on one BF16/F16/F32 matrix (default far larger than the L3; with
// --gib=0.001 one that fits the L2), side by side in one process: a dense GEMV over every row
// (MatMul, one input row) and a sparse one over a random 10% of rows (DotRows), with the
// streaming-read probe as the machine's ceiling. Then stocha's MatMul against oneDNN's GEMM
// (OneDnnMatMul, the prefill path) at batches 1-32 on a 256 MiB slice, which places kOneDnnMinRows.
// Ratios of medians of >= 5 interleaved repetitions.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "bench/bandwidth_probe.h"
#include "bench/bench_flags.h"
#include "bench/ratio_reporter.h"
#include "benchmark/benchmark.h"
#include "engine/kernels/cpu/ffn_kernels.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/onednn_matmul.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/model/huge_page_buffer.h"

ABSL_FLAG(bool, quick, false, "1 GiB of rows and 5 repetitions");
ABSL_FLAG(std::optional<double>, gib, std::nullopt, "GiB of BF16 rows (default 2, --quick 1)");
ABSL_FLAG(int64_t, cols, 2048, "Columns of each row (K)");
ABSL_FLAG(std::string, dtype, "bf16", "Weight type: bf16, f16 or f32");

namespace stocha::bench {
namespace {

constexpr char kUsage[] = R"(Portable vs AVX2 vs AVX-512 row kernels, and stocha's MatMul vs oneDNN.

  row_kernel_bench [--quick] [--gib=GiB] [--cols=K] [--dtype=bf16|f16|f32]
                   [--benchmark_repetitions=7]

Threads: OMP_NUM_THREADS (1 for the single-core figures).
Google Benchmark's --benchmark_* flags are passed on (defaults: 7 interleaved repetitions,
0.3 s each; --quick: 5). --reps=N is an old spelling.)";

struct Args {
  double gib = 2.0;
  int64_t K = 2048;
  DType dt = DType::kBF16;
};

Args ArgsFromFlags() {
  Args a;
  a.gib = absl::GetFlag(FLAGS_gib).value_or(absl::GetFlag(FLAGS_quick) ? 1.0 : 2.0);
  a.K = absl::GetFlag(FLAGS_cols);
  const std::string dt = absl::GetFlag(FLAGS_dtype);
  a.dt = dt == "f16" ? DType::kF16 : dt == "f32" ? DType::kF32 : DType::kBF16;
  if (!(a.gib > 0) || a.K < 1 || (dt != "bf16" && dt != "f16" && dt != "f32")) {
    std::fprintf(stderr,
                 "row_kernel_bench: --gib must be > 0, --cols >= 1, --dtype bf16|f16|f32\n");
    std::exit(2);
  }
  return a;
}

}  // namespace
}  // namespace stocha::bench

int main(int argc, char** argv) {
  using namespace stocha;         // NOLINT(google-build-using-namespace)
  using namespace stocha::bench;  // NOLINT(google-build-using-namespace)
  BenchmarkFlags flags = BenchmarkFlags::Init(argc, argv, kUsage, {7, 0.3});
  if (absl::GetFlag(FLAGS_quick)) flags.SetDefaults({5, 0.3});
  const Args args = ArgsFromFlags();
  std::vector<RowIsa> isas;
  for (const RowIsa isa : {RowIsa::kPortable, RowIsa::kAvx2, RowIsa::kAvx512}) {
    if (isa <= BestRowIsa()) isas.push_back(isa);
  }
  if (isas.size() < 2) {
    std::printf("row_kernel_bench: this CPU lacks AVX2/FMA/F16C; nothing to compare\n");
    return 0;
  }
  const int64_t K = args.K;
  const int64_t es = static_cast<int64_t>(DTypeSize(args.dt));
  const int64_t N = std::max<int64_t>(1, static_cast<int64_t>(args.gib * (1 << 30)) / (K * es));
  HugePageBuffer buf(static_cast<size_t>(N * K * es));
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0, 0.05f);
  std::vector<float> pattern(1 << 16);
  for (float& v : pattern) v = nd(rng);
  for (int64_t i = 0; i < N * K; ++i) {
    const float v = pattern[i & 0xffff];
    if (args.dt == DType::kF32) reinterpret_cast<float*>(buf.data())[i] = v;
    if (args.dt == DType::kBF16) reinterpret_cast<uint16_t*>(buf.data())[i] = F32ToBF16(v);
    if (args.dt == DType::kF16) reinterpret_cast<uint16_t*>(buf.data())[i] = F32ToF16(v);
  }
  Tensor w;
  w.dtype = args.dt;
  w.shape = {N, K};
  w.data = buf.data();
  std::vector<float> x(K), y(N);
  for (float& v : x) v = nd(rng);
  std::vector<int32_t> idx;
  for (int64_t n = 0; n < N; ++n) {
    if (rng() % 10 == 0) idx.push_back(static_cast<int32_t>(n));
  }
  const BandwidthProbe probe(static_cast<size_t>(N * K * es));
  const int threads = omp_get_max_threads();

  for (const RowIsa isa : isas) {
    const std::string tag(RowIsaName(isa));
    benchmark::RegisterBenchmark(("gemv/dense/" + tag).c_str(), [&, isa](benchmark::State& st) {
      ScopedRowIsa scoped(isa);
      for (auto _ : st) MatMul(x.data(), 1, w, nullptr, y.data(), threads);
    })->UseRealTime();
    benchmark::RegisterBenchmark(("gemv/sparse10/" + tag).c_str(), [&, isa](benchmark::State& st) {
      ScopedRowIsa scoped(isa);
      for (auto _ : st) {
        DotRows(x.data(), w, idx.data(), static_cast<int64_t>(idx.size()), y.data(), threads);
      }
    })->UseRealTime();
  }
  // Batches: a 256 MiB slice of the same rows, x repeated T times.
  Tensor slice = w;
  slice.shape = {std::min<int64_t>(N, (int64_t{256} << 20) / (K * es)), K};
  const std::vector<int> batches = {1, 2, 4, 8, 16, 32};
  std::vector<float> xs(static_cast<size_t>(batches.back()) * K), ys(batches.back() * slice.rows());
  for (size_t i = 0; i < xs.size(); ++i) {
    const size_t row = i / K;  // row r of the batch is x scaled by 1 + r
    xs[i] = x[i % K] * (1.0f + static_cast<float>(row));
  }
  for (const int T : batches) {
    benchmark::RegisterBenchmark(absl::StrFormat("batch/%d/stocha", T).c_str(),
                                 [&, T](benchmark::State& st) {
                                   for (auto _ : st) {
                                     MatMul(xs.data(), T, slice, nullptr, ys.data(), threads);
                                   }
                                 })
        ->UseRealTime();
    benchmark::RegisterBenchmark(absl::StrFormat("batch/%d/onednn", T).c_str(),
                                 [&, T](benchmark::State& st) {
                                   for (auto _ : st) {
                                     OneDnnMatMul(xs.data(), T, slice, nullptr, ys.data(), threads);
                                   }
                                 })
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("probe", [&](benchmark::State& st) {
    for (auto _ : st) benchmark::DoNotOptimize(probe.Read());
  })->UseRealTime();
  MedianCollector c;
  benchmark::RunSpecifiedBenchmarks(&c);

  const double dense_bytes = static_cast<double>(N) * K * es;
  const double sparse_bytes = static_cast<double>(idx.size()) * K * es;
  const double probe_bps = probe.bytes() / c.Median("probe");
  std::printf(
      "\n%s rows of %lld columns, %.4f GiB, %d threads; medians of %d interleaved "
      "repetitions\n| kernel | dense GEMV GB/s | of probe | sparse 10%% rows GB/s | of "
      "probe |\n|---|---|---|---|---|\n",
      std::string(DTypeName(args.dt)).c_str(), static_cast<long long>(K), dense_bytes / (1 << 30),
      threads, static_cast<int>(c.repetitions()));
  for (const RowIsa isa : isas) {
    const std::string tag(RowIsaName(isa));
    const double d = dense_bytes / c.Median("gemv/dense/" + tag);
    const double s = sparse_bytes / c.Median("gemv/sparse10/" + tag);
    std::printf("| %s | %.1f | %.0f%% | %.1f | %.0f%% |\n", tag.c_str(), d / 1e9,
                100 * d / probe_bps, s / 1e9, 100 * s / probe_bps);
  }
  std::printf("| probe (streaming read) | %.1f | 100%% | | |\n", probe_bps / 1e9);
  for (size_t k = 1; k < isas.size(); ++k) {
    const std::string a(RowIsaName(isas[k])), b(RowIsaName(isas[k - 1]));
    std::printf("%s / %s time: dense %.3f, sparse %.3f\n", a.c_str(), b.c_str(),
                c.Median("gemv/dense/" + a) / c.Median("gemv/dense/" + b),
                c.Median("gemv/sparse10/" + a) / c.Median("gemv/sparse10/" + b));
  }
  if (c.Median("batch/1/stocha") == 0) return 0;  // filtered out (--benchmark_filter)
  std::printf(
      "\nstocha MatMul (%s row kernels) vs oneDNN (OneDnnMatMul: weights widened to F32 by "
      "blocks, F32 GEMM), %lld x %lld %s, %d threads\n| batch | stocha ms | oneDNN ms | "
      "oneDNN / stocha |\n|---|---|---|---|\n",
      RowIsaName(ActiveRowIsa()).data(), static_cast<long long>(slice.rows()),
      static_cast<long long>(K), std::string(DTypeName(args.dt)).c_str(), threads);
  for (const int T : batches) {
    const double a = c.Median(absl::StrFormat("batch/%d/stocha", T));
    const double b = c.Median(absl::StrFormat("batch/%d/onednn", T));
    std::printf("| %d | %.2f | %.2f | %.2f |\n", T, a * 1e3, b * 1e3, b / a);
  }
  return 0;
}
