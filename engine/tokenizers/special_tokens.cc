// Splits text on special/added tokens before the normal tokenizer sees it.
#include "engine/tokenizers/special_tokens.h"

#include <algorithm>

namespace stocha::tokenizers {
namespace {

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

void SpecialTokenMatcher::Add(std::string text, int id, bool lstrip, bool rstrip) {
  if (text.empty()) return;
  auto& list = by_first_byte_[text[0]];
  list.push_back({std::move(text), id, lstrip, rstrip});
  std::stable_sort(list.begin(), list.end(),
                   [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });
}

std::vector<TextSegment> SpecialTokenMatcher::Split(std::string_view text) const {
  std::vector<TextSegment> out;
  size_t plain_start = 0;  // start of the pending plain run
  size_t i = 0;
  while (i < text.size()) {
    const Entry* hit = nullptr;
    if (auto it = by_first_byte_.find(text[i]); it != by_first_byte_.end()) {
      for (const Entry& e : it->second) {
        if (text.substr(i).starts_with(e.text)) {
          hit = &e;
          break;
        }
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t plain_end = i;
    if (hit->lstrip) {
      while (plain_end > plain_start && IsAsciiSpace(text[plain_end - 1])) --plain_end;
    }
    if (plain_end > plain_start) {
      out.push_back({text.substr(plain_start, plain_end - plain_start), -1});
    }
    out.push_back({text.substr(i, hit->text.size()), hit->id});
    i += hit->text.size();
    if (hit->rstrip) {
      while (i < text.size() && IsAsciiSpace(text[i])) ++i;
    }
    plain_start = i;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
  return out;
}

}  // namespace stocha::tokenizers
