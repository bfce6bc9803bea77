// Scalar causal attention per (token, head); the engine parallelizes across them.
#include "engine/attention.h"

#include <cmath>

#include "engine/kernels/norm.h"

namespace stocha {

void AttendOne(const AttentionShape& shape, const float* q, const KvCache& cache, int layer,
               int pos, float* scores, float* out) {
  const int hd = shape.head_dim;
  const int group = shape.heads / shape.kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int h = 0; h < shape.heads; ++h) {
    const float* qh = q + h * hd;
    const int kvh = h / group;
    for (int t = 0; t <= pos; ++t) {
      const float* k = cache.Key(layer, t) + kvh * hd;
      float s = 0.0f;
      for (int i = 0; i < hd; ++i) s += qh[i] * k[i];
      scores[t] = s * scale;
    }
    Softmax(scores, pos + 1);
    float* oh = out + h * hd;
    for (int i = 0; i < hd; ++i) oh[i] = 0.0f;
    for (int t = 0; t <= pos; ++t) {
      const float* v = cache.Value(layer, t) + kvh * hd;
      const float a = scores[t];
      for (int i = 0; i < hd; ++i) oh[i] += a * v[i];
    }
  }
}

}  // namespace stocha
