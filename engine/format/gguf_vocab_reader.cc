// ReadGgufVocab: tokenizer.ggml.* metadata -> GgufVocab, with size and id checks.
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/format/gguf.h"
#include "engine/format/mapped_file.h"
#include "engine/format/status_macros.h"

namespace stocha {
namespace {

constexpr int64_t kNoTokenU32 = 0xFFFFFFFF;

absl::Status CheckSize(absl::string_view source, absl::string_view key, size_t size, size_t n) {
  if (size == 0 || size == n) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(source, ": metadata key '", key, "' has ", size,
                                                 " entries but tokenizer.ggml.tokens has ", n));
}

// -1 when absent or "none" (converters write u32 0xFFFFFFFF); otherwise must be a token id.
absl::Status ReadId(const GgufFile& f, absl::string_view source, absl::string_view key, size_t n,
                    int* out) {
  STOCHA_ASSIGN_OR_RETURN(int64_t id, f.GetInt(key, -1));
  if (id == kNoTokenU32) id = -1;
  if (id < -1 || id >= static_cast<int64_t>(n)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": metadata key '", key, "' (", id,
                                                   ") is not a token id in [0, ", n, ")"));
  }
  *out = static_cast<int>(id);
  return absl::OkStatus();
}

template <typename T, typename Getter>
absl::Status ReadOptionalArray(const GgufFile& f, absl::string_view key, Getter get,
                               std::vector<T>* out) {
  if (f.Find(key) == nullptr) return absl::OkStatus();
  STOCHA_ASSIGN_OR_RETURN(*out, (f.*get)(key));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GgufVocab> ReadGgufVocab(const GgufFile& f, absl::string_view source) {
  GgufVocab v;
  STOCHA_ASSIGN_OR_RETURN(v.model, f.GetString("tokenizer.ggml.model", "llama"));
  STOCHA_ASSIGN_OR_RETURN(v.pre, f.GetString("tokenizer.ggml.pre", ""));
  STOCHA_ASSIGN_OR_RETURN(v.tokens, f.GetStringArray("tokenizer.ggml.tokens"));
  const size_t n = v.tokens.size();
  STOCHA_RETURN_IF_ERROR(
      ReadOptionalArray(f, "tokenizer.ggml.scores", &GgufFile::GetFloatArray, &v.scores));
  STOCHA_RETURN_IF_ERROR(CheckSize(source, "tokenizer.ggml.scores", v.scores.size(), n));
  STOCHA_RETURN_IF_ERROR(
      ReadOptionalArray(f, "tokenizer.ggml.token_type", &GgufFile::GetIntArray, &v.token_types));
  STOCHA_RETURN_IF_ERROR(CheckSize(source, "tokenizer.ggml.token_type", v.token_types.size(), n));
  STOCHA_RETURN_IF_ERROR(
      ReadOptionalArray(f, "tokenizer.ggml.merges", &GgufFile::GetStringArray, &v.merges));
  STOCHA_RETURN_IF_ERROR(ReadId(f, source, "tokenizer.ggml.bos_token_id", n, &v.bos_id));
  STOCHA_RETURN_IF_ERROR(ReadId(f, source, "tokenizer.ggml.eos_token_id", n, &v.eos_id));
  STOCHA_RETURN_IF_ERROR(ReadId(f, source, "tokenizer.ggml.unknown_token_id", n, &v.unk_id));
  STOCHA_RETURN_IF_ERROR(ReadId(f, source, "tokenizer.ggml.padding_token_id", n, &v.pad_id));
  // llama.cpp's defaults: SentencePiece-style vocabularies add BOS and a space prefix.
  const bool spm = v.model == "llama";
  STOCHA_ASSIGN_OR_RETURN(v.add_bos, f.GetBool("tokenizer.ggml.add_bos_token", spm));
  STOCHA_ASSIGN_OR_RETURN(v.add_space_prefix, f.GetBool("tokenizer.ggml.add_space_prefix", spm));
  return v;
}

absl::StatusOr<GgufVocab> ReadGgufVocabFile(const std::string& path) {
  STOCHA_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  STOCHA_ASSIGN_OR_RETURN(GgufFile gguf, ParseGguf(file->bytes(), path));
  return ReadGgufVocab(gguf, path);
}

}  // namespace stocha
