// AttendOne against its contract written out in plain scalar code, bit for bit at every ISA
// level, and against double-precision attention within a rounding bound; splits of heads.
#include "engine/step/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/cpu/norm.h"
#include "engine/kernels/cpu/row_isa.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

// A cache of `positions` positions of every layer, filled with smooth values in [-1, 1].
KvCache FilledCache(const AttentionShape& shape, int layers, int positions) {
  const int kv_dim = shape.kv_heads * shape.head_dim;
  KvCache cache(layers, kv_dim, positions);
  EXPECT_TRUE(cache.Reserve(positions).ok());
  for (int l = 0; l < layers; ++l) {
    for (int p = 0; p < positions; ++p) {
      for (int i = 0; i < kv_dim; ++i) {
        cache.Key(l, p)[i] = std::sin(0.7f * static_cast<float>(l * 1000 + p * 31 + i));
        cache.Value(l, p)[i] = std::cos(0.3f * static_cast<float>(l * 1000 + p * 17 + i));
      }
    }
  }
  return cache;
}

// Queries in [-2, 2]: scores large enough for a peaked softmax.
std::vector<float> Query(const AttentionShape& shape) {
  std::vector<float> q(static_cast<size_t>(shape.heads) * shape.head_dim);
  for (size_t i = 0; i < q.size(); ++i) q[i] = 2.0f * std::sin(1.3f * static_cast<float>(i));
  return q;
}

// The contract of attention.h written out in plain scalar code: each score the canonical dot
// (16 lanes of std::fma, pairwise tree, tail) times the scale, norm.h's Softmax, each output
// element one std::fma chain over the positions.
std::vector<float> ContractAttention(const AttentionShape& shape, const std::vector<float>& q,
                                     const KvCache& cache, int layer, int pos) {
  const int hd = shape.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> out(q.size());
  for (int h = 0; h < shape.heads; ++h) {
    const int kvh = h / (shape.heads / shape.kv_heads);
    std::vector<float> s(pos + 1);
    for (int t = 0; t <= pos; ++t) {
      const float* qh = &q[h * hd];
      const float* k = cache.Key(layer, t) + kvh * hd;
      float acc[16] = {};
      int i = 0;
      for (; i + 16 <= hd; i += 16) {
        for (int j = 0; j < 16; ++j) acc[j] = std::fma(qh[i + j], k[i + j], acc[j]);
      }
      for (int w = 8; w > 0; w /= 2) {
        for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
      }
      float r = acc[0];
      for (; i < hd; ++i) r = std::fma(qh[i], k[i], r);
      s[t] = r * scale;
    }
    Softmax(s.data(), pos + 1);
    for (int i = 0; i < hd; ++i) {
      float o = 0.0f;
      for (int t = 0; t <= pos; ++t) o = std::fma(s[t], cache.Value(layer, t)[kvh * hd + i], o);
      out[h * hd + i] = o;
    }
  }
  return out;
}

class AttendOneIsaTest : public ::testing::TestWithParam<RowIsa> {
 protected:
  void SetUp() override {
    if (BestRowIsa() < GetParam()) {
      GTEST_SKIP() << "this CPU lacks " << RowIsaName(GetParam()) << " (best level "
                   << RowIsaName(BestRowIsa()) << ")";
    }
  }
};

