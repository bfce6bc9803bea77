// Regex pre-tokenization (GPT-2 / Llama 3 / Qwen2 word splitting) on top of ICU regex.
#include "engine/tokenizers/pre_tokenizer.h"

#include <unicode/regex.h>
#include <unicode/utext.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/tokenizers/text_util.h"

namespace stocha::tokenizers {
namespace {

// Patterns as llama.cpp (llama-vocab.cpp) spells them; (?i:'s|...) is written with
// explicit case classes so that case folding cannot match e.g. U+017F.
constexpr std::string_view kLlamaCppGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr std::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct UTextCloser {
  void operator()(UText* t) const { utext_close(t); }
};

}  // namespace

struct PreTokenizer::Step {
  std::unique_ptr<icu::RegexPattern> pattern;
  SplitBehavior behavior;
  bool invert;

  struct Segment {
    size_t begin, end;
    bool matched;
  };

  // Appends the pieces of `text` to `out`.
  void Apply(std::string_view text, std::vector<std::string_view>& out) const {
    std::vector<Segment> segs;
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<UText, UTextCloser> ut(
        utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &status));
    std::unique_ptr<icu::RegexMatcher> m(pattern->matcher(status));
    if (U_SUCCESS(status)) m->reset(ut.get());
    size_t pos = 0;
    while (U_SUCCESS(status) && m->find(status)) {
      const auto begin = static_cast<size_t>(m->start64(status));
      const auto end = static_cast<size_t>(m->end64(status));
      if (U_FAILURE(status) || end <= begin) continue;  // empty matches split nothing
      if (begin > pos) segs.push_back({pos, begin, invert});
      segs.push_back({begin, end, !invert});
      pos = end;
    }
    if (pos < text.size()) segs.push_back({pos, text.size(), invert});
    Emit(text, segs, out);
  }

  // HF's SplitDelimiterBehavior, applied to the match/gap segments of one piece.
  void Emit(std::string_view text, const std::vector<Segment>& segs,
            std::vector<std::string_view>& out) const {
    std::vector<std::pair<size_t, size_t>> acc;
    bool prev = false;
    auto glue_or_push = [&](const Segment& s, bool glue, bool at_front) {
      if (glue && !acc.empty()) {
        (at_front ? acc.back().first : acc.back().second) = at_front ? s.begin : s.end;
      } else {
        acc.emplace_back(s.begin, s.end);
      }
      prev = s.matched;
    };
    switch (behavior) {
      case SplitBehavior::kIsolated:
      case SplitBehavior::kRemoved:
        for (const Segment& s : segs) {
          if (behavior == SplitBehavior::kIsolated || !s.matched) acc.emplace_back(s.begin, s.end);
        }
        break;
      case SplitBehavior::kMergedWithPrevious:
        for (const Segment& s : segs) glue_or_push(s, s.matched && !prev, false);
        break;
      case SplitBehavior::kContiguous:
        for (const Segment& s : segs) glue_or_push(s, s.matched == prev, false);
        break;
      case SplitBehavior::kMergedWithNext:
        for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
          glue_or_push(*it, it->matched && !prev, true);
        }
        std::reverse(acc.begin(), acc.end());
        break;
    }
    for (const auto& [begin, end] : acc) out.push_back(text.substr(begin, end - begin));
  }
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

absl::Status PreTokenizer::AddSplit(std::string_view pattern, SplitBehavior behavior, bool invert,
                                    bool literal) {
  UErrorCode status = U_ZERO_ERROR;
  UParseError parse_error;
  std::unique_ptr<icu::RegexPattern> compiled(
      icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(icu::StringPiece(
                                     pattern.data(), static_cast<int32_t>(pattern.size()))),
                                 literal ? UREGEX_LITERAL : 0, parse_error, status));
  if (U_FAILURE(status)) {
    return absl::InvalidArgumentError(absl::StrCat("bad pre-tokenizer regex (", u_errorName(status),
                                                   " at offset ", parse_error.offset,
                                                   "): ", AsAbsl(pattern)));
  }
  auto step = std::make_unique<Step>();
  step->pattern = std::move(compiled);
  step->behavior = behavior;
  step->invert = invert;
  steps_.push_back(std::move(step));
  return absl::OkStatus();
}

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (!text.empty()) pieces.push_back(text);
  for (const auto& step : steps_) {
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) step->Apply(piece, next);
    pieces = std::move(next);
  }
  return pieces;
}

absl::StatusOr<GgufPreTokenizerSpec> GgufPreTokenizerFor(std::string_view pre) {
  // Names from llama.cpp's llama_vocab::impl::load; only the regex families we carry.
  static constexpr std::array<std::string_view, 6> kGpt2Names = {"gpt-2", "gpt2", "phi-2",
                                                                 "mpt",   "olmo", "jais"};
  static constexpr std::array<std::string_view, 7> kLlama3Names = {
      "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe"};
  static constexpr std::array<std::string_view, 2> kQwen2Names = {"qwen2", "deepseek-r1-qwen"};
  auto in = [&](const auto& names) {
    for (std::string_view n : names) {
      if (n == pre) return true;
    }
    return false;
  };
  GgufPreTokenizerSpec spec;
  if (pre.empty() || pre == "default") {
    // llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT chain.
    spec.patterns = {R"([\p{P}\$\+<=>\^~\|]+)", std::string(kLlamaCppGpt2), R"(\p{N}+)",
                     "[0-9][0-9][0-9]"};
  } else if (in(kGpt2Names)) {
    spec.patterns = {std::string(kLlamaCppGpt2)};
  } else if (in(kLlama3Names)) {
    spec.patterns = {std::string(kLlama3)};
    spec.ignore_merges = true;
  } else if (in(kQwen2Names)) {
    spec.patterns = {std::string(kQwen2)};
  } else {
    return absl::UnimplementedError(
        absl::StrCat("unsupported tokenizer.ggml.pre \"", AsAbsl(pre),
                     "\" (supported: default, gpt-2, llama-bpe/llama3, qwen2 families)"));
  }
  return spec;
}

}  // namespace stocha::tokenizers
