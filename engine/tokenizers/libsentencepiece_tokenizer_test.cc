// SentencePiece tokenizer.model, built-in and through libsentencepiece: ids, decode, bad files.
#include "engine/tokenizers/libsentencepiece_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/test_vectors.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha {
namespace {

using tokenizers::EncodingCase;
using tokenizers::SentencePieceBackend;
using tokenizers::SharedDataPath;

// Every case runs on both backends: the built-in tokenizer LoadSentencePieceTokenizer picks
// for this (BPE, identity) model, and libsentencepiece.
class SentencePieceTokenizerTest : public ::testing::TestWithParam<SentencePieceBackend> {
 protected:
  void SetUp() override {
    const std::string path = SharedDataPath("llama2-tokenizer/tokenizer.model");
    if (!tokenizers::Exists(path)) STOCHA_FIXTURE_ABSENT("shared/data/llama2-tokenizer absent");
    auto tok = tokenizers::LoadSentencePieceTokenizer(path, GetParam());
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = std::move(*tok);
  }

  // Encodes every case, checks ids and the decode round trip; returns how many matched.
  int CheckCases(const std::vector<EncodingCase>& cases) {
    int passed = 0;
    for (const EncodingCase& c : cases) {
      auto ids = tok_->Encode(c.text, c.bos);
      if (!ids.ok()) {
        ADD_FAILURE() << ids.status();
        continue;
      }
      EXPECT_EQ(*ids, c.ids) << "text: \"" << c.text << "\"";
      passed += *ids == c.ids;
      EXPECT_EQ(tok_->Decode(*ids), c.text);
    }
    return passed;
  }

  std::unique_ptr<Tokenizer> tok_;
};

TEST_P(SentencePieceTokenizerTest, MatchesLlama2TestC) {
  auto cases = tokenizers::ReadEncodingCases(
      SharedDataPath("llama2-tokenizer/test_c_expected_encodings.json"));
  ASSERT_TRUE(cases.ok()) << cases.status();
  EXPECT_EQ(CheckCases(*cases), 5);
  EXPECT_EQ(tok_->vocab_size(), 32000);
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
}

// Same vocab as ggml-vocab-llama-spm.gguf: SentencePiece itself should agree with the
// llama.cpp vectors.
TEST_P(SentencePieceTokenizerTest, AgreesWithLlamaCppSpmVectors) {
  const std::string inp = SharedDataPath("vocab/ggml-vocab-llama-spm.gguf.inp");
  if (!tokenizers::Exists(inp)) STOCHA_FIXTURE_ABSENT("shared/data/vocab absent");
  auto cases = tokenizers::ReadGgmlVocabCases(inp);
  ASSERT_TRUE(cases.ok()) << cases.status();
  EXPECT_EQ(CheckCases(*cases), static_cast<int>(cases->size()));
}

TEST_P(SentencePieceTokenizerTest, TokenBytes) {
  EXPECT_EQ(tok_->TokenBytes(1, 306), "I");     // "▁I": space dropped after BOS
  EXPECT_EQ(tok_->TokenBytes(-1, 306), "I");    // and at the start
  EXPECT_EQ(tok_->TokenBytes(278, 306), " I");  // "▁I" mid-text
  EXPECT_EQ(tok_->TokenBytes(306, 1), "");      // BOS
  EXPECT_EQ(tok_->TokenBytes(306, 2), "");      // EOS
  EXPECT_EQ(tok_->TokenBytes(306, 13), "\n");   // <0x0A>
  EXPECT_EQ(tok_->TokenBytes(306, 0xF0 + 3), "\xF0");
  EXPECT_EQ(tok_->TokenBytes(306, 29871), " ");  // "▁"
}

INSTANTIATE_TEST_SUITE_P(Backends, SentencePieceTokenizerTest,
                         ::testing::Values(SentencePieceBackend::kBuiltIn,
                                           SentencePieceBackend::kLibrary),
                         [](const auto& info) {
                           return info.param == SentencePieceBackend::kBuiltIn ? "BuiltIn"
                                                                               : "Library";
                         });

TEST(SentencePieceTokenizerPolicyTest, LlamaUsesTheBuiltInTokenizer) {
  const std::string path = SharedDataPath("llama2-tokenizer/tokenizer.model");
  if (!tokenizers::Exists(path)) STOCHA_FIXTURE_ABSENT("shared/data/llama2-tokenizer absent");
  // With libsentencepiece switched off only the built-in tokenizer can load it.
  SetLibSentencePieceUsable(false);
  auto tok = LoadSentencePieceTokenizer(path);
  SetLibSentencePieceUsable(true);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*(*tok)->Encode("Hello world", true), (std::vector<int>{1, 15043, 3186}));
}

TEST(SentencePieceBadFileTest, ErrorsNameTheFile) {
  auto r = LoadSentencePieceTokenizer("/nonexistent/tokenizer.model");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/tokenizer.model"), std::string::npos);
  const auto path = std::filesystem::path(testing::TempDir()) / "garbage.model";
  std::ofstream(path, std::ios::binary) << "this is not a protobuf \xFF\xFF\xFF";
  r = LoadSentencePieceTokenizer(path.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path.string()), std::string::npos) << r.status();
}

}  // namespace
}  // namespace stocha
