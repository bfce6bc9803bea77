// Tests for the sampler: greedy, filters, penalties, determinism, validation.
#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace stocha {
namespace {

RngKey Key(uint32_t pos, uint64_t seed = 1) { return RngKey{seed, 0, pos, kSamplerStream}; }

TEST(SamplerTest, GreedyTakesFirstMaximum) {
  SamplingParams p;
  p.temperature = 0;
  std::vector<float> l = {0.1f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(Sample(p, l, {}, {}, Key(0)).token, 1);
}

TEST(SamplerTest, LogprobsAreLogSoftmaxOfRawLogits) {
  SamplingParams p;
  p.temperature = 0;
  p.top_logprobs = 2;
  std::vector<float> l = {0.0f, std::log(3.0f)};
  SampleResult r = Sample(p, l, {}, {}, Key(0));
  EXPECT_EQ(r.token, 1);
  EXPECT_NEAR(r.logprob, std::log(0.75), 1e-6);
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].token, 1);
  EXPECT_NEAR(r.top[1].logprob, std::log(0.25), 1e-6);
}

TEST(SamplerTest, TopKOneIsGreedy) {
  SamplingParams p;
  p.top_k = 1;
  std::vector<float> l = {1, 5, 3, 4};
  for (uint32_t i = 0; i < 50; ++i) EXPECT_EQ(Sample(p, l, {}, {}, Key(i)).token, 1);
}

TEST(SamplerTest, TopPKeepsTheNucleusOnly) {
  SamplingParams p;
  p.top_p = 0.5f;
  // probs ~ 0.6, 0.3, 0.1: nucleus at 0.5 is {0}.
  std::vector<float> l = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(Sample(p, l, {}, {}, Key(i)).token, 0);
  p.top_p = 0.8f;  // {0, 1}
  std::map<int, int> seen;
  for (uint32_t i = 0; i < 2000; ++i) ++seen[Sample(p, l, {}, {}, Key(i)).token];
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_NEAR(seen[0] / 2000.0, 0.6 / 0.9, 0.05);
}

TEST(SamplerTest, FrequenciesFollowTheDistribution) {
  SamplingParams p;
  p.temperature = 1.0f;
  std::vector<float> l = {std::log(0.2f), std::log(0.5f), std::log(0.3f)};
  std::map<int, int> seen;
  const int n = 20000;
  for (uint32_t i = 0; i < n; ++i) ++seen[Sample(p, l, {}, {}, Key(i, 99)).token];
  EXPECT_NEAR(seen[0] / double(n), 0.2, 0.015);
  EXPECT_NEAR(seen[1] / double(n), 0.5, 0.015);
}

// A large vocabulary (the nucleus is found by sorting a growing prefix): every draw lies
// in the nucleus computed by a full sort, with the frequencies of the renormalised
// nucleus; with top-k the nucleus is taken within the k; unfiltered draws follow the
// full distribution.
TEST(SamplerTest, LargeVocabularyNucleusMatchesAFullSort) {
  const int V = 16000;
  std::vector<float> l(V);
  for (int i = 0; i < V; ++i) l[i] = 15.0f * std::sin(i * 0.37f) * std::cos(i * 0.011f);
  std::vector<int> order(V);
  for (int i = 0; i < V; ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
  std::vector<double> prob(V);
  for (int i = 0; i < V; ++i) prob[i] = std::exp(static_cast<double>(l[i] - l[order[0]]));
  for (const auto& [top_k, top_p] : {std::pair{0, 0.3f}, std::pair{0, 0.9f}, std::pair{0, 1.0f},
                                     std::pair{200, 0.5f}, std::pair{50, 1.0f}}) {
    SCOPED_TRACE(::testing::Message() << "top_k " << top_k << " top_p " << top_p);
    const int k = top_k > 0 ? top_k : V;
    double total = 0.0;
    for (int i = 0; i < k; ++i) total += prob[order[i]];
    int keep = k;
    double cum = 0.0;
    for (int i = 0; i < k && top_p < 1.0f; ++i) {
      cum += prob[order[i]] / total;
      if (cum >= top_p) {
        keep = i + 1;
        break;
      }
    }
    std::map<int, double> nucleus;  // token -> renormalised probability
    double kept = 0.0;
    for (int i = 0; i < keep; ++i) kept += prob[order[i]];
    for (int i = 0; i < keep; ++i) nucleus[order[i]] = prob[order[i]] / kept;
    if (top_p < 1.0f) {
      ASSERT_LT(keep, k / 2) << "the test wants a real cut";
    }

    SamplingParams p;
    p.top_k = top_k;
    p.top_p = top_p;
    const int n = 1500;
    std::map<int, int> seen;
    for (uint32_t i = 0; i < n; ++i) {
      const int t = Sample(p, l, {}, {}, Key(i, 11)).token;
      ASSERT_EQ(nucleus.count(t), 1u) << "token " << t << " outside the nucleus";
      ++seen[t];
    }
    const int best = order[0];
    EXPECT_NEAR(seen[best] / double(n), nucleus[best], 0.035);
  }
}

TEST(SamplerTest, SameKeySameToken) {
  SamplingParams p;
  std::vector<float> l(100);
  for (int i = 0; i < 100; ++i) l[i] = std::sin(i * 1.3f);
  for (uint32_t i = 0; i < 20; ++i) {
    EXPECT_EQ(Sample(p, l, {}, {}, Key(i, 5)).token, Sample(p, l, {}, {}, Key(i, 5)).token);
  }
}

TEST(SamplerTest, PenaltiesChangeTheArgmax) {
  SamplingParams p;
  p.temperature = 0;
  std::vector<float> l = {3.0f, 2.9f, 0.0f};
  p.repetition_penalty = 1.5f;
  EXPECT_EQ(Sample(p, l, {0}, {}, Key(0)).token, 1);
  p.repetition_penalty = 1.0f;
  p.presence_penalty = 0.5f;
  EXPECT_EQ(Sample(p, l, {0}, {0}, Key(0)).token, 1);
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.06f;
  EXPECT_EQ(Sample(p, l, {}, {0}, Key(0)).token, 0);     // 3 - 0.06 > 2.9
  EXPECT_EQ(Sample(p, l, {}, {0, 0}, Key(0)).token, 1);  // 3 - 0.12 < 2.9
}

TEST(SamplerTest, ValidationNamesTheField) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_NE(ValidateSamplingParams(p).message().find("temperature"), std::string::npos);
  p = {};
  p.top_p = 0;
  EXPECT_NE(ValidateSamplingParams(p).message().find("top_p"), std::string::npos);
  p = {};
  p.top_logprobs = 21;
  EXPECT_NE(ValidateSamplingParams(p).message().find("top_logprobs"), std::string::npos);
  p = {};
  p.frequency_penalty = -0.1f;
  EXPECT_NE(ValidateSamplingParams(p).message().find("frequency_penalty"), std::string::npos);
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}).ok());
}

}  // namespace
}  // namespace stocha
