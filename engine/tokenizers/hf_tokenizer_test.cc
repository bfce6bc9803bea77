// HF tokenizer.json: a fixture written from the gpt-2 GGUF vocab must give the GGUF ids;
// a tiny Llama-3-style file covers added tokens, BOS/EOS, NFC, ignore_merges; bad files.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/format/gguf.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/test_vectors.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fixtures.h"

namespace stocha {
namespace {

using Json = nlohmann::json;
using tokenizers::SharedDataPath;

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& text) {
  const auto folder = std::filesystem::path(testing::TempDir()) / dir;
  std::filesystem::create_directories(folder);
  const auto path = folder / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

// The gpt-2 GGUF vocabulary re-expressed as the tokenizer.json GPT-2 ships (ByteLevel
// with its regex), or as Llama 3 / Qwen ship theirs (Split regex + ByteLevel without
// regex, merges as [a, b] pairs).
Json Gpt2Json(const GgufVocab& v, bool llama3_style) {
  Json vocab = Json::object();
  for (size_t id = 0; id < v.tokens.size(); ++id) vocab[v.tokens[id]] = id;
  Json merges = Json::array();
  for (const std::string& m : v.merges) {
    const size_t space = m.find(' ', 1);
    if (llama3_style) {
      merges.push_back(Json::array({m.substr(0, space), m.substr(space + 1)}));
    } else {
      merges.push_back(m);
    }
  }
  Json j;
  j["version"] = "1.0";
  j["added_tokens"] = Json::array({{{"id", 50256},
                                    {"content", "<|endoftext|>"},
                                    {"single_word", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"normalized", true},
                                    {"special", true}}});
  j["normalizer"] = nullptr;
  const Json byte_level = {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", true},
                           {"use_regex", !llama3_style}};
  if (llama3_style) {
    const Json split = {
        {"type", "Split"},
        {"pattern",
         {{"Regex",
           R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
        {"behavior", "Isolated"},
        {"invert", false}};
    j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}};
  } else {
    j["pre_tokenizer"] = byte_level;
  }
  j["post_processor"] = byte_level;
  j["decoder"] = byte_level;
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merges}};
  return j;
}

class HfGpt2FixtureTest : public ::testing::TestWithParam<bool> {};

TEST_P(HfGpt2FixtureTest, SameIdsAsTheGgufPath) {
  const std::string gguf = SharedDataPath("vocab/ggml-vocab-gpt-2.gguf");
  if (!tokenizers::Exists(gguf)) STOCHA_FIXTURE_ABSENT("shared/data/vocab absent");
  auto vocab = ReadGgufVocabFile(gguf);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  auto from_gguf = MakeGgufTokenizer(*vocab, gguf);
  ASSERT_TRUE(from_gguf.ok()) << from_gguf.status();
  const std::string dir = GetParam() ? "hf_gpt2_llama3_style" : "hf_gpt2";
  const std::string json_path =
      WriteFile(dir, "tokenizer.json", Gpt2Json(*vocab, GetParam()).dump());
  auto from_json = LoadHfTokenizer(json_path);
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  EXPECT_EQ((*from_json)->vocab_size(), 50257);
  EXPECT_EQ((*from_json)->eos_id(), 50256);

  auto cases = tokenizers::ReadGgmlVocabCases(gguf + ".inp");
  ASSERT_TRUE(cases.ok()) << cases.status();
  int passed = 0;
  for (const auto& c : *cases) {
    auto a = (*from_json)->Encode(c.text, false);
    auto b = (*from_gguf)->Encode(c.text, false);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b) << "text: \"" << c.text << "\"";
    EXPECT_EQ(*a, c.ids) << "text: \"" << c.text << "\"";
    EXPECT_EQ((*from_json)->Decode(*a), c.text);
    passed += *a == c.ids;
  }
  EXPECT_EQ(passed, 46);
}

INSTANTIATE_TEST_SUITE_P(Styles, HfGpt2FixtureTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Llama3Style" : "Gpt2Style"; });

// A hand-made Llama-3-style file: byte-level a b c Ġ (space), Ã © (the bytes of é),
// a few merges, and added tokens.
Json TinyLlama3Json(bool ignore_merges) {
  Json j = Json::parse(R"({
    "added_tokens": [
      {"id": 10, "content": "<|begin_of_text|>", "special": true},
      {"id": 11, "content": "<|eot_id|>", "special": true},
      {"id": 12, "content": "<tool>", "special": false}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": " ?\\p{L}+|\\s+"}, "behavior": "Isolated",
       "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "post_processor": {"type": "Sequence", "processors": [
      {"type": "ByteLevel"},
      {"type": "TemplateProcessing", "single": [
        {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}}]}]},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "ignore_merges": false,
      "vocab": {"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "abc": 5, "\u0120a": 6,
                "\u00c3": 7, "\u00a9": 8, "\u00c3\u00a9": 9},
      "merges": ["a b", "\u0120 a", "\u00c3 \u00a9"]}
  })");
  j["model"]["ignore_merges"] = ignore_merges;
  return j;
}

