// GGUF llama models: round trips (F32/F16/BF16, tied/untied), stocha keys, errors.
#include "engine/format/gguf_loader.h"

#include <string>

#include "engine/format/load_model.h"
#include "engine/format/test_writers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using test::GgufBuilder;
using test::TinyModel;
using ::testing::HasSubstr;

class GgufLoaderTest : public ::testing::Test {
 protected:
  std::string path() const { return tmp_.path("m.gguf"); }
  absl::StatusOr<std::shared_ptr<const Model>> Load(const GgufBuilder& b) {
    test::WriteFile(path(), b.Build());
    return LoadModel(path());
  }
  std::string Error(const GgufBuilder& b) {
    auto m = Load(b);
    return m.ok() ? "" : std::string(m.status().message());
  }
  test::TempDir tmp_;
};

TEST_F(GgufLoaderTest, RoundTripsEveryDtype) {
  for (uint32_t type : {0u, 1u, 30u}) {
    for (bool tied : {true, false}) {
      SCOPED_TRACE("type " + std::to_string(type) + (tied ? " tied" : " untied"));
      const TinyModel m = TinyModel::Make(tied);
      auto model = Load(test::TinyGguf(m, type));
      ASSERT_TRUE(model.ok()) << model.status();
      test::ExpectWeightsEqual(m, (*model)->weights());
      const ModelConfig& c = (*model)->config();
      EXPECT_EQ(c.hidden_size, 8);
      EXPECT_EQ(c.intermediate_size, 16);
      EXPECT_EQ(c.num_layers, 2);
      EXPECT_EQ(c.num_heads, 2);
      EXPECT_EQ(c.num_kv_heads, 1);
      EXPECT_EQ(c.head_dim, 4);
      EXPECT_EQ(c.vocab_size, 32);
      EXPECT_EQ(c.max_position_embeddings, 16);
      EXPECT_EQ(c.rope_style, RopeStyle::kInterleaved);
      EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
      EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
      EXPECT_EQ(c.tie_word_embeddings, tied);
      EXPECT_EQ(c.hidden_act, ActivationKind::kSilu);
      EXPECT_EQ(c.bos_token_id, 1);
      EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
      EXPECT_EQ((*model)->weights().layers[1].wq.name, "blk.1.attn_q.weight");
      ASSERT_NE((*model)->tokenizer(), nullptr);
      EXPECT_EQ((*model)->tokenizer()->vocab_size(), 32);
    }
  }
}

TEST_F(GgufLoaderTest, ReportsQuantizedTensors) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder b = test::TinyGguf(m);
  b.Tensor("blk.0.attn_q.weight", 12, {8, 256}, std::string(8 * 144, '\0'));
  EXPECT_THAT(Error(b), HasSubstr("tensor 'blk.0.attn_q.weight' appears more than once"));
  // Build the same model with one Q3_K tensor (a block type not read yet).
  GgufBuilder q;
  q.String("general.architecture", "llama")
      .U32("llama.embedding_length", 256)
      .U32("llama.feed_forward_length", 256)
      .U32("llama.block_count", 1)
      .U32("llama.attention.head_count", 1)
      .Tensor("token_embd.weight", 11, {4, 256}, std::string(4 * 110, '\0'));
  EXPECT_EQ(Error(q), path() +
                          ": tensor 'token_embd.weight' has ggml type Q3_K: not supported "
                          "yet (only F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)");
  // Q8_0 / Q4_0 rows must hold whole 32-element blocks.
  for (uint32_t type : {8u, 2u}) {
    GgufBuilder r = test::TinyGguf(m);
    r.Tensor("odd", type, {4, 48}, std::string(4 * 34 * 2, '\0'));
    EXPECT_EQ(Error(r), path() + ": tensor 'odd' has ggml type " + (type == 8 ? "Q8_0" : "Q4_0") +
                            " but rows of 48 elements: not a multiple of its block size 32");
  }
  // K types (ggml ids 12, 13, 14) need whole 256-element super-blocks: 128 is not enough.
  for (auto [type, name] : {std::pair{12u, "Q4_K"}, std::pair{13u, "Q5_K"}, {14u, "Q6_K"}}) {
    GgufBuilder r = test::TinyGguf(m);
    r.Tensor("blk.0.ffn_down.weight.k", type, {4, 128}, std::string(4 * 210, '\0'));
    EXPECT_EQ(Error(r), path() + ": tensor 'blk.0.ffn_down.weight.k' has ggml type " + name +
                            " but rows of 128 elements: not a multiple of its block size 256");
  }
}

TEST_F(GgufLoaderTest, ReportsMissingTensorAndKeys) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder b;
  b.String("general.architecture", "llama")
      .U32("llama.embedding_length", 8)
      .U32("llama.feed_forward_length", 16)
      .U32("llama.block_count", 1)
      .U32("llama.attention.head_count", 2)
      .Tensor("token_embd.weight", 0, {32, 8}, test::Encode(m.embed, "F32"));
  EXPECT_EQ(Error(b), path() + ": missing tensor 'blk.0.attn_norm.weight'");
  EXPECT_EQ(Error(GgufBuilder().String("general.architecture", "llama")),
            path() + ": missing metadata key 'llama.embedding_length'");
  EXPECT_EQ(Error(GgufBuilder()), path() + ": missing metadata key 'general.architecture'");
  EXPECT_EQ(Error(GgufBuilder().String("general.architecture", "gpt2")),
            path() + ": metadata key 'general.architecture' is 'gpt2'; only 'llama' is supported");
  EXPECT_THAT(Error(GgufBuilder()
                        .String("general.architecture", "llama")
                        .String("llama.embedding_length", "8")),
              HasSubstr("metadata key 'llama.embedding_length' has type string"));
  EXPECT_THAT(Error(GgufBuilder()
                        .String("general.architecture", "llama")
                        .Raw("llama.embedding_length", 11, GgufBuilder::Bytes<int64_t>(1ll << 40))),
              HasSubstr("metadata key 'llama.embedding_length' (1099511627776) is out of range"));
}

