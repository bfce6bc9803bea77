// The real tiny models in ../shared/data: configs, and .bin vs .gguf tensors byte for byte.
#include <cstring>
#include <string>

#include "engine/format/gguf.h"
#include "engine/format/load_model.h"
#include "engine/format/test_writers.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha {
namespace {

std::shared_ptr<const Model> MustLoad(const std::string& path, const LoadOptions& options = {}) {
  auto model = LoadModel(path, options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

void ExpectStories260KConfig(const ModelConfig& c) {
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_style, RopeStyle::kInterleaved);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype == b.dtype && a.shape == b.shape && std::memcmp(a.data, b.data, a.nbytes()) == 0;
}

TEST(RealDataTest, Stories260KBin) {
  const std::string bin = test::SharedData("stories260K/stories260K.bin");
  if (bin.empty()) STOCHA_FIXTURE_ABSENT("../shared/data is absent");
  LoadOptions options;
  options.tokenizer_path = test::SharedData("stories260K/tok512.bin");
  auto model = MustLoad(bin, options);
  ASSERT_NE(model, nullptr);
  ExpectStories260KConfig(model->config());
  EXPECT_EQ(model->config().max_position_embeddings, 512);
  EXPECT_TRUE(model->config().tie_word_embeddings);
  ASSERT_NE(model->tokenizer(), nullptr);
  EXPECT_EQ(model->tokenizer()->vocab_size(), 512);
}

TEST(RealDataTest, Stories260KGgufMatchesBinByteForByte) {
  const std::string bin = test::SharedData("stories260K/stories260K.bin");
  if (bin.empty()) STOCHA_FIXTURE_ABSENT("../shared/data is absent");
  auto from_bin = MustLoad(bin);
  auto from_gguf = MustLoad(test::SharedData("stories260K/stories260K.gguf"));
  ASSERT_NE(from_bin, nullptr);
  ASSERT_NE(from_gguf, nullptr);
  ExpectStories260KConfig(from_gguf->config());
  EXPECT_EQ(from_gguf->config().max_position_embeddings, 2048);  // the converter's default
  EXPECT_FALSE(from_gguf->config().tie_word_embeddings);         // output.weight is a stored copy
  ASSERT_NE(from_gguf->tokenizer(), nullptr);
  EXPECT_EQ(from_gguf->tokenizer()->vocab_size(), 512);

  const ModelWeights& a = from_bin->weights();
  const ModelWeights& b = from_gguf->weights();
  int compared = 0;
  auto expect_same = [&](const Tensor& x, const Tensor& y) {
    EXPECT_TRUE(SameBytes(x, y)) << x.name << " vs " << y.name;
    ++compared;
  };
  expect_same(a.embed, b.embed);
  expect_same(a.final_norm, b.final_norm);
  expect_same(a.lm_head, b.lm_head);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerWeights& x = a.layers[i];
    const LayerWeights& y = b.layers[i];
    expect_same(x.attn_norm, y.attn_norm);
    expect_same(x.wq, y.wq);
    expect_same(x.wk, y.wk);
    expect_same(x.wv, y.wv);
    expect_same(x.wo, y.wo);
    expect_same(x.ffn_norm, y.ffn_norm);
    expect_same(x.w_gate, y.w_gate);
    expect_same(x.w_up, y.w_up);
    expect_same(x.w_down, y.w_down);
  }
  EXPECT_EQ(compared, 3 + 5 * 9);  // 48 tensors, as in the GGUF
}

TEST(RealDataTest, Stories260KGgufVocab) {
  const std::string gguf = test::SharedData("stories260K/stories260K.gguf");
  if (gguf.empty()) STOCHA_FIXTURE_ABSENT("../shared/data is absent");
  auto vocab = ReadGgufVocabFile(gguf);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->model, "llama");
  EXPECT_EQ(vocab->tokens.size(), 512u);
  EXPECT_EQ(vocab->bos_id, 1);
  EXPECT_EQ(vocab->eos_id, 2);
  EXPECT_EQ(vocab->unk_id, 0);
}

TEST(RealDataTest, AiDreams260K) {
  const std::string bin = test::SharedData("aidreams260K/aidreams260K.bin");
  if (bin.empty()) STOCHA_FIXTURE_ABSENT("../shared/data is absent");
  LoadOptions options;
  options.tokenizer_path = test::SharedData("aidreams260K/tok512_aidreams.bin");
  options.convert_weights_to = DType::kBF16;
  auto model = MustLoad(bin, options);
  ASSERT_NE(model, nullptr);
  const ModelConfig& c = model->config();
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_layers, 4);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_EQ(model->weights().layers[3].w_down.dtype, DType::kBF16);
  ASSERT_NE(model->tokenizer(), nullptr);
}

}  // namespace
}  // namespace stocha
