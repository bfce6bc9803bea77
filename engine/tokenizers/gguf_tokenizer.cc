// MakeGgufTokenizer: validates a GGUF vocabulary and builds the SPM or byte-level BPE tokenizer.
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizers/bpe_tokenizer.h"
#include "engine/tokenizers/gguf_tokenizers.h"
#include "engine/tokenizers/load_tokenizer.h"

namespace stocha {

absl::Status tokenizers::ValidateGgufVocab(const GgufVocab& v, const std::string& source) {
  const size_t n = v.tokens.size();
  if (n == 0)
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": tokenizer.ggml.tokens is missing or empty"));
  if (!v.scores.empty() && v.scores.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": tokenizer.ggml.scores has ",
                                                   v.scores.size(), " entries for ", n, " tokens"));
  }
  if (!v.token_types.empty() && v.token_types.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": tokenizer.ggml.token_type has ",
                                                   v.token_types.size(), " entries for ", n,
                                                   " tokens"));
  }
  for (const auto& [name, id] : {std::pair<const char*, int>{"bos_token_id", v.bos_id},
                                 {"eos_token_id", v.eos_id},
                                 {"unknown_token_id", v.unk_id},
                                 {"padding_token_id", v.pad_id}}) {
    if (id < -1 || id >= static_cast<int>(n)) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": tokenizer.ggml.", name, " = ", id,
                                                     " is outside the vocabulary of ", n));
    }
  }
  return absl::OkStatus();
}

namespace {

using tokenizers::AddedToken;
using tokenizers::BpeConfig;

absl::StatusOr<std::unique_ptr<Tokenizer>> MakeGgufBpe(const GgufVocab& v,
                                                       const std::string& source) {
  auto spec = tokenizers::GgufPreTokenizerFor(v.pre);
  if (!spec.ok())
    return absl::Status(spec.status().code(), absl::StrCat(source, ": ", spec.status().message()));
  BpeConfig config;
  for (const std::string& pattern : spec->patterns) {
    absl::Status s = config.pre.AddSplit(pattern, tokenizers::SplitBehavior::kIsolated);
    if (!s.ok()) return absl::InternalError(absl::StrCat(source, ": ", s.message()));
  }
  config.ignore_merges = spec->ignore_merges;
  config.tokens = v.tokens;
  config.merges.reserve(v.merges.size());
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& m = v.merges[i];
    const size_t space = m.find(' ', 1);  // as llama.cpp: a piece never starts the search
    if (space == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": tokenizer.ggml.merges[", i, "] = \"", m, "\" has no space"));
    }
    config.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  for (size_t id = 0; id < v.token_types.size(); ++id) {
    const int type = v.token_types[id];
    if (type == tokenizers::kTypeControl || type == tokenizers::kTypeUserDefined) {
      config.added.push_back(AddedToken{.content = v.tokens[id],
                                        .id = static_cast<int>(id),
                                        .special = type == tokenizers::kTypeControl});
    }
  }
  config.bos = v.bos_id;
  config.eos = v.eos_id;
  config.unk = v.unk_id;
  return tokenizers::MakeBpeTokenizer(std::move(config), source);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> MakeGgufTokenizer(const GgufVocab& vocab,
                                                             const std::string& source) {
  if (absl::Status s = tokenizers::ValidateGgufVocab(vocab, source); !s.ok()) return s;
  if (vocab.model == "llama") return tokenizers::MakeGgufSpmTokenizer(vocab, source);
  if (vocab.model == "gpt2") return MakeGgufBpe(vocab, source);
  return absl::UnimplementedError(absl::StrCat(source, ": unsupported tokenizer.ggml.model \"",
                                               vocab.model, "\" (supported: llama, gpt2)"));
}

}  // namespace stocha
