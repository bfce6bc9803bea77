// Per-layer counters that each Step() reports: tokens, FFN zeros and seconds.
#ifndef STOCHA_ENGINE_STEP_STATS_H_
#define STOCHA_ENGINE_STEP_STATS_H_

#include <cstdint>
#include <vector>

namespace stocha {

// Sparsity of a layer = zeros / (tokens * F), where zeros are exact zeros of the FFN
// hidden activation (act(gate x) for gated FFNs). Prompt and generated tokens apart.
struct LayerStats {
  int64_t prompt_tokens = 0;
  int64_t prompt_zeros = 0;
  int64_t generated_tokens = 0;
  int64_t generated_zeros = 0;
  double attention_seconds = 0;
  double ffn_seconds = 0;
  // Batch-level FFN counters: calls, neurons active in at least one row of the batch
  // (the "union"; its density decides whether the sparse path pays), and how many calls
  // took the sparse path (predictor_calls of them with rows chosen by the predictor).
  int64_t ffn_calls = 0;
  int64_t union_active = 0;
  int64_t sparse_calls = 0;
  int64_t predictor_calls = 0;

  void Add(const LayerStats& o) {
    ffn_calls += o.ffn_calls;
    union_active += o.union_active;
    sparse_calls += o.sparse_calls;
    predictor_calls += o.predictor_calls;
    prompt_tokens += o.prompt_tokens;
    prompt_zeros += o.prompt_zeros;
    generated_tokens += o.generated_tokens;
    generated_zeros += o.generated_zeros;
    attention_seconds += o.attention_seconds;
    ffn_seconds += o.ffn_seconds;
  }
};

struct StepStats {
  int ffn_dim = 0;  // F, to turn zeros into a fraction
  std::vector<LayerStats> layers;

  void Add(const StepStats& o) {
    if (layers.size() < o.layers.size()) layers.resize(o.layers.size());
    if (ffn_dim == 0) ffn_dim = o.ffn_dim;
    for (size_t i = 0; i < o.layers.size(); ++i) layers[i].Add(o.layers[i]);
  }
  static double Sparsity(int64_t zeros, int64_t tokens, int ffn_dim) {
    return tokens == 0 || ffn_dim == 0
               ? 0.0
               : static_cast<double>(zeros) / (static_cast<double>(tokens) * ffn_dim);
  }
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_STEP_STATS_H_
