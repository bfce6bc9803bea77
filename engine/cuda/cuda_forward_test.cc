// The GPU forward pass against upstream llama2.c (stories260K) and against the CPU engine.
#include "engine/cuda/cuda_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/stories260k_model.h"
#include "tests/engine/test_data.h"

namespace stocha::cuda {
namespace {

using ::stocha::testing::ReadF32;
using ::stocha::testing::ReadFile;
using ::stocha::testing::SharedData;

constexpr char kTokens[] = "stories260K/expected/runc_t0_once_upon_a_time_n64.tokens.json";
constexpr char kLogits[] = "stories260K/expected/runc_t0_once_upon_a_time_n64.logits.f32";

class CudaForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (DeviceCount(&why) == 0) GTEST_SKIP() << "no GPU: " << why;
    STOCHA_REQUIRE_SHARED_DATA();
    absl::StatusOr<std::shared_ptr<const Model>> m = ::stocha::testing::LoadStories260K();
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = *m;
    const nlohmann::json j = nlohmann::json::parse(ReadFile(SharedData(kTokens)));
    for (const auto& step : j["steps"]) inputs_.push_back(step["input_id"].get<int>());
    want_ = ReadF32(SharedData(kLogits));
    ASSERT_EQ(want_.size(), inputs_.size() * model_->config().vocab_size);
  }

  std::unique_ptr<CudaForward> Forward() {
    absl::StatusOr<std::unique_ptr<CudaForward>> f = CudaForward::Create(model_, 512);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(*f) : nullptr;
  }

  static TokenRow Row(int token, int cache, int position, ActivationSpec act, uint64_t seed = 0) {
    TokenRow r;
    r.token = token;
    r.cache = cache;
    r.position = position;
    r.activation = act;
    r.key = RngKey{seed, 0, static_cast<uint32_t>(position), 0};
    r.want_logits = true;
    return r;
  }

  float MaxDiffToRunC(const std::vector<float>& logits, int position) const {
    const int V = model_->config().vocab_size;
    float d = 0.0f;
    for (int v = 0; v < V; ++v) d = std::max(d, std::abs(logits[v] - want_[position * V + v]));
    return d;
  }

  std::shared_ptr<const Model> model_;
  std::vector<int> inputs_;
  std::vector<float> want_;
};

const ActivationSpec kSilu{ActivationKind::kSilu, 0.0f};

// One position per step, as run.c runs: every logits row within 1e-4 of run.c's (the CPU
// engine's bound, tests/engine/llama2c_golden_test.cc).
TEST_F(CudaForwardTest, TokenByTokenLogitsWithin1e4OfRunC) {
  std::unique_ptr<CudaForward> f = Forward();
  ASSERT_NE(f, nullptr);
  const int cache = *f->NewCache();
  float worst = 0.0f;
  for (size_t p = 0; p < inputs_.size(); ++p) {
    const TokenRow row = Row(inputs_[p], cache, static_cast<int>(p), kSilu);
    absl::StatusOr<ForwardOutput> out = f->Step({&row, 1});
    ASSERT_TRUE(out.ok()) << out.status();
    worst = std::max(worst, MaxDiffToRunC(out->logits[0], static_cast<int>(p)));
  }
  EXPECT_LE(worst, 1e-4f) << "max |logit - run.c| over " << inputs_.size() << " positions";
}

// The same positions as prefill chunks of 16 rows of one cache: the same logits within
// the same bound (rows attend to their own position only).
TEST_F(CudaForwardTest, PrefillChunksGiveRunCsLogits) {
  std::unique_ptr<CudaForward> f = Forward();
  ASSERT_NE(f, nullptr);
  const int cache = *f->NewCache();
  float worst = 0.0f;
  for (size_t p0 = 0; p0 < inputs_.size(); p0 += kMaxDeviceBatch) {
    std::vector<TokenRow> rows;
    rows.reserve(kMaxDeviceBatch);
    for (size_t p = p0; p < std::min(inputs_.size(), p0 + kMaxDeviceBatch); ++p) {
      rows.push_back(Row(inputs_[p], cache, static_cast<int>(p), kSilu));
    }
    absl::StatusOr<ForwardOutput> out = f->Step(rows);
    ASSERT_TRUE(out.ok()) << out.status();
    for (size_t i = 0; i < rows.size(); ++i) {
      worst = std::max(worst, MaxDiffToRunC(out->logits[i], static_cast<int>(p0 + i)));
    }
  }
  EXPECT_LE(worst, 1e-4f);
}

