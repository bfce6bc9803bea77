// ModelConfig: the default activation and the sanity checks every loader relies on.
#include "engine/model/model_config.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace stocha {
namespace {

// Field names follow Hugging Face config.json, the vocabulary docs/MODEL_FORMATS.md uses.
absl::Status Bad(absl::string_view source, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", message));
}

absl::Status CheckPositive(absl::string_view source, absl::string_view field, int value) {
  if (value > 0) return absl::OkStatus();
  return Bad(source, absl::StrCat(field, " (", value, ") must be > 0"));
}

// `!(v > 0)` also rejects NaN.
absl::Status CheckPositive(absl::string_view source, absl::string_view field, float value) {
  if (value > 0 && std::isfinite(value)) return absl::OkStatus();
  return Bad(source, absl::StrCat(field, " (", value, ") must be a finite number > 0"));
}

absl::Status CheckUnit(absl::string_view source, absl::string_view field, float value) {
  if (value >= 0 && value <= 1) return absl::OkStatus();
  return Bad(source, absl::StrCat(field, " (", value, ") must be in [0, 1]"));
}

absl::Status CheckTokenId(absl::string_view source, absl::string_view field, int id, int vocab) {
  if (id >= 0 && id < vocab) return absl::OkStatus();
  return Bad(source, absl::StrCat(field, " (", id, ") must be a token id in [0, ", vocab, ")"));
}

absl::Status ValidateSizes(const ModelConfig& c, absl::string_view source) {
  if (auto s = CheckPositive(source, "hidden_size", c.hidden_size); !s.ok()) return s;
  if (auto s = CheckPositive(source, "intermediate_size", c.intermediate_size); !s.ok()) return s;
  if (auto s = CheckPositive(source, "num_hidden_layers", c.num_layers); !s.ok()) return s;
  if (auto s = CheckPositive(source, "num_attention_heads", c.num_heads); !s.ok()) return s;
  if (auto s = CheckPositive(source, "num_key_value_heads", c.num_kv_heads); !s.ok()) return s;
  if (auto s = CheckPositive(source, "head_dim", c.head_dim); !s.ok()) return s;
  if (auto s = CheckPositive(source, "vocab_size", c.vocab_size); !s.ok()) return s;
  if (auto s = CheckPositive(source, "max_position_embeddings", c.max_position_embeddings);
      !s.ok()) {
    return s;
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    return Bad(source, absl::StrCat("num_key_value_heads (", c.num_kv_heads,
                                    ") must divide num_attention_heads (", c.num_heads, ")"));
  }
  if (c.head_dim % 2 != 0) {  // RoPE rotates pairs of dimensions.
    return Bad(source, absl::StrCat("head_dim (", c.head_dim, ") must be even"));
  }
  return absl::OkStatus();
}

// GGUF loaders check rope_freqs.weight and name it; this keeps any other caller honest.
absl::Status ValidateFreqFactors(const ModelConfig& c, absl::string_view source) {
  const std::vector<float>& f = c.rope_scaling.freq_factors;
  if (f.size() != static_cast<size_t>(c.head_dim / 2)) {
    return Bad(source, absl::StrCat("rope_scaling.freq_factors has ", f.size(),
                                    " values, expected head_dim / 2 = ", c.head_dim / 2));
  }
  for (size_t i = 0; i < f.size(); ++i) {
    if (auto s = CheckPositive(source, absl::StrCat("rope_scaling.freq_factors[", i, "]"), f[i]);
        !s.ok()) {
      return s;
    }
  }
  if (c.rope_scaling.llama3) {  // The factors already are the llama3 scaling.
    return Bad(source, "rope_scaling.freq_factors and rope_scaling llama3 both scale RoPE");
  }
  return absl::OkStatus();
}

absl::Status ValidateRope(const ModelConfig& c, absl::string_view source) {
  if (auto s = CheckPositive(source, "rms_norm_eps", c.rms_norm_eps); !s.ok()) return s;
  if (auto s = CheckPositive(source, "rope_theta", c.rope_theta); !s.ok()) return s;
  const RopeScaling& r = c.rope_scaling;
  if (!r.freq_factors.empty()) {
    if (auto s = ValidateFreqFactors(c, source); !s.ok()) return s;
  }
  if (!r.llama3) return absl::OkStatus();
  if (!(r.factor >= 1) || !std::isfinite(r.factor)) {
    return Bad(source, absl::StrCat("rope_scaling.factor (", r.factor, ") must be >= 1"));
  }
  if (auto s = CheckPositive(source, "rope_scaling.low_freq_factor", r.low_freq_factor); !s.ok()) {
    return s;
  }
  // The llama3 formula divides by (high_freq_factor - low_freq_factor).
  if (!(r.high_freq_factor > r.low_freq_factor) || !std::isfinite(r.high_freq_factor)) {
    return Bad(source, absl::StrCat("rope_scaling.high_freq_factor (", r.high_freq_factor,
                                    ") must be > low_freq_factor (", r.low_freq_factor, ")"));
  }
  return CheckPositive(source, "rope_scaling.original_max_position_embeddings",
                       r.original_max_position_embeddings);
}

absl::Status ValidateStocha(const ModelConfig& c, absl::string_view source) {
  if (auto s = CheckUnit(source, "stocha.p", c.stocha.p); !s.ok()) return s;
  if (auto s = CheckUnit(source, "stocha.alpha", c.stocha.alpha); !s.ok()) return s;
  const auto& d = c.stocha.default_activation;
  if (d.has_value() && d->kind == ActivationKind::kStochA) {
    return CheckUnit(source, "stocha.default_activation p", d->p);
  }
  return absl::OkStatus();
}

absl::Status ValidateTokens(const ModelConfig& c, absl::string_view source) {
  if (c.bos_token_id != -1) {  // -1: the model has no BOS token.
    if (auto s = CheckTokenId(source, "bos_token_id", c.bos_token_id, c.vocab_size); !s.ok()) {
      return s;
    }
  }
  for (int id : c.eos_token_ids) {
    if (auto s = CheckTokenId(source, "eos_token_id", id, c.vocab_size); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

ActivationSpec ModelConfig::DefaultActivation() const {
  if (stocha.default_activation.has_value()) return *stocha.default_activation;
  ActivationSpec spec;
  spec.kind = hidden_act;
  if (hidden_act == ActivationKind::kStochA) spec.p = stocha.p;
  return spec;
}

absl::Status ModelConfig::Validate(std::string_view source_name) const {
  const absl::string_view source(source_name.data(), source_name.size());
  if (auto s = ValidateSizes(*this, source); !s.ok()) return s;
  if (auto s = ValidateRope(*this, source); !s.ok()) return s;
  if (auto s = ValidateStocha(*this, source); !s.ok()) return s;
  return ValidateTokens(*this, source);
}

}  // namespace stocha
