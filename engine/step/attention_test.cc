// AttendOne against the formula written out in plain scalar code, bit for bit, at every
// position count around its blocks of four.
#include "engine/step/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
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

// Heads computed in any runs, into one output, give AttendOne's bits.
TEST(AttendHeadsTest, AnySplitOfHeadsEqualsAttendOneBitwise) {
  const AttentionShape shape{6, 3, 8};
  const int kv_dim = shape.kv_heads * shape.head_dim, positions = 9;
  KvCache cache(1, kv_dim, 16);
  ASSERT_TRUE(cache.Reserve(positions).ok());
  for (int p = 0; p < positions; ++p) {
    for (int i = 0; i < kv_dim; ++i) {
      cache.Key(0, p)[i] = std::sin(0.9f * static_cast<float>(p * 13 + i));
      cache.Value(0, p)[i] = std::cos(0.4f * static_cast<float>(p * 7 + i));
    }
  }
  std::vector<float> q(shape.heads * shape.head_dim);
  for (size_t i = 0; i < q.size(); ++i) q[i] = std::cos(0.8f * static_cast<float>(i));
  std::vector<float> scores(positions), want(q.size());
  AttendOne(shape, q.data(), cache, 0, positions - 1, scores.data(), want.data());
  for (int cut = 0; cut <= shape.heads; ++cut) {
    std::vector<float> out(q.size(), -1.0f);
    AttendHeads(shape, q.data(), cache, 0, positions - 1, cut, shape.heads, scores.data(),
                out.data());
    AttendHeads(shape, q.data(), cache, 0, positions - 1, 0, cut, scores.data(), out.data());
    EXPECT_EQ(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)), 0) << cut;
  }
}

// Over all parts every (token, head) item is visited once, in contiguous runs, and each
// part's work is within one item's weight of an equal share.
TEST(ForEachAttentionRunTest, VisitsEveryItemOnceInBalancedRuns) {
  const int heads = 5;
  std::vector<int64_t> positions(38);
  for (int t = 0; t < 37; ++t) positions[t] = t + 1;  // a causal prefill
  positions[37] = 400;                                // and a long decode
  int64_t total = 0, heaviest = 0;
  for (int64_t w : positions) {
    total += w * heads;
    heaviest = std::max(heaviest, w);
  }
  for (int parts : {1, 2, 3, 7, 64, 300}) {
    SCOPED_TRACE(parts);
    std::vector<int> seen(positions.size() * heads, 0);
    int64_t next = 0;  // items arrive in order across parts
    for (int p = 0; p < parts; ++p) {
      int64_t work = 0;
      ForEachAttentionRun(positions, heads, parts, p, [&](int64_t t, int h0, int h1) {
        ASSERT_LT(h0, h1);
        ASSERT_EQ(t * heads + h0, next);
        next = t * heads + h1;
        for (int h = h0; h < h1; ++h) ++seen[t * heads + h];
        work += (h1 - h0) * positions[t];
      });
      EXPECT_LE(std::abs(work - total / parts), heaviest) << "part " << p;
    }
    EXPECT_EQ(next, static_cast<int64_t>(seen.size()));
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  }
}

}  // namespace
}  // namespace stocha
