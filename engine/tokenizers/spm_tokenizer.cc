// GGUF "llama" vocabularies: llama.cpp's SentencePiece-style bigram merging with byte fallback.
#include <algorithm>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "engine/tokenizers/gguf_tokenizers.h"
#include "engine/tokenizers/special_tokens.h"
#include "engine/tokenizers/text_util.h"

namespace stocha::tokenizers {
namespace {

// llama.cpp renders unknown tokens as U+2585.
constexpr std::string_view kUnknownSurface = "\xE2\x96\x85";

// Thread-safety: immutable after construction; Encode keeps its work state on the stack.
class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(const GgufVocab& vocab);

  absl::StatusOr<std::vector<int>> Encode(std::string_view text, bool add_bos) const override;
  std::string TokenBytes(int prev_token, int token) const override;
  int vocab_size() const override { return static_cast<int>(decoded_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }

 private:
  int Lookup(std::string_view text) const {
    auto it = text_to_id_.find(AsAbsl(text));
    return it == text_to_id_.end() ? -1 : it->second;
  }
  // llm_tokenizer_spm_session::tokenize on already-escaped text.
  void EncodeFragment(const std::string& text, std::vector<int>& out) const;

  absl::flat_hash_map<std::string, int> text_to_id_;  // last id wins, as in llama.cpp
  std::vector<float> scores_;
  std::vector<std::string> decoded_;
  int byte_to_id_[256];
  SpecialTokenMatcher specials_;
  int bos_, eos_, unk_;
  bool add_space_prefix_;
};

SpmTokenizer::SpmTokenizer(const GgufVocab& vocab)
    : bos_(vocab.bos_id),
      eos_(vocab.eos_id),
      unk_(vocab.unk_id),
      add_space_prefix_(vocab.add_space_prefix) {
  const int n = static_cast<int>(vocab.tokens.size());
  scores_ = vocab.scores;
  scores_.resize(n, 0.0f);
  decoded_.reserve(n);
  for (int id = 0; id < n; ++id) {
    const std::string& text = vocab.tokens[id];
    text_to_id_[text] = id;
    const int type = vocab.token_types.empty() ? kTypeNormal : vocab.token_types[id];
    switch (type) {
      case kTypeControl:
      case kTypeUnused:
        decoded_.emplace_back();
        break;
      case kTypeUnknown:
        decoded_.emplace_back(kUnknownSurface);
        break;
      case kTypeByte:
        if (auto b = ParseBytePiece(text)) {
          decoded_.emplace_back(1, static_cast<char>(*b));
          break;
        }
        [[fallthrough]];
      default:  // normal and user-defined: unescape the visible space
        decoded_.push_back(ReplaceAll(text, kSpmSpace, " "));
    }
    // Control and user-defined tokens are matched in the text (llama.cpp parse_special).
    if (type == kTypeControl || type == kTypeUserDefined) specials_.Add(text, id);
  }
  for (int b = 0; b < 256; ++b) {
    int id = Lookup(absl::StrFormat("<0x%02X>", b));
    if (id < 0) id = Lookup(std::string(1, static_cast<char>(b)));
    byte_to_id_[b] = id >= 0 ? id : unk_;
  }
}

absl::StatusOr<std::vector<int>> SpmTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int> out;
  if (add_bos && bos_ >= 0) out.push_back(bos_);
  bool prev_special = true;  // the first fragment gets the space prefix
  for (const TextSegment& seg : specials_.Split(text)) {
    if (seg.token >= 0) {
      out.push_back(seg.token);
      prev_special = true;
      continue;
    }
    std::string escaped = add_space_prefix_ && prev_special ? std::string(kSpmSpace) : "";
    escaped += ReplaceAll(seg.text, " ", kSpmSpace);
    EncodeFragment(escaped, out);
    prev_special = false;
  }
  return out;
}

void SpmTokenizer::EncodeFragment(const std::string& text, std::vector<int>& out) const {
  struct Symbol {
    int prev, next;
    size_t offset, n;
  };
  struct Bigram {
    int left, right;
    float score;
    size_t size;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  const std::string_view view = text;
  std::vector<Symbol> symbols;
  for (size_t offs = 0; offs < text.size();) {
    const size_t len =
        std::min<size_t>(Utf8SeqLen(static_cast<unsigned char>(text[offs])), text.size() - offs);
    const int idx = static_cast<int>(symbols.size());
    symbols.push_back({idx - 1, offs + len == text.size() ? -1 : idx + 1, offs, len});
    offs += len;
  }
  if (symbols.empty()) return;
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = symbols[left].n + symbols[right].n;
    const int id = Lookup(view.substr(symbols[left].offset, size));
    if (id >= 0) queue.push({left, right, scores_[id], size});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;  // stale
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }
  // Every merged symbol is a token by construction (llama.cpp's rev_merge resegmenting
  // never triggers), so only single characters without a token fall back to bytes.
  for (int i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = view.substr(symbols[i].offset, symbols[i].n);
    if (const int id = Lookup(piece); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : piece) {
      if (byte_to_id_[c] >= 0) out.push_back(byte_to_id_[c]);
    }
  }
}

std::string SpmTokenizer::TokenBytes(int prev_token, int token) const {
  if (token < 0 || token >= vocab_size()) return "";
  const std::string& piece = decoded_[token];
  // Drop the space Encode added as a prefix: at the start and after BOS.
  if (add_space_prefix_ && (prev_token < 0 || prev_token == bos_) && !piece.empty() &&
      piece[0] == ' ') {
    return piece.substr(1);
  }
  return piece;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> MakeGgufSpmTokenizer(const GgufVocab& vocab,
                                                                const std::string& source) {
  return std::make_unique<SpmTokenizer>(vocab);
}

}  // namespace stocha::tokenizers
