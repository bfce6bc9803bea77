// Model::Assemble: presence, dtype and shape checks, tying, conversion, tokenizer size.
#include <memory>
#include <string>

#include "engine/format/test_writers.h"
#include "engine/model/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using test::TinyModel;
using ::testing::HasSubstr;

Tensor View(const std::vector<float>& v, std::vector<int64_t> shape) {
  return Tensor{"", DType::kF32, std::move(shape), v.data()};
}

ModelConfig Config(const TinyModel& m) {
  ModelConfig c;
  c.hidden_size = m.dim;
  c.intermediate_size = m.hidden;
  c.num_layers = m.layers;
  c.num_heads = m.heads;
  c.num_kv_heads = m.kv_heads;
  c.head_dim = m.head_dim();
  c.vocab_size = m.vocab;
  c.max_position_embeddings = m.seq_len;
  c.tie_word_embeddings = m.tied;
  return c;
}

// Unnamed views of `m` (so errors use Assemble's labels).
ModelWeights Weights(const TinyModel& m) {
  const int64_t d = m.dim, f = m.hidden, kv = m.kv_dim(), v = m.vocab;
  ModelWeights w;
  w.embed = View(m.embed, {v, d});
  w.final_norm = View(m.final_norm, {d});
  if (!m.tied) w.lm_head = View(m.lm_head, {v, d});
  for (const TinyModel::Layer& l : m.layer) {
    w.layers.push_back({View(l.attn_norm, {d}),
                        View(l.wq, {d, d}),
                        View(l.wk, {kv, d}),
                        View(l.wv, {kv, d}),
                        View(l.wo, {d, d}),
                        {},
                        {},
                        {},
                        {},
                        View(l.ffn_norm, {d}),
                        View(l.w_gate, {f, d}),
                        View(l.w_up, {f, d}),
                        View(l.w_down, {d, f})});
  }
  return w;
}

absl::StatusOr<std::shared_ptr<const Model>> Assemble(const ModelConfig& c, ModelWeights w,
                                                      const LoadOptions& options = {},
                                                      std::unique_ptr<Tokenizer> tok = nullptr) {
  return Model::Assemble("src", c, std::move(w), {}, std::move(tok), options);
}

std::string Error(const ModelConfig& c, ModelWeights w) {
  auto m = Assemble(c, std::move(w));
  return m.ok() ? "" : std::string(m.status().message());
}

class FakeTokenizer : public Tokenizer {
 public:
  explicit FakeTokenizer(int n) : n_(n) {}
  absl::StatusOr<std::vector<int>> Encode(std::string_view, bool) const override {
    return std::vector<int>{};
  }
  std::string TokenBytes(int, int) const override { return ""; }
  int vocab_size() const override { return n_; }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }

 private:
  int n_;
};

TEST(ModelAssembleTest, AcceptsTinyModelAndTiesLmHead) {
  const TinyModel m = TinyModel::Make(true);
  auto model = Assemble(Config(m), Weights(m));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->weights().lm_head.data, m.embed.data());
  EXPECT_EQ((*model)->source(), "src");
  test::ExpectWeightsEqual(m, (*model)->weights());
}

TEST(ModelAssembleTest, ReportsMissingTensors) {
  const TinyModel m = TinyModel::Make(false);
  ModelWeights w = Weights(m);
  w.lm_head = {};
  EXPECT_EQ(Error(Config(m), w), "src: missing tensor 'lm_head'");
  w = Weights(m);
  w.layers[1].wk = {};
  EXPECT_EQ(Error(Config(m), w), "src: missing tensor 'layers.1.wk'");
  w = Weights(m);
  w.layers.pop_back();
  EXPECT_EQ(Error(Config(m), w), "src: found 1 layers, num_hidden_layers is 2");
}

TEST(ModelAssembleTest, ReportsShapesWithTensorNames) {
  const TinyModel m = TinyModel::Make(true);
  ModelWeights w = Weights(m);
  w.layers[0].w_up.shape = {8, 16};
  w.layers[0].w_up.name = "model.layers.0.mlp.up_proj.weight";
  EXPECT_EQ(Error(Config(m), w),
            "src: tensor 'model.layers.0.mlp.up_proj.weight' has shape [8, 16], expected [16, 8]");
  const std::pair<Tensor LayerWeights::*, const char*> fields[] = {
      {&LayerWeights::attn_norm, "attn_norm"},
      {&LayerWeights::wq, "wq"},
      {&LayerWeights::wv, "wv"},
      {&LayerWeights::wo, "wo"},
      {&LayerWeights::ffn_norm, "ffn_norm"},
      {&LayerWeights::w_gate, "w_gate"},
      {&LayerWeights::w_down, "w_down"}};
  for (const auto& [field, label] : fields) {
    w = Weights(m);
    (w.layers[1].*field).shape.push_back(1);
    EXPECT_THAT(Error(Config(m), w),
                HasSubstr(std::string("src: tensor 'layers.1.") + label + "' has shape"));
  }
  w = Weights(m);
  w.final_norm.shape = {9};
  EXPECT_EQ(Error(Config(m), w), "src: tensor 'final_norm' has shape [9], expected [8]");
  w = Weights(m);
  w.embed.dtype = static_cast<DType>(200);  // no such dtype
  EXPECT_EQ(Error(Config(m), w), "src: tensor 'embed' has an unsupported dtype");
}

