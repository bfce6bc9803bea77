// llama2.c "version 0" checkpoints (.bin): 7-int header + packed float32 arrays.
#ifndef STOCHA_ENGINE_FORMAT_LLAMA2C_LOADER_H_
#define STOCHA_ENGINE_FORMAT_LLAMA2C_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/model.h"

namespace stocha {

// Builds a Model whose tensors point into `bytes` (layout: shared/data/SOURCES.md §2.1).
// The file size must match the header's layout exactly. `keepalive` owns the bytes (may be
// null if the caller outlives the Model). Tokenizer: LoadTokenizerFile(options.tokenizer_path)
// if set; a tokenizer.bin next to the model is deliberately not guessed, so else none.
absl::StatusOr<std::shared_ptr<const Model>> LoadLlama2cFromBytes(
    absl::Span<const uint8_t> bytes, const std::string& source,
    std::unique_ptr<WeightStorage> keepalive, const LoadOptions& options);

absl::StatusOr<std::shared_ptr<const Model>> LoadLlama2cModel(const std::string& path,
                                                              const LoadOptions& options);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_LLAMA2C_LOADER_H_
