// GGUF "llama"- and "qwen2"-architecture models -> Model (tensors, embedded tokenizer).
#ifndef STOCHA_ENGINE_FORMAT_GGUF_LOADER_H_
#define STOCHA_ENGINE_FORMAT_GGUF_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/format/gguf.h"
#include "engine/model/model.h"

namespace stocha {

// The config from <arch>.* metadata (llama or qwen2), rope_freqs.weight and the optional
// stocha.* keys (docs/MODEL_FORMATS.md).
absl::StatusOr<ModelConfig> GgufModelConfig(const GgufFile& file);

// Builds a Model whose tensors point into `bytes`; `keepalive` (may be null when the
// caller keeps the bytes alive longer than the Model, as the fuzzer does) owns them.
// Tokenizer: options.tokenizer_path if set, else the embedded tokenizer.ggml.* vocabulary
// if present, else none.
absl::StatusOr<std::shared_ptr<const Model>> LoadGgufFromBytes(
    absl::Span<const uint8_t> bytes, const std::string& source,
    std::unique_ptr<WeightStorage> keepalive, const LoadOptions& options);

absl::StatusOr<std::shared_ptr<const Model>> LoadGgufModel(const std::string& path,
                                                           const LoadOptions& options);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_GGUF_LOADER_H_
