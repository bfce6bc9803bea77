// Tests for the sampler: greedy, filters, penalties, determinism, validation.
#include "engine/sampler.h"

#include <cmath>
#include <map>
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
