// Hugging Face directories: round trips (F32/F16/BF16, tied/untied, sharded) and errors.
#include "engine/format/hf_loader.h"

#include <string>

#include "engine/format/load_model.h"
#include "engine/format/test_writers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using test::StEntry;
using test::TinyModel;
using ::testing::HasSubstr;

class HfLoaderTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.root(); }
  std::string weights() const { return tmp_.path("model.safetensors"); }
  void WriteConfig(const nlohmann::json& j) { test::WriteFile(tmp_.path("config.json"), j.dump()); }
  void WriteWeights(const std::vector<StEntry>& e) {
    test::WriteFile(weights(), test::SafetensorsBytes(e));
  }
  std::string Error(const LoadOptions& options = {}) {
    auto m = LoadModel(dir(), options);
    return m.ok() ? "" : std::string(m.status().message());
  }
  test::TempDir tmp_;
};

// Replaces (or with `bytes` empty, removes) the entry called `name`.
std::vector<StEntry> Edit(std::vector<StEntry> e, const std::string& name,
                          const std::vector<int64_t>& shape = {}, const std::string& dtype = "") {
  for (auto it = e.begin(); it != e.end(); ++it) {
    if (it->name != name) continue;
    if (shape.empty() && dtype.empty()) {
      e.erase(it);
    } else {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      *it = {name, dtype.empty() ? "F32" : dtype, shape,
             std::string(static_cast<size_t>(n) * (dtype == "I64" ? 8 : 4), '\0')};
    }
    break;
  }
  return e;
}

TEST_F(HfLoaderTest, RoundTripsEveryDtype) {
  for (const char* dtype : {"F32", "F16", "BF16"}) {
    for (bool tied : {true, false}) {
      SCOPED_TRACE(std::string(dtype) + (tied ? " tied" : " untied"));
      const TinyModel m = TinyModel::Make(tied);
      test::WriteHfDir(dir(), m, dtype);
      auto model = LoadModel(dir());
      ASSERT_TRUE(model.ok()) << model.status();
      test::ExpectWeightsEqual(m, (*model)->weights());
      const ModelConfig& c = (*model)->config();
      EXPECT_EQ(c.rope_style, RopeStyle::kHalf);
      EXPECT_EQ(c.tie_word_embeddings, tied);
      EXPECT_EQ((*model)->weights().embed.dtype, std::string(dtype) == "F32"   ? DType::kF32
                                                 : std::string(dtype) == "F16" ? DType::kF16
                                                                               : DType::kBF16);
      EXPECT_EQ((*model)->weights().embed.name, "model.embed_tokens.weight");
      EXPECT_EQ((*model)->tokenizer(), nullptr);
      EXPECT_EQ((*model)->source(), weights());
      if (tied) {
        EXPECT_EQ((*model)->weights().lm_head.data, (*model)->weights().embed.data);
      }
    }
  }
}

TEST_F(HfLoaderTest, RoundTripsShards) {
  const TinyModel m = TinyModel::Make(/*tied=*/false);
  WriteConfig(test::HfConfig(m));
  std::vector<StEntry> all = test::HfEntries(m, "BF16");
  std::vector<StEntry> shard[2];
  nlohmann::json map;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string file = "model-0000" + std::to_string(i % 2 + 1) + "-of-00002.safetensors";
    map[all[i].name] = file;
    shard[i % 2].push_back(all[i]);
  }
  test::WriteFile(tmp_.path("model-00001-of-00002.safetensors"), test::SafetensorsBytes(shard[0]));
  test::WriteFile(tmp_.path("model-00002-of-00002.safetensors"), test::SafetensorsBytes(shard[1]));
  test::WriteFile(tmp_.path("model.safetensors.index.json"),
                  nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump());
  auto model = LoadModel(dir());
  ASSERT_TRUE(model.ok()) << model.status();
  test::ExpectWeightsEqual(m, (*model)->weights());
  EXPECT_EQ((*model)->source(), tmp_.path("model.safetensors.index.json"));

  // The same tensor in two shards.
  shard[1].push_back(shard[0].front());
  test::WriteFile(tmp_.path("model-00002-of-00002.safetensors"), test::SafetensorsBytes(shard[1]));
  EXPECT_THAT(Error(), HasSubstr("model-00002-of-00002.safetensors: tensor '" +
                                 shard[0].front().name + "' also appears in another shard"));
  // A shard the index names but that does not exist.
  shard[1].pop_back();
  test::WriteFile(tmp_.path("model-00002-of-00002.safetensors"), test::SafetensorsBytes(shard[1]));
  map["x"] = "model-00003-of-00002.safetensors";
  test::WriteFile(tmp_.path("model.safetensors.index.json"),
                  nlohmann::json{{"weight_map", map}}.dump());
  auto missing = LoadModel(dir());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("model-00003-of-00002"));
}

