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

// 150 tokens: run.c's 64, then 86 more of the vocabulary (a prompt longer than any
// recorded one; only its consistency is checked).
std::vector<int> LongPrompt(const std::vector<int>& runc) {
  std::vector<int> p = runc;
  for (int i = 0; p.size() < 150; ++i) p.push_back((i * 37 + 11) % 512);
  return p;
}

// Prefills `tokens` into a new cache in steps of `chunk` rows (only the last row wants
// logits), then decodes `n` greedy tokens; returns the cache, the prefill's last logits
// and the greedy tokens.
struct PrefillResult {
  int cache = 0;
  std::vector<float> last_logits;
  std::vector<int> greedy;
  std::vector<std::vector<int32_t>> zeros;  // [layer][position] of the prefill
};
PrefillResult PrefillAndDecode(CudaForward& f, const std::vector<int>& tokens, int chunk, int n,
                               ActivationSpec act) {
  PrefillResult r;
  r.cache = *f.NewCache();
  const int L = f.model().config().num_layers;
  r.zeros.resize(L);
  for (size_t p0 = 0; p0 < tokens.size(); p0 += chunk) {
    std::vector<TokenRow> rows;
    for (size_t p = p0; p < std::min(tokens.size(), p0 + chunk); ++p) {
      TokenRow row;
      row.token = tokens[p];
      row.cache = r.cache;
      row.position = static_cast<int>(p);
      row.activation = act;
      row.key = RngKey{7, 0, static_cast<uint32_t>(p), 0};
      row.want_logits = p + 1 == tokens.size();
      rows.push_back(row);
    }
    absl::StatusOr<ForwardOutput> out = f.Step(rows);
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return r;
    EXPECT_EQ(out->sparse, act.sparse() && static_cast<int>(rows.size()) < kGemmMinRows);
    for (int l = 0; l < L; ++l) {
      r.zeros[l].insert(r.zeros[l].end(), out->zeros[l].begin(), out->zeros[l].end());
    }
    if (rows.back().want_logits) r.last_logits = out->logits.back();
  }
  std::vector<float> l = r.last_logits;
  for (int i = 0; i < n && !l.empty(); ++i) {
    r.greedy.push_back(static_cast<int>(std::max_element(l.begin(), l.end()) - l.begin()));
    TokenRow row;
    row.token = r.greedy.back();
    row.cache = r.cache;
    row.position = static_cast<int>(tokens.size()) + i;
    row.activation = act;
    row.key = RngKey{7, 0, static_cast<uint32_t>(row.position), 0};
    row.want_logits = true;
    absl::StatusOr<ForwardOutput> out = f.Step({&row, 1});
    EXPECT_TRUE(out.ok()) << out.status();
    l = out.ok() ? out->logits[0] : std::vector<float>{};
  }
  return r;
}

// A 150-token prefill in one step (cuBLAS) against steps of 16 rows (RowDots): the last
// row's logits within 1e-4 (the bound both keep against run.c), every key and value of
// the cache within 1e-4 of the larger of 1 and its magnitude (F32 sums in another order),
// and the same 24 greedy tokens after it; with seeded StochA(0.5) the zero counts of
// every row and layer within 2 (the same draws; only a pre-activation within rounding
// of zero may change sign).
TEST_F(CudaForwardTest, WholePrefillInOneStepEqualsSixteenRowSteps) {
  std::unique_ptr<CudaForward> f = Forward();
  ASSERT_NE(f, nullptr);
  const std::vector<int> tokens = LongPrompt(inputs_);
  for (const ActivationSpec act : {kSilu, ActivationSpec{ActivationKind::kStochA, 0.5f}}) {
    const PrefillResult big =
        PrefillAndDecode(*f, tokens, static_cast<int>(tokens.size()), 24, act);
    const PrefillResult small = PrefillAndDecode(*f, tokens, kMaxDeviceBatch, 24, act);
    ASSERT_EQ(big.last_logits.size(), small.last_logits.size());
    float worst = 0.0f;
    for (size_t v = 0; v < big.last_logits.size(); ++v) {
      worst = std::max(worst, std::abs(big.last_logits[v] - small.last_logits[v]));
    }
    EXPECT_LE(worst, 1e-4f) << "last row's logits, one step vs 16-row steps";
    EXPECT_EQ(big.greedy, small.greedy);
    absl::StatusOr<std::vector<float>> kb = f->ReadCache(big.cache);
    absl::StatusOr<std::vector<float>> ks = f->ReadCache(small.cache);
    ASSERT_TRUE(kb.ok() && ks.ok()) << kb.status() << ks.status();
    ASSERT_EQ(kb->size(), ks->size());
    for (size_t i = 0; i < kb->size(); ++i) {
      ASSERT_LE(std::abs((*kb)[i] - (*ks)[i]), 1e-4f * std::max(1.0f, std::abs((*ks)[i])))
          << "cache float " << i;
    }
    for (size_t l = 0; l < big.zeros.size(); ++l) {
      ASSERT_EQ(big.zeros[l].size(), tokens.size());
      for (size_t p = 0; p < tokens.size(); ++p) {
        EXPECT_LE(std::abs(big.zeros[l][p] - small.zeros[l][p]), 2)
            << "layer " << l << " position " << p;
      }
    }
    ASSERT_TRUE(f->FreeCache(big.cache).ok());
    ASSERT_TRUE(f->FreeCache(small.cache).ok());
  }
}

// run.c's 64 positions as one step of 64 rows (cuBLAS), the last 16 wanting logits: each
// within 1e-4 of run.c's.
TEST_F(CudaForwardTest, OneChunkOf64RowsGivesRunCsLogits) {
  std::unique_ptr<CudaForward> f = Forward();
  ASSERT_NE(f, nullptr);
  const int cache = *f->NewCache();
  std::vector<TokenRow> rows;
  for (size_t p = 0; p < inputs_.size(); ++p) {
    rows.push_back(Row(inputs_[p], cache, static_cast<int>(p), kSilu));
    rows.back().want_logits = p + kMaxDeviceBatch >= inputs_.size();
  }
  absl::StatusOr<ForwardOutput> out = f->Step(rows);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->sparse);
  float worst = 0.0f;
  for (size_t p = 0; p < rows.size(); ++p) {
    EXPECT_EQ(out->logits[p].empty(), !rows[p].want_logits) << p;
    if (rows[p].want_logits) {
      worst = std::max(worst, MaxDiffToRunC(out->logits[p], static_cast<int>(p)));
    }
  }
  EXPECT_LE(worst, 1e-4f);
}

// A step over kMaxStepRows rows, or with more than kMaxDeviceBatch rows wanting logits,
// is refused naming the field.
TEST_F(CudaForwardTest, OversizedStepsAreRefusedByName) {
  std::unique_ptr<CudaForward> f = Forward();
  ASSERT_NE(f, nullptr);
  const int cache = *f->NewCache();
  std::vector<TokenRow> rows;
  for (int p = 0; p <= kMaxStepRows; ++p) rows.push_back(Row(1, cache, p, kSilu));
  absl::Status s = f->Step(rows).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("rows.size() 257 outside [1, 256]"), std::string::npos) << s;
  rows.resize(kMaxDeviceBatch + 1);
  s = f->Step(rows).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("17 rows with want_logits"), std::string::npos) << s;
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
