// Row-kernel benchmark: the intrinsic row kernels of every level this CPU has (AVX2,
// AVX-512; prefetching a fixed distance ahead) against the portable ones (whole next row
// prefetched in one burst), on one matrix per weight type (BF16/F16/F32 and the block types
// Q8_0/Q4_0/Q4_K/Q5_K/Q6_K; default far larger than the L3; with --gib=0.001 one that fits
// the L2), side by side in one process: a dense GEMV over every row (MatMul, one input row),
// a sparse one over a random 10% of rows (DotRows), and the sparse W_downᵀ update over the
// same 10% (AxpyRows, the matrix read as W_downᵀ), with the streaming-read probe as the
// machine's ceiling. Then stocha's MatMul against oneDNN's GEMM (OneDnnMatMul, the prefill
// path) at batches 1-32 on a 256 MiB slice of the first type's matrix, which places
// kOneDnnMinRows. Ratios of medians of >= 5 interleaved repetitions.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
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
#include "engine/model/quant_blocks.h"
#include "engine/model/weight_types.h"

ABSL_FLAG(bool, quick, false, "1 GiB of rows and 5 repetitions");
ABSL_FLAG(std::optional<double>, gib, std::nullopt,
          "GiB of rows per weight type (default 2, --quick 1)");
ABSL_FLAG(int64_t, cols, 2048, "Columns of each row (K)");
ABSL_FLAG(std::vector<std::string>, dtype, {"bf16"},
          "Weight types, comma-separated: bf16, f16, f32, q8_0, q4_0, q4_k, q5_k, q6_k; "
          "'quant' = the five block types");

namespace stocha::bench {
namespace {

constexpr char kUsage[] = R"(Portable vs AVX2 vs AVX-512 row kernels, and stocha's MatMul vs oneDNN.

  row_kernel_bench [--quick] [--gib=GiB] [--cols=K] [--dtype=bf16,q8_0,...|quant]
                   [--benchmark_repetitions=7]

Threads: OMP_NUM_THREADS (1 for the single-core figures). --cols must be a multiple of 256
for the K types (32 for Q8_0/Q4_0).
Google Benchmark's --benchmark_* flags are passed on (defaults: 7 interleaved repetitions,
0.3 s each; --quick: 5). --reps=N is an old spelling.)";

struct Args {
  double gib = 2.0;
  int64_t K = 2048;
  std::vector<DType> dts;
};

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "row_kernel_bench: %s\n", message.c_str());
  std::exit(2);
}

Args ArgsFromFlags() {
  Args a;
  a.gib = absl::GetFlag(FLAGS_gib).value_or(absl::GetFlag(FLAGS_quick) ? 1.0 : 2.0);
  a.K = absl::GetFlag(FLAGS_cols);
  if (!(a.gib > 0) || a.K < 1) Fail("--gib must be > 0, --cols >= 1");
  for (const std::string& name : absl::GetFlag(FLAGS_dtype)) {
    if (name == "quant") {
      for (DType t : KnownDTypes()) {
        if (IsQuantized(t)) a.dts.push_back(t);
      }
      continue;
    }
    const std::optional<DType> t = ParseDType(name);
    if (!t.has_value()) Fail("--dtype '" + name + "' is not one of " + KnownDTypeNames(", "));
    if (a.K % DTypeBlockSize(*t) != 0) {
      Fail("--cols must be a multiple of " + std::to_string(DTypeBlockSize(*t)) + " for " +
           std::string(DTypeName(*t)));
    }
    a.dts.push_back(*t);
  }
  if (a.dts.empty()) Fail("--dtype names no type");
  return a;
}

// "bf16", "q8_0", ...: the benchmark names' spelling of a type.
std::string LowerName(DType dt) {
  std::string s(DTypeName(dt));
  absl::AsciiStrToLower(&s);
  return s;
}

