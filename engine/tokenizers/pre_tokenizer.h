// Regex pre-tokenization (GPT-2 / Llama 3 / Qwen2 word splitting) on top of ICU regex.
#ifndef STOCHA_ENGINE_TOKENIZERS_PRE_TOKENIZER_H_
#define STOCHA_ENGINE_TOKENIZERS_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stocha::tokenizers {

// HF tokenizers' SplitDelimiterBehavior.
enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

// The GPT-2 pattern with HF's trailing "|\s+" (what ByteLevel use_regex=true applies).
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// A chain of regex split steps; each step splits every piece the previous step produced.
// Matched text and the text between matches both become pieces (kIsolated), as in
// llama.cpp's unicode_regex_split and HF's Split. Pieces are views into the input.
// Thread-safety: const after the Add calls (compiled ICU patterns are shareable).
class PreTokenizer {
 public:
  PreTokenizer();
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // `pattern` uses ICU regex syntax (\p{L}, (?!...), (?i:...) as Oniguruma/PCRE have them);
  // with `literal`, it is matched as a plain string.
  absl::Status AddSplit(std::string_view pattern, SplitBehavior behavior, bool invert = false,
                        bool literal = false);

  std::vector<std::string_view> Split(std::string_view text) const;

 private:
  struct Step;
  std::vector<std::unique_ptr<Step>> steps_;
};

// llama.cpp's pre-tokenizer for a GGUF tokenizer.ggml.pre value.
struct GgufPreTokenizerSpec {
  std::vector<std::string> patterns;  // applied in order, each kIsolated
  bool ignore_merges = false;         // whole-word vocab hits skip BPE (Llama 3)
};
absl::StatusOr<GgufPreTokenizerSpec> GgufPreTokenizerFor(std::string_view pre);

}  // namespace stocha::tokenizers

#endif  // STOCHA_ENGINE_TOKENIZERS_PRE_TOKENIZER_H_
