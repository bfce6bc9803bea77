// config.json parsing with typed, field-named errors (nlohmann::json, no exceptions leak).
#include "engine/format/hf_config.h"

#include <limits>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/activation.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"
#include "nlohmann/json.hpp"

namespace stocha {
namespace {

using Json = nlohmann::json;

// One JSON object with the path that names its fields in errors ("rope_scaling.").
struct Fields {
  const Json& obj;
  absl::string_view source;
  std::string prefix;

  // Null counts as absent: HF writes `"head_dim": null` and `"rope_scaling": null`.
  const Json* Find(absl::string_view key) const {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  absl::Status TypeError(absl::string_view key, absl::string_view want, const Json& v) const {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field '", prefix, key, "' must be ",
                                                   want, ", got ", v.type_name()));
  }
  absl::Status Missing(absl::string_view key) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": missing required field '", prefix, key, "'"));
  }
};

absl::Status ToInt(const Fields& f, absl::string_view key, const Json& v, int* out) {
  constexpr int64_t kMin = std::numeric_limits<int>::min(), kMax = std::numeric_limits<int>::max();
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kMax)) return f.TypeError(key, "a 32-bit integer", v);
    *out = static_cast<int>(u);
    return absl::OkStatus();
  }
  if (!v.is_number_integer()) return f.TypeError(key, "an integer", v);
  const int64_t i = v.get<int64_t>();
  if (i < kMin || i > kMax) return f.TypeError(key, "a 32-bit integer", v);
  *out = static_cast<int>(i);
  return absl::OkStatus();
}

absl::Status GetInt(const Fields& f, absl::string_view key, int* out, bool required = false) {
  const Json* v = f.Find(key);
  if (v == nullptr) return required ? f.Missing(key) : absl::OkStatus();
  return ToInt(f, key, *v, out);
}

absl::Status GetFloat(const Fields& f, absl::string_view key, float* out) {
  const Json* v = f.Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_number()) return f.TypeError(key, "a number", *v);
  const double d = v->get<double>();
  // Out-of-range doubles become +-inf (rejected by Validate) instead of an undefined cast.
  constexpr double kMax = std::numeric_limits<float>::max();
  *out = d > kMax    ? std::numeric_limits<float>::infinity()
         : d < -kMax ? -std::numeric_limits<float>::infinity()
                     : static_cast<float>(d);
  return absl::OkStatus();
}

absl::Status GetBool(const Fields& f, absl::string_view key, bool* out) {
  const Json* v = f.Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_boolean()) return f.TypeError(key, "a boolean", *v);
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status GetString(const Fields& f, absl::string_view key, std::string* out) {
  const Json* v = f.Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return f.TypeError(key, "a string", *v);
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status ParseSizes(const Fields& f, ModelConfig& c) {
  STOCHA_RETURN_IF_ERROR(GetInt(f, "hidden_size", &c.hidden_size, /*required=*/true));
  STOCHA_RETURN_IF_ERROR(GetInt(f, "intermediate_size", &c.intermediate_size, true));
  STOCHA_RETURN_IF_ERROR(GetInt(f, "num_hidden_layers", &c.num_layers, true));
  STOCHA_RETURN_IF_ERROR(GetInt(f, "num_attention_heads", &c.num_heads, true));
  STOCHA_RETURN_IF_ERROR(GetInt(f, "vocab_size", &c.vocab_size, true));
  c.num_kv_heads = c.num_heads;
  STOCHA_RETURN_IF_ERROR(GetInt(f, "num_key_value_heads", &c.num_kv_heads));
  c.max_position_embeddings = 2048;  // LlamaConfig's default.
  STOCHA_RETURN_IF_ERROR(GetInt(f, "max_position_embeddings", &c.max_position_embeddings));
  if (f.Find("head_dim") != nullptr) return GetInt(f, "head_dim", &c.head_dim);
  if (c.num_heads <= 0) return absl::OkStatus();  // Validate names num_attention_heads.
  if (c.hidden_size % c.num_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.source, ": hidden_size (", c.hidden_size,
                                                   ") must be a multiple of num_attention_heads (",
                                                   c.num_heads, ") when head_dim is not given"));
  }
  c.head_dim = c.hidden_size / c.num_heads;
  return absl::OkStatus();
}

