// Test-only readers for the tokenizer test vectors in shared/data.
#include "engine/tokenizers/test_vectors.h"

#include <filesystem>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/tokenizers/text_util.h"
#include "nlohmann/json.hpp"

namespace stocha::tokenizers {

std::string SharedDataPath(const std::string& relative) {
  return std::string(STOCHA_SHARED_DIR) + "/data/" + relative;
}

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

absl::StatusOr<std::vector<EncodingCase>> ReadEncodingCases(const std::string& path) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  const nlohmann::json root = nlohmann::json::parse(*text, nullptr, false);
  const nlohmann::json& cases = root.is_object() ? root["cases"] : root;
  if (!cases.is_array()) return absl::InvalidArgumentError(path + ": no case array");
  std::vector<EncodingCase> out;
  for (const auto& c : cases) {
    out.push_back({c.at("text").get<std::string>(), c.at("bos").get<bool>(),
                   c.at("eos").get<bool>(), c.at("ids").get<std::vector<int>>()});
  }
  return out;
}

absl::StatusOr<std::vector<EncodingCase>> ReadGgmlVocabCases(const std::string& inp_path) {
  auto inp = ReadFileToString(inp_path);
  if (!inp.ok()) return inp.status();
  const std::string out_path = inp_path.substr(0, inp_path.size() - 4) + ".out";
  auto out = ReadFileToString(out_path);
  if (!out.ok()) return out.status();
  const std::string kSeparator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts = absl::StrSplit(*inp, kSeparator);
  if (texts.empty() || !texts.back().empty()) {
    return absl::InvalidArgumentError(inp_path + ": does not end with the separator");
  }
  texts.pop_back();
  std::vector<std::string> lines = absl::StrSplit(*out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() != texts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(out_path, ": ", lines.size(), " lines for ", texts.size(), " inputs"));
  }
  std::vector<EncodingCase> cases;
  for (size_t i = 0; i < texts.size(); ++i) {
    EncodingCase c{texts[i], false, false, {}};
    std::istringstream ids(lines[i]);
    for (int id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace stocha::tokenizers
