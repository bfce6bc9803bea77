// GGUF vocabularies against llama.cpp's test-tokenizer-0 vectors (shared/data/vocab).
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/format/gguf.h"
#include "engine/tokenizer.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/test_vectors.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha {
namespace {

using tokenizers::SharedDataPath;

struct VocabLoad {
  std::unique_ptr<Tokenizer> tok;
  std::vector<tokenizers::EncodingCase> cases;
};

// Loads ggml-vocab-<name>.gguf and its .inp/.out; tok is null when the data is absent.
VocabLoad Load(const std::string& name) {
  VocabLoad out;
  const std::string path = SharedDataPath("vocab/ggml-vocab-" + name + ".gguf");
  if (!tokenizers::Exists(path)) return out;
  auto vocab = ReadGgufVocabFile(path);
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  if (!vocab.ok()) return out;
  auto tok = MakeGgufTokenizer(*vocab, path);
  EXPECT_TRUE(tok.ok()) << tok.status();
  auto cases = tokenizers::ReadGgmlVocabCases(path + ".inp");
  EXPECT_TRUE(cases.ok()) << cases.status();
  if (!tok.ok() || !cases.ok()) return out;
  out.tok = std::move(*tok);
  out.cases = std::move(*cases);
  return out;
}

class GgufVocabVectorsTest : public ::testing::TestWithParam<std::string> {};

// Every .inp string encodes (without BOS, as the .out was made) to the .out ids, and
// Decode(Encode(text, add_bos)) gives the text back.
TEST_P(GgufVocabVectorsTest, AllCasesMatchAndRoundTrip) {
  VocabLoad v = Load(GetParam());
  if (!v.tok) STOCHA_FIXTURE_ABSENT("shared/data/vocab absent");
  ASSERT_EQ(v.cases.size(), 46u);
  int passed = 0;
  for (const auto& c : v.cases) {
    auto ids = v.tok->Encode(c.text, /*add_bos=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c.ids) << GetParam() << " text: \"" << c.text << "\"";
    passed += *ids == c.ids;
    auto with_bos = v.tok->Encode(c.text, /*add_bos=*/true);
    ASSERT_TRUE(with_bos.ok());
    EXPECT_EQ(v.tok->Decode(*with_bos), c.text) << GetParam();
    EXPECT_EQ(v.tok->Decode(*ids), c.text) << GetParam();
  }
  RecordProperty("cases_passed", passed);
  EXPECT_EQ(passed, 46);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GgufVocabVectorsTest,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2"), [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) ch = ch == '-' ? '_' : ch;
                           return name;
                         });

TEST(GgufTokenizerTest, SpecialIdsAndSizes) {
  VocabLoad spm = Load("llama-spm");
  VocabLoad phi = Load("phi-3");
  VocabLoad gpt = Load("gpt-2");
  if (!spm.tok || !phi.tok || !gpt.tok) STOCHA_FIXTURE_ABSENT("shared/data/vocab absent");
  EXPECT_EQ(spm.tok->vocab_size(), 32000);
  EXPECT_EQ(spm.tok->bos_id(), 1);
  EXPECT_EQ(spm.tok->eos_id(), 2);
  EXPECT_EQ(phi.tok->vocab_size(), 32064);
  EXPECT_EQ(phi.tok->eos_id(), 32000);
  EXPECT_EQ(gpt.tok->vocab_size(), 50257);
  EXPECT_EQ(gpt.tok->bos_id(), 50256);
  EXPECT_EQ(gpt.tok->eos_id(), 50256);
  EXPECT_EQ(*spm.tok->Encode("", true), std::vector<int>{1});
  EXPECT_EQ(*spm.tok->Encode("", false), std::vector<int>{});
}

// Control and user-defined token texts are matched in the input (llama.cpp with
// parse_special = true); they decode to "" (control) or their text (user-defined).
TEST(GgufTokenizerTest, SpecialTokensInText) {
  VocabLoad gpt = Load("gpt-2");
  VocabLoad phi = Load("phi-3");
  if (!gpt.tok || !phi.tok) STOCHA_FIXTURE_ABSENT("shared/data/vocab absent");
  EXPECT_EQ(*gpt.tok->Encode("Hello<|endoftext|>", false), (std::vector<int>{15496, 50256}));
  EXPECT_EQ(gpt.tok->TokenBytes(15496, 50256), "");
  auto ids = phi.tok->Encode("<|user|>\nHi<|end|>", true);
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 4u);
  EXPECT_EQ((*ids)[0], 1);
  EXPECT_EQ((*ids)[1], 32010);
  EXPECT_EQ(ids->back(), 32007);
  EXPECT_EQ(phi.tok->TokenBytes(5, 2), "</s>");  // user-defined in phi-3
}

