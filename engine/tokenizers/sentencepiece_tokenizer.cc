// SentencePiece tokenizer.model, encoded and decoded through libsentencepiece.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/sentencepiece_processor_wrapper.h"
#include "engine/tokenizers/text_util.h"

namespace stocha {
namespace {

// SentencePiece's own rendering of an unknown piece (kDefaultUnknownSymbol).
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";

// Thread-safety: immutable after Load. SentencePieceProcessor::Encode is const and
// keeps no mutable state, so concurrent calls are safe.
class SentencePieceTokenizer final : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path) {
    std::string error;
    auto processor = tokenizers::SentencePieceProcessorWrapper::Load(path, &error);
    if (processor == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": cannot load SentencePiece model: ", error));
    }
    auto tok = std::make_unique<SentencePieceTokenizer>();
    tok->path_ = path;
    tok->processor_ = std::move(processor);
    const int n = tok->processor_->piece_size();
    if (n <= 0) return absl::InvalidArgumentError(absl::StrCat(path, ": empty vocabulary"));
    tok->decoded_.reserve(n);
    for (int id = 0; id < n; ++id) tok->decoded_.push_back(tok->Render(id));
    return tok;
  }

  absl::StatusOr<std::vector<int>> Encode(std::string_view text, bool add_bos) const override {
    std::vector<int> pieces;
    std::string error;
    if (!processor_->Encode(text, &pieces, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": SentencePiece encode failed: ", error));
    }
    std::vector<int> ids;
    ids.reserve(pieces.size() + 1);
    if (add_bos && bos_id() >= 0) ids.push_back(bos_id());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    return ids;
  }

  // Strips the dummy-prefix space at the start of a sequence (prev < 0) and after BOS,
  // as SentencePiece's own decoder and llama do.
  std::string TokenBytes(int prev_token, int token) const override {
    if (token < 0 || token >= vocab_size()) return "";
    const std::string& piece = decoded_[token];
    if ((prev_token < 0 || prev_token == bos_id()) && !piece.empty() && piece[0] == ' ' &&
        !processor_->IsUnknown(token)) {
      return piece.substr(1);
    }
    return piece;
  }

  int vocab_size() const override { return static_cast<int>(decoded_.size()); }
  int bos_id() const override { return processor_->bos_id(); }
  int eos_id() const override { return processor_->eos_id(); }

 private:
  std::string Render(int id) const {
    if (processor_->IsControl(id) || processor_->IsUnused(id)) return "";
    if (processor_->IsUnknown(id)) return std::string(kUnknownSurface);
    const std::string& piece = processor_->IdToPiece(id);
    if (processor_->IsByte(id)) {
      if (auto byte = tokenizers::ParseBytePiece(piece)) return std::string(1, *byte);
    }
    return tokenizers::ReplaceAll(piece, tokenizers::kSpmSpace, " ");
  }

  std::string path_;
  std::unique_ptr<const tokenizers::SentencePieceProcessorWrapper> processor_;
  std::vector<std::string> decoded_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(const std::string& path) {
  return SentencePieceTokenizer::Load(path);
}

}  // namespace stocha
