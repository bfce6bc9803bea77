// Synthetic BF16 models: real shapes, random weights, assembled in memory.
#include "bench/synthetic_model.h"

#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/model/huge_page_buffer.h"
#include "engine/model/quant_blocks.h"

namespace stocha::bench {
namespace {

class Buffers : public WeightStorage {
 public:
  std::vector<HugePageBuffer> data;
};

// Uniform in [-scale, scale], from a per-chunk splitmix64 stream.
void Fill(uint16_t* v, int64_t n, float scale, uint64_t seed) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n; c += 4096) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(c);
    for (int64_t i = c; i < std::min(n, c + 4096); ++i) {
      s += 0x9E3779B97F4A7C15ull;
      uint64_t z = s;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      const float u = static_cast<float>(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
      v[i] = F32ToBF16(u * scale);
    }
  }
}

}  // namespace

Shape Llama32_1B() { return {"Llama-3.2-1B", 2048, 8192, 16, 32, 8, 64, 128256}; }
Shape Qwen25_1_5B() { return {"Qwen2.5-1.5B", 1536, 8960, 28, 12, 2, 128, 151936}; }
Shape Llama32_3B() { return {"Llama-3.2-3B", 3072, 8192, 28, 24, 8, 128, 128256}; }

double DenseBytesPerToken(const Shape& s, double bytes_per_weight) {
  const double attn = static_cast<double>(s.D) * s.head_dim * (2.0 * s.heads + 2.0 * s.kv_heads);
  const double ffn = 3.0 * s.D * s.F;
  return bytes_per_weight * (s.layers * (attn + ffn) + static_cast<double>(s.vocab) * s.D);
}

std::shared_ptr<const Model> SyntheticModel(const Shape& shape, int layers, bool tiny,
                                            DType weights) {
  ModelConfig c;
  c.hidden_size = shape.D;
  c.intermediate_size = shape.F;
  c.num_layers = layers > 0 ? layers : shape.layers;
  c.num_heads = tiny ? 1 : shape.heads;
  c.num_kv_heads = tiny ? 1 : shape.kv_heads;
  c.head_dim = tiny ? 8 : shape.head_dim;
  c.vocab_size = tiny ? 64 : shape.vocab;
  c.max_position_embeddings = 4096;
  c.tie_word_embeddings = true;
  c.hidden_act = ActivationKind::kRelu;
  auto store = std::make_unique<Buffers>();
  uint64_t seed = 1;
  auto make = [&](std::vector<int64_t> dims, float scale) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    auto* v = reinterpret_cast<uint16_t*>(
        store->data.emplace_back(static_cast<size_t>(n) * sizeof(uint16_t)).data());
    if (scale == 0) {
      std::fill_n(v, n, F32ToBF16(1.0f));
    } else {
      Fill(v, n, scale, seed++);
    }
    Tensor t;
    t.name = "synthetic";
    t.dtype = DType::kBF16;
    t.data = v;
    if (IsQuantized(weights) && dims.size() == 2) {  // quantize row by row, in parallel
      const int64_t rows = dims[0], cols = dims[1];
      const size_t row_bytes = DTypeBytes(weights, cols);
      auto* q = store->data.emplace_back(row_bytes * rows).data();
#pragma omp parallel
      {
        std::vector<float> f32(cols);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
          DequantizeRow(v + r * cols, DType::kBF16, cols, f32.data());
          QuantizeRow(f32.data(), cols, weights, q + r * row_bytes);
        }
      }
      t.dtype = weights;
      t.data = q;
    }
    t.shape = std::move(dims);
    return t;
  };
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  const int64_t q = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int64_t kv = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  const float s = std::sqrt(3.0f / D);
  ModelWeights w;
  w.embed = make({c.vocab_size, D}, 1.0f);
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = make({D}, 0);
    lw.wq = make({q, D}, s);
    lw.wk = make({kv, D}, s);
    lw.wv = make({kv, D}, s);
    lw.wo = make({D, q}, std::sqrt(3.0f / q));
    lw.ffn_norm = make({D}, 0);
    lw.w_gate = make({F, D}, s);
    lw.w_up = make({F, D}, s);
    lw.w_down = make({D, F}, std::sqrt(3.0f / F));
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = make({D}, 0);
  w.lm_head = w.embed;
  std::vector<std::unique_ptr<WeightStorage>> storage;
  storage.push_back(std::move(store));
  auto m = Model::Assemble("synthetic " + shape.name, c, std::move(w), std::move(storage), nullptr,
                           LoadOptions{});
  if (!m.ok()) {
    std::fprintf(stderr, "synthetic model: %s\n", std::string(m.status().message()).c_str());
    std::abort();
  }
  return *m;
}

}  // namespace stocha::bench