// Seeded StochA(0.5) on the GPU and on the CPU engine, same inputs: the same zeros in
// every layer at every position (the same draws), logits within 1e-4.
TEST_F(CudaForwardTest, SeededStochAMatchesTheCpuEngine) {
  const ActivationSpec stocha{ActivationKind::kStochA, 0.5f};
  std::unique_ptr<CudaForward> f = Forward();
  ASSERT_NE(f, nullptr);
  const int cache = *f->NewCache();
  absl::StatusOr<std::unique_ptr<Engine>> cpu = Engine::Create(model_);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  SequenceOptions so;
  so.activation = stocha;
  so.seed = 42;
  const SequenceId seq = *(*cpu)->AddSequence(so);
  float worst = 0.0f;
  for (size_t p = 0; p < inputs_.size(); ++p) {
    const TokenRow row = Row(inputs_[p], cache, static_cast<int>(p), stocha, 42);
    absl::StatusOr<ForwardOutput> gpu = f->Step({&row, 1});
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    absl::StatusOr<StepOutput> ref = (*cpu)->Step({StepInput{seq, {inputs_[p]}, false, true}});
    ASSERT_TRUE(ref.ok()) << ref.status();
    for (size_t l = 0; l < gpu->zeros.size(); ++l) {
      EXPECT_EQ(gpu->zeros[l][0], ref->per_input[0].layers[l].generated_zeros)
          << "position " << p << " layer " << l;
    }
    for (size_t v = 0; v < ref->logits[0].size(); ++v) {
      worst = std::max(worst, std::abs(gpu->logits[0][v] - ref->logits[0][v]));
    }
  }
  EXPECT_LE(worst, 1e-4f);
}

// A fork continues exactly as its parent would: the same bits for the same next token.
TEST_F(CudaForwardTest, ForkedCacheContinuesLikeItsParent) {
  std::unique_ptr<CudaForward> f = Forward();
  ASSERT_NE(f, nullptr);
  const int parent = *f->NewCache();
  std::vector<TokenRow> prompt;
  prompt.reserve(5);
  for (int p = 0; p < 5; ++p) prompt.push_back(Row(inputs_[p], parent, p, kSilu));
  ASSERT_TRUE(f->Step(prompt).ok());
  absl::StatusOr<int> child = f->ForkCache(parent, 5);
  ASSERT_TRUE(child.ok()) << child.status();
  const TokenRow rows[2] = {Row(inputs_[5], parent, 5, kSilu), Row(inputs_[5], *child, 5, kSilu)};
  absl::StatusOr<ForwardOutput> out = f->Step(rows);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(0,
            std::memcmp(out->logits[0].data(), out->logits[1].data(), out->logits[0].size() * 4));
  EXPECT_LE(MaxDiffToRunC(out->logits[1], 5), 1e-4f);
  EXPECT_TRUE(f->FreeCache(*child).ok());
  EXPECT_EQ(f->FreeCache(*child).code(), absl::StatusCode::kNotFound);
}

TEST_F(CudaForwardTest, BadRowsAreRefusedByName) {
  std::unique_ptr<CudaForward> f = Forward();
  ASSERT_NE(f, nullptr);
  const int cache = *f->NewCache();
  TokenRow bad = Row(512, cache, 0, kSilu);
  absl::Status s = f->Step({&bad, 1}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("rows[0]: token 512"), std::string::npos) << s;
  bad = Row(1, cache + 100, 0, kSilu);
  EXPECT_EQ(f->Step({&bad, 1}).status().code(), absl::StatusCode::kNotFound);
  bad = Row(1, cache, 512, kSilu);
  EXPECT_EQ(f->Step({&bad, 1}).status().code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace stocha::cuda
