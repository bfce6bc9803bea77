// llama2.c tokenizer.bin: run.c's encode ids, decode semantics, and bad-file errors.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/test_vectors.h"
#include "engine/tokenizers/text_util.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha {
namespace {

using tokenizers::EncodingCase;
using tokenizers::SharedDataPath;

std::unique_ptr<Tokenizer> LoadOrSkip(const std::string& relative, int vocab_size) {
  const std::string path = SharedDataPath(relative);
  if (!tokenizers::Exists(path)) return nullptr;
  auto tok = LoadLlama2cTokenizer(path, vocab_size);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

// Encodes every case and compares ids; returns the number that matched.
int CheckCases(const Tokenizer& tok, const std::vector<EncodingCase>& cases) {
  int passed = 0;
  for (const EncodingCase& c : cases) {
    auto ids = tok.Encode(c.text, c.bos);
    if (!ids.ok()) {
      ADD_FAILURE() << ids.status();
      continue;
    }
    std::vector<int> got = *ids;
    if (c.eos) got.push_back(tok.eos_id());
    EXPECT_EQ(got, c.ids) << "text: \"" << c.text << "\"";
    passed += got == c.ids;
    // Lossless: decoding the ids gives back the text.
    EXPECT_EQ(tok.Decode(*ids), c.text);
  }
  return passed;
}

TEST(Llama2cTokenizerTest, MatchesRunCEncodeOnTok512) {
  auto tok = LoadOrSkip("stories260K/tok512.bin", 512);
  if (!tok) STOCHA_FIXTURE_ABSENT("shared/data/stories260K absent");
  auto cases =
      tokenizers::ReadEncodingCases(SharedDataPath("stories260K/expected/tok512_encode_runc.json"));
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->size(), 11u);
  EXPECT_EQ(CheckCases(*tok, *cases), 11);
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
}

TEST(Llama2cTokenizerTest, MatchesLlama2TestC) {
  auto tok = LoadOrSkip("llama2-tokenizer/tokenizer.bin", 32000);
  if (!tok) STOCHA_FIXTURE_ABSENT("shared/data/llama2-tokenizer absent");
  auto cases = tokenizers::ReadEncodingCases(
      SharedDataPath("llama2-tokenizer/test_c_expected_encodings.json"));
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->size(), 5u);
  EXPECT_EQ(CheckCases(*tok, *cases), 5);
}

// tokenizer.bin holds the same vocab as ggml-vocab-llama-spm.gguf, so run.c's algorithm
// should agree with llama.cpp's on its test strings (no BOS, as the .out files were made).
TEST(Llama2cTokenizerTest, AgreesWithLlamaCppSpmVectors) {
  auto tok = LoadOrSkip("llama2-tokenizer/tokenizer.bin", 32000);
  const std::string inp = SharedDataPath("vocab/ggml-vocab-llama-spm.gguf.inp");
  if (!tok || !tokenizers::Exists(inp)) STOCHA_FIXTURE_ABSENT("shared/data vocab files absent");
  auto cases = tokenizers::ReadGgmlVocabCases(inp);
  ASSERT_TRUE(cases.ok()) << cases.status();
  EXPECT_EQ(CheckCases(*tok, *cases), static_cast<int>(cases->size()));
}

TEST(Llama2cTokenizerTest, TokenBytesFollowsRunCDecode) {
  auto tok = LoadOrSkip("stories260K/tok512.bin", 512);
  if (!tok) STOCHA_FIXTURE_ABSENT("shared/data/stories260K absent");
  const int once = 403;                          // " Once"
  EXPECT_EQ(tok->TokenBytes(1, once), "Once");   // space dropped after BOS
  EXPECT_EQ(tok->TokenBytes(-1, once), "Once");  // and at the start of a sequence
  EXPECT_EQ(tok->TokenBytes(407, once), " Once");
  EXPECT_EQ(tok->TokenBytes(5, 1), "");             // BOS
  EXPECT_EQ(tok->TokenBytes(5, 2), "");             // EOS
  EXPECT_EQ(tok->TokenBytes(5, 0xE2 + 3), "\xE2");  // <0xE2>: one raw byte
  EXPECT_EQ(tok->TokenBytes(5, 13), "\n");          // <0x0A>
  EXPECT_EQ(tok->TokenBytes(5, 512), "");           // out of range
}

class Llama2cBadFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& bytes) {
    const auto path = std::filesystem::path(testing::TempDir()) / "llama2c_bad_tokenizer.bin";
    std::ofstream(path, std::ios::binary) << bytes;
    return path.string();
  }
};

TEST_F(Llama2cBadFileTest, ErrorsNameTheFileAndTheProblem) {
  const std::string tok512 = SharedDataPath("stories260K/tok512.bin");
  if (!tokenizers::Exists(tok512)) STOCHA_FIXTURE_ABSENT("shared/data/stories260K absent");
  auto bytes = tokenizers::ReadFileToString(tok512);
  ASSERT_TRUE(bytes.ok());

  const std::string truncated = Write(bytes->substr(0, bytes->size() - 10));
  auto r = LoadLlama2cTokenizer(truncated, 512);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(truncated), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("entry 511"), std::string::npos) << r.status();

  r = LoadLlama2cTokenizer(Write(bytes->substr(0, 2)), 512);
  EXPECT_FALSE(r.ok());
  r = LoadLlama2cTokenizer(Write(""), 512);
  EXPECT_FALSE(r.ok());

  // A vocab_size smaller than the file's: trailing bytes are reported.
  r = LoadLlama2cTokenizer(tok512, 500);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bytes left"), std::string::npos) << r.status();

  r = LoadLlama2cTokenizer(tok512, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  r = LoadLlama2cTokenizer(SharedDataPath("no/such/tokenizer.bin"), 512);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace stocha
