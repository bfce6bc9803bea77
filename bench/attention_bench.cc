// Attention microbenchmark: one decode token's attention over every layer of a KV cache
// (default the Llama-3.2-1B shape: 16 layers, 32 heads, 8 KV heads, head_dim 64, 2048
// positions: 134 MB of cache, more than the L3), split across threads as the engine splits
// it (ForEachAttentionRun), at every ISA level this CPU has (portable = the scalar
// references), side by side in one process. Medians of interleaved repetitions.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "bench/bench_flags.h"
#include "bench/ratio_reporter.h"
#include "benchmark/benchmark.h"
#include "engine/kernels/cpu/row_isa.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/step/attention.h"
#include "engine/step/kv_cache.h"

ABSL_FLAG(bool, quick, false, "3 repetitions of 0.2 s");
ABSL_FLAG(int, layers, 16, "Layers of the KV cache");
ABSL_FLAG(int, heads, 32, "Query heads (H)");
ABSL_FLAG(int, kv_heads, 8, "KV heads (KV)");
ABSL_FLAG(int, head_dim, 64, "Head dimension (hd)");
ABSL_FLAG(int, positions, 2048, "Positions attended (the KV cache's length)");
ABSL_FLAG(std::vector<std::string>, threads, std::vector<std::string>({"1", "2"}), "Thread counts");

namespace stocha::bench {
namespace {

constexpr char kUsage[] =
    R"(Attention of one decode token, portable vs AVX2 vs AVX-512, 1 and 2 threads.

  attention_bench [--quick] [--layers=16 --heads=32 --kv_heads=8 --head_dim=64]
                  [--positions=2048] [--threads=1,2] [--benchmark_repetitions=5]
)";

struct Setup {
  AttentionShape shape;
  int layers, positions;
  KvCache cache;
  std::vector<float> q, out, scores;
};

Setup MakeSetup() {
  const AttentionShape shape{absl::GetFlag(FLAGS_heads), absl::GetFlag(FLAGS_kv_heads),
                             absl::GetFlag(FLAGS_head_dim)};
  const int layers = absl::GetFlag(FLAGS_layers), positions = absl::GetFlag(FLAGS_positions);
  const int kv_dim = shape.kv_heads * shape.head_dim;
  Setup s{shape, layers, positions, KvCache(layers, kv_dim, positions), {}, {}, {}};
  if (!s.cache.Reserve(positions).ok()) std::abort();
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 1);
  for (int l = 0; l < layers; ++l) {
    for (int p = 0; p < positions; ++p) {
      for (int i = 0; i < kv_dim; ++i) {
        s.cache.Key(l, p)[i] = nd(rng);
        s.cache.Value(l, p)[i] = nd(rng);
      }
    }
  }
  s.q.resize(static_cast<size_t>(shape.heads) * shape.head_dim);
  for (float& x : s.q) x = nd(rng);
  s.out.resize(s.q.size());
  return s;
}

// One token's attention in every layer, as Engine::RunLayer runs it.
void Attend(Setup& s, int threads) {
  const int parts = std::min(threads, s.shape.heads);
  s.scores.resize(static_cast<size_t>(s.positions) * parts);
  const std::vector<int64_t> positions = {s.positions};
  for (int l = 0; l < s.layers; ++l) {
    RunParallel(threads, parts, [&](int p) {
      float* scores = s.scores.data() + static_cast<size_t>(s.positions) * p;
      ForEachAttentionRun(positions, s.shape.heads, parts, p, [&](int64_t, int h0, int h1) {
        AttendHeads(s.shape, s.q.data(), s.cache, l, s.positions - 1, h0, h1, scores, s.out.data());
      });
    });
  }
}

}  // namespace
}  // namespace stocha::bench

int main(int argc, char** argv) {
  using namespace stocha;         // NOLINT(google-build-using-namespace)
  using namespace stocha::bench;  // NOLINT(google-build-using-namespace)
  BenchmarkFlags flags = BenchmarkFlags::Init(argc, argv, kUsage, {5, 0.5});
  if (absl::GetFlag(FLAGS_quick)) flags.SetDefaults({3, 0.2});
  Setup s = MakeSetup();
  std::vector<int> thread_counts;
  for (const std::string& t : absl::GetFlag(FLAGS_threads)) thread_counts.push_back(std::stoi(t));
  std::vector<RowIsa> levels;
  for (RowIsa isa : {RowIsa::kPortable, RowIsa::kAvx2, RowIsa::kAvx512}) {
    if (isa <= BestRowIsa()) levels.push_back(isa);
  }
  auto name = [](RowIsa isa, int t) {
    return absl::StrFormat("attention/%s/threads:%d", RowIsaName(isa), t);
  };
  for (RowIsa isa : levels) {
    for (int t : thread_counts) {
      benchmark::RegisterBenchmark(name(isa, t).c_str(),
                                   [&s, isa, t](benchmark::State& st) {
                                     const ScopedRowIsa scoped(isa);
                                     for (auto _ : st) {
                                       Attend(s, t);
                                       benchmark::DoNotOptimize(s.out.data());
                                     }
                                   })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  MedianCollector c;
  benchmark::RunSpecifiedBenchmarks(&c);
  const AttentionShape& sh = s.shape;
  const double macs = 2.0 * s.layers * sh.heads * sh.head_dim * s.positions;
  const double bytes = 2.0 * s.layers * sh.kv_heads * sh.head_dim * s.positions * sizeof(float);
  std::printf(
      "\nAttention of one decode token: %d layers, %d heads, %d KV heads, head_dim %d, %d "
      "positions (%.0f M multiply-adds, %.0f MB of KV cache); medians of %d repetitions\n"
      "| level | threads | ms / token | GMAC/s | KV GB/s | vs portable, same threads |\n"
      "|---|---|---|---|---|---|\n",
      s.layers, sh.heads, sh.kv_heads, sh.head_dim, s.positions, macs / 1e6, bytes / 1e6,
      static_cast<int>(c.repetitions()));
  for (RowIsa isa : levels) {
    for (int t : thread_counts) {
      const double sec = c.Median(name(isa, t));
      const double base = c.Median(name(RowIsa::kPortable, t));
      std::printf("| %s | %d | %.2f | %.2f | %.1f | %.2fx |\n", RowIsaName(isa).data(), t,
                  sec * 1e3, macs / sec / 1e9, bytes / sec / 1e9, base / sec);
    }
  }
  return 0;
}
