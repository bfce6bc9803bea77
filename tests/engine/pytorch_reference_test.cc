// The engine against an independent PyTorch implementation (training/stocha/model.py) on
// random HF-format models covering every architecture option, at every position.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/format/load_model.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/test_data.h"

namespace stocha {
namespace {

const std::string& RefDir() {
  static const std::string dir = std::string(STOCHA_BINARY_DIR) + "/reference_models";
  return dir;
}

class PyTorchReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    // ctest's make_reference_models fixture writes them once per run; when the binary is
    // run by hand, generate them here (a few seconds). Never committed.
    if (std::filesystem::exists(RefDir() + "/manifest.json")) return;
    const std::string cmd = "/usr/bin/python3 " + std::string(STOCHA_SOURCE_DIR) +
                            "/tests/reference/make_reference_models.py " + RefDir() +
                            " > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "failed: " << cmd;
  }
  // A failure in SetUpTestSuite only makes gtest skip the tests (a pass for ctest): fail here.
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(RefDir() + "/manifest.json"))
        << "no reference models in " << RefDir();
  }
};

// F32 weights: 1e-4 absolute (different summation orders only). BF16/F16 weights: the
// reference uses the same rounded weights in F32 math, so the same bound holds.
constexpr float kTolerance = 1e-4f;

void Compare(Engine& e, const std::vector<int>& tokens, const std::vector<float>& want,
             ActivationSpec act, bool prefill) {
  const size_t V = want.size() / tokens.size();
  SequenceId s = *e.AddSequence({act});
  float max_diff = 0;
  if (prefill) {  // all but the last token at once, then the last: checks the chunked path
    std::vector<int> head(tokens.begin(), tokens.end() - 1);
    ASSERT_TRUE(e.Step({StepInput{s, head, true, false}}).ok());
    auto out = e.Step({StepInput{s, {tokens.back()}, true, true}});
    ASSERT_TRUE(out.ok());
    for (size_t v = 0; v < V; ++v) {
      max_diff =
          std::max(max_diff, std::abs(out->logits[0][v] - want[(tokens.size() - 1) * V + v]));
    }
  } else {
    for (size_t p = 0; p < tokens.size(); ++p) {
      auto out = e.Step({StepInput{s, {tokens[p]}, true, true}});
      ASSERT_TRUE(out.ok()) << out.status();
      for (size_t v = 0; v < V; ++v)
        max_diff = std::max(max_diff, std::abs(out->logits[0][v] - want[p * V + v]));
    }
  }
  EXPECT_LE(max_diff, kTolerance) << ActivationToString(act) << (prefill ? " prefill" : " decode");
  (void)e.RemoveSequence(s);
}

TEST_P(PyTorchReferenceTest, LogitsAtEveryPosition) {
  const std::string dir = RefDir() + "/" + GetParam();
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const nlohmann::json ref = nlohmann::json::parse(testing::ReadFile(dir + "/reference.json"));
  const std::vector<int> tokens = ref["tokens"].get<std::vector<int>>();
  for (bool deterministic : {true, false}) {
    EngineOptions o;
    o.deterministic = deterministic;
    auto e = std::move(*Engine::Create(*model, o));
    for (const char* key : {"logits", "logits_relu"}) {
      const std::vector<float> want =
          testing::ReadF32(dir + "/" + ref[key]["file"].get<std::string>());
      ASSERT_EQ(want.size(), tokens.size() * (*model)->config().vocab_size);
      const ActivationSpec act = *ParseActivation(ref[key]["activation"].get<std::string>());
      Compare(*e, tokens, want, act, false);
      Compare(*e, tokens, want, act, true);
    }
  }
}

TEST_P(PyTorchReferenceTest, StochAWithPZeroEqualsRelu) {
  const std::string dir = RefDir() + "/" + GetParam();
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const nlohmann::json ref = nlohmann::json::parse(testing::ReadFile(dir + "/reference.json"));
  const std::vector<float> want = testing::ReadF32(dir + "/logits_relu.f32");
  auto e = std::move(*Engine::Create(*model));
  Compare(*e, ref["tokens"].get<std::vector<int>>(), want,
          ActivationSpec{ActivationKind::kStochA, 0.0f}, false);
}

INSTANTIATE_TEST_SUITE_P(Variants, PyTorchReferenceTest,
                         ::testing::Values("base_gqa", "mha", "untied_head", "rope_theta_500k",
                                           "head_dim_24", "llama3_rope_scaling", "attention_bias",
                                           "bf16", "f16", "plain_ffn", "sharded", "relu", "stocha",
                                           "qwen2"));

// The same weights as GGUF, laid out as llama.cpp's converter does (tests/reference/
// gguf_writer.py, a writer separate from the C++ one): llama with permuted q/k and
// Llama 3.x's scaling as rope_freqs.weight, qwen2 with biases and NEOX RoPE.
using GgufReferenceTest = PyTorchReferenceTest;

TEST_P(GgufReferenceTest, LogitsAtEveryPosition) {
  const std::string dir = RefDir() + "/" + GetParam();
  const nlohmann::json manifest =
      nlohmann::json::parse(testing::ReadFile(RefDir() + "/manifest.json"));
  ASSERT_TRUE(manifest["gguf"].contains(GetParam())) << "no GGUF written for " << GetParam();
  auto model = LoadModel(dir + "/model.gguf");
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = (*model)->config();
  const bool qwen2 = manifest["gguf"][GetParam()] == "qwen2";
  EXPECT_EQ(c.rope_style, qwen2 ? RopeStyle::kHalf : RopeStyle::kInterleaved);
  EXPECT_EQ(c.attention_bias, qwen2);
  EXPECT_EQ(c.rope_scaling.freq_factors.empty(), GetParam() != "llama3_rope_scaling");
  const nlohmann::json ref = nlohmann::json::parse(testing::ReadFile(dir + "/reference.json"));
  const std::vector<int> tokens = ref["tokens"].get<std::vector<int>>();
  auto e = std::move(*Engine::Create(*model));
  for (const char* key : {"logits", "logits_relu"}) {
    const std::vector<float> want =
        testing::ReadF32(dir + "/" + ref[key]["file"].get<std::string>());
    ASSERT_EQ(want.size(), tokens.size() * c.vocab_size);
    const ActivationSpec act = *ParseActivation(ref[key]["activation"].get<std::string>());
    Compare(*e, tokens, want, act, false);
    Compare(*e, tokens, want, act, true);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GgufReferenceTest,
                         ::testing::Values("base_gqa", "untied_head", "llama3_rope_scaling",
                                           "qwen2"));

}  // namespace
}  // namespace stocha
