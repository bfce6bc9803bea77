// Hugging Face checkpoint directories: config.json + (sharded) safetensors + tokenizer.
#ifndef STOCHA_ENGINE_FORMAT_HF_LOADER_H_
#define STOCHA_ENGINE_FORMAT_HF_LOADER_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/format/safetensors.h"
#include "engine/model/model.h"

namespace stocha {

// Maps Hugging Face Llama tensor names (model.embed_tokens.weight, model.layers.N.*,
// model.norm.weight, lm_head.weight) to ModelWeights. Missing tensors and dtypes other
// than F32/F16/BF16 are errors naming `source` and the tensor; unknown extra tensors are
// ignored (e.g. rotary_emb.inv_freq). Shapes are checked later by Model::Assemble.
absl::StatusOr<ModelWeights> MapHfWeights(const std::map<std::string, SafetensorsTensor>& tensors,
                                          const ModelConfig& config, absl::string_view source);

// Loads a directory holding config.json and model.safetensors or
// model.safetensors.index.json with its shards. Tokenizer: options.tokenizer_path if set,
// else tokenizer.model, else tokenizer.json, else none.
absl::StatusOr<std::shared_ptr<const Model>> LoadHfModel(const std::string& dir,
                                                         const LoadOptions& options);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_HF_LOADER_H_
