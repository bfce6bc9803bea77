// int8_dot_bench: issue 14's question of 8-bit activations. stocha's Q8_0 GEMV takes F32
// activations (QuantDotRows: the same bits as the dequantized reference); llama.cpp rounds
// the activation row to Q8_0 once per GEMV and then, per 32-element block, takes an integer
// dot product of int8 x int8 and scales it by d_x * d_w (ggml/src/ggml-quants.c
// quantize_row_q8_0 for the activations, ggml/src/ggml-cpu/ggml-cpu.c type_traits_cpu
// .vec_dot_type = Q8_0, ggml_vec_dot_q8_0_q8_0). This times both on one Q8_0 matrix, one
// thread, side by side: F32 activations (AVX2 and AVX-512 kernels), 8-bit activations
// with AVX2 (vpmaddubsw + vpmaddwd) and with AVX512-VNNI (vpdpbusd on 256-bit vectors).
// The integer kernels are checked bitwise against a scalar reference before timing (they
// are a measurement, not an engine path). Logit error is not measured here.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "bench/bench_flags.h"
#include "bench/ratio_reporter.h"
#include "benchmark/benchmark.h"
#include "engine/kernels/cpu/matmul.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/model/quant_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

ABSL_FLAG(int64_t, rows, 2048, "Rows of the Q8_0 matrix (N)");
ABSL_FLAG(int64_t, cols, 2048, "Columns (K), a multiple of 32");

namespace stocha::bench {
namespace {

constexpr char kUsage[] = R"(F32 vs 8-bit activations on a Q8_0 GEMV (one thread).

  int8_dot_bench [--rows=2048] [--cols=2048] [--benchmark_repetitions=7]

Default 2048 x 2048 (4.25 MiB of Q8_0: in the L2/L3, where the kernels, not DRAM, limit).)";

constexpr int kRows = 4;  // rows per pass, as QuantDotRows

// Per block: 8 int32 lanes, lane k = sum of x[4k..4k+3] * w[4k..4k+3] (what vpmaddubsw +
// vpmaddwd and vpdpbusd both give; exact), then acc[k] = fma(d_x * d_w, lane, acc[k]);
// the 8 lanes summed (k += k+4, k += k+2, 0 += 1).
float Int8DotReference(const BlockQ8_0* x, const BlockQ8_0* w, int64_t blocks) {
  float acc[8] = {};
  for (int64_t b = 0; b < blocks; ++b) {
    const float d = F16ToF32(x[b].d) * F16ToF32(w[b].d);
    for (int k = 0; k < 8; ++k) {
      int32_t lane = 0;
      for (int i = 4 * k; i < 4 * k + 4; ++i) lane += int32_t{x[b].q[i]} * int32_t{w[b].q[i]};
      acc[k] = std::fma(d, static_cast<float>(lane), acc[k]);
    }
  }
  for (int s = 4; s > 0; s /= 2) {
    for (int k = 0; k < s; ++k) acc[k] += acc[k + s];
  }
  return acc[0];
}

#if defined(__x86_64__)
#define INT8_AVX2 __attribute__((target("avx2,fma,f16c")))
#define INT8_VNNI __attribute__((target("avx512f,avx512vl,avx512vnni,avx2,fma,f16c")))

INT8_AVX2 inline float Hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// Per block, the 8 int32 lanes of x . w from |x| as unsigned bytes and w with x's sign
// (|x| * sign(x) w = x w; Q8_0 quants are in [-127, 127], so neither the sign flip nor
// vpmaddubsw's int16 saturation can overflow): vpmaddubsw + vpmaddwd (AVX2) or vpdpbusd
// (AVX512-VNNI), the same integers. Each kernel takes four rows per pass, as QuantDotRows.
INT8_AVX2 void Int8DotRowsAvx2(const BlockQ8_0* x, const BlockQ8_0* const* w, int64_t blocks,
                               float* y) {
  __m256 acc[kRows];
  for (__m256& a : acc) a = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].q));
    const __m256i ax = _mm256_sign_epi8(xv, xv);
    const float dx = _cvtsh_ss(x[b].d);
    for (int r = 0; r < kRows; ++r) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].q));
      const __m256i p16 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wv, xv));
      const __m256i lanes = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
      const __m256 d = _mm256_set1_ps(dx * _cvtsh_ss(w[r][b].d));
      acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) y[r] = Hsum8(acc[r]);
}

INT8_VNNI void Int8DotRowsVnni(const BlockQ8_0* x, const BlockQ8_0* const* w, int64_t blocks,
                               float* y) {
  __m256 acc[kRows];
  for (__m256& a : acc) a = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].q));
    const __m256i ax = _mm256_sign_epi8(xv, xv);
    const float dx = _cvtsh_ss(x[b].d);
    for (int r = 0; r < kRows; ++r) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].q));
      const __m256i lanes =
          _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, _mm256_sign_epi8(wv, xv));
      const __m256 d = _mm256_set1_ps(dx * _cvtsh_ss(w[r][b].d));
      acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes), acc[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) y[r] = Hsum8(acc[r]);
}
#endif

}  // namespace
}  // namespace stocha::bench

