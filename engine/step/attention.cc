// Causal attention per (token, head) on the attention kernels; the engine splits those items
// across threads.
#include "engine/step/attention.h"

#include <cmath>

#include "engine/kernels/cpu/attention_kernels.h"
#include "engine/kernels/cpu/norm.h"

namespace stocha {

void AttendOne(const AttentionShape& shape, const float* q, const KvCache& cache, int layer,
               int pos, float* scores, float* out) {
  AttendHeads(shape, q, cache, layer, pos, 0, shape.heads, scores, out);
}

void AttendHeads(const AttentionShape& shape, const float* q, const KvCache& cache, int layer,
                 int pos, int h_begin, int h_end, float* scores, float* out) {
  const int hd = shape.head_dim;
  const int group = shape.heads / shape.kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t n = pos + 1, ld = cache.kv_dim();
  for (int h = h_begin; h < h_end; ++h) {
    const int kvh = h / group;
    AttentionScores(q + h * hd, cache.Key(layer, 0) + kvh * hd, ld, n, hd, scale, scores);
    Softmax(scores, n);
    AttentionValues(scores, cache.Value(layer, 0) + kvh * hd, ld, n, hd, out + h * hd);
  }
}

void ForEachAttentionRun(absl::Span<const int64_t> positions, int heads, int parts, int p,
                         absl::FunctionRef<void(int64_t, int, int)> fn) {
  int64_t total = 0;
  for (int64_t w : positions) total += w * heads;
  const int64_t lo = total * p / parts, hi = total * (p + 1) / parts;
  // First head of token t whose start offset start + h * w is >= bound.
  auto first_at = [heads](int64_t bound, int64_t start, int64_t w) {
    if (bound <= start) return 0;
    const int64_t h = (bound - start + w - 1) / w;
    return static_cast<int>(h < heads ? h : heads);
  };
  int64_t start = 0;  // work before token t
  for (size_t t = 0; t < positions.size() && start < hi; ++t) {
    const int64_t w = positions[t];
    const int h0 = first_at(lo, start, w), h1 = first_at(hi, start, w);
    if (h0 < h1) fn(static_cast<int64_t>(t), h0, h1);
    start += w * heads;
  }
}

}  // namespace stocha
