// Factories for every supported vocabulary format.
#ifndef STOCHA_ENGINE_TOKENIZERS_LOAD_TOKENIZER_H_
#define STOCHA_ENGINE_TOKENIZERS_LOAD_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/tokenizer.h"
#include "engine/tokenizers/gguf_vocab.h"

namespace stocha {

// llama2.c tokenizer.bin; vocab_size comes from the model header (the file lacks it).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadLlama2cTokenizer(const std::string& path,
                                                                int vocab_size);
// SentencePiece tokenizer.model. The file is read without protobuf
// (sentencepiece_model_proto.h). A BPE model with the identity normalizer that keeps
// whitespace (Llama, Mistral, training/'s own) is encoded by the built-in SPM tokenizer,
// which gives libsentencepiece's ids; any other model (unigram, nmt_nfkc, ...) goes through
// libsentencepiece, or is an error naming the model if SetLibSentencePieceUsable(false).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(const std::string& path);
// Whether LoadSentencePieceTokenizer may call libsentencepiece (process-wide, default true).
// A program that also links libprotobuf (stocha-server, for gRPC) must set false before it
// loads a tokenizer: Debian's libsentencepiece.so exports the symbols of its embedded
// protobuf-lite 3.14, the dynamic linker binds them to libprotobuf 3.21's, and
// libsentencepiece's version check then aborts the whole process.
void SetLibSentencePieceUsable(bool usable);
// Hugging Face tokenizer.json (byte-level BPE as Llama 3 / Qwen2.5 / GPT-2 ship it).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizer(const std::string& path);
// A GGUF-embedded vocabulary ("llama" SPM-style with byte fallback, or "gpt2" BPE).
// `source` names the file in error messages.
absl::StatusOr<std::unique_ptr<Tokenizer>> MakeGgufTokenizer(const GgufVocab& vocab,
                                                             const std::string& source);

}  // namespace stocha

#endif  // STOCHA_ENGINE_TOKENIZERS_LOAD_TOKENIZER_H_
