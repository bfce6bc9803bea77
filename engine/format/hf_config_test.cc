// config.json parsing, stocha's keys, defaults and ModelConfig::Validate.
#include "engine/format/hf_config.h"

#include <string>

#include "engine/format/test_writers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

Json Base() { return test::HfConfig(test::TinyModel::Make(/*tied=*/true)); }

absl::StatusOr<ModelConfig> Parse(const Json& j) { return ParseHfConfig(j.dump(), "config.json"); }

std::string Error(const Json& j) {
  auto c = Parse(j);
  return c.ok() ? "" : std::string(c.status().message());
}

// Base() with `key` set to `value` (a JSON literal).
Json With(const std::string& key, const std::string& value) {
  Json j = Base();
  j[key] = Json::parse(value);
  return j;
}

TEST(HfConfigTest, ParsesLlamaConfig) {
  auto c = Parse(Base());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hidden_size, 8);
  EXPECT_EQ(c->intermediate_size, 16);
  EXPECT_EQ(c->num_layers, 2);
  EXPECT_EQ(c->num_heads, 2);
  EXPECT_EQ(c->num_kv_heads, 1);
  EXPECT_EQ(c->head_dim, 4);
  EXPECT_EQ(c->vocab_size, 32);
  EXPECT_EQ(c->max_position_embeddings, 16);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-5f);
  EXPECT_EQ(c->rope_style, RopeStyle::kHalf);
  EXPECT_FALSE(c->rope_scaling.llama3);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->mlp_gated);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->hidden_act, ActivationKind::kSilu);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(c->DefaultActivation(), ActivationSpec{ActivationKind::kSilu});
}

TEST(HfConfigTest, AppliesDefaults) {
  Json j = Base();
  for (const char* key :
       {"num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "rope_theta",
        "tie_word_embeddings", "hidden_act", "bos_token_id", "eos_token_id"}) {
    j.erase(key);
  }
  j["head_dim"] = nullptr;  // null means "use the default", as transformers writes it
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->head_dim, 4);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c->rope_theta, 10000.0f);
  EXPECT_FALSE(c->tie_word_embeddings);
}

TEST(HfConfigTest, ExplicitHeadDimAndQwenBias) {
  Json j = With("head_dim", "8");
  j["model_type"] = "qwen2";
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_TRUE(c->attention_bias);
  j["attention_bias"] = false;
  EXPECT_FALSE(Parse(j)->attention_bias);
}

TEST(HfConfigTest, EosAsList) {
  auto c = Parse(With("eos_token_id", "[2, 3, 31]"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->eos_token_ids, (std::vector<int>{2, 3, 31}));
  EXPECT_THAT(Error(With("eos_token_id", "[2, \"x\"]")),
              HasSubstr("config.json: field 'eos_token_id' must be an integer, got string"));
}

TEST(HfConfigTest, Llama3RopeScaling) {
  auto c = Parse(With("rope_scaling", R"({"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,
      "high_freq_factor":4.0,"original_max_position_embeddings":8192})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->rope_scaling.llama3);
  EXPECT_FLOAT_EQ(c->rope_scaling.factor, 8.0f);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_TRUE(Parse(With("rope_scaling", R"({"type":"llama3","factor":2})"))->rope_scaling.llama3);
  EXPECT_FALSE(Parse(With("rope_scaling", "null"))->rope_scaling.llama3);
  EXPECT_THAT(Error(With("rope_scaling", R"({"rope_type":"yarn","factor":2})")),
              HasSubstr("config.json: rope_scaling.rope_type 'yarn' is not supported"));
  EXPECT_THAT(Error(With("rope_scaling", R"({"rope_type":"llama3","factor":0.5})")),
              HasSubstr("config.json: rope_scaling.factor (0.5) must be >= 1"));
  EXPECT_THAT(Error(With("rope_scaling", R"({"rope_type":"llama3","low_freq_factor":4,
      "high_freq_factor":4})")),
              HasSubstr("rope_scaling.high_freq_factor (4) must be >"));
  EXPECT_THAT(Error(With("rope_scaling", R"({"rope_type":"llama3","low_freq_factor":0})")),
              HasSubstr("rope_scaling.low_freq_factor (0) must be"));
  EXPECT_THAT(Error(With("rope_scaling", R"({"rope_type":"llama3",
      "original_max_position_embeddings":0})")),
              HasSubstr("rope_scaling.original_max_position_embeddings (0) must be > 0"));
  EXPECT_THAT(Error(With("rope_scaling", "3")),
              HasSubstr("field 'rope_scaling' must be an object"));
  EXPECT_THAT(Error(With("rope_scaling", R"({"rope_type":"llama3","factor":"8"})")),
              HasSubstr("field 'rope_scaling.factor' must be a number, got string"));
}

