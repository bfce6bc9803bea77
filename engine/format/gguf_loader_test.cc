// GGUF llama and qwen2 models: round trips (F32/F16/BF16, tied/untied), stocha keys,
// rope_freqs and rope.scaling, qwen2 keys and biases, errors.
#include "engine/format/gguf_loader.h"

#include <cmath>
#include <string>
#include <vector>

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
      test::ExpectTinySizes(m, c);
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
            path() +
                ": metadata key 'general.architecture' is 'gpt2'; only 'llama' and 'qwen2' "
                "are supported");
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

// Llama 3.x files: rope_freqs.weight, F32 [head_dim / 2] (head_dim 4 here).
TEST_F(GgufLoaderTest, RopeFreqs) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder b = test::TinyGguf(m);
  b.Tensor("rope_freqs.weight", 0, {2}, test::Encode({1.0f, 8.0f}, "F32"));
  auto model = Load(b);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().rope_scaling.freq_factors, (std::vector<float>{1.0f, 8.0f}));
  EXPECT_TRUE(Load(test::TinyGguf(m)).value()->config().rope_scaling.freq_factors.empty());

  GgufBuilder shape = test::TinyGguf(m);
  shape.Tensor("rope_freqs.weight", 0, {4}, test::Encode({1, 1, 1, 1}, "F32"));
  EXPECT_EQ(Error(shape),
            path() + ": tensor 'rope_freqs.weight' is F32 [4], expected F32 [2] (head_dim / 2)");
  GgufBuilder type = test::TinyGguf(m);
  type.Tensor("rope_freqs.weight", 1, {2}, test::Encode({1, 1}, "F16"));
  EXPECT_EQ(Error(type),
            path() + ": tensor 'rope_freqs.weight' is F16 [2], expected F32 [2] (head_dim / 2)");
  for (float bad : {0.0f, -1.0f, NAN, INFINITY}) {
    GgufBuilder v = test::TinyGguf(m);
    v.Tensor("rope_freqs.weight", 0, {2}, test::Encode({1.0f, bad}, "F32"));
    EXPECT_THAT(Error(v), HasSubstr(": tensor 'rope_freqs.weight' element 1 ("));
    EXPECT_THAT(Error(v), HasSubstr(") must be a finite number > 0"));
  }
}

// rope.scaling: "none" and "linear" scale every frequency by 1 / factor; others refused.
TEST_F(GgufLoaderTest, RopeScalingKeys) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder linear = test::TinyGguf(m);
  linear.String("llama.rope.scaling.type", "linear").F32("llama.rope.scaling.factor", 4.0f);
  linear.Tensor("rope_freqs.weight", 0, {2}, test::Encode({1.0f, 2.0f}, "F32"));
  auto model = Load(linear);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().rope_scaling.freq_factors, (std::vector<float>{4.0f, 8.0f}));
  GgufBuilder old = test::TinyGguf(m);
  old.F32("llama.rope.scale_linear", 2.0f);
  EXPECT_EQ(Load(old).value()->config().rope_scaling.freq_factors,
            (std::vector<float>{2.0f, 2.0f}));
  GgufBuilder none = test::TinyGguf(m);
  none.String("llama.rope.scaling.type", "none").F32("llama.rope.scaling.factor", 1.0f);
  EXPECT_TRUE(Load(none).value()->config().rope_scaling.freq_factors.empty());
  GgufBuilder yarn = test::TinyGguf(m);
  yarn.String("llama.rope.scaling.type", "yarn").F32("llama.rope.scaling.factor", 4.0f);
  EXPECT_EQ(Error(yarn), path() +
                             ": metadata key 'llama.rope.scaling.type' is 'yarn'; only 'none' "
                             "and 'linear' are supported");
  GgufBuilder negative = test::TinyGguf(m);
  negative.F32("llama.rope.scaling.factor", -2.0f);
  EXPECT_EQ(Error(negative), path() +
                                 ": metadata key 'llama.rope.scaling.factor' (-2) must be a "
                                 "finite number > 0");
}