TEST_F(HfLoaderTest, ReportsMissingTensor) {
  const TinyModel m = TinyModel::Make(true);
  WriteConfig(test::HfConfig(m));
  WriteWeights(Edit(test::HfEntries(m, "F32"), "model.layers.1.mlp.up_proj.weight"));
  EXPECT_EQ(Error(), weights() + ": missing tensor 'model.layers.1.mlp.up_proj.weight'");
  WriteWeights(Edit(test::HfEntries(m, "F32"), "model.norm.weight"));
  EXPECT_EQ(Error(), weights() + ": missing tensor 'model.norm.weight'");
}

TEST_F(HfLoaderTest, ReportsWrongShape) {
  const TinyModel m = TinyModel::Make(true);
  WriteConfig(test::HfConfig(m));
  WriteWeights(Edit(test::HfEntries(m, "F32"), "model.layers.1.mlp.up_proj.weight", {8, 16}));
  EXPECT_EQ(Error(), weights() +
                         ": tensor 'model.layers.1.mlp.up_proj.weight' has shape "
                         "[8, 16], expected [16, 8]");
  WriteWeights(Edit(test::HfEntries(m, "F32"), "model.embed_tokens.weight", {32, 8, 1}));
  EXPECT_THAT(Error(), HasSubstr("tensor 'model.embed_tokens.weight' has shape [32, 8, 1]"));
}

TEST_F(HfLoaderTest, ReportsUnsupportedDtype) {
  const TinyModel m = TinyModel::Make(true);
  WriteConfig(test::HfConfig(m));
  WriteWeights(
      Edit(test::HfEntries(m, "F32"), "model.layers.0.self_attn.k_proj.weight", {4, 8}, "I64"));
  EXPECT_EQ(Error(), weights() +
                         ": tensor 'model.layers.0.self_attn.k_proj.weight' has dtype "
                         "I64; only F32, F16 and BF16 are supported");
}

TEST_F(HfLoaderTest, UntiedNeedsLmHead) {
  const TinyModel m = TinyModel::Make(false);
  WriteConfig(test::HfConfig(m));
  WriteWeights(Edit(test::HfEntries(m, "F32"), "lm_head.weight"));
  EXPECT_EQ(Error(), weights() + ": missing tensor 'lm_head.weight'");
}

TEST_F(HfLoaderTest, IgnoresUnknownTensors) {
  const TinyModel m = TinyModel::Make(true);
  WriteConfig(test::HfConfig(m));
  std::vector<StEntry> e = test::HfEntries(m, "F32");
  e.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", {2}, std::string(8, '\0')});
  e.push_back({"lm_head.weight", "I64", {1}, std::string(8, '\0')});  // ignored when tied
  WriteWeights(e);
  EXPECT_EQ(Error(), "");
}

TEST_F(HfLoaderTest, UngatedMlp) {
  const TinyModel m = TinyModel::Make(true);
  nlohmann::json config = test::HfConfig(m);
  config["mlp_gated"] = false;
  config["hidden_act"] = "relu";
  WriteConfig(config);
  WriteWeights(test::HfEntries(m, "F32"));
  EXPECT_EQ(Error(), weights() +
                         ": unexpected tensor 'model.layers.0.mlp.gate_proj.weight' "
                         "(mlp_gated is false)");
  std::vector<StEntry> e = test::HfEntries(m, "F32");
  e = Edit(e, "model.layers.0.mlp.gate_proj.weight");
  e = Edit(e, "model.layers.1.mlp.gate_proj.weight");
  WriteWeights(e);
  auto model = LoadModel(dir());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_FALSE((*model)->weights().layers[1].w_gate.present());
  EXPECT_EQ((*model)->config().DefaultActivation(), ActivationSpec{ActivationKind::kRelu});
}

