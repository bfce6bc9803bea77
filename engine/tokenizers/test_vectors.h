// Test-only readers for the tokenizer test vectors in shared/data.
#ifndef STOCHA_ENGINE_TOKENIZERS_TEST_VECTORS_H_
#define STOCHA_ENGINE_TOKENIZERS_TEST_VECTORS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stocha::tokenizers {

// STOCHA_SHARED_DIR "/data/" + relative.
std::string SharedDataPath(const std::string& relative);
bool Exists(const std::string& path);

struct EncodingCase {
  std::string text;
  bool bos = false, eos = false;
  std::vector<int> ids;
};

// tok512_encode_runc.json (a JSON array) or test_c_expected_encodings.json ({"cases": [...]}).
absl::StatusOr<std::vector<EncodingCase>> ReadEncodingCases(const std::string& path);

// llama.cpp test-tokenizer-0 vectors: `inp_path` (strings, each followed by
// "\n__ggml_vocab_test__\n") and the matching .out (one line of ids per string).
// Cases have bos = false, as the .out ids were made without special tokens.
absl::StatusOr<std::vector<EncodingCase>> ReadGgmlVocabCases(const std::string& inp_path);

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_TEST_VECTORS_H_
