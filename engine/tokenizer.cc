// Tokenizer helpers shared by every vocabulary format: Decode and the streaming decoder.
#include "engine/tokenizer.h"

namespace stocha {

std::string Tokenizer::Decode(const std::vector<int>& ids, int prev) const {
  std::string out;
  for (int id : ids) {
    out += TokenBytes(prev, id);
    prev = id;
  }
  return out;
}

namespace {

// Length of the UTF-8 sequence a lead byte starts; 0 for a continuation/invalid byte.
int Utf8Length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) return c >= 0xc2 ? 2 : 0;
  if ((c & 0xf0) == 0xe0) return 3;
  if ((c & 0xf8) == 0xf0) return c <= 0xf4 ? 4 : 0;
  return 0;
}

constexpr char kReplacement[] = "\xEF\xBF\xBD";

}  // namespace

std::string StreamDecoder::Push(int token) {
  pending_ += tokenizer_->TokenBytes(prev_, token);
  prev_ = token;
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const int len = Utf8Length(static_cast<unsigned char>(pending_[i]));
    if (len == 0) {  // stray byte: never valid, replace it
      out += kReplacement;
      ++i;
      continue;
    }
    if (i + len > pending_.size()) {
      // Incomplete: hold back only if what we have so far is a valid prefix.
      bool prefix_ok = true;
      for (size_t j = i + 1; j < pending_.size(); ++j) {
        prefix_ok &= (static_cast<unsigned char>(pending_[j]) & 0xc0) == 0x80;
      }
      if (prefix_ok) break;
      out += kReplacement;
      ++i;
      continue;
    }
    bool ok = true;
    for (int j = 1; j < len; ++j) {
      ok &= (static_cast<unsigned char>(pending_[i + j]) & 0xc0) == 0x80;
    }
    if (ok) {
      out.append(pending_, i, len);
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::Flush() {
  // pending_ only ever holds one incomplete character: it becomes one U+FFFD.
  std::string out = pending_.empty() ? "" : kReplacement;
  pending_.clear();
  return out;
}

}  // namespace stocha
