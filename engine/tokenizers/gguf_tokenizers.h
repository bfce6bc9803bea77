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

// Where llama.cpp and libsentencepiece treat the same SPM-style vocabulary differently.
struct SpmOptions {
  // false: llama.cpp's llm_tokenizer_spm. Control and user-defined token texts are matched
  //   in the raw input, and each fragment after one gets its own space prefix; a merge may
  //   produce any token; bytes are kept as they are.
  // true: libsentencepiece's BPE model (bpe_model.cc, SentencePieceProcessor::Encode), for
  //   tokenizer.model files. Invalid UTF-8 first becomes U+FFFD (its identity normalizer);
  //   one space prefix starts a non-empty text; only user-defined pieces are matched, in the
  //   escaped text; merges produce only normal, user-defined and unused pieces (so "<s>" or
  //   "<0x0A>" spelled out in the text stays characters); a merge into an unused piece is
  //   undone; an unknown piece becomes <0xHH> pieces.
  bool sentencepiece = false;
  std::string unk_surface = "\xE2\x96\x85";  // what an unknown token decodes to: llama.cpp's ▅
};

// The size and id checks MakeGgufTokenizer does before building a tokenizer.
absl::Status ValidateGgufVocab(const GgufVocab& vocab, const std::string& source);

// tokenizer.ggml.model == "llama": llama.cpp's llm_tokenizer_spm, or with
// `options.sentencepiece` libsentencepiece's BPE. `vocab` is validated.
absl::StatusOr<std::unique_ptr<Tokenizer>> MakeGgufSpmTokenizer(const GgufVocab& vocab,
                                                                const std::string& source,
                                                                const SpmOptions& options = {});

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_GGUF_TOKENIZERS_H_
