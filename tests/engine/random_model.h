// Builds a small random Llama-family Model in memory (no files) for engine tests.
#ifndef STOCHA_TESTS_ENGINE_RANDOM_MODEL_H_
#define STOCHA_TESTS_ENGINE_RANDOM_MODEL_H_

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "engine/model/model.h"
#include "gtest/gtest.h"

namespace stocha::testing {

class VectorStorage : public WeightStorage {
 public:
  std::vector<std::vector<float>> buffers;
};

inline ModelConfig SmallConfig() {
  ModelConfig c;
  c.hidden_size = 48;
  c.intermediate_size = 136;
  c.num_layers = 3;
  c.num_heads = 6;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 97;
  c.max_position_embeddings = 128;
  c.rope_style = RopeStyle::kHalf;
  c.hidden_act = ActivationKind::kRelu;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

inline std::shared_ptr<const Model> RandomModel(const ModelConfig& c, uint32_t seed = 1) {
  auto storage = std::make_unique<VectorStorage>();
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto make = [&](const char* name, std::vector<int64_t> shape, float scale, float offset = 0) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float>& buf = storage->buffers.emplace_back(n);
    for (float& v : buf) v = offset + scale * nd(rng);
    Tensor t;
    t.name = name;
    t.shape = std::move(shape);
    t.data = buf.data();
    return t;
  };
  const int64_t D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t q = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int64_t kv = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  const float s = 1.0f / std::sqrt(static_cast<float>(D));
  ModelWeights w;
  w.embed = make("embed", {V, D}, 1.0f);
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = make("attn_norm", {D}, 0.1f, 1.0f);
    lw.wq = make("wq", {q, D}, s);
    lw.wk = make("wk", {kv, D}, s);
    lw.wv = make("wv", {kv, D}, s);
    lw.wo = make("wo", {D, q}, 1.0f / std::sqrt(static_cast<float>(q)));
    if (c.attention_bias) {
      lw.bq = make("bq", {q}, 0.1f);
      lw.bk = make("bk", {kv}, 0.1f);
      lw.bv = make("bv", {kv}, 0.1f);
    }
    lw.ffn_norm = make("ffn_norm", {D}, 0.1f, 1.0f);
    if (c.mlp_gated) lw.w_gate = make("w_gate", {F, D}, s);
    lw.w_up = make("w_up", {F, D}, s);
    lw.w_down = make("w_down", {D, F}, 1.0f / std::sqrt(static_cast<float>(F)));
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = make("final_norm", {D}, 0.1f, 1.0f);
  w.lm_head = c.tie_word_embeddings ? w.embed : make("lm_head", {V, D}, s);
  std::vector<std::unique_ptr<WeightStorage>> st;
  st.push_back(std::move(storage));
  auto m = Model::Assemble("random", c, std::move(w), std::move(st), nullptr, LoadOptions{});
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

}  // namespace stocha::testing

#endif  // STOCHA_TESTS_ENGINE_RANDOM_MODEL_H_
