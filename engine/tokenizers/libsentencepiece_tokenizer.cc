// SentencePiece tokenizer.model: the libsentencepiece backend, and the policy that uses the
// built-in SPM tokenizer (gguf_spm_tokenizer.cc) instead where it matches the library exactly.
#include "engine/tokenizers/libsentencepiece_tokenizer.h"

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizers/gguf_tokenizers.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/sentencepiece_processor_wrapper.h"
#include "engine/tokenizers/text_util.h"

namespace stocha {
namespace {

// SentencePiece's own rendering of an unknown piece (kDefaultUnknownSymbol).
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";

std::atomic<bool> lib_sentencepiece_usable{true};

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

std::string Describe(const tokenizers::SentencePieceModel& model) {
  const std::string& name = model.normalizer_spec.name;
  return absl::StrCat("model_type ", tokenizers::ModelTypeName(model.trainer_spec.model_type),
                      ", normalizer \"", name.empty() ? "(unnamed)" : name, "\"");
}

absl::StatusOr<std::unique_ptr<Tokenizer>> MakeBuiltIn(const tokenizers::SentencePieceModel& model,
                                                       const std::string& path) {
  absl::StatusOr<GgufVocab> vocab = tokenizers::SentencePieceModelToGgufVocab(model, path);
  if (!vocab.ok()) return vocab.status();
  if (absl::Status s = tokenizers::ValidateGgufVocab(*vocab, path); !s.ok()) return s;
  return tokenizers::MakeGgufSpmTokenizer(
      *vocab, path, {.sentencepiece = true, .unk_surface = model.trainer_spec.unk_surface});
}

}  // namespace

namespace tokenizers {

std::string BuiltInUnsupportedReason(const SentencePieceModel& model) {
  const SentencePieceModel::TrainerSpec& t = model.trainer_spec;
  const SentencePieceModel::NormalizerSpec& n = model.normalizer_spec;
  if (t.model_type != SentencePieceModel::kBpe) {
    return absl::StrCat("model_type ", ModelTypeName(t.model_type));
  }
  // The normalizer's name only matters at training; what applies is the character map.
  if (!n.precompiled_charsmap.empty()) {
    return absl::StrCat("normalizer \"", n.name, "\" maps characters");
  }
  if (n.remove_extra_whitespaces) return "normalizer_spec.remove_extra_whitespaces is set";
  if (!n.escape_whitespaces) return "normalizer_spec.escape_whitespaces is not set";
  if (t.treat_whitespace_as_suffix) return "trainer_spec.treat_whitespace_as_suffix is set";
  if (!t.byte_fallback) return "trainer_spec.byte_fallback is not set";
  if (model.denormalizer_spec && !model.denormalizer_spec->precompiled_charsmap.empty()) {
    return "it has a denormalizer";
  }
  return "";
}

absl::StatusOr<GgufVocab> SentencePieceModelToGgufVocab(const SentencePieceModel& model,
                                                        const std::string& source) {
  GgufVocab v;
  v.model = "llama";
  absl::flat_hash_map<std::string, int> ids;
  const int n = static_cast<int>(model.pieces.size());
  for (int id = 0; id < n; ++id) {
    const SentencePieceModel::Piece& p = model.pieces[id];
    if (auto [it, inserted] = ids.emplace(p.piece, id); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": SentencePiece pieces[", id, "] \"",
                                                     p.piece, "\" repeats pieces[", it->second,
                                                     "]"));
    }
    if (p.type == SentencePieceModel::kUnknown) {
      if (v.unk_id >= 0) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": SentencePiece pieces ", v.unk_id,
                                                       " and ", id, " are both UNKNOWN"));
      }
      v.unk_id = id;
    }
    v.tokens.push_back(p.piece);
    v.scores.push_back(p.score);
    v.token_types.push_back(p.type);
  }
  if (v.unk_id < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": SentencePiece model has no UNKNOWN piece"));
  }
  auto control_id = [&](const std::string& piece) {
    auto it = ids.find(piece);
    return it != ids.end() && model.pieces[it->second].type == SentencePieceModel::kControl
               ? it->second
               : -1;
  };
  v.bos_id = control_id(model.trainer_spec.bos_piece);
  v.eos_id = control_id(model.trainer_spec.eos_piece);
  v.pad_id = control_id(model.trainer_spec.pad_piece);
  v.add_space_prefix = model.normalizer_spec.add_dummy_prefix;
  return v;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(
    const std::string& path, SentencePieceBackend backend) {
  absl::StatusOr<SentencePieceModel> model = ReadSentencePieceModel(path);
  if (!model.ok()) return model.status();
  const std::string reason = BuiltInUnsupportedReason(*model);
  if (backend == SentencePieceBackend::kBuiltIn && !reason.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        path, ": the built-in tokenizer cannot encode this SentencePiece model (", reason, ")"));
  }
  if (backend == SentencePieceBackend::kBuiltIn ||
      (backend == SentencePieceBackend::kAuto && reason.empty())) {
    return MakeBuiltIn(*model, path);
  }
  if (!lib_sentencepiece_usable.load()) {
    return absl::UnimplementedError(absl::StrCat(
        path, ": this SentencePiece model (", Describe(*model),
        ") needs libsentencepiece, which this program must not load (its embedded protobuf "
        "clashes with gRPC's). The built-in tokenizer covers BPE with the identity normalizer "
        "and byte fallback, not this model (",
        reason, "). Use the model's tokenizer.json or a GGUF file instead"));
  }
  return SentencePieceTokenizer::Load(path);
}

}  // namespace tokenizers

void SetLibSentencePieceUsable(bool usable) { lib_sentencepiece_usable.store(usable); }

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(const std::string& path) {
  return tokenizers::LoadSentencePieceTokenizer(path, tokenizers::SentencePieceBackend::kAuto);
}

}  // namespace stocha