TEST(GgufTokenizerTest, StreamsEmojiSplitAcrossByteLevelTokens) {
  VocabLoad gpt = Load("gpt-2");
  if (!gpt.tok) STOCHA_FIXTURE_ABSENT("shared/data/vocab absent");
  const std::string text = " this is \xF0\x9F\xA6\x99.cpp";  // from the .inp: 🦙 = 3 tokens
  auto ids = gpt.tok->Encode(text, false);
  ASSERT_TRUE(ids.ok());
  StreamDecoder dec(gpt.tok.get());
  std::vector<std::string> pieces;
  for (int id : *ids) pieces.push_back(dec.Push(id));
  // 12520 = " \xF0\x9F": the space goes out at once, the two lead bytes wait.
  EXPECT_EQ(*ids, (std::vector<int>{428, 318, 12520, 99, 247, 13, 20322}));
  EXPECT_EQ(pieces,
            (std::vector<std::string>{" this", " is", " ", "", "\xF0\x9F\xA6\x99", ".", "cpp"}));
  EXPECT_EQ(dec.Flush(), "");
}

// stories260K.gguf carries tok512's vocab: llama.cpp's algorithm must reproduce run.c's
// encode on the tok512 cases too.
TEST(GgufTokenizerTest, Stories260KVocabMatchesRunC) {
  const std::string path = SharedDataPath("stories260K/stories260K.gguf");
  if (!tokenizers::Exists(path)) STOCHA_FIXTURE_ABSENT("shared/data/stories260K absent");
  auto vocab = ReadGgufVocabFile(path);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  auto tok = MakeGgufTokenizer(*vocab, path);
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto cases =
      tokenizers::ReadEncodingCases(SharedDataPath("stories260K/expected/tok512_encode_runc.json"));
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->size(), 11u);
  for (const auto& c : *cases) {
    auto ids = (*tok)->Encode(c.text, c.bos);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, c.ids) << "text: \"" << c.text << "\"";
    EXPECT_EQ((*tok)->Decode(*ids), c.text);
  }
}

GgufVocab TinySpmVocab() {
  GgufVocab v;
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a"};
  v.scores = {0, 0, 0, -1, -2};
  v.token_types = {2, 3, 3, 1, 1};
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  return v;
}

TEST(GgufTokenizerTest, BadVocabsAreErrorsNamingTheSource) {
  GgufVocab v = TinySpmVocab();
  EXPECT_TRUE(MakeGgufTokenizer(v, "tiny.gguf").ok());

  v.scores.pop_back();
  auto r = MakeGgufTokenizer(v, "tiny.gguf");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("tiny.gguf"), std::string::npos);
  EXPECT_NE(r.status().message().find("scores"), std::string::npos);

  v = TinySpmVocab();
  v.eos_id = 99;
  EXPECT_EQ(MakeGgufTokenizer(v, "tiny.gguf").status().code(), absl::StatusCode::kInvalidArgument);

  v = TinySpmVocab();
  v.model = "bert";
  r = MakeGgufTokenizer(v, "tiny.gguf");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(r.status().message().find("bert"), std::string::npos);

  v = TinySpmVocab();
  v.model = "gpt2";
  v.pre = "some-new-pre";
  r = MakeGgufTokenizer(v, "tiny.gguf");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(r.status().message().find("some-new-pre"), std::string::npos);

  v.pre = "gpt-2";
  v.merges = {"nospace"};
  EXPECT_EQ(MakeGgufTokenizer(v, "tiny.gguf").status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_FALSE(MakeGgufTokenizer(GgufVocab{}, "empty.gguf").ok());
}

TEST(GgufTokenizerTest, TinySpmByteFallbackGoesToUnkWithoutByteTokens) {
  auto tok = MakeGgufTokenizer(TinySpmVocab(), "tiny.gguf");
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(*(*tok)->Encode("a b", false), (std::vector<int>{3, 4, 3, 0}));
}

}  // namespace
}  // namespace stocha