// A qwen2 GGUF as llama.cpp's converter writes Qwen2.5: qwen2.* keys, q/k/v biases (F32),
// no rope.dimension_count, tied embeddings unless output.weight is there.
GgufBuilder TinyQwen2(const TinyModel& m, bool biases = true) {
  GgufBuilder b;
  b.String("general.architecture", "qwen2")
      .U32("qwen2.block_count", m.layers)
      .U32("qwen2.context_length", m.seq_len)
      .U32("qwen2.embedding_length", m.dim)
      .U32("qwen2.feed_forward_length", m.hidden)
      .U32("qwen2.attention.head_count", m.heads)
      .U32("qwen2.attention.head_count_kv", m.kv_heads)
      .F32("qwen2.rope.freq_base", 1000000.0f)
      .F32("qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
  const int64_t d = m.dim, f = m.hidden, kv = m.kv_dim(), v = m.vocab;
  b.Tensor("token_embd.weight", 1, {v, d}, test::Encode(m.embed, "F16"));
  b.Tensor("output_norm.weight", 0, {d}, test::Encode(m.final_norm, "F32"));
  if (!m.tied) b.Tensor("output.weight", 1, {v, d}, test::Encode(m.lm_head, "F16"));
  for (int i = 0; i < m.layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const TinyModel::Layer& l = m.layer[i];
    b.Tensor(p + "attn_norm.weight", 0, {d}, test::Encode(l.attn_norm, "F32"));
    b.Tensor(p + "attn_q.weight", 1, {d, d}, test::Encode(l.wq, "F16"));
    b.Tensor(p + "attn_k.weight", 1, {kv, d}, test::Encode(l.wk, "F16"));
    b.Tensor(p + "attn_v.weight", 1, {kv, d}, test::Encode(l.wv, "F16"));
    if (biases) {
      b.Tensor(p + "attn_q.bias", 0, {d}, test::Encode(TinyModel::Values(d, 70 + i), "F32"));
      b.Tensor(p + "attn_k.bias", 0, {kv}, test::Encode(TinyModel::Values(kv, 80 + i), "F32"));
      b.Tensor(p + "attn_v.bias", 0, {kv}, test::Encode(TinyModel::Values(kv, 90 + i), "F32"));
    }
    b.Tensor(p + "attn_output.weight", 1, {d, d}, test::Encode(l.wo, "F16"));
    b.Tensor(p + "ffn_norm.weight", 0, {d}, test::Encode(l.ffn_norm, "F32"));
    b.Tensor(p + "ffn_gate.weight", 1, {f, d}, test::Encode(l.w_gate, "F16"));
    b.Tensor(p + "ffn_up.weight", 1, {f, d}, test::Encode(l.w_up, "F16"));
    b.Tensor(p + "ffn_down.weight", 1, {d, f}, test::Encode(l.w_down, "F16"));
  }
  return b;
}

TEST_F(GgufLoaderTest, Qwen2KeysAndBiases) {
  for (bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    const TinyModel m = TinyModel::Make(tied);
    auto model = Load(TinyQwen2(m));
    ASSERT_TRUE(model.ok()) << model.status();
    test::ExpectWeightsEqual(m, (*model)->weights());
    const ModelConfig& c = (*model)->config();
    test::ExpectTinySizes(m, c);
    EXPECT_EQ(c.rope_style, RopeStyle::kHalf);  // NEOX: HF's q/k layout, not permuted
    EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
    EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
    EXPECT_EQ(c.tie_word_embeddings, tied);
    EXPECT_TRUE(c.attention_bias);
    const LayerWeights& l1 = (*model)->weights().layers[1];
    EXPECT_EQ(l1.bq.dtype, DType::kF32);
    EXPECT_EQ(test::Decode(l1.bq), TinyModel::Values(8, 71));
    EXPECT_EQ(test::Decode(l1.bk), TinyModel::Values(4, 81));
    EXPECT_EQ(test::Decode(l1.bv), TinyModel::Values(4, 91));
    EXPECT_FALSE(l1.bo.present());
  }
}

TEST_F(GgufLoaderTest, Qwen2BiasesStayF32WhenConverting) {
  test::WriteFile(path(), TinyQwen2(TinyModel::Make(true)).Build());
  LoadOptions o;
  o.convert_weights_to = DType::kBF16;
  auto model = LoadModel(path(), o);
  ASSERT_TRUE(model.ok()) << model.status();
  const LayerWeights& l = (*model)->weights().layers[0];
  EXPECT_EQ(l.wq.dtype, DType::kBF16);
  for (const Tensor* b : {&l.bq, &l.bk, &l.bv}) EXPECT_EQ(b->dtype, DType::kF32);
  EXPECT_EQ(test::Decode(l.bq), TinyModel::Values(8, 70));
}

TEST_F(GgufLoaderTest, Qwen2Errors) {
  const TinyModel m = TinyModel::Make(true);
  EXPECT_EQ(Error(TinyQwen2(m, /*biases=*/false)), path() + ": missing tensor 'blk.0.attn_q.bias'");
  GgufBuilder freqs = TinyQwen2(m);
  freqs.Tensor("rope_freqs.weight", 0, {2}, test::Encode({1.0f, 1.0f}, "F32"));
  EXPECT_EQ(Error(freqs), path() +
                              ": tensor 'rope_freqs.weight' is not part of architecture 'qwen2' "
                              "(only 'llama' reads it)");
  GgufBuilder short_bias = TinyQwen2(m, false);
  short_bias.Tensor("blk.0.attn_q.bias", 0, {4}, test::Encode({1, 2, 3, 4}, "F32"));
  EXPECT_THAT(Error(short_bias), HasSubstr("missing tensor 'blk.0.attn_k.bias'"));
  // The llama keys do not stand in for qwen2's.
  EXPECT_EQ(
      Error(GgufBuilder().String("general.architecture", "qwen2").U32("llama.embedding_length", 8)),
      path() + ": missing metadata key 'qwen2.embedding_length'");
}

TEST_F(GgufLoaderTest, LlamaOptionalAttentionBiases) {
  const TinyModel m = TinyModel::Make(true);
  GgufBuilder b = test::TinyGguf(m);
  for (int i = 0; i < m.layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    b.Tensor(p + "attn_q.bias", 0, {8}, test::Encode(TinyModel::Values(8, 1), "F32"));
    b.Tensor(p + "attn_k.bias", 0, {4}, test::Encode(TinyModel::Values(4, 2), "F32"));
    b.Tensor(p + "attn_v.bias", 0, {4}, test::Encode(TinyModel::Values(4, 3), "F32"));
    b.Tensor(p + "attn_output.bias", 0, {8}, test::Encode(TinyModel::Values(8, 4), "F32"));
  }
  auto model = Load(b);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->config().attention_bias);
  EXPECT_EQ((*model)->config().rope_style, RopeStyle::kInterleaved);
  EXPECT_EQ(test::Decode((*model)->weights().layers[1].bo), TinyModel::Values(8, 4));
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
