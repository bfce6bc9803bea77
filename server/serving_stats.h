// ServingStats: the scheduler's observer that keeps what the metrics export (per-layer
// sparsity and time, FFN paths, latency and size histograms), in plain C++.
#ifndef STOCHA_SERVER_SERVING_STATS_H_
#define STOCHA_SERVER_SERVING_STATS_H_

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "server/scheduler_observer.h"

namespace stocha::server {

// Fixed buckets (upper bounds, ascending; +Inf implied). counts[i] is the number of
// observations in bucket i alone (not cumulative); counts.back() is the +Inf bucket.
struct Histogram {
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);

  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;
};

inline constexpr int kNumPhases = 2;       // 0 prompt, 1 generated
inline constexpr int kNumActivations = 3;  // ActivationKind: silu, relu, stocha

struct LayerCounters {
  // [phase][activation]: exact zeros of the FFN hidden activation, and all of them
  // (tokens * F), so zeros / total is the layer's sparsity (PAPER.md's definition).
  std::array<std::array<int64_t, kNumActivations>, kNumPhases> zeros{}, total{};
  double attention_seconds = 0;
  double ffn_seconds = 0;
  int64_t dense_calls = 0, sparse_calls = 0, predictor_calls = 0;  // FFN calls by path
};

// The latency and size histograms; their buckets are documented in docs/OPERATIONS.md.
struct ServingHistograms {
  ServingHistograms();
  Histogram queue_seconds, ttft_seconds, tpot_seconds, e2e_seconds;
  Histogram prompt_tokens, generated_tokens;
  Histogram batch_inputs, step_tokens, step_seconds;
  Histogram ffn_union_density;  // per layer per step: neurons active in any row / F
};

struct ServingSnapshot {
  std::vector<LayerCounters> layers;
  ServingHistograms histograms;
  uint64_t samples = 0;  // samples of finished requests (n each)
};

// Thread-safety: every method may be called from any thread; one mutex, held briefly (the
// inference thread adds a step's counts; a scrape copies them).
class ServingStats final : public SchedulerObserver {
 public:
  // log_requests: one JSON line per finished request on stderr (docs/OPERATIONS.md).
  ServingStats(int num_layers, int ffn_dim, bool log_requests = false);

  void OnStep(const StepReport& step) override;
  void OnRequestDone(const RequestReport& request) override;
  void OnRefusal(Refusal /*why*/) override {}  // the scheduler's Load() counts those

  ServingSnapshot Snapshot() const;
  int ffn_dim() const { return ffn_dim_; }

 private:
  const int ffn_dim_;
  const bool log_requests_;
  mutable std::mutex mu_;
  ServingSnapshot s_;  // guarded by mu_
};

}  // namespace stocha::server

#endif  // STOCHA_SERVER_SERVING_STATS_H_