TEST(ModelAssembleTest, GateAndBiasFollowConfig) {
  const TinyModel m = TinyModel::Make(true);
  ModelConfig c = Config(m);
  c.mlp_gated = false;
  EXPECT_EQ(Error(c, Weights(m)), "src: unexpected tensor 'layers.0.w_gate' (mlp_gated is false)");
  ModelWeights w = Weights(m);
  for (LayerWeights& l : w.layers) l.w_gate = {};
  EXPECT_EQ(Error(c, w), "");
  EXPECT_EQ(Error(Config(m), w), "src: missing tensor 'layers.0.w_gate'");

  c = Config(m);
  c.attention_bias = true;
  EXPECT_EQ(Error(c, Weights(m)), "src: missing tensor 'layers.0.bq'");
  const std::vector<float> b8(8), b4(4);
  w = Weights(m);
  for (LayerWeights& l : w.layers) {
    l.bq = View(b8, {8});
    l.bk = View(b4, {4});
    l.bv = View(b4, {4});
  }
  EXPECT_EQ(Error(c, w), "");
  w.layers[1].bk = View(b8, {8});
  EXPECT_EQ(Error(c, w), "src: tensor 'layers.1.bk' has shape [8], expected [4]");
  EXPECT_EQ(Error(Config(m), w), "src: unexpected tensor 'layers.0.bq' (attention_bias is false)");
}

TEST(ModelAssembleTest, ValidatesConfigFirst) {
  const TinyModel m = TinyModel::Make(true);
  ModelConfig c = Config(m);
  c.num_kv_heads = 0;
  EXPECT_EQ(Error(c, Weights(m)), "src: num_key_value_heads (0) must be > 0");
}

TEST(ModelAssembleTest, ConvertsEveryDtype) {
  const TinyModel m = TinyModel::Make(false);
  for (DType to : {DType::kF16, DType::kBF16, DType::kF32}) {
    LoadOptions options;
    options.convert_weights_to = to;
    auto model = Assemble(Config(m), Weights(m), options);
    ASSERT_TRUE(model.ok()) << model.status();
    const ModelWeights& w = (*model)->weights();
    EXPECT_EQ(w.embed.dtype, to);
    EXPECT_EQ(w.lm_head.dtype, to);
    EXPECT_EQ(w.layers[1].wo.dtype, to);
    EXPECT_EQ(w.layers[1].ffn_norm.dtype, DType::kF32);
    test::ExpectWeightsEqual(m, w);
    if (to == DType::kF32) {
      EXPECT_EQ(w.embed.data, m.embed.data());  // no copy needed
    }
  }
}

TEST(ModelAssembleTest, ConvertsHalfToF32) {
  const TinyModel m = TinyModel::Make(true);
  std::vector<std::string> encoded;
  ModelWeights w = Weights(m);
  auto to_f16 = [&](Tensor& t) {
    encoded.push_back(test::Encode(test::Decode(t), "F16"));
    t.data = encoded.back().data();
    t.dtype = DType::kF16;
  };
  encoded.reserve(64);
  to_f16(w.embed);
  to_f16(w.final_norm);
  for (LayerWeights& l : w.layers) {
    for (Tensor* t :
         {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down}) {
      to_f16(*t);
    }
  }
  LoadOptions options;
  options.convert_weights_to = DType::kF32;
  auto model = Assemble(Config(m), w, options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->weights().layers[0].wq.dtype, DType::kF32);
  EXPECT_EQ((*model)->weights().lm_head.data, (*model)->weights().embed.data);
  test::ExpectWeightsEqual(m, (*model)->weights());
}

TEST(ModelAssembleTest, TokenizerMustFitTheVocab) {
  const TinyModel m = TinyModel::Make(true);
  EXPECT_TRUE(Assemble(Config(m), Weights(m), {}, std::make_unique<FakeTokenizer>(32)).ok());
  auto model = Assemble(Config(m), Weights(m), {}, std::make_unique<FakeTokenizer>(33));
  EXPECT_EQ(model.status().message(),
            "src: the tokenizer has 33 tokens but the model's vocab_size is 32");
}

}  // namespace
}  // namespace stocha
