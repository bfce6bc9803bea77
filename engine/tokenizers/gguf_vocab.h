// A vocabulary as GGUF stores it (tokenizer.ggml.*), independent of the GGUF parser.
#ifndef STOCHA_ENGINE_TOKENIZERS_GGUF_VOCAB_H_
#define STOCHA_ENGINE_TOKENIZERS_GGUF_VOCAB_H_

#include <string>
#include <vector>

namespace stocha {

struct GgufVocab {
  std::string model;                // tokenizer.ggml.model: "llama" (SPM-style) or "gpt2" (BPE)
  std::string pre;                  // tokenizer.ggml.pre (pre-tokenizer name), may be empty
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens (pieces with U+2581 for space)
  std::vector<float> scores;        // tokenizer.ggml.scores (may be empty for gpt2)
  std::vector<int> token_types;     // 1 normal, 2 unknown, 3 control, 4 user, 5 unused, 6 byte
  std::vector<std::string> merges;  // tokenizer.ggml.merges ("a b"), gpt2 only
  int bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
  bool add_bos = true;           // tokenizer.ggml.add_bos_token (default true for llama)
  bool add_space_prefix = true;  // tokenizer.ggml.add_space_prefix (llama)
};

}  // namespace stocha

#endif  // STOCHA_ENGINE_TOKENIZERS_GGUF_VOCAB_H_
