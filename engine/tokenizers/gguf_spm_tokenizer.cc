// The built-in SPM tokenizer over a GGUF "llama" vocabulary: llama.cpp's llm_tokenizer_spm
// (SentencePiece-style bigram merging with byte fallback); also the built-in backend for
// tokenizer.model files (libsentencepiece_tokenizer.cc).
#include <algorithm>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "engine/tokenizers/gguf_tokenizers.h"
#include "engine/tokenizers/special_tokens.h"
#include "engine/tokenizers/text_util.h"

namespace stocha::tokenizers {
namespace {

// What libsentencepiece's identity normalizer does to its input (string_util::DecodeUTF8):
// every byte that does not start a valid, shortest-form UTF-8 character of a scalar value
// becomes U+FFFD.
std::string ToValidUtf8(std::string_view text) {
  static constexpr uint32_t kMinCodePoint[5] = {0, 0, 0x80, 0x800, 0x10000};
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    int len = 0;  // 0: not a lead byte
    uint32_t cp = lead;
    if (lead < 0x80) {
      len = 1;
    } else if ((lead & 0xE0) == 0xC0) {
      len = 2, cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      len = 3, cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      len = 4, cp = lead & 0x07;
    }
    bool valid = len > 0 && text.size() - i >= static_cast<size_t>(len);
    for (int k = 1; valid && k < len; ++k) {
      const unsigned char c = static_cast<unsigned char>(text[i + k]);
      valid = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    valid = valid && cp >= kMinCodePoint[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    if (valid) {
      out.append(text, i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

// Thread-safety: immutable after construction; Encode keeps its work state on the stack.
class SpmTokenizer final : public Tokenizer {
 public:
  SpmTokenizer(const GgufVocab& vocab, const SpmOptions& options);

  absl::StatusOr<std::vector<int>> Encode(std::string_view text, bool add_bos) const override;
  std::string TokenBytes(int prev_token, int token) const override;
  int vocab_size() const override { return static_cast<int>(decoded_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }

 private:
  // Undoes merges into unused pieces (SentencePiece's rev_merge): piece -> its two halves.
  using RevMerge = absl::flat_hash_map<std::string, std::pair<std::string, std::string>>;

  int Lookup(std::string_view text) const {
    auto it = text_to_id_.find(AsAbsl(text));
    return it == text_to_id_.end() ? -1 : it->second;
  }
  // Whether a merge may produce `id`: any token for llama.cpp; for SentencePiece only the
  // pieces its BPE model indexes (normal, user-defined, unused).
  bool Mergeable(int id) const {
    if (!sentencepiece_) return true;
    const int type = types_[id];
    return type == kTypeNormal || type == kTypeUserDefined || type == kTypeUnused;
  }
  // llm_tokenizer_spm_session::tokenize (or bpe_model.cc's Encode) on escaped text.
  void EncodeFragment(std::string_view text, std::vector<int>& out) const;
  // One final symbol, SentencePiece-style: unused pieces resegmented, unknown ones to bytes.
  void EmitSentencePiece(std::string_view piece, const RevMerge& rev_merge,
                         std::vector<int>& out) const;
  void EmitBytes(std::string_view piece, std::vector<int>& out) const {
    for (unsigned char c : piece) {
      if (byte_to_id_[c] >= 0) out.push_back(byte_to_id_[c]);
    }
  }

  absl::flat_hash_map<std::string, int> text_to_id_;  // last id wins, as in llama.cpp
  std::vector<float> scores_;
  std::vector<uint8_t> types_;
  std::vector<std::string> decoded_;
  int byte_to_id_[256];
  SpecialTokenMatcher specials_;
  int bos_, eos_, unk_;
  bool add_space_prefix_;
  bool sentencepiece_;
  bool has_unused_ = false;
};

SpmTokenizer::SpmTokenizer(const GgufVocab& vocab, const SpmOptions& options)
    : bos_(vocab.bos_id),
      eos_(vocab.eos_id),
      unk_(vocab.unk_id),
      add_space_prefix_(vocab.add_space_prefix),
      sentencepiece_(options.sentencepiece) {
  const int n = static_cast<int>(vocab.tokens.size());
  scores_ = vocab.scores;
  scores_.resize(n, 0.0f);
  types_.reserve(n);
  decoded_.reserve(n);
  for (int id = 0; id < n; ++id) {
    const std::string& text = vocab.tokens[id];
    text_to_id_[text] = id;
    const int type = vocab.token_types.empty() ? kTypeNormal : vocab.token_types[id];
    types_.push_back(static_cast<uint8_t>(type));
    has_unused_ |= type == kTypeUnused;
    switch (type) {
      case kTypeControl:
      case kTypeUnused:
        decoded_.emplace_back();
        break;
      case kTypeUnknown:
        decoded_.emplace_back(options.unk_surface);
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
    // Matched in the text: user-defined tokens, and for llama.cpp (parse_special) control
    // tokens too.
    if (type == kTypeUserDefined || (type == kTypeControl && !sentencepiece_)) {
      specials_.Add(text, id);
    }
  }
  for (int b = 0; b < 256; ++b) {
    int id = Lookup(absl::StrFormat("<0x%02X>", b));
    if (id < 0 && !sentencepiece_) id = Lookup(std::string(1, static_cast<char>(b)));
    byte_to_id_[b] = id >= 0 ? id : unk_;
  }
}

absl::StatusOr<std::vector<int>> SpmTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int> out;
  if (add_bos && bos_ >= 0) out.push_back(bos_);
  if (sentencepiece_) {
    // Normalize the whole text first, then split on user-defined pieces (frozen symbols).
    if (text.empty()) return out;
    std::string escaped = add_space_prefix_ ? std::string(kSpmSpace) : "";
    escaped += ReplaceAll(ToValidUtf8(text), " ", kSpmSpace);
    for (const TextSegment& seg : specials_.Split(escaped)) {
      if (seg.token >= 0) {
        out.push_back(seg.token);
      } else {
        EncodeFragment(seg.text, out);
      }
    }
    return out;
  }
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

void SpmTokenizer::EncodeFragment(std::string_view text, std::vector<int>& out) const {
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
  RevMerge rev_merge;
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
    const std::string_view piece = view.substr(symbols[left].offset, size);
    const int id = Lookup(piece);
    if (id < 0 || !Mergeable(id)) return;
    queue.push({left, right, scores_[id], size});
    if (sentencepiece_ && has_unused_ && types_[id] == kTypeUnused) {
      rev_merge[std::string(piece)] = {
          std::string(view.substr(symbols[left].offset, symbols[left].n)),
          std::string(view.substr(symbols[right].offset, symbols[right].n))};
    }
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
  // SentencePiece's rev_merge does trigger: for merges into unused pieces.
  for (int i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = view.substr(symbols[i].offset, symbols[i].n);
    if (sentencepiece_) {
      EmitSentencePiece(piece, rev_merge, out);
    } else if (const int id = Lookup(piece); id >= 0) {
      out.push_back(id);
    } else {
      EmitBytes(piece, out);
    }
  }
}

void SpmTokenizer::EmitSentencePiece(std::string_view piece, const RevMerge& rev_merge,
                                     std::vector<int>& out) const {
  const int id = Lookup(piece);
  if (id < 0 || types_[id] == kTypeUnknown) {
    EmitBytes(piece, out);
    return;
  }
  if (types_[id] == kTypeUnused) {
    if (auto it = rev_merge.find(AsAbsl(piece)); it != rev_merge.end()) {
      EmitSentencePiece(it->second.first, rev_merge, out);
      EmitSentencePiece(it->second.second, rev_merge, out);
      return;
    }
  }
  out.push_back(id);
}

std::string SpmTokenizer::TokenBytes(int prev_token, int token) const {
  if (token < 0 || token >= vocab_size()) return "";
  const std::string& piece = decoded_[token];
  // Drop the space Encode added as a prefix: at the start and after BOS.
  if (add_space_prefix_ && (prev_token < 0 || prev_token == bos_) && !piece.empty() &&
      piece[0] == ' ' && types_[token] != kTypeUnknown) {
    return piece.substr(1);
  }
  return piece;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> MakeGgufSpmTokenizer(const GgufVocab& vocab,
                                                                const std::string& source,
                                                                const SpmOptions& options) {
  return std::make_unique<SpmTokenizer>(vocab, options);
}

}  // namespace stocha::tokenizers
