// Random BF16 models of real shapes (Llama-3.2-1B, Qwen2.5-1.5B, Llama-3.2-3B) for benchmarks.
#ifndef STOCHA_BENCH_SYNTHETIC_MODEL_H_
#define STOCHA_BENCH_SYNTHETIC_MODEL_H_

#include <memory>
#include <string>

#include "engine/model/model.h"

namespace stocha::bench {

struct Shape {
  std::string name;
  int D, F, layers, heads, kv_heads, head_dim, vocab;
};

// The published configs (config.json of each model).
Shape Llama32_1B();
Shape Qwen25_1_5B();
Shape Llama32_3B();

// A model of `shape` with uniform random BF16 weights (filled in parallel, deterministic).
// `layers` overrides the layer count when > 0; `tiny_attention` shrinks attention and the
// vocabulary to almost nothing (for FFN-only benchmarks). `weights` Q8_0 or Q4_0: the
// matrices (and embedding) are those BF16 values quantized with ggml's reference rounding;
// norms stay BF16.
std::shared_ptr<const Model> SyntheticModel(const Shape& shape, int layers, bool tiny_attention,
                                            DType weights = DType::kBF16);

// Bytes a decode step reads with every weight dense (all matrices + embedding row), at
// `bytes_per_weight` (2 for BF16; 34/32 for Q8_0, 18/32 for Q4_0).
double DenseBytesPerToken(const Shape& s, double bytes_per_weight = 2.0);

}  // namespace stocha::bench

#endif  // STOCHA_BENCH_SYNTHETIC_MODEL_H_