TEST_F(GgufLoaderTest, ReportsShapeAndConfigErrors) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder wrong = test::TinyGguf(m);
  wrong.U32("llama.vocab_size", 33);
  EXPECT_EQ(Error(wrong),
            path() + ": tensor 'token_embd.weight' has shape [32, 8], expected [33, 8]");
  GgufBuilder rope = test::TinyGguf(m);
  rope.U32("llama.rope.dimension_count", 2);  // duplicate key: caught by the parser
  EXPECT_THAT(Error(rope), HasSubstr("appears more than once"));
  GgufBuilder heads;
  heads.String("general.architecture", "llama")
      .U32("llama.embedding_length", 8)
      .U32("llama.feed_forward_length", 16)
      .U32("llama.block_count", 1)
      .U32("llama.attention.head_count", 2)
      .U32("llama.attention.head_count_kv", 3)
      .U32("llama.vocab_size", 4);
  EXPECT_EQ(Error(heads), path() + ": num_key_value_heads (3) must divide num_attention_heads (2)");
  GgufBuilder partial;
  partial.String("general.architecture", "llama")
      .U32("llama.embedding_length", 8)
      .U32("llama.attention.head_count", 2)
      .U32("llama.rope.dimension_count", 2);
  EXPECT_THAT(Error(partial), HasSubstr("llama.feed_forward_length"));
}

TEST_F(GgufLoaderTest, StochaKeys) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder b = test::TinyGguf(m);
  b.String("stocha.hidden_act", "stocha")
      .F32("stocha.p", 0.25f)
      .String("stocha.recipe", "stocha")
      .String("stocha.default_activation", "relu");
  auto model = Load(b);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().hidden_act, ActivationKind::kStochA);
  EXPECT_FLOAT_EQ((*model)->config().stocha.p, 0.25f);
  EXPECT_EQ((*model)->config().stocha.recipe, "stocha");
  EXPECT_EQ((*model)->config().DefaultActivation(), ActivationSpec{ActivationKind::kRelu});

  GgufBuilder ungated = test::TinyGguf(m);
  ungated.Bool("stocha.mlp_gated", false);
  EXPECT_EQ(Error(ungated), path() +
                                ": unexpected tensor 'blk.0.ffn_gate.weight' (mlp_gated is "
                                "false)");
  EXPECT_THAT(Error(test::TinyGguf(m).String("stocha.hidden_act", "gelu")),
              HasSubstr("metadata key 'stocha.hidden_act': unknown activation 'gelu'"));
  EXPECT_THAT(Error(test::TinyGguf(m).F32("stocha.p", 2.0f)),
              HasSubstr(": stocha.p (2) must be in [0, 1]"));
}

TEST_F(GgufLoaderTest, SpecialTokenIds) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder b = test::TinyGguf(m, 0, /*vocab=*/false);
  b.U32("tokenizer.ggml.bos_token_id", 0xFFFFFFFF).U32("tokenizer.ggml.eos_token_id", 31);
  auto model = Load(b);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().bos_token_id, -1);
  EXPECT_EQ((*model)->config().eos_token_ids, std::vector<int>{31});
  GgufBuilder none = test::TinyGguf(m, 0, false);
  none.U32("tokenizer.ggml.eos_token_id", 0xFFFFFFFF);
  EXPECT_TRUE(Load(none).value()->config().eos_token_ids.empty());
  GgufBuilder out = test::TinyGguf(m, 0, false);
  out.U32("tokenizer.ggml.eos_token_id", 32);
  EXPECT_EQ(Error(out), path() + ": eos_token_id (32) must be a token id in [0, 32)");
}

TEST_F(GgufLoaderTest, RejectsRopeFreqs) {
  GgufBuilder b = test::TinyGguf(TinyModel::Make(true));
  b.Tensor("rope_freqs.weight", 0, {2}, std::string(8, '\0'));
  EXPECT_THAT(Error(b), HasSubstr("tensor 'rope_freqs.weight' (Llama 3.1 RoPE scaling) is not"));
}

TEST_F(GgufLoaderTest, WithoutVocabHasNoTokenizer) {
  auto model = Load(test::TinyGguf(TinyModel::Make(true), 0, /*vocab=*/false));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->tokenizer(), nullptr);
}

TEST_F(GgufLoaderTest, RejectsZeroLayers) {
  GgufBuilder b;
  b.String("general.architecture", "llama")
      .U32("llama.embedding_length", 8)
      .U32("llama.feed_forward_length", 16)
      .U32("llama.block_count", 0)
      .U32("llama.attention.head_count", 2);
  EXPECT_THAT(Error(b), HasSubstr("num_hidden_layers (0) must be > 0"));
}

TEST_F(GgufLoaderTest, ConfigFromMetadata) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder b = test::TinyGguf(m);
  b.F32("llama.rope.freq_base", 500000.0f).U32("llama.attention.key_length", 4);
  const std::string file = b.Build();
  auto f = ParseGguf({reinterpret_cast<const uint8_t*>(file.data()), file.size()}, "m.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  auto c = GgufModelConfig(*f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FLOAT_EQ(c->rope_theta, 500000.0f);
  EXPECT_EQ(c->vocab_size, 32);  // from token_embd.weight
}

}  // namespace
}  // namespace stocha
