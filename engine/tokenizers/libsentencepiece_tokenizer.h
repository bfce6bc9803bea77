// Internal: how a SentencePiece tokenizer.model is encoded: libsentencepiece, or the built-in
// SPM tokenizer (gguf_spm_tokenizer.cc) where it gives the same ids.
#ifndef STOCHA_ENGINE_TOKENIZERS_LIBSENTENCEPIECE_TOKENIZER_H_
#define STOCHA_ENGINE_TOKENIZERS_LIBSENTENCEPIECE_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/tokenizer.h"
#include "engine/tokenizers/gguf_vocab.h"
#include "engine/tokenizers/sentencepiece_model_proto.h"

namespace stocha::tokenizers {

enum class SentencePieceBackend {
  kAuto,     // LoadSentencePieceTokenizer's policy (load_tokenizer.h)
  kBuiltIn,  // the built-in SPM tokenizer; Unimplemented where it would differ from the library
  kLibrary,  // libsentencepiece; Unimplemented after SetLibSentencePieceUsable(false)
};

// Reads `path` with the protobuf-free reader, then builds the tokenizer `backend` names.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(const std::string& path,
                                                                      SentencePieceBackend backend);

// Why the built-in tokenizer would not give libsentencepiece's ids for `model` (for example
// "model_type UNIGRAM"), or "" when it would: BPE, no character map (the identity
// normalizer), whitespace kept and escaped, no whitespace-as-suffix, byte fallback on, no
// denormalizer.
std::string BuiltInUnsupportedReason(const SentencePieceModel& model);

// `model` as a GGUF "llama" vocabulary, with BOS/EOS/PAD found as libsentencepiece finds
// them (trainer_spec's bos_piece etc., if that piece is a control piece) and UNK the single
// UNKNOWN piece. A duplicate piece or not exactly one UNKNOWN piece is InvalidArgument.
absl::StatusOr<GgufVocab> SentencePieceModelToGgufVocab(const SentencePieceModel& model,
                                                        const std::string& source);

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_LIBSENTENCEPIECE_TOKENIZER_H_
