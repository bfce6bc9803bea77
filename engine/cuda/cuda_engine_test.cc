// The Engine on the GPU against the Engine on the CPU and upstream run.c, through the same API.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/stories260k_model.h"
#include "tests/engine/test_data.h"

namespace stocha {
namespace {

using ::stocha::testing::ReadFile;
using ::stocha::testing::SharedData;

constexpr char kTokens[] = "stories260K/expected/runc_t0_once_upon_a_time_n64.tokens.json";
// Both engines are within 1e-4 of run.c's logits (llama2c_golden_test, cuda_forward_test).
constexpr float kLogitTolerance = 2e-4f;
// A first divergence of greedy tokens counts as a numerical tie below this top-2 margin.
constexpr float kTieMargin = 1e-3f;

int Argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

// The gap between the best and the second-best logit.
float Top2Margin(std::vector<float> v) {
  std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<float>());
  return v[0] - v[1];
}

float MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return a.size() == b.size() ? d : INFINITY;
}

class CudaEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    STOCHA_REQUIRE_SHARED_DATA();
    absl::StatusOr<std::shared_ptr<const Model>> m = ::stocha::testing::LoadStories260K();
    ASSERT_TRUE(m.ok()) << m.status();
    EngineOptions eo;
    eo.max_context = 256;
    eo.device = Device{Device::Kind::kCuda, 0};
    absl::StatusOr<std::unique_ptr<Engine>> gpu = Engine::Create(*m, eo);
    if (gpu.status().code() == absl::StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "no GPU: " << gpu.status().message();
    }
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    gpu_ = std::move(*gpu);
    eo.device = Device{};
    absl::StatusOr<std::unique_ptr<Engine>> cpu = Engine::Create(*m, eo);
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    cpu_ = std::move(*cpu);
    const nlohmann::json j = nlohmann::json::parse(ReadFile(SharedData(kTokens)));
    prompt_ = j["prompt_ids"].get<std::vector<int>>();
    runc_ = j["generated_ids"].get<std::vector<int>>();
    std::cout << "GPU engine: " << gpu_->backend() << "\n";
  }

  static std::vector<float> One(Engine& e, SequenceId seq, const std::vector<int>& tokens,
                                bool is_prompt) {
    absl::StatusOr<StepOutput> out = e.Step({StepInput{seq, tokens, is_prompt, true}});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->logits[0] : std::vector<float>{};
  }

  // Greedy decoding of `n` tokens after `prompt` (one prefill step), with `options`.
  static std::vector<int> Greedy(Engine& e, const std::vector<int>& prompt, int n,
                                 const SequenceOptions& options,
                                 std::vector<std::vector<float>>* logits) {
    const SequenceId seq = *e.AddSequence(options);
    std::vector<float> l = One(e, seq, prompt, true);
    std::vector<int> out;
    for (int i = 0; i < n && !l.empty(); ++i) {
      out.push_back(Argmax(l));
      logits->push_back(l);
      l = One(e, seq, {out.back()}, false);
    }
    EXPECT_TRUE(e.RemoveSequence(seq).ok());
    return out;
  }

  std::unique_ptr<Engine> cpu_, gpu_;
  std::vector<int> prompt_, runc_;
};

// Greedy SiLU: the GPU's tokens are the CPU's and run.c's (the continuation of the prompt
// in run.c's 64 positions), logits within 2e-4 of the CPU's at every step.
TEST_F(CudaEngineTest, GreedyTokensEqualCpuAndRunC) {
  const int n = static_cast<int>(runc_.size()) - static_cast<int>(prompt_.size()) + 1;
  const std::vector<int> want(runc_.begin() + static_cast<int64_t>(prompt_.size()) - 1,
                              runc_.end());
  std::vector<std::vector<float>> lc, lg;
  const SequenceOptions silu{ActivationSpec{ActivationKind::kSilu, 0.0f}, 0, 0};
  EXPECT_EQ(Greedy(*cpu_, prompt_, n, silu, &lc), want);
  EXPECT_EQ(Greedy(*gpu_, prompt_, n, silu, &lg), want);
  ASSERT_EQ(lc.size(), lg.size());
  for (size_t i = 0; i < lc.size(); ++i) EXPECT_LE(MaxDiff(lc[i], lg[i]), kLogitTolerance) << i;
}

