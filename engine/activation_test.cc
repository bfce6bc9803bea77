// Tests for activation parsing and the SiLU / ReLU / StochA kernel.
#include "engine/activation.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/kernels/activation_kernel.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

TEST(ActivationTest, Parses) {
  EXPECT_EQ(ParseActivation("relu")->kind, ActivationKind::kRelu);
  EXPECT_EQ(ParseActivation(" SiLU ")->kind, ActivationKind::kSilu);
  EXPECT_FLOAT_EQ(ParseActivation("stocha:0.3")->p, 0.3f);
  EXPECT_FLOAT_EQ(ParseActivation("stocha(0.7)")->p, 0.7f);
  EXPECT_FLOAT_EQ(ParseActivation("stocha", 0.25f)->p, 0.25f);
  EXPECT_FALSE(ParseActivation("gelu").ok());
  EXPECT_FALSE(ParseActivation("stocha:1.5").ok());
  EXPECT_FALSE(ParseActivation("stocha:x").ok());
  EXPECT_EQ(ActivationToString(*ParseActivation("stocha:0.5")), "stocha:0.5");
}

std::vector<float> Ramp(int n) {
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = std::sin(0.37f * i) * 3.0f;  // both signs
  return x;
}

TEST(ActivationTest, StochAWithPZeroIsReluBitForBit) {
  std::vector<float> a = Ramp(1001), b = a;
  const int64_t za =
      ApplyActivation({ActivationKind::kStochA, 0.0f}, {7, 3, 11, 2}, a.data(), 1001);
  const int64_t zb = ApplyActivation({ActivationKind::kRelu, 0.0f}, {}, b.data(), 1001);
  EXPECT_EQ(za, zb);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

// p = 1: identity on x >= 0, SiLU on every negative input.
TEST(ActivationTest, StochAWithPOneTakesSiluOnEveryNegative) {
  std::vector<float> a = Ramp(257), x = a;
  EXPECT_EQ(ApplyActivation({ActivationKind::kStochA, 1.0f}, {1, 0, 0, 0}, a.data(), 257), 1);
  for (int i = 0; i < 257; ++i) EXPECT_EQ(a[i], x[i] >= 0 ? x[i] : Silu(x[i])) << i;
}

TEST(ActivationTest, StochAKeepsPositivesAndIsDeterministicPerKey) {
  std::vector<float> a = Ramp(500), b = a, c = a, x = a;
  const RngKey key{42, 1, 9, 3};
  ApplyActivation({ActivationKind::kStochA, 0.5f}, key, a.data(), 500);
  ApplyActivation({ActivationKind::kStochA, 0.5f}, key, b.data(), 500);
  ApplyActivation({ActivationKind::kStochA, 0.5f}, {42, 2, 9, 3}, c.data(), 500);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);  // another sample index draws differently
  for (int i = 0; i < 500; ++i) {
    if (x[i] >= 0)
      EXPECT_EQ(a[i], x[i]);
    else
      EXPECT_TRUE(a[i] == 0.0f || a[i] == Silu(x[i]));
  }
}

// The SiLU-branch rate on negative inputs is Binomial(n, p): accept within 5 sigma.
TEST(ActivationTest, StochASiluRateWithinBinomialBounds) {
  for (float p : {0.1f, 0.3f, 0.5f, 0.7f, 0.9f}) {
    const int n = 200000;
    std::vector<float> x(n, -1.0f);
    ApplyActivation({ActivationKind::kStochA, p}, {123, 0, 5, 1}, x.data(), n);
    int silu = 0;
    for (float v : x) silu += v != 0.0f;
    const double mean = n * p, sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(silu, mean, 5 * sd) << "p=" << p;
  }
}

TEST(ActivationTest, CountsZeros) {
  std::vector<float> x = {-1, 0, 2, -3, 4};
  EXPECT_EQ(ApplyActivation({ActivationKind::kRelu, 0}, {}, x.data(), 5), 3);
  std::vector<float> y = {-1, 0, 2};
  EXPECT_EQ(ApplyActivation({ActivationKind::kSilu, 0}, {}, y.data(), 3), 1);
}

}  // namespace
}  // namespace stocha
