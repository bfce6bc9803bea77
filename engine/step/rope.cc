// RoPE in F32, matching llama2.c (interleaved pairs) and HF Llama (rotate_half).
#include "engine/step/rope.h"

#include <cmath>

namespace stocha {
namespace {

// Llama 3.1's frequency-dependent scaling (HF _compute_llama3_parameters).
float Llama3Scale(float inv_freq, const RopeScaling& s) {
  constexpr float kPi = 3.14159265358979323846f;
  const float low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const float high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
  const float wavelen = 2.0f * kPi / inv_freq;
  if (wavelen < high_wavelen) return inv_freq;
  if (wavelen > low_wavelen) return inv_freq / s.factor;
  const float smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                       (s.high_freq_factor - s.low_freq_factor);
  return (1.0f - smooth) * inv_freq / s.factor + smooth * inv_freq;
}

}  // namespace

Rope::Rope(const ModelConfig& config)
    : head_dim_(config.head_dim), style_(config.rope_style), inv_freq_(config.head_dim / 2) {
  for (int i = 0; i < head_dim_ / 2; ++i) {
    // 1 / theta^(2i / hd), computed in float like run.c and torch's float32 inv_freq.
    float f = 1.0f / std::pow(config.rope_theta, static_cast<float>(2 * i) / head_dim_);
    if (config.rope_scaling.llama3) f = Llama3Scale(f, config.rope_scaling);
    // GGUF rope_freqs: ggml's rope divides each pair's angle by its factor (ggml-cpu
    // ops.cpp, ggml_rope_cache_init: theta / freq_factors[i]).
    if (!config.rope_scaling.freq_factors.empty()) f /= config.rope_scaling.freq_factors[i];
    inv_freq_[i] = f;
  }
}

void Rope::Apply(float* v, int heads, int position) const {
  const int half = head_dim_ / 2;
  for (int i = 0; i < half; ++i) {
    const float angle = static_cast<float>(position) * inv_freq_[i];
    const float c = std::cos(angle), s = std::sin(angle);
    for (int h = 0; h < heads; ++h) {
      float* x = v + static_cast<int64_t>(h) * head_dim_;
      const int a = style_ == RopeStyle::kInterleaved ? 2 * i : i;
      const int b = style_ == RopeStyle::kInterleaved ? 2 * i + 1 : i + half;
      const float x0 = x[a], x1 = x[b];
      x[a] = x0 * c - x1 * s;
      x[b] = x0 * s + x1 * c;
    }
  }
}

}  // namespace stocha
