// Tests for activation parsing and the SiLU / ReLU / StochA kernel.
#include "engine/activation.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/cpu/activation_kernel.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using ::testing::HasSubstr;

TEST(ActivationTest, Parses) {
  EXPECT_EQ(ParseActivation("relu")->kind, ActivationKind::kRelu);
  EXPECT_EQ(ParseActivation(" SiLU ")->kind, ActivationKind::kSilu);
  EXPECT_EQ(ParseActivation("swiglu")->kind, ActivationKind::kSilu);
  EXPECT_FLOAT_EQ(ParseActivation("stocha:0.3")->p, 0.3f);
  EXPECT_FLOAT_EQ(ParseActivation("stocha(0.7)")->p, 0.7f);
  EXPECT_FLOAT_EQ(ParseActivation("StochA=0.2")->p, 0.2f);
  EXPECT_FLOAT_EQ(ParseActivation("stocha", 0.25f)->p, 0.25f);
  EXPECT_EQ(ParseActivation("stocha:0")->kind, ActivationKind::kStochA);
  EXPECT_EQ(ParseActivation("stocha:1")->p, 1.0f);
}

TEST(ActivationTest, KindNames) {
  EXPECT_EQ(ActivationKindNames(), (std::vector<std::string>{"silu", "relu", "stocha"}));
  for (const std::string& name : ActivationKindNames()) {
    absl::StatusOr<ActivationKind> kind = ParseActivationKind(name);
    ASSERT_TRUE(kind.ok()) << name;
    EXPECT_EQ(ActivationKindName(*kind), name);
  }
  EXPECT_EQ(*ParseActivationKind("SwiGLU"), ActivationKind::kSilu);
  EXPECT_EQ(*ParseActivationKind(" Relu\n"), ActivationKind::kRelu);
  // A kind name is a name: no p.
  EXPECT_FALSE(ParseActivationKind("stocha:0.5").ok());
}

// Every error names the bad value (and for unknown names, what is accepted).
TEST(ActivationTest, ErrorsNameTheValue) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"gelu",
                "unknown activation 'gelu' (expected silu, relu or stocha; swiglu is an "
                "alias of silu)"},
           Case{"stochax", "unknown activation 'stochax'"},
           Case{"", "unknown activation ''"},
           Case{"stocha:1.5", "activation 'stocha:1.5': p must be in [0, 1], got 1.5"},
           Case{"stocha:-0.1", "activation 'stocha:-0.1': p must be in [0, 1], got -0.1"},
           Case{"stocha:nan", "activation 'stocha:nan': p must be in [0, 1]"},
           Case{"stocha:x", "activation 'stocha:x': p is not a number"},
           Case{"stocha:", "activation 'stocha:': p is not a number"},
           Case{"stocha(0.5", "malformed activation 'stocha(0.5'"},
           Case{"relu:0.5", "activation 'relu:0.5': only stocha takes a p"},
           Case{"silu(1)", "activation 'silu(1)': only stocha takes a p"},
       }) {
    absl::StatusOr<ActivationSpec> spec = ParseActivation(c.text);
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(spec.status().message(), HasSubstr(c.message)) << c.text;
  }
  EXPECT_THAT(ParseActivationKind("GeLU").status().message(),
              HasSubstr("unknown activation 'GeLU'"));
  // The default p is checked too when the text gives none.
  EXPECT_THAT(ParseActivation("stocha", 2.0f).status().message(),
              HasSubstr("activation 'stocha': p must be in [0, 1], got 2"));
}

TEST(ActivationTest, MakeActivation) {
  EXPECT_EQ(*MakeActivation(ActivationKind::kStochA, std::nullopt, 0.25f),
            (ActivationSpec{ActivationKind::kStochA, 0.25f}));
  EXPECT_EQ(MakeActivation(ActivationKind::kStochA, 0.75f, 0.25f)->p, 0.75f);
  EXPECT_EQ(*MakeActivation(ActivationKind::kRelu, std::nullopt, 0.25f),
            ActivationSpec{ActivationKind::kRelu});
  EXPECT_THAT(MakeActivation(ActivationKind::kRelu, 0.5f, 0.25f).status().message(),
              HasSubstr("activation 'relu' takes no p"));
  EXPECT_THAT(MakeActivation(ActivationKind::kStochA, 1.01f, 0.25f).status().message(),
              HasSubstr("p must be in [0, 1], got 1.01"));
}

// Format then parse gives the same spec for every kind and for p values whose shortest
// decimal needs 1 to 9 digits; the text is the canonical spelling.
TEST(ActivationTest, RoundTrips) {
  EXPECT_EQ(ActivationToString({ActivationKind::kSilu, 0}), "silu");
  EXPECT_EQ(ActivationToString({ActivationKind::kRelu, 0}), "relu");
  EXPECT_EQ(ActivationToString({ActivationKind::kStochA, 0.5f}), "stocha:0.5");
  EXPECT_EQ(ActivationToString({ActivationKind::kStochA, 0.3f}), "stocha:0.3");
  EXPECT_EQ(ActivationToString({ActivationKind::kStochA, 0.0f}), "stocha:0");
  std::vector<ActivationSpec> specs = {{ActivationKind::kSilu, 0}, {ActivationKind::kRelu, 0}};
  for (float p : {0.0f, 1.0f, 0.5f, 0.3f, 0.1f, 1e-7f, 0.123456789f, 0.99999994f}) {
    specs.push_back({ActivationKind::kStochA, p});
  }
  for (int i = 0; i <= 1000; ++i) specs.push_back({ActivationKind::kStochA, i / 1000.0f});
  for (const ActivationSpec& spec : specs) {
    const std::string text = ActivationToString(spec);
    absl::StatusOr<ActivationSpec> back = ParseActivation(text, 0.42f);
    ASSERT_TRUE(back.ok()) << text << ": " << back.status();
    EXPECT_EQ(back->kind, spec.kind) << text;
    EXPECT_EQ(back->p, spec.p) << text;  // bitwise, not FLOAT_EQ
    EXPECT_EQ(ActivationToString(*back), text);
  }
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