// EngineOptions.cuda_graphs (--cuda_graphs): the same seeded StochA decode with CUDA graphs
// off (plain launches) gives the default engine's (graphs on) tokens and logits bit for bit.
TEST_F(CudaEngineTest, CudaGraphsOffGivesTheSameBits) {
  absl::StatusOr<std::shared_ptr<const Model>> m = ::stocha::testing::LoadStories260K();
  ASSERT_TRUE(m.ok()) << m.status();
  EngineOptions eo;
  eo.max_context = 256;
  eo.device = Device{Device::Kind::kCuda, 0};
  eo.cuda_graphs = false;
  absl::StatusOr<std::unique_ptr<Engine>> plain = Engine::Create(*m, eo);
  ASSERT_TRUE(plain.ok()) << plain.status();
  const SequenceOptions o{ActivationSpec{ActivationKind::kStochA, 0.5f}, 77, 0};
  std::vector<std::vector<float>> lp, lg;
  EXPECT_EQ(Greedy(**plain, prompt_, 40, o, &lp), Greedy(*gpu_, prompt_, 40, o, &lg));
  ASSERT_EQ(lp.size(), lg.size());
  for (size_t i = 0; i < lp.size(); ++i) EXPECT_EQ(lp[i], lg[i]) << "step " << i;
}

// A seeded StochA(0.5) request (the same Philox keys on both): equal tokens up to
// numerical ties. The first divergence, if any, is reported with the CPU's top-2 margin.
TEST_F(CudaEngineTest, SeededStochaEqualsCpuUpToTies) {
  const SequenceOptions o{ActivationSpec{ActivationKind::kStochA, 0.5f}, 1234, 0};
  std::vector<std::vector<float>> lc, lg;
  const std::vector<int> c = Greedy(*cpu_, prompt_, 48, o, &lc);
  const std::vector<int> g = Greedy(*gpu_, prompt_, 48, o, &lg);
  ASSERT_EQ(c.size(), g.size());
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i] == g[i]) {
      EXPECT_LE(MaxDiff(lc[i], lg[i]), kLogitTolerance) << "step " << i;
      continue;
    }
    const float margin = Top2Margin(lc[i]);
    std::cout << "first divergence at generated token " << i << ": cpu " << c[i] << ", gpu " << g[i]
              << ", CPU top-2 margin " << margin << "\n";
    EXPECT_LT(margin, kTieMargin) << "a divergence that is not a tie";
    return;  // after a tie the sequences continue from different tokens
  }
  std::cout << "no divergence in " << c.size() << " StochA(0.5) tokens\n";
}

// Prompts of 17, 40 and 63 tokens in one step: the GPU runs each as one piece through
// cuBLAS (kGemmMinRows and up); the logits are the CPU's and greedy goes on as run.c does.
TEST_F(CudaEngineTest, PrefillLongerThan16Rows) {
  const SequenceOptions silu{ActivationSpec{ActivationKind::kSilu, 0.0f}, 0, 0};
  for (const int length : {17, 40, 63}) {
    std::vector<int> prompt = {prompt_[0]};
    prompt.insert(prompt.end(), runc_.begin(), runc_.begin() + length - 1);
    std::vector<std::vector<float>> lc, lg;
    const std::vector<int> want(runc_.begin() + length - 1, runc_.end());
    const int n = static_cast<int>(want.size());
    EXPECT_EQ(Greedy(*cpu_, prompt, n, silu, &lc), want) << length << "-token prompt";
    EXPECT_EQ(Greedy(*gpu_, prompt, n, silu, &lg), want) << length << "-token prompt";
    ASSERT_FALSE(lg.empty());
    EXPECT_LE(MaxDiff(lc[0], lg[0]), kLogitTolerance) << length << "-token prompt";
  }
}

// A 240-token prompt (run.c's text, then tokens of the vocabulary) in one Engine step: one
// device piece of 240 rows through cuBLAS. The first logits are the CPU's within 2e-4, and
// 16 greedy tokens equal the CPU's up to numerical ties.
TEST_F(CudaEngineTest, LongPromptInOnePieceEqualsCpu) {
  std::vector<int> prompt = {prompt_[0]};
  prompt.insert(prompt.end(), runc_.begin(), runc_.end());
  for (int i = 0; prompt.size() < 240; ++i) prompt.push_back((i * 53 + 7) % 512);
  const SequenceOptions silu{ActivationSpec{ActivationKind::kSilu, 0.0f}, 0, 0};
  std::vector<std::vector<float>> lc, lg;
  const std::vector<int> c = Greedy(*cpu_, prompt, 16, silu, &lc);
  const std::vector<int> g = Greedy(*gpu_, prompt, 16, silu, &lg);
  ASSERT_EQ(c.size(), g.size());
  ASSERT_FALSE(lg.empty());
  EXPECT_LE(MaxDiff(lc[0], lg[0]), kLogitTolerance);
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i] != g[i]) {
      EXPECT_LT(Top2Margin(lc[i]), kTieMargin) << "a divergence that is not a tie, token " << i;
      return;
    }
    EXPECT_LE(MaxDiff(lc[i], lg[i]), kLogitTolerance) << "step " << i;
  }
}

