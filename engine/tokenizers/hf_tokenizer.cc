// Hugging Face tokenizer.json (byte-level BPE as GPT-2, Llama 3 and Qwen2.5 ship it).
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizers/bpe_tokenizer.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/text_util.h"
#include "nlohmann/json.hpp"

namespace stocha {
namespace {

using Json = nlohmann::json;
using tokenizers::AddedToken;
using tokenizers::BpeConfig;
using tokenizers::SplitBehavior;

// Builds BpeConfig from the parsed JSON; every error names the file and the field.
class HfParser {
 public:
  explicit HfParser(std::string path) : path_(std::move(path)) {}

  absl::Status Parse(const Json& root, BpeConfig& config);

 private:
  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", field, ": ", what));
  }
  absl::Status Unsupported(absl::string_view field, absl::string_view what) const {
    return absl::UnimplementedError(absl::StrCat(path_, ": ", field, ": unsupported ", what));
  }
  absl::Status ParseModel(const Json& model, BpeConfig& config);
  absl::Status ParseAddedTokens(const Json& added, BpeConfig& config);
  absl::Status ParseNormalizer(const Json& n, BpeConfig& config);
  absl::Status ParsePreTokenizer(const Json& p, absl::string_view field, BpeConfig& config);
  void FindSpecialIds(const Json& root, BpeConfig& config) const;

  std::string path_;
  bool byte_level_ = false;
};

std::string TypeOf(const Json& j) { return j.is_object() ? j.value("type", "") : ""; }

absl::Status HfParser::Parse(const Json& root, BpeConfig& config) {
  if (!root.is_object()) return Error("(root)", "not a JSON object");
  if (!root.contains("model") || !root["model"].is_object()) return Error("model", "missing");
  if (absl::Status s = ParseModel(root["model"], config); !s.ok()) return s;
  if (root.contains("added_tokens")) {
    if (absl::Status s = ParseAddedTokens(root["added_tokens"], config); !s.ok()) return s;
  }
  if (root.contains("normalizer") && !root["normalizer"].is_null()) {
    if (absl::Status s = ParseNormalizer(root["normalizer"], config); !s.ok()) return s;
  }
  if (!root.contains("pre_tokenizer") || root["pre_tokenizer"].is_null()) {
    return Unsupported("pre_tokenizer", "null (only byte-level BPE is supported)");
  }
  if (absl::Status s = ParsePreTokenizer(root["pre_tokenizer"], "pre_tokenizer", config); !s.ok()) {
    return s;
  }
  if (!byte_level_)
    return Unsupported("pre_tokenizer", "type without ByteLevel (only byte-level BPE)");
  FindSpecialIds(root, config);
  return absl::OkStatus();
}

absl::Status HfParser::ParseModel(const Json& model, BpeConfig& config) {
  const std::string type = TypeOf(model);
  if (!type.empty() && type != "BPE") return Unsupported("model.type", type);
  if (model.contains("continuing_subword_prefix") &&
      model["continuing_subword_prefix"].is_string() &&
      !model["continuing_subword_prefix"].get<std::string>().empty()) {
    return Unsupported("model.continuing_subword_prefix", "value");
  }
  if (model.contains("end_of_word_suffix") && model["end_of_word_suffix"].is_string() &&
      !model["end_of_word_suffix"].get<std::string>().empty()) {
    return Unsupported("model.end_of_word_suffix", "value");
  }
  if (model.value("byte_fallback", false)) return Unsupported("model.byte_fallback", "true");
  config.ignore_merges = model.value("ignore_merges", false);
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return Error("model.vocab", "missing or not an object");
  }
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 24)) {
      return Error("model.vocab", absl::StrCat("bad id for \"", text, "\""));
    }
    const auto i = id.get<size_t>();
    if (i >= config.tokens.size()) config.tokens.resize(i + 1);
    config.tokens[i] = text;
  }
  if (!model.contains("merges") || !model["merges"].is_array()) {
    return Error("model.merges", "missing or not an array");
  }
  const Json& merges = model["merges"];
  config.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& m = merges[i];
    if (m.is_string()) {  // "a b"
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos) {
        return Error("model.merges", absl::StrCat("entry ", i, " \"", s, "\" has no space"));
      }
      config.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      config.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return Error("model.merges", absl::StrCat("entry ", i, " is neither \"a b\" nor [a, b]"));
    }
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto& vocab = model["vocab"];
    const std::string unk = model["unk_token"].get<std::string>();
    if (vocab.contains(unk)) config.unk = vocab[unk].get<int>();
  }
  return absl::OkStatus();
}

