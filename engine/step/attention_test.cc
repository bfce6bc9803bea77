// AttendOne against the formula written out in plain scalar code, bit for bit, at every
// position count around its blocks of four.
#include "engine/step/attention.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/kernels/cpu/norm.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

TEST(AttendOneTest, EqualsTheFormulaBitwise) {
  const AttentionShape shape{6, 2, 8};  // 3 query heads per KV head
  const int kv_dim = shape.kv_heads * shape.head_dim, layers = 2, positions = 11;
  KvCache cache(layers, kv_dim, 64);
  ASSERT_TRUE(cache.Reserve(positions).ok());
  for (int l = 0; l < layers; ++l) {
    for (int p = 0; p < positions; ++p) {
      for (int i = 0; i < kv_dim; ++i) {
        cache.Key(l, p)[i] = std::sin(0.7f * static_cast<float>(l * 1000 + p * 31 + i));
        cache.Value(l, p)[i] = std::cos(0.3f * static_cast<float>(l * 1000 + p * 17 + i));
      }
    }
  }
  std::vector<float> q(shape.heads * shape.head_dim);
  for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(1.3f * static_cast<float>(i));
  const int hd = shape.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int pos = 0; pos < positions; ++pos) {
    SCOPED_TRACE(pos);
    std::vector<float> scores(positions), out(q.size()), want(q.size());
    AttendOne(shape, q.data(), cache, 1, pos, scores.data(), out.data());
    for (int h = 0; h < shape.heads; ++h) {
      const int kvh = h / (shape.heads / shape.kv_heads);
      std::vector<float> s(pos + 1);
      for (int t = 0; t <= pos; ++t) {
        float acc = 0.0f;
        for (int i = 0; i < hd; ++i) {
          const float prod = q[h * hd + i] * cache.Key(1, t)[kvh * hd + i];
          acc = acc + prod;
        }
        s[t] = acc * scale;
      }
      Softmax(s.data(), pos + 1);
      for (int i = 0; i < hd; ++i) {
        float o = 0.0f;
        for (int t = 0; t <= pos; ++t) o = o + s[t] * cache.Value(1, t)[kvh * hd + i];
        want[h * hd + i] = o;
      }
    }
    EXPECT_EQ(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)), 0);
  }
}

}  // namespace
}  // namespace stocha