TEST_F(HfLoaderTest, AttentionBias) {
  const TinyModel m = TinyModel::Make(true);
  nlohmann::json config = test::HfConfig(m);
  config["attention_bias"] = true;
  WriteConfig(config);
  std::vector<StEntry> e = test::HfEntries(m, "F32");
  WriteWeights(e);
  EXPECT_EQ(Error(), weights() + ": missing tensor 'model.layers.0.self_attn.q_proj.bias'");
  for (int i = 0; i < 2; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".self_attn.";
    e.push_back({p + "q_proj.bias", "F32", {8}, test::Encode(std::vector<float>(8, 1.0f), "F32")});
    e.push_back({p + "k_proj.bias", "F32", {4}, std::string(16, '\0')});
    e.push_back({p + "v_proj.bias", "F32", {i == 1 ? 5 : 4}, std::string(i == 1 ? 20 : 16, '\0')});
  }
  WriteWeights(e);
  EXPECT_EQ(Error(), weights() +
                         ": tensor 'model.layers.1.self_attn.v_proj.bias' has shape [5], "
                         "expected [4]");
  e.pop_back();
  e.push_back({"model.layers.1.self_attn.v_proj.bias", "F32", {4}, std::string(16, '\0')});
  WriteWeights(e);
  auto model = LoadModel(dir());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(test::Decode((*model)->weights().layers[0].bq), std::vector<float>(8, 1.0f));
  config["attention_bias"] = false;
  WriteConfig(config);
  EXPECT_EQ(Error(), weights() +
                         ": unexpected tensor 'model.layers.0.self_attn.q_proj.bias' "
                         "(attention_bias is false)");
}

TEST_F(HfLoaderTest, ConfigErrorsNameConfigJson) {
  const TinyModel m = TinyModel::Make(true);
  nlohmann::json config = test::HfConfig(m);
  config["num_key_value_heads"] = 3;
  WriteConfig(config);
  WriteWeights(test::HfEntries(m, "F32"));
  EXPECT_EQ(Error(), tmp_.path("config.json") +
                         ": num_key_value_heads (3) must divide num_attention_heads (2)");
}

TEST_F(HfLoaderTest, MissingWeightsFile) {
  WriteConfig(test::HfConfig(TinyModel::Make(true)));
  auto model = LoadModel(dir());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(model.status().message()), HasSubstr(weights()));
}

TEST_F(HfLoaderTest, ConvertsWeights) {
  const TinyModel m = TinyModel::Make(true);
  test::WriteHfDir(dir(), m, "F32");
  LoadOptions options;
  options.convert_weights_to = DType::kBF16;
  auto model = LoadModel(dir(), options);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelWeights& w = (*model)->weights();
  EXPECT_EQ(w.embed.dtype, DType::kBF16);
  EXPECT_EQ(w.layers[0].w_down.dtype, DType::kBF16);
  EXPECT_EQ(w.layers[0].attn_norm.dtype, DType::kF32);
  EXPECT_EQ(w.lm_head.data, w.embed.data);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.embed.data) % 64, 0u);
  test::ExpectWeightsEqual(m, w);
}

TEST_F(HfLoaderTest, TokenizerPathOption) {
  const TinyModel m = TinyModel::Make(true);
  test::WriteHfDir(dir(), m, "F32");
  test::WriteFile(tmp_.path("vocab.gguf"), test::TinyGguf(m).Build());
  LoadOptions options;
  options.tokenizer_path = tmp_.path("vocab.gguf");
  auto model = LoadModel(dir(), options);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_NE((*model)->tokenizer(), nullptr);
  EXPECT_EQ((*model)->tokenizer()->vocab_size(), 32);
  options.tokenizer_path = tmp_.path("absent.bin");
  EXPECT_THAT(Error(options), HasSubstr("absent.bin"));
}

}  // namespace
}  // namespace stocha
