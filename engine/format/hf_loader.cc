// Hugging Face directory loading: shards are mapped, parsed and merged by tensor name.
#include "engine/format/hf_loader.h"

#include <filesystem>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/format/hf_config.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"
#include "engine/format/tokenizer_file.h"
#include "engine/tokenizers/load_tokenizer.h"

namespace stocha {
namespace {

namespace fs = std::filesystem;
using TensorMap = std::map<std::string, SafetensorsTensor>;

// Never throws: an unreadable directory reads as "absent" and the open that follows
// reports the real error.
bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

absl::StatusOr<Tensor> ToTensor(const SafetensorsTensor& st, absl::string_view source) {
  Tensor t;
  if (st.dtype == "F32") {
    t.dtype = DType::kF32;
  } else if (st.dtype == "F16") {
    t.dtype = DType::kF16;
  } else if (st.dtype == "BF16") {
    t.dtype = DType::kBF16;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(source, ": tensor '", st.name, "' has dtype ",
                                                   st.dtype,
                                                   "; only F32, F16 and BF16 are supported"));
  }
  t.name = st.name;
  t.shape = st.shape;
  // A zero-element tensor still needs a non-null pointer to count as present.
  static const uint8_t kEmpty = 0;
  t.data = st.nbytes == 0 ? &kEmpty : st.data;
  return t;
}

// Absent (not an error) when !required and the name is not in the file.
absl::StatusOr<Tensor> Find(const TensorMap& tensors, const std::string& name, bool required,
                            absl::string_view source) {
  auto it = tensors.find(name);
  if (it != tensors.end()) return ToTensor(it->second, source);
  if (!required) return Tensor{};
  return absl::InvalidArgumentError(absl::StrCat(source, ": missing tensor '", name, "'"));
}

absl::StatusOr<LayerWeights> MapLayer(const TensorMap& m, int i, absl::string_view source) {
  const std::string p = absl::StrCat("model.layers.", i, ".");
  LayerWeights l;
  STOCHA_ASSIGN_OR_RETURN(l.attn_norm, Find(m, p + "input_layernorm.weight", true, source));
  STOCHA_ASSIGN_OR_RETURN(l.wq, Find(m, p + "self_attn.q_proj.weight", true, source));
  STOCHA_ASSIGN_OR_RETURN(l.wk, Find(m, p + "self_attn.k_proj.weight", true, source));
  STOCHA_ASSIGN_OR_RETURN(l.wv, Find(m, p + "self_attn.v_proj.weight", true, source));
  STOCHA_ASSIGN_OR_RETURN(l.wo, Find(m, p + "self_attn.o_proj.weight", true, source));
  STOCHA_ASSIGN_OR_RETURN(l.ffn_norm, Find(m, p + "post_attention_layernorm.weight", true, source));
  STOCHA_ASSIGN_OR_RETURN(l.w_up, Find(m, p + "mlp.up_proj.weight", true, source));
  STOCHA_ASSIGN_OR_RETURN(l.w_down, Find(m, p + "mlp.down_proj.weight", true, source));
  return l;
}

// Optional tensors are read even when the config says they should not exist, so that
// Model::Assemble can report the inconsistency instead of silently dropping weights.
absl::Status MapOptional(const TensorMap& m, int i, const ModelConfig& c, absl::string_view source,
                         LayerWeights& l) {
  const std::string p = absl::StrCat("model.layers.", i, ".");
  const bool bias = c.attention_bias;
  STOCHA_ASSIGN_OR_RETURN(l.w_gate, Find(m, p + "mlp.gate_proj.weight", c.mlp_gated, source));
  STOCHA_ASSIGN_OR_RETURN(l.bq, Find(m, p + "self_attn.q_proj.bias", bias, source));
  STOCHA_ASSIGN_OR_RETURN(l.bk, Find(m, p + "self_attn.k_proj.bias", bias, source));
  STOCHA_ASSIGN_OR_RETURN(l.bv, Find(m, p + "self_attn.v_proj.bias", bias, source));
  // o_proj.bias: present in HF Llama checkpoints with attention_bias, absent in Qwen2.
  STOCHA_ASSIGN_OR_RETURN(l.bo, Find(m, p + "self_attn.o_proj.bias", false, source));
  return absl::OkStatus();
}

// Maps every shard named by the index and merges their tensors; a name found in two
// shards is an error.
absl::Status ReadShards(const fs::path& dir, const fs::path& index_path, TensorMap& tensors,
                        std::vector<std::unique_ptr<WeightStorage>>& storage) {
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> index, MappedFile::Open(index_path));
  auto text = index->bytes();
  STOCHA_ASSIGN_OR_RETURN(
      auto weight_map,
      ParseSafetensorsIndex(
          absl::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
          index_path.string()));
  std::set<std::string> shards;
  for (const auto& [name, shard] : weight_map) shards.insert(shard);
  for (const std::string& shard : shards) {
    const std::string path = (dir / shard).string();
    STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
    STOCHA_ASSIGN_OR_RETURN(auto parsed, ParseSafetensors(file->bytes(), path));
    for (SafetensorsTensor& t : parsed) {
      std::string name = t.name;
      if (tensors.count(name) != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": tensor '", name, "' also appears in another shard"));
      }
      tensors.emplace(std::move(name), std::move(t));
    }
    storage.push_back(std::move(file));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizerFor(const fs::path& dir,
                                                              const LoadOptions& options,
                                                              int vocab_size) {
  if (!options.tokenizer_path.empty()) {
    return LoadTokenizerFile(options.tokenizer_path, vocab_size);
  }
  if (Exists(dir / "tokenizer.model")) {
    return LoadSentencePieceTokenizer((dir / "tokenizer.model").string());
  }
  if (Exists(dir / "tokenizer.json")) return LoadHfTokenizer((dir / "tokenizer.json").string());
  return std::unique_ptr<Tokenizer>();
}

}  // namespace