absl::Status ParseRopeScaling(const Fields& top, ModelConfig& c) {
  const Json* v = top.Find("rope_scaling");
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_object()) return top.TypeError("rope_scaling", "an object", *v);
  Fields f{*v, top.source, "rope_scaling."};
  std::string type;
  STOCHA_RETURN_IF_ERROR(GetString(f, "type", &type));
  STOCHA_RETURN_IF_ERROR(GetString(f, "rope_type", &type));
  if (type.empty() || type == "default") return absl::OkStatus();
  if (type != "llama3") {
    return absl::InvalidArgumentError(absl::StrCat(top.source, ": rope_scaling.rope_type '", type,
                                                   "' is not supported (only llama3)"));
  }
  RopeScaling& r = c.rope_scaling;
  r.llama3 = true;
  STOCHA_RETURN_IF_ERROR(GetFloat(f, "factor", &r.factor));
  STOCHA_RETURN_IF_ERROR(GetFloat(f, "low_freq_factor", &r.low_freq_factor));
  STOCHA_RETURN_IF_ERROR(GetFloat(f, "high_freq_factor", &r.high_freq_factor));
  return GetInt(f, "original_max_position_embeddings", &r.original_max_position_embeddings);
}

absl::StatusOr<ActivationKind> ParseHiddenAct(const Fields& f) {
  std::string act = "silu";
  STOCHA_RETURN_IF_ERROR(GetString(f, "hidden_act", &act));
  absl::StatusOr<ActivationKind> kind = ParseActivationKind(act);
  if (!kind.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.source, ": field 'hidden_act': ", kind.status().message()));
  }
  return *kind;
}

absl::Status ParseStochaBlock(const Fields& top, StochaTraining& s) {
  const Json* v = top.Find("stocha");
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_object()) return top.TypeError("stocha", "an object", *v);
  Fields f{*v, top.source, "stocha."};
  STOCHA_RETURN_IF_ERROR(GetString(f, "recipe", &s.recipe));
  STOCHA_RETURN_IF_ERROR(GetFloat(f, "p", &s.p));
  STOCHA_RETURN_IF_ERROR(GetFloat(f, "alpha", &s.alpha));
  std::string text;
  STOCHA_RETURN_IF_ERROR(GetString(f, "default_activation", &text));
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<ActivationSpec> spec = ParseActivation(text, s.p);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(top.source, ": field 'stocha.default_activation': ", spec.status().message()));
  }
  s.default_activation = *spec;
  return absl::OkStatus();
}

absl::Status ParseTokenIds(const Fields& f, ModelConfig& c) {
  STOCHA_RETURN_IF_ERROR(GetInt(f, "bos_token_id", &c.bos_token_id));
  const Json* eos = f.Find("eos_token_id");
  if (eos == nullptr) return absl::OkStatus();
  c.eos_token_ids.clear();
  if (!eos->is_array()) {
    c.eos_token_ids.push_back(0);
    return ToInt(f, "eos_token_id", *eos, &c.eos_token_ids.back());
  }
  for (const Json& item : *eos) {
    c.eos_token_ids.push_back(0);
    STOCHA_RETURN_IF_ERROR(ToInt(f, "eos_token_id", item, &c.eos_token_ids.back()));
  }
  return absl::OkStatus();
}

absl::Status ParseFlags(const Fields& f, ModelConfig& c) {
  c.rms_norm_eps = 1e-6f;  // LlamaConfig's default.
  STOCHA_RETURN_IF_ERROR(GetFloat(f, "rms_norm_eps", &c.rms_norm_eps));
  STOCHA_RETURN_IF_ERROR(GetFloat(f, "rope_theta", &c.rope_theta));
  STOCHA_RETURN_IF_ERROR(GetBool(f, "tie_word_embeddings", &c.tie_word_embeddings));
  std::string model_type;
  STOCHA_RETURN_IF_ERROR(GetString(f, "model_type", &model_type));
  c.attention_bias = model_type == "qwen2";  // Qwen2 has q/k/v biases without saying so.
  STOCHA_RETURN_IF_ERROR(GetBool(f, "attention_bias", &c.attention_bias));
  return GetBool(f, "mlp_gated", &c.mlp_gated);
}

}  // namespace

absl::StatusOr<ModelConfig> ParseHfConfig(absl::string_view json_text, absl::string_view source) {
  Json root = Json::parse(json_text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": must be a JSON object, got ", root.type_name()));
  }
  Fields f{root, source, ""};
  ModelConfig c;
  c.rope_style = RopeStyle::kHalf;
  STOCHA_RETURN_IF_ERROR(ParseSizes(f, c));
  STOCHA_RETURN_IF_ERROR(ParseFlags(f, c));
  STOCHA_RETURN_IF_ERROR(ParseRopeScaling(f, c));
  STOCHA_ASSIGN_OR_RETURN(c.hidden_act, ParseHiddenAct(f));
  STOCHA_RETURN_IF_ERROR(ParseStochaBlock(f, c.stocha));
  STOCHA_RETURN_IF_ERROR(ParseTokenIds(f, c));
  STOCHA_RETURN_IF_ERROR(c.Validate(std::string_view(source.data(), source.size())));
  return c;
}

absl::StatusOr<ModelConfig> ReadHfConfigFile(const std::string& path) {
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  absl::Span<const uint8_t> bytes = file->bytes();
  return ParseHfConfig(absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                       path);
}

}  // namespace stocha
