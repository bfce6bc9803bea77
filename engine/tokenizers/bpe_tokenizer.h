// Byte-level BPE (GPT-2 style) shared by HF tokenizer.json and GGUF "gpt2" vocabularies.
#ifndef STOCHA_ENGINE_TOKENIZERS_BPE_TOKENIZER_H_
#define STOCHA_ENGINE_TOKENIZERS_BPE_TOKENIZER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer.h"
#include "engine/tokenizers/pre_tokenizer.h"

namespace stocha::tokenizers {

// A token matched verbatim in the input before pre-tokenization (HF added_tokens,
// GGUF control and user-defined tokens).
struct AddedToken {
  std::string content;
  int id = -1;
  bool special = false;  // decodes to "" (control token); otherwise to `content`
  bool lstrip = false;
  bool rstrip = false;
};

// Everything a byte-level BPE tokenizer needs, format-independent.
struct BpeConfig {
  std::vector<std::string> tokens;  // id -> byte-level token text ("" where no token)
  std::vector<std::pair<std::string, std::string>> merges;  // highest priority first
  std::vector<AddedToken> added;
  PreTokenizer pre;               // word splitting on the raw (normalized) text
  bool nfc = false;               // NFC-normalize plain text first (Qwen2)
  bool add_prefix_space = false;  // HF ByteLevel add_prefix_space
  bool ignore_merges = false;     // a word that is itself a token skips merging (Llama 3)
  int bos = -1, eos = -1, unk = -1;
};

// Fails (naming `source`) when the config is inconsistent.
absl::StatusOr<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(BpeConfig config,
                                                            const std::string& source);

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_BPE_TOKENIZER_H_
