// Splits text on special/added tokens before the normal tokenizer sees it.
#ifndef STOCHA_ENGINE_TOKENIZERS_SPECIAL_TOKENS_H_
#define STOCHA_ENGINE_TOKENIZERS_SPECIAL_TOKENS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace stocha::tokenizers {

// A run of plain text (token < 0) or one matched special token.
struct TextSegment {
  std::string_view text;
  int token = -1;
};

// Leftmost-longest matching of a fixed set of token strings, like HF's added-token
// splitter. lstrip/rstrip (HF AddedToken flags) make a match swallow adjacent whitespace.
// Thread-safety: const after the Add calls.
class SpecialTokenMatcher {
 public:
  void Add(std::string text, int id, bool lstrip = false, bool rstrip = false);
  bool empty() const { return by_first_byte_.empty(); }

  // Segments of `text` in order; plain segments are never empty.
  std::vector<TextSegment> Split(std::string_view text) const;

 private:
  struct Entry {
    std::string text;
    int id;
    bool lstrip, rstrip;
  };
  // Candidates per first byte, longest first.
  absl::flat_hash_map<char, std::vector<Entry>> by_first_byte_;
};

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_SPECIAL_TOKENS_H_