// Fork after a StochA prefill, then the parent, its 2 children and 17 fresh sequences (two
// prompt tokens each) in one step: 20 inputs, 37 rows, 20 of them wanting logits. Two
// device pieces: rows 0-29 (16 logit rows, through cuBLAS), then rows 30-36 (the row dots
// and the sparse FFN). Each input's logits and zero counts are the CPU's.
TEST_F(CudaEngineTest, ForkAndManySequencesInOneStep) {
  const SequenceOptions o{ActivationSpec{ActivationKind::kStochA, 0.5f}, 99, 0};
  std::vector<std::vector<float>> first(2);
  std::vector<std::vector<SequenceId>> seqs(2);
  int e = 0;
  for (Engine* engine : {cpu_.get(), gpu_.get()}) {
    const SequenceId parent = *engine->AddSequence(o);
    first[e] = One(*engine, parent, prompt_, true);
    seqs[e].push_back(parent);
    for (uint32_t k = 1; k <= 2; ++k) {
      absl::StatusOr<SequenceId> child = engine->Fork(parent, k);
      ASSERT_TRUE(child.ok()) << child.status();
      seqs[e].push_back(*child);
    }
    for (int k = 0; k < 17; ++k) seqs[e].push_back(*engine->AddSequence(o));
    ++e;
  }
  ASSERT_LE(MaxDiff(first[0], first[1]), kLogitTolerance);
  std::vector<std::vector<StepInput>> inputs(2);
  for (int engine = 0; engine < 2; ++engine) {
    for (size_t i = 0; i < seqs[engine].size(); ++i) {
      const bool forked = i < 3;
      inputs[engine].push_back(StepInput{seqs[engine][i],
                                         forked ? std::vector<int>{Argmax(first[0])}
                                                : std::vector<int>{prompt_[0], static_cast<int>(i)},
                                         !forked, true});
    }
  }
  absl::StatusOr<StepOutput> c = cpu_->Step(inputs[0]);
  absl::StatusOr<StepOutput> g = gpu_->Step(inputs[1]);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(g.ok()) << g.status();
  for (size_t i = 0; i < inputs[0].size(); ++i) {
    EXPECT_LE(MaxDiff(c->logits[i], g->logits[i]), kLogitTolerance) << "input " << i;
    EXPECT_EQ(c->per_input[i].layers[0].generated_zeros + c->per_input[i].layers[0].prompt_zeros,
              g->per_input[i].layers[0].generated_zeros + g->per_input[i].layers[0].prompt_zeros)
        << "input " << i << ": the same StochA draws give the same zeros";
  }
  // The step's per-layer seconds come from CUDA events: positive in every layer.
  for (const LayerStats& l : g->stats.layers) {
    EXPECT_GT(l.attention_seconds, 0.0);
    EXPECT_GT(l.ffn_seconds, 0.0);
    EXPECT_EQ(l.ffn_calls, 2) << "37 rows with 20 logit rows run as two device pieces";
    EXPECT_EQ(l.sparse_calls, 1) << "the 7-row piece takes the sparse FFN, cuBLAS's is dense";
  }
  // Slots are whole device buffers: what the scheduler's KV budget must charge.
  EXPECT_EQ(gpu_->kv_reservation(), KvReservation::kWholeContext);
  EXPECT_EQ(cpu_->kv_reservation(), KvReservation::kGrowing);
  EXPECT_EQ(gpu_->KvBytesPerPosition(), cpu_->KvBytesPerPosition());
  const std::optional<DeviceMemoryInfo> mem = gpu_->DeviceMemory();
  ASSERT_TRUE(mem.has_value());
  EXPECT_GT(mem->used_bytes(), 0);
  EXPECT_GT(mem->free_bytes, 0);
}

// What the GPU does not run is refused by name (no GPU needed for the option checks,
// but the fixture only gets here with one).
TEST_F(CudaEngineTest, ObserverIsRefusedNamingDevice) {
  const absl::Status s = gpu_->SetFfnInputObserver([](int, const float*, int64_t) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("--device=cuda:0"), std::string::npos) << s;
}

}  // namespace
}  // namespace stocha