TEST(HfTokenizerTest, TinyLlama3Style) {
  const std::string path = WriteFile("hf_tiny", "tokenizer.json", TinyLlama3Json(false).dump());
  auto tok = LoadHfTokenizer(path);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab_size(), 13);
  EXPECT_EQ(t.bos_id(), 10);  // from TemplateProcessing
  EXPECT_EQ(t.eos_id(), 11);  // <|eot_id|> by name: no tokenizer_config.json here
  EXPECT_EQ(*t.Encode("abc", true), (std::vector<int>{10, 4, 2}));
  EXPECT_EQ(*t.Encode("<|begin_of_text|>ab a<tool><|eot_id|>", false),
            (std::vector<int>{10, 4, 6, 12, 11}));
  // "e" + U+0301 is NFC-normalized to U+00E9 = bytes C3 A9 = "Ã©" (id 9).
  EXPECT_EQ(*t.Encode("e\xCC\x81", false), (std::vector<int>{9}));
  EXPECT_EQ(t.Decode({10, 4, 6, 12, 9, 11}), "ab a<tool>\xC3\xA9");

  // ignore_merges: a word that is itself a token is emitted whole.
  const std::string path2 = WriteFile("hf_tiny2", "tokenizer.json", TinyLlama3Json(true).dump());
  auto tok2 = LoadHfTokenizer(path2);
  ASSERT_TRUE(tok2.ok()) << tok2.status();
  EXPECT_EQ(*(*tok2)->Encode("abc", false), (std::vector<int>{5}));
}

TEST(HfTokenizerTest, TokenizerConfigGivesBosAndEos) {
  const std::string path = WriteFile("hf_cfg", "tokenizer.json", TinyLlama3Json(false).dump());
  WriteFile("hf_cfg", "tokenizer_config.json",
            R"({"bos_token": {"content": "<|begin_of_text|>"}, "eos_token": "<tool>"})");
  auto tok = LoadHfTokenizer(path);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->bos_id(), 10);
  EXPECT_EQ((*tok)->eos_id(), 12);
}

// Each malformed file is an error naming the file and the field; never a crash.
TEST(HfTokenizerTest, BadFiles) {
  auto expect_error = [](const std::string& text, absl::StatusCode code, const std::string& what) {
    const std::string path = WriteFile("hf_bad", "tokenizer.json", text);
    auto r = LoadHfTokenizer(path);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), code) << r.status();
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status();
  };
  expect_error("{not json", absl::StatusCode::kInvalidArgument, "not valid JSON");
  expect_error("[1, 2]", absl::StatusCode::kInvalidArgument, "not a JSON object");
  expect_error("{}", absl::StatusCode::kInvalidArgument, "model");
  Json j = TinyLlama3Json(false);
  j["model"].erase("merges");
  expect_error(j.dump(), absl::StatusCode::kInvalidArgument, "model.merges");
  j = TinyLlama3Json(false);
  j["model"]["merges"] = {"ab"};
  expect_error(j.dump(), absl::StatusCode::kInvalidArgument, "model.merges");
  j = TinyLlama3Json(false);
  j["model"]["vocab"]["a"] = "zero";
  expect_error(j.dump(), absl::StatusCode::kInvalidArgument, "model.vocab");
  j = TinyLlama3Json(false);
  j["model"]["type"] = "Unigram";
  expect_error(j.dump(), absl::StatusCode::kUnimplemented, "Unigram");
  j = TinyLlama3Json(false);
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  expect_error(j.dump(), absl::StatusCode::kUnimplemented, "Metaspace");
  j = TinyLlama3Json(false);
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(";
  expect_error(j.dump(), absl::StatusCode::kInvalidArgument, "regex");
  j = TinyLlama3Json(false);
  j["added_tokens"][0]["id"] = "ten";
  expect_error(j.dump(), absl::StatusCode::kInvalidArgument, "added_tokens");
  j = TinyLlama3Json(false);
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(j.dump(), absl::StatusCode::kUnimplemented, "Lowercase");

  auto missing = LoadHfTokenizer("/nonexistent/tokenizer.json");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace stocha
