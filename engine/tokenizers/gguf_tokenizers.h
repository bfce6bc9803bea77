// Internal: the two GGUF vocabulary kinds behind MakeGgufTokenizer.
#ifndef STOCHA_ENGINE_TOKENIZERS_GGUF_TOKENIZERS_H_
#define STOCHA_ENGINE_TOKENIZERS_GGUF_TOKENIZERS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/tokenizer.h"
#include "engine/tokenizers/gguf_vocab.h"

namespace stocha::tokenizers {

// GGUF token types (tokenizer.ggml.token_type).
enum GgufTokenType {
  kTypeNormal = 1,
  kTypeUnknown = 2,
  kTypeControl = 3,
  kTypeUserDefined = 4,
  kTypeUnused = 5,
  kTypeByte = 6,
};

// tokenizer.ggml.model == "llama": llama.cpp's llm_tokenizer_spm. `vocab` is validated.
absl::StatusOr<std::unique_ptr<Tokenizer>> MakeGgufSpmTokenizer(const GgufVocab& vocab,
                                                                const std::string& source);

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_GGUF_TOKENIZERS_H_
