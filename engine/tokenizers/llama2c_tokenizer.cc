// llama2.c tokenizer.bin: run.c's encode (greedy best-score pair merging) and decode.
#include <cstdint>
#include <cstring>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/text_util.h"

namespace stocha {
namespace {

using tokenizers::ParseBytePiece;

// run.c hard-codes these ids, and byte b <-> id b + 3.
constexpr int kBos = 1;
constexpr int kEos = 2;
constexpr int kByteOffset = 3;
// run.c only merges pairs scoring above its initial best_score.
constexpr float kMinMergeScore = -1e10f;

// Thread-safety: immutable after Load; all methods are const.
class Llama2cTokenizer final : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path, int vocab_size);

  absl::StatusOr<std::vector<int>> Encode(std::string_view text, bool add_bos) const override;
  std::string TokenBytes(int prev_token, int token) const override;
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return kBos; }
  int eos_id() const override { return kEos; }

 private:
  int Lookup(std::string_view piece) const {
    auto it = piece_to_id_.find(tokenizers::AsAbsl(piece));
    return it == piece_to_id_.end() ? -1 : it->second;
  }
  // Merges adjacent ids in place, exactly as run.c's encode loop.
  void MergePairs(std::vector<int>& ids) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  absl::flat_hash_map<std::string, int> piece_to_id_;  // first id wins on duplicates
  std::vector<std::string> decoded_;                   // TokenBytes after a non-BOS token
};

absl::StatusOr<std::unique_ptr<Tokenizer>> Llama2cTokenizer::Load(const std::string& path,
                                                                  int vocab_size) {
  if (vocab_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": vocab_size must be positive, got ", vocab_size));
  }
  auto data = tokenizers::ReadFileToString(path);
  if (!data.ok()) return data.status();
  const std::string& bytes = *data;
  size_t pos = 0;
  auto read_i32 = [&](int32_t* v) {
    if (bytes.size() - pos < 4) return false;
    std::memcpy(v, bytes.data() + pos, 4);
    pos += 4;
    return true;
  };
  int32_t max_token_length = 0;
  if (!read_i32(&max_token_length) || max_token_length <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a llama2.c tokenizer (bad max_token_length header)"));
  }
  auto tok = std::make_unique<Llama2cTokenizer>();
  tok->pieces_.reserve(vocab_size);
  tok->scores_.reserve(vocab_size);
  for (int id = 0; id < vocab_size; ++id) {
    float score = 0;
    int32_t len = 0;
    if (bytes.size() - pos < 8) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": truncated at entry ", id, " of ", vocab_size, " (byte ", pos, ")"));
    }
    std::memcpy(&score, bytes.data() + pos, 4);
    std::memcpy(&len, bytes.data() + pos + 4, 4);
    pos += 8;
    if (len < 0 || static_cast<size_t>(len) > bytes.size() - pos) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": entry ", id, " has length ", len,
                                                     " but only ", bytes.size() - pos,
                                                     " bytes remain (truncated file?)"));
    }
    tok->pieces_.emplace_back(bytes, pos, len);
    tok->scores_.push_back(score);
    pos += len;
  }
  if (pos != bytes.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", bytes.size() - pos, " bytes left after ", vocab_size,
                     " entries (is vocab_size from the model header right?)"));
  }
  if (vocab_size <= kEos) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": vocab_size ", vocab_size, " too small for BOS/EOS ids 1/2"));
  }
  for (int id = 0; id < vocab_size; ++id) {
    tok->piece_to_id_.emplace(tok->pieces_[id], id);
    const std::string& piece = tok->pieces_[id];
    if (id == kBos || id == kEos) {
      tok->decoded_.emplace_back();
    } else if (auto byte = ParseBytePiece(piece)) {
      tok->decoded_.emplace_back(1, static_cast<char>(*byte));
    } else {
      tok->decoded_.push_back(piece);
    }
  }
  return tok;
}

absl::StatusOr<std::vector<int>> Llama2cTokenizer::Encode(std::string_view text,
                                                          bool add_bos) const {
  std::vector<int> ids;
  ids.reserve(text.size() + 2);
  if (add_bos) ids.push_back(kBos);
  if (!text.empty()) {
    const int dummy_prefix = Lookup(" ");
    if (dummy_prefix < 0) {
      return absl::FailedPreconditionError("llama2.c vocab has no \" \" piece for the prefix");
    }
    ids.push_back(dummy_prefix);
  }
  // Group each lead byte with up to three following continuation bytes (run.c's loop).
  size_t i = 0;
  while (i < text.size()) {
    size_t len = 1;
    while (i + len < text.size() && len < 4 &&
           (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) {
      ++len;
    }
    const std::string_view cp = text.substr(i, len);
    const int id = Lookup(cp);
    if (id >= 0) {
      ids.push_back(id);
    } else {
      for (unsigned char b : cp) ids.push_back(b + kByteOffset);
    }
    i += len;
  }
  MergePairs(ids);
  return ids;
}

// run.c rescans all pairs after every merge (quadratic); a priority queue over a linked
// list gives the same result: the best score wins, and equal scores go to the leftmost
// pair because node indices never change order.
void Llama2cTokenizer::MergePairs(std::vector<int>& ids) const {
  const int n = static_cast<int>(ids.size());
  if (n < 2) return;
  struct Node {
    int id, prev, next, version;
  };
  struct Candidate {
    float score;
    int left, right, left_version, right_version, merged;
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
  std::vector<Node> nodes(n);
  for (int k = 0; k < n; ++k) nodes[k] = {ids[k], k - 1, k + 1 < n ? k + 1 : -1, 0};
  auto consider = [&](int left) {
    if (left < 0) return;
    const int right = nodes[left].next;
    if (right < 0) return;
    const int merged = Lookup(pieces_[nodes[left].id] + pieces_[nodes[right].id]);
    if (merged < 0 || !(scores_[merged] > kMinMergeScore)) return;
    queue.push({scores_[merged], left, right, nodes[left].version, nodes[right].version, merged});
  };
  for (int k = 0; k + 1 < n; ++k) consider(k);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Node& left = nodes[c.left];
    Node& right = nodes[c.right];
    if (left.version != c.left_version || right.version != c.right_version ||
        left.next != c.right) {
      continue;  // stale: one side merged since this pair was queued
    }
    left.id = c.merged;
    ++left.version;
    ++right.version;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) nodes[right.next].prev = c.left;
    consider(left.prev);
    consider(c.left);
  }
  ids.clear();
  for (int k = 0; k >= 0; k = nodes[k].next) ids.push_back(nodes[k].id);
}

std::string Llama2cTokenizer::TokenBytes(int prev_token, int token) const {
  if (token < 0 || token >= vocab_size()) return "";
  const std::string& piece = decoded_[token];
  // run.c strips the space after BOS; we also do at the start of a sequence (prev < 0),
  // where Encode put the dummy prefix.
  if ((prev_token == kBos || prev_token < 0) && !piece.empty() && piece[0] == ' ') {
    return piece.substr(1);
  }
  return piece;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadLlama2cTokenizer(const std::string& path,
                                                                int vocab_size) {
  return Llama2cTokenizer::Load(path, vocab_size);
}

}  // namespace stocha
