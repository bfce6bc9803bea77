// GGUF llama and qwen2 models: metadata -> ModelConfig, blk.N.* tensors -> ModelWeights.
#include "engine/format/gguf_loader.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/activation.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"
#include "engine/format/tokenizer_file.h"
#include "engine/tokenizers/load_tokenizer.h"

namespace stocha {
namespace {

absl::Status Bad(const GgufFile& f, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(f.source, ": ", message));
}

// An int-valued key; values outside int32 are errors naming the key.
absl::Status GetIntField(const GgufFile& f, const std::string& key, int* out,
                         std::optional<int> fallback = std::nullopt) {
  absl::StatusOr<int64_t> v = fallback ? f.GetInt(key, *fallback) : f.GetInt(key);
  if (!v.ok()) return v.status();
  if (*v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max()) {
    return Bad(f, absl::StrCat("metadata key '", key, "' (", *v, ") is out of range"));
  }
  *out = static_cast<int>(*v);
  return absl::OkStatus();
}

absl::Status GetFloatField(const GgufFile& f, const std::string& key, float* out) {
  STOCHA_ASSIGN_OR_RETURN(double v, f.GetFloat(key, *out));
  constexpr double kMax = std::numeric_limits<float>::max();
  *out = std::abs(v) > kMax ? std::copysign(std::numeric_limits<float>::infinity(), v)
                            : static_cast<float>(v);
  return absl::OkStatus();
}

absl::Status ReadSizes(const GgufFile& f, const std::string& a, ModelConfig& c) {
  STOCHA_RETURN_IF_ERROR(GetIntField(f, a + ".embedding_length", &c.hidden_size));
  STOCHA_RETURN_IF_ERROR(GetIntField(f, a + ".feed_forward_length", &c.intermediate_size));
  STOCHA_RETURN_IF_ERROR(GetIntField(f, a + ".block_count", &c.num_layers));
  STOCHA_RETURN_IF_ERROR(GetIntField(f, a + ".attention.head_count", &c.num_heads));
  STOCHA_RETURN_IF_ERROR(
      GetIntField(f, a + ".attention.head_count_kv", &c.num_kv_heads, c.num_heads));
  STOCHA_RETURN_IF_ERROR(GetIntField(f, a + ".context_length", &c.max_position_embeddings, 2048));
  if (c.num_heads > 0 && c.hidden_size % c.num_heads == 0) c.head_dim = c.hidden_size / c.num_heads;
  STOCHA_RETURN_IF_ERROR(GetIntField(f, a + ".attention.key_length", &c.head_dim, c.head_dim));
  int rope_dims = c.head_dim;
  STOCHA_RETURN_IF_ERROR(GetIntField(f, a + ".rope.dimension_count", &rope_dims, rope_dims));
  if (rope_dims != c.head_dim) {  // Partial rotary embeddings are not implemented.
    return Bad(f, absl::StrCat("metadata key '", a, ".rope.dimension_count' (", rope_dims,
                               ") must equal the head dim (", c.head_dim, ")"));
  }
  return absl::OkStatus();
}

absl::Status ReadVocabSize(const GgufFile& f, const std::string& a, ModelConfig& c) {
  if (f.Find(a + ".vocab_size") != nullptr) return GetIntField(f, a + ".vocab_size", &c.vocab_size);
  const GgufTensorInfo* embed = f.FindTensor("token_embd.weight");
  if (embed != nullptr && embed->shape.size() == 2 &&
      embed->shape[0] <= std::numeric_limits<int>::max()) {
    c.vocab_size = static_cast<int>(embed->shape[0]);
    return absl::OkStatus();
  }
  const GgufValue* tokens = f.Find("tokenizer.ggml.tokens");
  if (tokens != nullptr &&
      tokens->count <= static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    c.vocab_size = static_cast<int>(tokens->count);
  }
  return absl::OkStatus();  // Otherwise Validate reports vocab_size 0.
}

// Optional stocha.* keys: a model trained with stocha and exported to GGUF.
absl::Status ReadStochaKeys(const GgufFile& f, ModelConfig& c) {
  STOCHA_ASSIGN_OR_RETURN(std::string act, f.GetString("stocha.hidden_act", "silu"));
  absl::StatusOr<ActivationKind> kind = ParseActivationKind(act);
  if (!kind.ok()) {
    return Bad(f, absl::StrCat("metadata key 'stocha.hidden_act': ", kind.status().message()));
  }
  c.hidden_act = *kind;
  STOCHA_ASSIGN_OR_RETURN(c.mlp_gated, f.GetBool("stocha.mlp_gated", true));
  STOCHA_ASSIGN_OR_RETURN(c.stocha.recipe, f.GetString("stocha.recipe", ""));
  STOCHA_RETURN_IF_ERROR(GetFloatField(f, "stocha.p", &c.stocha.p));
  STOCHA_RETURN_IF_ERROR(GetFloatField(f, "stocha.alpha", &c.stocha.alpha));
  STOCHA_ASSIGN_OR_RETURN(std::string text, f.GetString("stocha.default_activation", ""));
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<ActivationSpec> spec = ParseActivation(text, c.stocha.p);
  if (!spec.ok()) {
    return Bad(f,
               absl::StrCat("metadata key 'stocha.default_activation': ", spec.status().message()));
  }
  c.stocha.default_activation = *spec;
  return absl::OkStatus();
}

// A special token id; u32 0xFFFFFFFF (how converters write "none") becomes -1.
absl::StatusOr<int> GetTokenId(const GgufFile& f, const std::string& key, int fallback) {
  STOCHA_ASSIGN_OR_RETURN(int64_t id, f.GetInt(key, fallback));
  if (id == 0xFFFFFFFF) return -1;
  if (id < -1 || id > std::numeric_limits<int>::max()) {
    return Bad(f, absl::StrCat("metadata key '", key, "' (", id, ") is out of range"));
  }
  return static_cast<int>(id);
}

// BOS/EOS from the embedded vocabulary (1 and 2, llama2.c's, when absent).
absl::Status ReadTokenIds(const GgufFile& f, ModelConfig& c) {
  STOCHA_ASSIGN_OR_RETURN(c.bos_token_id, GetTokenId(f, "tokenizer.ggml.bos_token_id", 1));
  STOCHA_ASSIGN_OR_RETURN(int eos, GetTokenId(f, "tokenizer.ggml.eos_token_id", 2));
  c.eos_token_ids.clear();
  if (eos >= 0) c.eos_token_ids.push_back(eos);
  return absl::OkStatus();
}

absl::StatusOr<Tensor> ToTensor(const GgufFile& f, const std::string& name, bool required) {
  const GgufTensorInfo* info = f.FindTensor(name);
  if (info == nullptr) {
    if (!required) return Tensor{};
    return Bad(f, absl::StrCat("missing tensor '", name, "'"));
  }
  if (!info->dtype.has_value()) {
    return Bad(
        f, absl::StrCat("tensor '", name, "' has ggml type ", GgmlTypeName(info->ggml_type),
                        ": not supported yet (only F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)"));
  }
  static const uint8_t kEmpty = 0;  // A zero-element tensor still counts as present.
  return Tensor{name, *info->dtype, info->shape, info->nbytes == 0 ? &kEmpty : info->data};
}

absl::StatusOr<LayerWeights> ReadLayer(const GgufFile& f, const ModelConfig& c,
                                       const std::string& arch, int i) {
  const std::string p = absl::StrCat("blk.", i, ".");
  LayerWeights l;
  STOCHA_ASSIGN_OR_RETURN(l.attn_norm, ToTensor(f, p + "attn_norm.weight", true));
  STOCHA_ASSIGN_OR_RETURN(l.wq, ToTensor(f, p + "attn_q.weight", true));
  STOCHA_ASSIGN_OR_RETURN(l.wk, ToTensor(f, p + "attn_k.weight", true));
  STOCHA_ASSIGN_OR_RETURN(l.wv, ToTensor(f, p + "attn_v.weight", true));
  STOCHA_ASSIGN_OR_RETURN(l.wo, ToTensor(f, p + "attn_output.weight", true));
  STOCHA_ASSIGN_OR_RETURN(l.bq, ToTensor(f, p + "attn_q.bias", c.attention_bias));
  STOCHA_ASSIGN_OR_RETURN(l.bk, ToTensor(f, p + "attn_k.bias", c.attention_bias));
  STOCHA_ASSIGN_OR_RETURN(l.bv, ToTensor(f, p + "attn_v.bias", c.attention_bias));
  // llama.cpp's llama graph adds an optional output bias; its qwen2 graph has none.
  if (arch == "llama") {
    STOCHA_ASSIGN_OR_RETURN(l.bo, ToTensor(f, p + "attn_output.bias", false));
  }
  STOCHA_ASSIGN_OR_RETURN(l.ffn_norm, ToTensor(f, p + "ffn_norm.weight", true));
  STOCHA_ASSIGN_OR_RETURN(l.w_gate, ToTensor(f, p + "ffn_gate.weight", c.mlp_gated));
  STOCHA_ASSIGN_OR_RETURN(l.w_up, ToTensor(f, p + "ffn_up.weight", true));
  STOCHA_ASSIGN_OR_RETURN(l.w_down, ToTensor(f, p + "ffn_down.weight", true));
  return l;
}

absl::StatusOr<ModelWeights> ReadWeights(const GgufFile& f, const ModelConfig& c,
                                         const std::string& arch) {
  ModelWeights w;
  STOCHA_ASSIGN_OR_RETURN(w.embed, ToTensor(f, "token_embd.weight", true));
  for (int i = 0; i < c.num_layers; ++i) {
    STOCHA_ASSIGN_OR_RETURN(LayerWeights layer, ReadLayer(f, c, arch, i));
    w.layers.push_back(std::move(layer));
  }
  STOCHA_ASSIGN_OR_RETURN(w.final_norm, ToTensor(f, "output_norm.weight", true));
  STOCHA_ASSIGN_OR_RETURN(w.lm_head, ToTensor(f, "output.weight", !c.tie_word_embeddings));
  return w;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> ReadTokenizer(const GgufFile& f,
                                                         const LoadOptions& options,
                                                         int vocab_size) {
  if (!options.tokenizer_path.empty()) {
    return LoadTokenizerFile(options.tokenizer_path, vocab_size);
  }
  if (f.Find("tokenizer.ggml.tokens") == nullptr) return std::unique_ptr<Tokenizer>();
  STOCHA_ASSIGN_OR_RETURN(GgufVocab vocab, ReadGgufVocab(f, f.source));
  return MakeGgufTokenizer(vocab, f.source);
}

// How each architecture pairs RoPE dimensions (llama.cpp src/llama-model.cpp,
// llama_model_rope_type: LLAMA is NORM, QWEN2 is NEOX). convert_hf_to_gguf.py permutes
// llama's q/k rows so that HF's pairs (i, i + hd/2) become (2i, 2i+1); it writes qwen2's
// q/k (and their biases) as HF stores them.
absl::StatusOr<RopeStyle> ArchRopeStyle(const GgufFile& f, const std::string& arch) {
  if (arch == "llama") return RopeStyle::kInterleaved;
  if (arch == "qwen2") return RopeStyle::kHalf;
  return Bad(f, absl::StrCat("metadata key 'general.architecture' is '", arch,
                             "'; only 'llama' and 'qwen2' are supported"));
}

// rope_freqs.weight: F32 [head_dim / 2], the divisors ggml applies to each pair's
// frequency. Llama 3.x files carry it (convert_hf_to_gguf.py, LlamaModel's
// generate_extra_tensors, turns rope_scaling llama3 into it); llama.cpp's qwen2 has none.
absl::Status ReadRopeFreqs(const GgufFile& f, const std::string& arch, ModelConfig& c) {
  const GgufTensorInfo* info = f.FindTensor("rope_freqs.weight");
  if (info == nullptr) return absl::OkStatus();
  if (arch != "llama") {
    return Bad(f, absl::StrCat("tensor 'rope_freqs.weight' is not part of architecture '", arch,
                               "' (only 'llama' reads it)"));
  }
  const int64_t want = c.head_dim / 2;
  if (info->ggml_type != 0 || info->shape != std::vector<int64_t>{want}) {
    std::string shape;
    for (int64_t d : info->shape) absl::StrAppend(&shape, shape.empty() ? "" : ", ", d);
    return Bad(f, absl::StrCat("tensor 'rope_freqs.weight' is ", GgmlTypeName(info->ggml_type),
                               " [", shape, "], expected F32 [", want, "] (head_dim / 2)"));
  }
  std::vector<float>& out = c.rope_scaling.freq_factors;
  out.resize(static_cast<size_t>(want));
  std::memcpy(out.data(), info->data, out.size() * sizeof(float));
  for (size_t i = 0; i < out.size(); ++i) {
    if (!(out[i] > 0) || !std::isfinite(out[i])) {
      return Bad(f, absl::StrCat("tensor 'rope_freqs.weight' element ", i, " (", out[i],
                                 ") must be a finite number > 0"));
    }
  }
  return absl::OkStatus();
}

// <arch>.rope.scaling.*: llama.cpp scales every frequency by 1 / rope.scaling.factor (or
// the older rope.scale_linear) whatever the type, and adds YaRN's corrections for "yarn"
// (src/llama-model.cpp, load_hparams). "none" and "linear" fold the factor into the
// frequency divisors; other types are refused.
absl::Status ReadRopeScaling(const GgufFile& f, const std::string& arch, ModelConfig& c) {
  const std::string type_key = arch + ".rope.scaling.type";
  if (const GgufValue* type = f.Find(type_key); type != nullptr) {
    if (type->type != GgufType::kString) return f.GetString(type_key).status();  // names it
    if (type->str != "none" && type->str != "linear") {
      return Bad(f, absl::StrCat("metadata key '", type_key, "' is '", type->str,
                                 "'; only 'none' and 'linear' are supported"));
    }
  }
  std::string factor_key = arch + ".rope.scaling.factor";
  if (f.Find(factor_key) == nullptr) factor_key = arch + ".rope.scale_linear";
  float factor = 0.0f;
  STOCHA_RETURN_IF_ERROR(GetFloatField(f, factor_key, &factor));
  if (factor == 0.0f || factor == 1.0f) return absl::OkStatus();  // 0: llama.cpp's "unset"
  if (!(factor > 0) || !std::isfinite(factor)) {
    return Bad(f, absl::StrCat("metadata key '", factor_key, "' (", factor,
                               ") must be a finite number > 0"));
  }
  std::vector<float>& ff = c.rope_scaling.freq_factors;
  if (ff.empty()) ff.assign(static_cast<size_t>(c.head_dim / 2), 1.0f);
  for (float& x : ff) x *= factor;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> GgufModelConfig(const GgufFile& f) {
  STOCHA_ASSIGN_OR_RETURN(std::string arch, f.GetString("general.architecture"));
  ModelConfig c;
  STOCHA_ASSIGN_OR_RETURN(c.rope_style, ArchRopeStyle(f, arch));
  STOCHA_RETURN_IF_ERROR(ReadSizes(f, arch, c));
  STOCHA_RETURN_IF_ERROR(ReadVocabSize(f, arch, c));
  c.rms_norm_eps = 1e-5f;
  STOCHA_RETURN_IF_ERROR(
      GetFloatField(f, arch + ".attention.layer_norm_rms_epsilon", &c.rms_norm_eps));
  STOCHA_RETURN_IF_ERROR(GetFloatField(f, arch + ".rope.freq_base", &c.rope_theta));
  STOCHA_RETURN_IF_ERROR(ReadRopeFreqs(f, arch, c));
  STOCHA_RETURN_IF_ERROR(ReadRopeScaling(f, arch, c));
  STOCHA_RETURN_IF_ERROR(ReadStochaKeys(f, c));
  c.tie_word_embeddings = f.FindTensor("output.weight") == nullptr;
  // qwen2 always has q/k/v biases (llama.cpp requires them); llama's are optional.
  c.attention_bias = arch == "qwen2" || f.FindTensor("blk.0.attn_q.bias") != nullptr;
  STOCHA_RETURN_IF_ERROR(ReadTokenIds(f, c));
  STOCHA_RETURN_IF_ERROR(c.Validate(f.source));
  return c;
}

absl::StatusOr<std::shared_ptr<const Model>> LoadGgufFromBytes(
    absl::Span<const uint8_t> bytes, const std::string& source,
    std::unique_ptr<WeightStorage> keepalive, const LoadOptions& options) {
  STOCHA_ASSIGN_OR_RETURN(GgufFile file, ParseGguf(bytes, source));
  STOCHA_ASSIGN_OR_RETURN(ModelConfig config, GgufModelConfig(file));
  STOCHA_ASSIGN_OR_RETURN(std::string arch, file.GetString("general.architecture"));
  STOCHA_ASSIGN_OR_RETURN(ModelWeights weights, ReadWeights(file, config, arch));
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                          ReadTokenizer(file, options, config.vocab_size));
  std::vector<std::unique_ptr<WeightStorage>> storage;
  if (keepalive != nullptr) storage.push_back(std::move(keepalive));
  return Model::Assemble(source, std::move(config), std::move(weights), std::move(storage),
                         std::move(tokenizer), options);
}

absl::StatusOr<std::shared_ptr<const Model>> LoadGgufModel(const std::string& path,
                                                           const LoadOptions& options) {
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  const absl::Span<const uint8_t> bytes = file->bytes();
  return LoadGgufFromBytes(bytes, path, std::move(file), options);
}

}  // namespace stocha