absl::StatusOr<ModelWeights> MapHfWeights(const TensorMap& tensors, const ModelConfig& config,
                                          absl::string_view source) {
  ModelWeights w;
  STOCHA_ASSIGN_OR_RETURN(w.embed, Find(tensors, "model.embed_tokens.weight", true, source));
  for (int i = 0; i < config.num_layers; ++i) {
    STOCHA_ASSIGN_OR_RETURN(LayerWeights layer, MapLayer(tensors, i, source));
    STOCHA_RETURN_IF_ERROR(MapOptional(tensors, i, config, source, layer));
    w.layers.push_back(std::move(layer));
  }
  STOCHA_ASSIGN_OR_RETURN(w.final_norm, Find(tensors, "model.norm.weight", true, source));
  if (config.tie_word_embeddings) {
    w.lm_head = w.embed;  // Like transformers: a stored lm_head.weight is ignored when tied.
  } else {
    STOCHA_ASSIGN_OR_RETURN(w.lm_head, Find(tensors, "lm_head.weight", true, source));
  }
  return w;
}

absl::StatusOr<std::shared_ptr<const Model>> LoadHfModel(const std::string& dir_name,
                                                         const LoadOptions& options) {
  const fs::path dir(dir_name);
  STOCHA_ASSIGN_OR_RETURN(ModelConfig config, ReadHfConfigFile((dir / "config.json").string()));
  std::vector<std::unique_ptr<WeightStorage>> storage;
  TensorMap tensors;
  fs::path weights_path = dir / "model.safetensors.index.json";
  if (Exists(weights_path)) {
    STOCHA_RETURN_IF_ERROR(ReadShards(dir, weights_path, tensors, storage));
  } else {
    weights_path = dir / "model.safetensors";
    STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file,
                            MappedFile::Open(weights_path.string()));
    STOCHA_ASSIGN_OR_RETURN(auto parsed, ParseSafetensors(file->bytes(), weights_path.string()));
    for (SafetensorsTensor& t : parsed) {
      std::string name = t.name;
      tensors.emplace(std::move(name), std::move(t));
    }
    storage.push_back(std::move(file));
  }
  STOCHA_ASSIGN_OR_RETURN(ModelWeights weights,
                          MapHfWeights(tensors, config, weights_path.string()));
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                          LoadHfTokenizerFor(dir, options, config.vocab_size));
  return Model::Assemble(weights_path.string(), std::move(config), std::move(weights),
                         std::move(storage), std::move(tokenizer), options);
}

}  // namespace stocha
