// Architecture hyper-parameters of a Llama-family decoder, independent of file format.
#ifndef STOCHA_ENGINE_MODEL_MODEL_CONFIG_H_
#define STOCHA_ENGINE_MODEL_MODEL_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/activation.h"

namespace stocha {

// How RoPE pairs dimensions: llama2.c and GGUF "llama" pair (2i, 2i+1); Hugging Face
// checkpoints and GGUF "qwen2" (llama.cpp's NEOX rope type) pair (i, i + head_dim/2)
// ("rotate_half").
enum class RopeStyle { kInterleaved, kHalf };

struct RopeScaling {
  bool llama3 = false;  // rope_scaling.rope_type == "llama3"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
  // Empty, or [head_dim / 2] divisors of the inverse frequencies: GGUF's rope_freqs.weight
  // (llama.cpp's converter writes Llama 3.x's llama3 scaling this way instead of keys).
  std::vector<float> freq_factors;
};

// stocha's own config block: how the model was trained and how to run it by default.
struct StochaTraining {
  std::string recipe;  // "silu", "relu", "swi+ft", "stocha", "stocha+ft" or empty
  float p = 0.5f;      // StochA p used in training; default p for "stocha" at inference
  float alpha = 0.0f;  // fraction of steps fine-tuned with ReLU
  std::optional<ActivationSpec> default_activation;
};

struct ModelConfig {
  int hidden_size = 0;        // D
  int intermediate_size = 0;  // F
  int num_layers = 0;
  int num_heads = 0;     // H
  int num_kv_heads = 0;  // KV
  int head_dim = 0;      // defaults to D / H
  int vocab_size = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  RopeStyle rope_style = RopeStyle::kHalf;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // Qwen2-style q/k/v biases
  bool mlp_gated = true;        // false: down(act(up x))
  ActivationKind hidden_act = ActivationKind::kSilu;
  StochaTraining stocha;
  int bos_token_id = 1;
  std::vector<int> eos_token_ids = {2};

  // The activation used when a request does not choose one.
  ActivationSpec DefaultActivation() const;
  // Zero, negative or inconsistent values -> InvalidArgument naming `source` and the field.
  absl::Status Validate(std::string_view source) const;
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_MODEL_MODEL_CONFIG_H_