TEST(HfConfigTest, HiddenAct) {
  EXPECT_EQ(Parse(With("hidden_act", "\"relu\""))->hidden_act, ActivationKind::kRelu);
  EXPECT_EQ(Parse(With("hidden_act", "\"relu\""))->DefaultActivation(),
            ActivationSpec{ActivationKind::kRelu});
  EXPECT_THAT(Error(With("hidden_act", "\"gelu\"")),
              HasSubstr("config.json: field 'hidden_act': unknown activation 'gelu' (expected "
                        "silu, relu or stocha; swiglu is an alias of silu)"));
  // The engine's one vocabulary: aliases and case as everywhere else.
  EXPECT_EQ(Parse(With("hidden_act", "\"swiglu\""))->hidden_act, ActivationKind::kSilu);
  EXPECT_EQ(Parse(With("hidden_act", "\"ReLU\""))->hidden_act, ActivationKind::kRelu);
  EXPECT_THAT(Error(With("hidden_act", "1")), HasSubstr("field 'hidden_act' must be a string"));
}

TEST(HfConfigTest, StochaBlock) {
  Json j = With("hidden_act", "\"stocha\"");
  j["mlp_gated"] = false;
  j["stocha"] = {{"recipe", "stocha+ft"}, {"p", 0.25}, {"alpha", 0.1}};
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->mlp_gated);
  EXPECT_EQ(c->stocha.recipe, "stocha+ft");
  EXPECT_FLOAT_EQ(c->stocha.p, 0.25f);
  EXPECT_FLOAT_EQ(c->stocha.alpha, 0.1f);
  EXPECT_FALSE(c->stocha.default_activation.has_value());
  EXPECT_EQ(c->DefaultActivation(), (ActivationSpec{ActivationKind::kStochA, 0.25f}));

  j["stocha"]["default_activation"] = "relu";
  EXPECT_EQ(Parse(j)->DefaultActivation(), ActivationSpec{ActivationKind::kRelu});
  j["stocha"]["default_activation"] = "stocha:0.3";
  EXPECT_EQ(Parse(j)->DefaultActivation(), (ActivationSpec{ActivationKind::kStochA, 0.3f}));
  j["stocha"]["default_activation"] = "stocha";  // takes stocha.p
  EXPECT_EQ(Parse(j)->DefaultActivation(), (ActivationSpec{ActivationKind::kStochA, 0.25f}));
  j["stocha"]["default_activation"] = "tanh";
  EXPECT_THAT(Error(j), HasSubstr("config.json: field 'stocha.default_activation'"));
  j["stocha"]["default_activation"] = "stocha:1.5";
  EXPECT_THAT(Error(j), HasSubstr("config.json"));
  j["stocha"] = {{"p", 1.5}};
  EXPECT_THAT(Error(j), HasSubstr("config.json: stocha.p (1.5) must be in [0, 1]"));
  j["stocha"] = {{"alpha", -0.5}};
  EXPECT_THAT(Error(j), HasSubstr("config.json: stocha.alpha (-0.5) must be in [0, 1]"));
  j["stocha"] = {{"p", "half"}};
  EXPECT_THAT(Error(j), HasSubstr("field 'stocha.p' must be a number, got string"));
  j["stocha"] = "stocha";
  EXPECT_THAT(Error(j), HasSubstr("field 'stocha' must be an object"));
  EXPECT_THAT(Error(With("mlp_gated", "1")), HasSubstr("field 'mlp_gated' must be a boolean"));
}