int main(int argc, char** argv) {
  using namespace stocha;         // NOLINT(google-build-using-namespace)
  using namespace stocha::bench;  // NOLINT(google-build-using-namespace)
  BenchmarkFlags::Init(argc, argv, kUsage, {7, 0.3});
#if defined(__x86_64__)
  const int64_t N = absl::GetFlag(FLAGS_rows) / kRows * kRows, K = absl::GetFlag(FLAGS_cols);
  if (N < kRows || K < 32 || K % 32 != 0) {
    std::fprintf(stderr, "int8_dot_bench: --rows >= 4, --cols a multiple of 32\n");
    return 2;
  }
  const bool vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
  if (BestRowIsa() < RowIsa::kAvx2) {
    std::printf("int8_dot_bench: this CPU lacks AVX2/FMA/F16C; nothing to compare\n");
    return 0;
  }
  const int64_t blocks = K / 32;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0, 0.05f);
  std::vector<float> row(K), x(K), y(N), ref(N);
  std::vector<BlockQ8_0> w(N * blocks), xq(blocks);
  for (int64_t n = 0; n < N; ++n) {
    for (float& v : row) v = nd(rng);
    QuantizeRow(row.data(), K, DType::kQ8_0, w.data() + n * blocks);
  }
  for (float& v : x) v = nd(rng);
  const Tensor wt{"w", DType::kQ8_0, {N, K}, w.data()};

  // The 8-bit path per GEMV: round x to Q8_0 (llama.cpp does it once per matrix), then
  // the integer dots over every row, four rows per pass.
  auto int8_gemv = [&](bool use_vnni) {
    QuantizeRow(x.data(), K, DType::kQ8_0, xq.data());
    for (int64_t n = 0; n < N; n += kRows) {
      const BlockQ8_0* rows[kRows];
      for (int r = 0; r < kRows; ++r) rows[r] = w.data() + (n + r) * blocks;
      if (use_vnni) {
        Int8DotRowsVnni(xq.data(), rows, blocks, y.data() + n);
      } else {
        Int8DotRowsAvx2(xq.data(), rows, blocks, y.data() + n);
      }
    }
  };
  // Bitwise check of the integer kernels against the scalar reference.
  QuantizeRow(x.data(), K, DType::kQ8_0, xq.data());
  for (int64_t n = 0; n < N; ++n)
    ref[n] = Int8DotReference(xq.data(), w.data() + n * blocks, blocks);
  for (const bool v : {false, true}) {
    if (v && !vnni) continue;
    int8_gemv(v);
    if (std::memcmp(y.data(), ref.data(), N * sizeof(float)) != 0) {
      std::fprintf(stderr, "int8_dot_bench: %s integer kernel differs from the reference\n",
                   v ? "VNNI" : "AVX2");
      return 1;
    }
  }
  // How far 8-bit activations move the GEMV's outputs (relative to the F32 path's).
  std::vector<float> f32(N);
  MatMul(x.data(), 1, wt, nullptr, f32.data(), 1);
  double max_abs = 0, max_err = 0;
  for (int64_t n = 0; n < N; ++n) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(f32[n])));
    max_err = std::max(max_err, std::fabs(static_cast<double>(f32[n]) - ref[n]));
  }

  for (const RowIsa isa : {RowIsa::kAvx2, RowIsa::kAvx512}) {
    if (isa > BestRowIsa()) continue;
    benchmark::RegisterBenchmark(("f32/" + std::string(RowIsaName(isa))).c_str(),
                                 [&, isa](benchmark::State& st) {
                                   ScopedRowIsa scoped(isa);
                                   for (auto _ : st) MatMul(x.data(), 1, wt, nullptr, y.data(), 1);
                                 })
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("int8/avx2", [&](benchmark::State& st) {
    for (auto _ : st) int8_gemv(false);
  })->UseRealTime();
  if (vnni) {
    benchmark::RegisterBenchmark("int8/avx512vnni", [&](benchmark::State& st) {
      for (auto _ : st) int8_gemv(true);
    })->UseRealTime();
  }
  MedianCollector c;
  benchmark::RunSpecifiedBenchmarks(&c);
  const double bytes = static_cast<double>(N) * blocks * sizeof(BlockQ8_0);
  std::printf(
      "\nQ8_0 %lld x %lld (%.2f MiB), one thread, medians of %d interleaved repetitions\n"
      "| activations | kernel | ms per GEMV | weight GB/s |\n|---|---|---|---|\n",
      static_cast<long long>(N), static_cast<long long>(K), bytes / (1 << 20),
      static_cast<int>(c.repetitions()));
  for (const char* name : {"f32/avx2", "f32/avx512", "int8/avx2", "int8/avx512vnni"}) {
    const double t = c.Median(name);
    if (t == 0) continue;
    const std::string n(name);
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