absl::Status HfParser::ParseAddedTokens(const Json& added, BpeConfig& config) {
  if (!added.is_array()) return Error("added_tokens", "not an array");
  for (size_t i = 0; i < added.size(); ++i) {
    const Json& a = added[i];
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        !a.contains("content") || !a["content"].is_string() || a["id"].get<int64_t>() < 0 ||
        a["id"].get<int64_t>() > (1 << 24)) {
      return Error("added_tokens", absl::StrCat("entry ", i, " lacks a valid id/content"));
    }
    AddedToken t{.content = a["content"].get<std::string>(),
                 .id = a["id"].get<int>(),
                 .special = a.value("special", false),
                 .lstrip = a.value("lstrip", false),
                 .rstrip = a.value("rstrip", false)};
    if (t.content.empty()) return Error("added_tokens", absl::StrCat("entry ", i, " is empty"));
    if (static_cast<size_t>(t.id) >= config.tokens.size()) config.tokens.resize(t.id + 1);
    // Keep the vocab text when the id is also a BPE token, so merges can still reach it.
    if (config.tokens[t.id].empty()) config.tokens[t.id] = t.content;
    config.added.push_back(std::move(t));
  }
  return absl::OkStatus();
}

absl::Status HfParser::ParseNormalizer(const Json& n, BpeConfig& config) {
  const std::string type = TypeOf(n);
  if (type == "NFC") {
    config.nfc = true;
    return absl::OkStatus();
  }
  if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
    for (const Json& child : n["normalizers"]) {
      if (absl::Status s = ParseNormalizer(child, config); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  return Unsupported("normalizer", absl::StrCat("type \"", type, "\""));
}

absl::Status HfParser::ParsePreTokenizer(const Json& p, absl::string_view field,
                                         BpeConfig& config) {
  const std::string type = TypeOf(p);
  if (type == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) {
      return Error(field, "Sequence without a pretokenizers array");
    }
    for (const Json& child : p["pretokenizers"]) {
      if (absl::Status s = ParsePreTokenizer(child, field, config); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    byte_level_ = true;
    config.add_prefix_space = p.value("add_prefix_space", false);
    if (!p.value("use_regex", true)) return absl::OkStatus();
    absl::Status s = config.pre.AddSplit(tokenizers::kGpt2Pattern, SplitBehavior::kIsolated);
    return s.ok() ? s : Error(field, s.message());
  }
  if (type == "Digits") {
    const bool each = p.value("individual_digits", false);
    absl::Status s = config.pre.AddSplit(each ? R"(\p{N})" : R"(\p{N}+)", SplitBehavior::kIsolated);
    return s.ok() ? s : Error(field, s.message());
  }
  if (type != "Split") return Unsupported(field, absl::StrCat("type \"", type, "\""));
  const Json* pattern = p.contains("pattern") ? &p["pattern"] : nullptr;
  bool literal = false;
  std::string text;
  if (pattern && pattern->is_object() && pattern->contains("Regex") &&
      (*pattern)["Regex"].is_string()) {
    text = (*pattern)["Regex"].get<std::string>();
  } else if (pattern && pattern->is_object() && pattern->contains("String") &&
             (*pattern)["String"].is_string()) {
    text = (*pattern)["String"].get<std::string>();
    literal = true;
  } else {
    return Error(field, "Split without a {Regex|String} pattern");
  }
  static const std::pair<std::string_view, SplitBehavior> kBehaviors[] = {
      {"Isolated", SplitBehavior::kIsolated},
      {"Removed", SplitBehavior::kRemoved},
      {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
      {"MergedWithNext", SplitBehavior::kMergedWithNext},
      {"Contiguous", SplitBehavior::kContiguous}};
  const std::string behavior = p.value("behavior", "Isolated");
  for (const auto& [name, value] : kBehaviors) {
    if (name != behavior) continue;
    absl::Status s = config.pre.AddSplit(text, value, p.value("invert", false), literal);
    return s.ok() ? s : Error(field, s.message());
  }
  return Unsupported(field, absl::StrCat("Split behavior \"", behavior, "\""));
}

// Id of a token given as "text" or {"content": "text"}; -1 if absent.
int IdOf(const Json& token, const BpeConfig& config) {
  std::string text;
  if (token.is_string()) {
    text = token.get<std::string>();
  } else if (token.is_object() && token.contains("content") && token["content"].is_string()) {
    text = token["content"].get<std::string>();
  } else {
    return -1;
  }
  for (const AddedToken& a : config.added) {
    if (a.content == text) return a.id;
  }
  for (size_t id = 0; id < config.tokens.size(); ++id) {
    if (config.tokens[id] == text) return static_cast<int>(id);
  }
  return -1;
}

// BOS/EOS: tokenizer_config.json next to the file when present; otherwise the
// TemplateProcessing post-processor's leading special token, and common EOS names.
void HfParser::FindSpecialIds(const Json& root, BpeConfig& config) const {
  const auto sibling = std::filesystem::path(path_).parent_path() / "tokenizer_config.json";
  if (auto text = tokenizers::ReadFileToString(sibling.string()); text.ok()) {
    const Json cfg = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (cfg.is_object()) {
      if (cfg.contains("bos_token")) config.bos = IdOf(cfg["bos_token"], config);
      if (cfg.contains("eos_token")) config.eos = IdOf(cfg["eos_token"], config);
      if (config.bos >= 0 || config.eos >= 0) return;
    }
  }
  std::vector<const Json*> processors;
  if (root.contains("post_processor")) processors.push_back(&root["post_processor"]);
  if (!processors.empty() && TypeOf(*processors[0]) == "Sequence" &&
      processors[0]->contains("processors") && (*processors[0])["processors"].is_array()) {
    for (const Json& child : (*processors[0])["processors"]) processors.push_back(&child);
  }
  for (const Json* pp : processors) {
    if (TypeOf(*pp) != "TemplateProcessing" || !pp->contains("single") ||
        !(*pp)["single"].is_array() || (*pp)["single"].empty()) {
      continue;
    }
    const Json& first = (*pp)["single"][0];
    if (first.is_object() && first.contains("SpecialToken") && first["SpecialToken"].is_object()) {
      config.bos = IdOf(first["SpecialToken"].value("id", ""), config);
    }
  }
  for (const char* name :
       {"<|endoftext|>", "<|end_of_text|>", "</s>", "<|im_end|>", "<|eot_id|>"}) {
    if (config.eos < 0) config.eos = IdOf(Json(name), config);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizer(const std::string& path) {
  auto text = tokenizers::ReadFileToString(path);
  if (!text.ok()) return text.status();
  const Json root = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  }
  BpeConfig config;
  // Fields are type-checked before every get(); the catch is a backstop so that a
  // malformed file can never abort the process.
  try {
    if (absl::Status s = HfParser(path).Parse(root, config); !s.ok()) return s;
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed tokenizer.json: ", e.what()));
  }
  return tokenizers::MakeBpeTokenizer(std::move(config), path);
}

}  // namespace stocha