TEST(HfConfigTest, RejectsWrongTypes) {
  EXPECT_THAT(Error(With("hidden_size", "\"8\"")),
              HasSubstr("config.json: field 'hidden_size' must be an integer, got string"));
  EXPECT_THAT(Error(With("num_hidden_layers", "2.5")),
              HasSubstr("field 'num_hidden_layers' must be an integer, got number"));
  EXPECT_THAT(Error(With("vocab_size", "4294967296")),
              HasSubstr("field 'vocab_size' must be a 32-bit integer"));
  EXPECT_THAT(Error(With("tie_word_embeddings", "\"yes\"")),
              HasSubstr("field 'tie_word_embeddings' must be a boolean"));
  EXPECT_THAT(Error(With("rms_norm_eps", "[1]")),
              HasSubstr("field 'rms_norm_eps' must be a number, got array"));
  EXPECT_THAT(std::string(ParseHfConfig("{", "config.json").status().message()),
              HasSubstr("config.json: not valid JSON"));
  EXPECT_THAT(std::string(ParseHfConfig("[]", "config.json").status().message()),
              HasSubstr("config.json: must be a JSON object"));
}

TEST(HfConfigTest, RejectsMissingRequiredFields) {
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "vocab_size"}) {
    Json j = Base();
    j.erase(key);
    EXPECT_THAT(Error(j), HasSubstr(std::string("config.json: missing required field '") + key))
        << key;
  }
}

TEST(HfConfigTest, RejectsZeroNegativeAndInconsistentValues) {
  const std::pair<std::pair<const char*, const char*>, const char*> cases[] = {
      {{"hidden_size", "0"}, "hidden_size (0) must be > 0"},
      {{"intermediate_size", "-4"}, "intermediate_size (-4) must be > 0"},
      {{"num_hidden_layers", "0"}, "num_hidden_layers (0) must be > 0"},
      {{"num_attention_heads", "-2"}, "num_attention_heads (-2) must be > 0"},
      {{"num_key_value_heads", "0"}, "num_key_value_heads (0) must be > 0"},
      {{"vocab_size", "0"}, "vocab_size (0) must be > 0"},
      {{"max_position_embeddings", "0"}, "max_position_embeddings (0) must be > 0"},
      {{"head_dim", "0"}, "head_dim (0) must be > 0"},
      {{"head_dim", "3"}, "head_dim (3) must be even"},
      {{"rms_norm_eps", "0"}, "rms_norm_eps (0) must be a finite number > 0"},
      {{"rms_norm_eps", "1e300"}, "rms_norm_eps (inf) must be a finite number > 0"},
      {{"rope_theta", "-1"}, "rope_theta (-1) must be a finite number > 0"},
      {{"bos_token_id", "32"}, "bos_token_id (32) must be a token id in [0, 32)"},
      {{"eos_token_id", "-5"}, "eos_token_id (-5) must be a token id in [0, 32)"},
      {{"num_attention_heads", "3"}, "hidden_size (8) must be a multiple of num_attention_heads"},
  };
  for (const auto& [kv, message] : cases) {
    EXPECT_THAT(Error(With(kv.first, kv.second)), HasSubstr(std::string("config.json: ") + message))
        << kv.first << "=" << kv.second;
  }
  Json j = With("num_key_value_heads", "3");
  j["num_attention_heads"] = 8;
  j["hidden_size"] = 64;
  EXPECT_EQ(Error(j), "config.json: num_key_value_heads (3) must divide num_attention_heads (8)");
  EXPECT_EQ(Error(With("bos_token_id", "-1")), "");  // -1: no BOS token
}

}  // namespace
}  // namespace stocha
