// LoadTokenizerFile: dispatch on file name and magic.
#include "engine/format/tokenizer_file.h"

#include "absl/strings/match.h"
#include "engine/format/gguf.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"
#include "engine/tokenizers/load_tokenizer.h"

namespace stocha {

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFile(const std::string& path,
                                                             int vocab_size) {
  if (absl::EndsWith(path, ".json")) return LoadHfTokenizer(path);
  if (absl::EndsWith(path, ".model")) return LoadSentencePieceTokenizer(path);
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  if (IsGguf(file->bytes())) {
    STOCHA_ASSIGN_OR_RETURN(GgufFile gguf, ParseGguf(file->bytes(), path));
    STOCHA_ASSIGN_OR_RETURN(GgufVocab vocab, ReadGgufVocab(gguf, path));
    return MakeGgufTokenizer(vocab, path);
  }
  return LoadLlama2cTokenizer(path, vocab_size);
}

}  // namespace stocha
