// Byte-level BPE (GPT-2 style) shared by HF tokenizer.json and GGUF "gpt2" vocabularies.
#include "engine/tokenizers/bpe_tokenizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <algorithm>
#include <cstdint>
#include <queue>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizers/byte_level.h"
#include "engine/tokenizers/special_tokens.h"
#include "engine/tokenizers/text_util.h"

namespace stocha::tokenizers {
namespace {

uint64_t PairKey(int left, int right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// NFC of `text`, or `text` unchanged when it is already NFC or ICU cannot process it.
std::string Nfc(std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  const icu::StringPiece sp(text.data(), static_cast<int32_t>(text.size()));
  if (U_FAILURE(status) || nfc->isNormalizedUTF8(sp, status) || U_FAILURE(status)) {
    return std::string(text);
  }
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  nfc->normalizeUTF8(0, sp, sink, nullptr, status);
  return U_SUCCESS(status) ? out : std::string(text);
}

// Thread-safety: immutable after construction; Encode keeps its work state on the stack.
class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeConfig config);

  absl::StatusOr<std::vector<int>> Encode(std::string_view text, bool add_bos) const override;
  std::string TokenBytes(int prev_token, int token) const override {
    return token >= 0 && token < vocab_size() ? decoded_[token] : "";
  }
  int vocab_size() const override { return static_cast<int>(decoded_.size()); }
  int bos_id() const override { return config_.bos; }
  int eos_id() const override { return config_.eos; }

 private:
  struct Merge {
    int rank, result;
  };
  int Lookup(std::string_view text) const {
    auto it = text_to_id_.find(AsAbsl(text));
    return it == text_to_id_.end() ? -1 : it->second;
  }
  // BPE on one pre-tokenized word, already byte-level mapped.
  void EncodeWord(const std::string& word, std::vector<int>& out) const;

  BpeConfig config_;
  absl::flat_hash_map<std::string, int> text_to_id_;
  absl::flat_hash_map<uint64_t, Merge> merges_;  // PairKey(left, right)
  std::vector<std::string> decoded_;
  SpecialTokenMatcher specials_;
};

BpeTokenizer::BpeTokenizer(BpeConfig config) : config_(std::move(config)) {
  const int n = static_cast<int>(config_.tokens.size());
  decoded_.resize(n);
  for (int id = 0; id < n; ++id) {
    const std::string& t = config_.tokens[id];
    if (t.empty()) continue;
    text_to_id_.try_emplace(t, id);
    decoded_[id] = ByteLevelDecode(t);
  }
  for (const AddedToken& a : config_.added) {
    decoded_[a.id] = a.special ? "" : a.content;
    specials_.Add(a.content, a.id, a.lstrip, a.rstrip);
  }
  // Merges whose halves or result are not tokens can never apply to a token sequence.
  for (int rank = 0; rank < static_cast<int>(config_.merges.size()); ++rank) {
    const auto& [left, right] = config_.merges[rank];
    const int l = Lookup(left), r = Lookup(right), result = Lookup(left + right);
    if (l >= 0 && r >= 0 && result >= 0) merges_.try_emplace(PairKey(l, r), Merge{rank, result});
  }
  config_.merges.clear();
  config_.merges.shrink_to_fit();
}

absl::StatusOr<std::vector<int>> BpeTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int> out;
  if (add_bos && config_.bos >= 0) out.push_back(config_.bos);
  for (const TextSegment& seg : specials_.Split(text)) {
    if (seg.token >= 0) {
      out.push_back(seg.token);
      continue;
    }
    std::string body = config_.nfc ? Nfc(seg.text) : std::string(seg.text);
    if (config_.add_prefix_space && !body.starts_with(' ')) body.insert(0, 1, ' ');
    for (std::string_view word : config_.pre.Split(body)) {
      EncodeWord(ByteLevelEncode(word), out);
    }
  }
  return out;
}

void BpeTokenizer::EncodeWord(const std::string& word, std::vector<int>& out) const {
  if (config_.ignore_merges) {
    if (const int id = Lookup(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  struct Symbol {
    int id, prev, next, version;
  };
  std::vector<Symbol> syms;
  const std::string_view w = word;
  for (size_t i = 0; i < word.size();) {
    const size_t len =
        std::min<size_t>(Utf8SeqLen(static_cast<unsigned char>(word[i])), word.size() - i);
    const int idx = static_cast<int>(syms.size());
    syms.push_back({Lookup(w.substr(i, len)), idx - 1, i + len == word.size() ? -1 : idx + 1, 0});
    i += len;
  }
  struct Candidate {
    int rank, left, right, left_version, right_version, result;
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
  auto consider = [&](int left) {
    if (left < 0 || syms[left].next < 0) return;
    const int right = syms[left].next;
    if (syms[left].id < 0 || syms[right].id < 0) return;
    auto it = merges_.find(PairKey(syms[left].id, syms[right].id));
    if (it == merges_.end()) return;
    queue.push(
        {it->second.rank, left, right, syms[left].version, syms[right].version, it->second.result});
  };
  for (int i = 0; i + 1 < static_cast<int>(syms.size()); ++i) consider(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = syms[c.left];
    Symbol& r = syms[c.right];
    if (l.version != c.left_version || r.version != c.right_version || l.next != c.right) {
      continue;  // stale
    }
    l.id = c.result;
    ++l.version;
    ++r.version;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = c.left;
    consider(l.prev);
    consider(c.left);
  }
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    const int id = syms[i].id >= 0 ? syms[i].id : config_.unk;
    if (id >= 0) out.push_back(id);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(BpeConfig config,
                                                            const std::string& source) {
  const int n = static_cast<int>(config.tokens.size());
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(source, ": empty vocabulary"));
  for (const AddedToken& a : config.added) {
    if (a.id < 0 || a.id >= n || a.content.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": added token \"", a.content,
                                                     "\" has id ", a.id, " outside [0, ", n, ")"));
    }
  }
  for (const auto& [name, id] :
       {std::pair<const char*, int>{"bos", config.bos}, {"eos", config.eos}, {"unk", config.unk}}) {
    if (id < -1 || id >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", name, " id ", id, " outside the vocabulary of ", n));
    }
  }
  return std::make_unique<BpeTokenizer>(std::move(config));
}

}  // namespace stocha::tokenizers
