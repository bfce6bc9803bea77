// int8_dot_bench: issue 14's question of 8-bit activations, on one block-typed GEMV (the K
// types: Q8_K activations, ggml's vec_dot_type for them). stocha's Q8_0
// GEMV takes F32 activations by default (the same bits as the dequantized reference); llama.cpp
// rounds the activation row to Q8_0 once per GEMV and takes integer block dot products
// (ggml/src/ggml-quants.c quantize_row_q8_0; ggml-cpu.c type_traits_cpu .vec_dot_type =
// Q8_0). This times the engine's MatMul on one Q8_0 matrix, one thread, side by side in
// both activation formats (ActivationFormat::kF32 / kInt8, docs/ENGINE.md) at the AVX2 and
// AVX-512 levels (kInt8 at AVX-512 is the VNNI kernel where the CPU has it). The kInt8
// outputs are checked bitwise against MatMulReferenceInt8 before timing.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "bench/bench_flags.h"
#include "bench/ratio_reporter.h"
#include "benchmark/benchmark.h"
#include "engine/kernels/cpu/int8_dot.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/model/quant_blocks.h"
#include "engine/model/weight_types.h"

ABSL_FLAG(int64_t, rows, 2048, "Rows of the Q8_0 matrix (N)");
ABSL_FLAG(int64_t, cols, 2048, "Columns (K), a multiple of 32 (the K types: of 256)");
ABSL_FLAG(std::string, type, "q8_0", "Weight type: q8_0, q4_0, q4_k, q5_k or q6_k");

namespace stocha::bench {
namespace {

constexpr char kUsage[] = R"(F32 vs 8-bit activations on one block-typed GEMV (one thread).

  int8_dot_bench [--type=q8_0|q4_0|q4_k|q5_k|q6_k] [--rows=2048] [--cols=2048] [--benchmark_repetitions=7]

Default 2048 x 2048 (4.25 MiB of Q8_0, 2.25 MiB of Q4_0: in the L2/L3, where the kernels,
not DRAM, limit).)";

}  // namespace
}  // namespace stocha::bench

int main(int argc, char** argv) {
  using namespace stocha;         // NOLINT(google-build-using-namespace)
  using namespace stocha::bench;  // NOLINT(google-build-using-namespace)
  BenchmarkFlags::Init(argc, argv, kUsage, {7, 0.3});
#if defined(__x86_64__)
  const int64_t N = absl::GetFlag(FLAGS_rows), K = absl::GetFlag(FLAGS_cols);
  const std::string type = absl::GetFlag(FLAGS_type);
  const std::optional<DType> parsed = ParseDType(type);
  const DType dt = parsed.value_or(DType::kF32);
  if (N < 1 || !IsQuantized(dt) || K < DTypeBlockSize(dt) || K % DTypeBlockSize(dt) != 0) {
    std::fprintf(stderr,
                 "int8_dot_bench: --rows >= 1, --type q8_0|q4_0|q4_k|q5_k|q6_k, --cols a multiple "
                 "of 32 (the K types: 256)\n");
    return 2;
  }
  const auto row_bytes = static_cast<int64_t>(DTypeBytes(dt, K));
  if (BestRowIsa() < RowIsa::kAvx2) {
    std::printf("int8_dot_bench: this CPU lacks AVX2/FMA/F16C; nothing to compare\n");
    return 0;
  }
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0, 0.05f);
  std::vector<float> row(K), x(K), y(N), ref(N), f32(N);
  std::vector<char> w(N * row_bytes);
  for (int64_t n = 0; n < N; ++n) {
    for (float& v : row) v = nd(rng);
    QuantizeRow(row.data(), K, dt, w.data() + n * row_bytes);
  }
  for (float& v : x) v = nd(rng);
  const Tensor wt{"w", dt, {N, K}, w.data()};

  // Every level's kInt8 GEMV against the scalar reference, bitwise.
  Q8Activations xq;
  xq.Quantize(x.data(), 1, K, dt);
  for (int64_t n = 0; n < N; ++n) {
    const void* r = w.data() + n * row_bytes;
    Int8DotRowsReference(xq.row(0), &r, 1, dt, K, &ref[n]);
  }
  for (const RowIsa isa : {RowIsa::kAvx2, RowIsa::kAvx512}) {
    if (isa > BestRowIsa()) continue;
    ScopedRowIsa scoped(isa);
    MatMul(x.data(), 1, wt, nullptr, y.data(), 1, ActivationFormat::kInt8);
    if (std::memcmp(y.data(), ref.data(), N * sizeof(float)) != 0) {
      std::fprintf(stderr, "int8_dot_bench: the %s int8 kernel differs from the reference\n",
                   std::string(Int8DotLevel()).c_str());
      return 1;
    }
  }
  // How far 8-bit activations move the GEMV's outputs (relative to the F32 path's).
  MatMul(x.data(), 1, wt, nullptr, f32.data(), 1);
  double max_abs = 0, max_err = 0;
  for (int64_t n = 0; n < N; ++n) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(f32[n])));
    max_err = std::max(max_err, std::fabs(static_cast<double>(f32[n]) - ref[n]));
  }

  std::vector<std::string> names;
  for (const RowIsa isa : {RowIsa::kAvx2, RowIsa::kAvx512}) {
    if (isa > BestRowIsa()) continue;
    for (const ActivationFormat act : {ActivationFormat::kF32, ActivationFormat::kInt8}) {
      ScopedRowIsa scoped(isa);
      const std::string kernel = act == ActivationFormat::kF32 ? std::string(RowIsaName(isa))
                                                               : std::string(Int8DotLevel());
      names.push_back((act == ActivationFormat::kF32 ? "f32/" : "int8/") + kernel);
      benchmark::RegisterBenchmark(names.back().c_str(), [&, isa, act](benchmark::State& st) {
        ScopedRowIsa scoped_run(isa);
        for (auto _ : st) MatMul(x.data(), 1, wt, nullptr, y.data(), 1, act);
      })->UseRealTime();
    }
  }
  MedianCollector c;
  benchmark::RunSpecifiedBenchmarks(&c);
  const double bytes = static_cast<double>(N) * static_cast<double>(row_bytes);
  std::printf(
      "\n%s %lld x %lld (%.2f MiB), one thread, medians of %d interleaved repetitions\n"
      "| activations | kernel | ms per GEMV | weight GB/s |\n|---|---|---|---|\n",
      std::string(DTypeName(dt)).c_str(), static_cast<long long>(N), static_cast<long long>(K),
      bytes / (1 << 20), static_cast<int>(c.repetitions()));
  for (const std::string& n : names) {
    const double t = c.Median(n);
    if (t == 0) continue;
    std::printf("| %s | %s | %.3f | %.1f |\n", n.substr(0, n.find('/')).c_str(),
                n.substr(n.find('/') + 1).c_str(), t * 1e3, bytes / t / 1e9);
  }
  std::printf(
      "8-bit activations: max |y_int8 - y_f32| = %.3g (max |y_f32| = %.3g, relative %.2g)\n",
      max_err, max_abs, max_err / max_abs);
#else
  std::printf("int8_dot_bench: x86-64 only\n");
#endif
  return 0;
}