// N rows of K weights of type dt, values N(0, 0.05): 64 distinct rows (quantized with the
// reference rounding where dt is a block type), repeated, so that the K quantizers' search
// does not dominate the set-up of a 1 GiB matrix.
struct Matrix {
  Matrix(DType dt, int64_t N, int64_t K, std::mt19937& rng)
      : row_bytes(DTypeBytes(dt, K)), buf(N * row_bytes) {
    constexpr int64_t kDistinct = 64;
    std::normal_distribution<float> nd(0, 0.05f);
    std::vector<float> f32(K);
    std::vector<char> rows(kDistinct * row_bytes);
    for (int64_t r = 0; r < kDistinct; ++r) {
      for (float& v : f32) v = nd(rng);
      char* out = rows.data() + r * row_bytes;
      for (int64_t i = 0; i < K; ++i) {
        if (dt == DType::kF32) std::memcpy(out + 4 * i, &f32[i], 4);
        if (dt == DType::kBF16 || dt == DType::kF16) {
          const uint16_t h = dt == DType::kBF16 ? F32ToBF16(f32[i]) : F32ToF16(f32[i]);
          std::memcpy(out + 2 * i, &h, 2);
        }
      }
      if (IsQuantized(dt)) QuantizeRow(f32.data(), K, dt, out);
    }
    for (int64_t r = 0; r < N; ++r) {
      std::memcpy(buf.data() + r * row_bytes, rows.data() + (r % kDistinct) * row_bytes, row_bytes);
    }
    w.dtype = dt;
    w.shape = {N, K};
    w.data = buf.data();
  }
  size_t row_bytes;
  HugePageBuffer buf;
  Tensor w;
};

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
  const auto bytes = static_cast<int64_t>(args.gib * (1 << 30));
  std::mt19937 rng(5);
  std::vector<std::unique_ptr<Matrix>> mats;
  for (const DType dt : args.dts) {
    const int64_t N = std::max<int64_t>(1, bytes / static_cast<int64_t>(DTypeBytes(dt, K)));
    mats.push_back(std::make_unique<Matrix>(dt, N, K, rng));
  }
  std::normal_distribution<float> nd(0, 0.05f);
  const int64_t max_rows =
      (*std::max_element(mats.begin(), mats.end(), [](const auto& a, const auto& b) {
        return a->w.rows() < b->w.rows();
      }))->w.rows();
  std::vector<float> x(K), y(max_rows), h(max_rows), out(K);
  for (float& v : x) v = nd(rng);
  for (float& v : h) v = nd(rng);
  std::vector<int32_t> idx;  // a random 10% of the rows (of the largest matrix)
  for (int64_t n = 0; n < max_rows; ++n) {
    if (rng() % 10 == 0) idx.push_back(static_cast<int32_t>(n));
  }
  const BandwidthProbe probe(static_cast<size_t>(bytes));
  const int threads = omp_get_max_threads();
  // idx entries below a matrix's row count: a prefix, since idx is increasing.
  auto rows_below = [&](int64_t N) {
    return static_cast<int64_t>(std::lower_bound(idx.begin(), idx.end(), N) - idx.begin());
  };

  for (const auto& m : mats) {
    const std::string type = LowerName(m->w.dtype);
    const Tensor* w = &m->w;  // captured by value: the loop's variables do not outlive it
    const int64_t count = rows_below(w->rows());
    for (const RowIsa isa : isas) {
      const std::string tag = type + "/" + std::string(RowIsaName(isa));
      benchmark::RegisterBenchmark(("gemv/dense/" + tag).c_str(), [&, w,
                                                                   isa](benchmark::State& st) {
        ScopedRowIsa scoped(isa);
        for (auto _ : st) MatMul(x.data(), 1, *w, nullptr, y.data(), threads);
      })->UseRealTime();
      benchmark::RegisterBenchmark(("gemv/sparse10/" + tag).c_str(), [&, w, isa,
                                                                      count](benchmark::State& st) {
        ScopedRowIsa scoped(isa);
        for (auto _ : st) DotRows(x.data(), *w, idx.data(), count, y.data(), threads);
      })->UseRealTime();
      benchmark::RegisterBenchmark(("axpy/sparse10/" + tag).c_str(), [&, w, isa,
                                                                      count](benchmark::State& st) {
        ScopedRowIsa scoped(isa);
        for (auto _ : st) AxpyRows(h.data(), 1, *w, idx.data(), count, out.data(), threads);
      })->UseRealTime();
    }
  }
  // Batches: a 256 MiB slice of the first type's rows, x repeated T times.
  Tensor slice = mats[0]->w;
  slice.shape = {
      std::min<int64_t>(slice.rows(),
                        (int64_t{256} << 20) / static_cast<int64_t>(DTypeBytes(slice.dtype, K))),
      K};
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

  const double probe_bps = probe.bytes() / c.Median("probe");
  std::printf(
      "\nrows of %lld columns, %.4f GiB per type, %d threads; medians of %d interleaved "
      "repetitions; GB/s = weight bytes read / time\n| type | kernel | dense GEMV GB/s | of "
      "probe | sparse 10%% rows GB/s | of probe | sparse 10%% axpy GB/s | of probe |\n"
      "|---|---|---|---|---|---|---|---|\n",
      static_cast<long long>(K), args.gib, threads, static_cast<int>(c.repetitions()));
  for (const auto& m : mats) {
    const std::string type = LowerName(m->w.dtype);
    const double dense_bytes = static_cast<double>(m->w.rows()) * m->row_bytes;
    const double sparse_bytes = static_cast<double>(rows_below(m->w.rows())) * m->row_bytes;
    for (const RowIsa isa : isas) {
      const std::string tag = type + "/" + std::string(RowIsaName(isa));
      if (c.Median("gemv/dense/" + tag) == 0) continue;  // filtered out (--benchmark_filter)
      const double d = dense_bytes / c.Median("gemv/dense/" + tag);
      const double s = sparse_bytes / c.Median("gemv/sparse10/" + tag);
      const double a = sparse_bytes / c.Median("axpy/sparse10/" + tag);
      std::printf("| %s | %s | %.1f | %.0f%% | %.1f | %.0f%% | %.1f | %.0f%% |\n", type.c_str(),
                  RowIsaName(isa).data(), d / 1e9, 100 * d / probe_bps, s / 1e9,
                  100 * s / probe_bps, a / 1e9, 100 * a / probe_bps);
    }
  }
  std::printf("| probe (streaming read) | | %.1f | 100%% | | | | |\n", probe_bps / 1e9);
  for (const auto& m : mats) {
    const std::string type = LowerName(m->w.dtype);
    for (size_t k = 1; k < isas.size(); ++k) {
      const std::string a = type + "/" + std::string(RowIsaName(isas[k]));
      const std::string b = type + "/" + std::string(RowIsaName(isas[k - 1]));
      if (c.Median("gemv/dense/" + a) == 0 || c.Median("gemv/dense/" + b) == 0) continue;
      std::printf("%s / %s time: dense %.3f, sparse %.3f, axpy %.3f\n", a.c_str(), b.c_str(),
                  c.Median("gemv/dense/" + a) / c.Median("gemv/dense/" + b),
                  c.Median("gemv/sparse10/" + a) / c.Median("gemv/sparse10/" + b),
                  c.Median("axpy/sparse10/" + a) / c.Median("axpy/sparse10/" + b));
    }
  }
  if (c.Median("batch/1/stocha") == 0) return 0;  // filtered out (--benchmark_filter)
  std::printf(
      "\nstocha MatMul (%s row kernels) vs oneDNN (OneDnnMatMul: weights widened to F32 by "
      "blocks, F32 GEMM), %lld x %lld %s, %d threads\n| batch | stocha ms | oneDNN ms | "
      "oneDNN / stocha |\n|---|---|---|---|\n",
      RowIsaName(ActiveRowIsa()).data(), static_cast<long long>(slice.rows()),
      static_cast<long long>(K), std::string(DTypeName(slice.dtype)).c_str(), threads);
  for (const int T : batches) {
    const double a = c.Median(absl::StrFormat("batch/%d/stocha", T));
    const double b = c.Median(absl::StrFormat("batch/%d/onednn", T));
    std::printf("| %d | %.2f | %.2f | %.2f |\n", T, a * 1e3, b * 1e3, b / a);
  }
  return 0;
}