// At every level, for odd and real head dims and GQA groups, at every position count
// around the kernels' 4- and 16-key blocks.
TEST_P(AttendOneIsaTest, EqualsTheContractBitwise) {
  const ScopedRowIsa isa(GetParam());
  for (const AttentionShape shape :
       {AttentionShape{6, 2, 8}, AttentionShape{4, 4, 48}, AttentionShape{8, 2, 64},
        AttentionShape{4, 1, 72}, AttentionShape{2, 1, 128}}) {
    const int positions = 37;
    const KvCache cache = FilledCache(shape, 2, positions);
    const std::vector<float> q = Query(shape);
    for (int pos = 0; pos < positions; ++pos) {
      SCOPED_TRACE(testing::Message() << "head_dim " << shape.head_dim << " pos " << pos);
      std::vector<float> scores(positions), out(q.size());
      AttendOne(shape, q.data(), cache, 1, pos, scores.data(), out.data());
      const std::vector<float> want = ContractAttention(shape, q, cache, 1, pos);
      EXPECT_EQ(std::memcmp(out.data(), want.data(), out.size() * sizeof(float)), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, AttendOneIsaTest,
                         ::testing::Values(RowIsa::kPortable, RowIsa::kAvx2, RowIsa::kAvx512),
                         [](const auto& info) { return std::string(RowIsaName(info.param)); });

// Against attention in double precision from the same floats, positions 1 to 300, within an
// a-priori bound of the float rounding (u = 2^-24): a score's error is at most its rounding
// depth (hd/16 chained lanes, 4 tree levels, the tail, the scale) times u times
// scale·Σ|q_i k_i|; a softmax weight's relative error at most twice that plus (n + 3)u
// (exp, n-term sum, division); the n-term output chain adds n·u; outputs are at most
// max|v| = 1. Twice that bound is allowed. A wrong key, lane or order breaks it by orders
// of magnitude.
TEST(AttendOneTest, CloseToDoublePrecisionAttention) {
  const double u = std::ldexp(1.0, -24);
  for (const AttentionShape shape : {AttentionShape{8, 8, 8}, AttentionShape{8, 2, 48},
                                     AttentionShape{8, 2, 64}, AttentionShape{4, 1, 128}}) {
    const int hd = shape.head_dim, positions = 300;
    const KvCache cache = FilledCache(shape, 1, positions);
    const std::vector<float> q = Query(shape);
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const int depth = hd / 16 + 4 + hd % 16 + 1;  // lanes' chain, tree, tail, scale
    double worst = 0;
    for (int pos = 0; pos < positions; ++pos) {
      const int n = pos + 1;
      std::vector<float> scores(positions), out(q.size());
      AttendOne(shape, q.data(), cache, 0, pos, scores.data(), out.data());
      for (int h = 0; h < shape.heads; ++h) {
        const int kvh = h / (shape.heads / shape.kv_heads);
        std::vector<double> s(n);
        double mass = 0, max_s = -1e300;
        for (int t = 0; t < n; ++t) {
          const float* k = cache.Key(0, t) + kvh * hd;
          double dot = 0, abs_dot = 0;
          for (int i = 0; i < hd; ++i) {
            dot += static_cast<double>(q[h * hd + i]) * k[i];
            abs_dot += std::abs(static_cast<double>(q[h * hd + i]) * k[i]);
          }
          s[t] = dot * scale;
          mass = std::max(mass, abs_dot * scale);
          max_s = std::max(max_s, s[t]);
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - max_s));
        const double score_err = static_cast<double>(depth) * u * mass;
        const double tol = 2 * (2 * score_err + (n + 3) * u + n * u);
        for (int i = 0; i < hd; ++i) {
          double want = 0;
          for (int t = 0; t < n; ++t) want += s[t] / sum * cache.Value(0, t)[kvh * hd + i];
          const double err = std::abs(out[h * hd + i] - want);
          worst = std::max(worst, err / tol);
          ASSERT_LE(err, tol) << "head_dim " << hd << " pos " << pos << " head " << h << " i " << i;
        }
      }
    }
    std::printf("head_dim %d: largest error %.3f of the bound\n", hd, worst);
  }
}

// Heads computed in any runs, into one output, give AttendOne's bits.
TEST(AttendHeadsTest, AnySplitOfHeadsEqualsAttendOneBitwise) {
  const AttentionShape shape{6, 3, 64};
  const int positions = 41;
  const KvCache cache = FilledCache(shape, 1, positions);
  const std::vector<float> q = Query(shape);
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
