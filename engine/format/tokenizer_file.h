// Picks the tokenizer factory for a standalone tokenizer file by its name and contents.
#ifndef STOCHA_ENGINE_FORMAT_TOKENIZER_FILE_H_
#define STOCHA_ENGINE_FORMAT_TOKENIZER_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/tokenizer.h"

namespace stocha {

// "*.json" -> Hugging Face tokenizer.json; "*.model" -> SentencePiece; a file starting
// with "GGUF" -> its embedded vocabulary; anything else -> llama2.c tokenizer.bin, which
// needs `vocab_size` (the model's) because the file does not store it.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFile(const std::string& path,
                                                             int vocab_size);

}  // namespace stocha

#endif  // STOCHA_ENGINE_FORMAT_TOKENIZER_FILE_H_
