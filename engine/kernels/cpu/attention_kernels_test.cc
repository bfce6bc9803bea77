// The attention kernels: the scalar references against the contract written out with
// std::fma, and every ISA level this CPU has against the references, bit for bit, at head
// dims around the 16-lane blocks and key counts around the 4- and 16-key passes.
#include "engine/kernels/cpu/attention_kernels.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/row_isa.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

constexpr int kHeadDims[] = {1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 64, 72, 80, 128, 130, 256};
constexpr int64_t kKeyCounts[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 64, 100, 300};

// Keys or values of n positions, each hd floats of a row ld floats long (the KV cache's
// layout: the other heads' floats in between, filled with NaN so a read of them shows).
struct Rows {
  int64_t ld;
  std::vector<float> data;
};

Rows RandomRows(int64_t n, int hd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0, 1);
  Rows r{2 * hd + 3, {}};
  r.data.assign(static_cast<size_t>(n * r.ld), std::nanf(""));
  for (int64_t t = 0; t < n; ++t) {
    for (int i = 0; i < hd; ++i) r.data[t * r.ld + i] = nd(rng);
  }
  return r;
}

std::vector<float> RandomVector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The contract of a score written out: 16 lanes of std::fma, the pairwise tree, the tail,
// then the scale.
float ContractScore(const float* q, const float* k, int hd, float scale) {
  float acc[16] = {};
  int i = 0;
  for (; i + 16 <= hd; i += 16) {
    for (int j = 0; j < 16; ++j) acc[j] = std::fma(q[i + j], k[i + j], acc[j]);
  }
  for (int s = 8; s > 0; s /= 2) {
    for (int j = 0; j < s; ++j) acc[j] += acc[j + s];
  }
  float r = acc[0];
  for (; i < hd; ++i) r = std::fma(q[i], k[i], r);
  return r * scale;
}

TEST(AttentionKernelsTest, ReferencesFollowTheContractBitwise) {
  for (int hd : kHeadDims) {
    for (int64_t n : {1, 17, 300}) {
      SCOPED_TRACE(testing::Message() << "hd " << hd << " n " << n);
      const std::vector<float> q = RandomVector(hd, 1);
      const Rows k = RandomRows(n, hd, 2), v = RandomRows(n, hd, 3);
      const std::vector<float> a = RandomVector(n, 4);
      std::vector<float> s(n), want_s(n), out(hd), want_out(hd);
      AttentionScoresReference(q.data(), k.data.data(), k.ld, n, hd, 0.125f, s.data());
      for (int64_t t = 0; t < n; ++t) {
        want_s[t] = ContractScore(q.data(), k.data.data() + t * k.ld, hd, 0.125f);
      }
      EXPECT_TRUE(SameBits(s, want_s));
      AttentionValuesReference(a.data(), v.data.data(), v.ld, n, hd, out.data());
      for (int i = 0; i < hd; ++i) {
        float o = 0.0f;
        for (int64_t t = 0; t < n; ++t) o = std::fma(a[t], v.data[t * v.ld + i], o);
        want_out[i] = o;
      }
      EXPECT_TRUE(SameBits(out, want_out));
    }
  }
}

class AttentionKernelsIsaTest : public ::testing::TestWithParam<RowIsa> {
 protected:
  void SetUp() override {
    if (BestRowIsa() < GetParam()) {
      GTEST_SKIP() << "this CPU lacks " << RowIsaName(GetParam()) << " (best level "
                   << RowIsaName(BestRowIsa()) << ")";
    }
  }
};

TEST_P(AttentionKernelsIsaTest, ScoresEqualTheReferenceBitwise) {
  const ScopedRowIsa isa(GetParam());
  ASSERT_EQ(ActiveRowIsa(), GetParam());
  for (int hd : kHeadDims) {
    const std::vector<float> q = RandomVector(hd, 10 + hd);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (int64_t n : kKeyCounts) {
      SCOPED_TRACE(testing::Message() << "hd " << hd << " n " << n);
      const Rows k = RandomRows(n, hd, static_cast<uint32_t>(100 * hd + n));
      // One float past the scores is watched: a block's store must stop at n.
      std::vector<float> s(n + 1, -7.0f), want(n + 1, -7.0f);
      AttentionScores(q.data(), k.data.data(), k.ld, n, hd, scale, s.data());
      AttentionScoresReference(q.data(), k.data.data(), k.ld, n, hd, scale, want.data());
      EXPECT_TRUE(SameBits(s, want));
    }
  }
}

TEST_P(AttentionKernelsIsaTest, ValuesEqualTheReferenceBitwise) {
  const ScopedRowIsa isa(GetParam());
  for (int hd : kHeadDims) {
    for (int64_t n : kKeyCounts) {
      SCOPED_TRACE(testing::Message() << "hd " << hd << " n " << n);
      const Rows v = RandomRows(n, hd, static_cast<uint32_t>(7 * hd + n));
      const std::vector<float> a = RandomVector(n, static_cast<uint32_t>(n));
      std::vector<float> out(hd + 1, -7.0f), want(hd + 1, -7.0f);
      AttentionValues(a.data(), v.data.data(), v.ld, n, hd, out.data());
      AttentionValuesReference(a.data(), v.data.data(), v.ld, n, hd, want.data());
      EXPECT_TRUE(SameBits(out, want));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, AttentionKernelsIsaTest,
                         ::testing::Values(RowIsa::kPortable, RowIsa::kAvx2, RowIsa::kAvx512),
                         [](const auto& info) { return std::string(RowIsaName(info.param)); });

}  // namespace
}  // namespace stocha
