// Rope: inverse frequencies with GGUF rope_freqs divisors, and both pairings, against
// values worked out by hand.
#include "engine/step/rope.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace stocha {
namespace {

ModelConfig Config(int head_dim, RopeStyle style) {
  ModelConfig c;
  c.head_dim = head_dim;
  c.rope_theta = 10000.0f;
  c.rope_style = style;
  return c;
}

TEST(RopeTest, InverseFrequenciesWithoutFactors) {
  // head_dim 4: theta^(-0/4) = 1, theta^(-2/4) = 1/100.
  const Rope rope(Config(4, RopeStyle::kHalf));
  ASSERT_EQ(rope.inv_freq().size(), 2u);
  EXPECT_FLOAT_EQ(rope.inv_freq()[0], 1.0f);
  EXPECT_FLOAT_EQ(rope.inv_freq()[1], 0.01f);
}

TEST(RopeTest, FreqFactorsDivideEachFrequency) {
  // head_dim 8: 1, 1/10, 1/100, 1/1000, divided by 1, 2, 4 and 8.
  ModelConfig c = Config(8, RopeStyle::kInterleaved);
  c.rope_scaling.freq_factors = {1.0f, 2.0f, 4.0f, 8.0f};
  const Rope rope(c);
  const float want[] = {1.0f, 0.05f, 0.0025f, 0.000125f};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(rope.inv_freq()[i], want[i]) << i;
}

TEST(RopeTest, InterleavedRotatesAdjacentPairsWithFactors) {
  // Pair 0 turns by position * 1 / 2 = 1 radian at position 2; pair 1 by 2 * 0.01 / 0.5.
  ModelConfig c = Config(4, RopeStyle::kInterleaved);
  c.rope_scaling.freq_factors = {2.0f, 0.5f};
  const Rope rope(c);
  std::vector<float> v = {1.0f, 0.0f, 0.0f, 1.0f};
  rope.Apply(v.data(), 1, 2);
  const float a0 = 1.0f, a1 = 0.04f;
  EXPECT_NEAR(v[0], std::cos(a0), 1e-6);
  EXPECT_NEAR(v[1], std::sin(a0), 1e-6);
  EXPECT_NEAR(v[2], -std::sin(a1), 1e-6);
  EXPECT_NEAR(v[3], std::cos(a1), 1e-6);
}

TEST(RopeTest, HalfPairsDimensionIWithIPlusHalf) {
  // qwen2 / HF layout: (x0, x2) and (x1, x3) turn together; two heads alike.
  const Rope rope(Config(4, RopeStyle::kHalf));
  std::vector<float> v = {1.0f, 1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.0f};
  rope.Apply(v.data(), 2, 3);
  const float a0 = 3.0f, a1 = 0.03f;
  for (int h = 0; h < 2; ++h) {
    EXPECT_NEAR(v[4 * h + 0], std::cos(a0), 1e-6);
    EXPECT_NEAR(v[4 * h + 2], std::sin(a0), 1e-6);
    EXPECT_NEAR(v[4 * h + 1], std::cos(a1), 1e-6);
    EXPECT_NEAR(v[4 * h + 3], std::sin(a1), 1e-6);
  }
}

TEST(RopeTest, ValidateChecksFreqFactors) {
  ModelConfig c;
  c.hidden_size = c.intermediate_size = c.num_layers = c.num_heads = c.num_kv_heads = 1;
  c.head_dim = 4;
  c.vocab_size = c.max_position_embeddings = 8;
  c.eos_token_ids = {};
  c.bos_token_id = 1;
  EXPECT_TRUE(c.Validate("m").ok());
  c.rope_scaling.freq_factors = {1.0f};
  EXPECT_EQ(c.Validate("m").message(),
            "m: rope_scaling.freq_factors has 1 values, expected head_dim / 2 = 2");
  c.rope_scaling.freq_factors = {1.0f, NAN};
  EXPECT_EQ(c.Validate("m").message(),
            "m: rope_scaling.freq_factors[1] (nan) must be a finite number > 0");
  c.rope_scaling.freq_factors = {1.0f, 2.0f};
  c.rope_scaling.llama3 = true;
  EXPECT_EQ(c.Validate("m").message(),
            "m: rope_scaling.freq_factors and rope_scaling llama3 both scale RoPE");
}

}  // namespace
}  // namespace stocha
