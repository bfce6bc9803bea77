// The protobuf-free tokenizer.model reader and LoadSentencePieceTokenizer's policy: fields,
// unknown fields, malformed and truncated files, hand-made BPE and unigram models.
#include "engine/tokenizers/sentencepiece_model_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "engine/tokenizers/gguf_tokenizers.h"
#include "engine/tokenizers/libsentencepiece_tokenizer.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/test_vectors.h"
#include "engine/tokenizers/text_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha::tokenizers {
namespace {

using ::testing::HasSubstr;
using Model = SentencePieceModel;

// --- A minimal protobuf writer, to build ModelProtos by hand. ---

std::string Varint(uint64_t v) {
  std::string out;
  do {
    out += static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v != 0);
  return out;
}
std::string Key(int field, int wire_type) {
  return Varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}
std::string VarintField(int field, int64_t v) {
  return Key(field, 0) + Varint(static_cast<uint64_t>(v));
}
std::string BytesField(int field, const std::string& bytes) {
  return Key(field, 2) + Varint(bytes.size()) + bytes;
}
std::string Fixed32Field(int field, float f) {
  char bytes[4];
  std::memcpy(bytes, &f, 4);  // little-endian host, as protobuf's wire format
  return Key(field, 5) + std::string(bytes, 4);
}

struct PieceSpec {
  std::string piece;
  float score;
  int type;
};

std::string PieceBytes(const PieceSpec& p) {
  return BytesField(1, p.piece) + Fixed32Field(2, p.score) + VarintField(3, p.type);
}

std::string Serialize(const std::vector<PieceSpec>& pieces, const std::string& trainer,
                      const std::string& normalizer) {
  std::string out;
  for (const PieceSpec& p : pieces) out += BytesField(1, PieceBytes(p));
  return out + BytesField(2, trainer) + BytesField(3, normalizer);
}

std::string BpeTrainer() { return VarintField(3, Model::kBpe) + VarintField(35, 1); }
std::string IdentityNormalizer() { return BytesField(1, "identity") + VarintField(4, 0); }

// <unk>, <s>, </s>, a user-defined "<sep>", 256 byte pieces, then `normal` (score order).
std::vector<PieceSpec> TinyPieces(const std::vector<PieceSpec>& normal) {
  std::vector<PieceSpec> pieces = {{"<unk>", 0, Model::kUnknown},
                                   {"<s>", 0, Model::kControl},
                                   {"</s>", 0, Model::kControl},
                                   {"<sep>", 0, Model::kUserDefined}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    pieces.push_back({name, 0, Model::kByte});
  }
  pieces.insert(pieces.end(), normal.begin(), normal.end());
  return pieces;
}

// A BPE model with an unused piece ("ab", merged first and then undone), pieces that could
// spell "<s>" out of characters, and characters without a piece (byte fallback).
std::string TinyBpeModel() {
  return Serialize(TinyPieces({{"ab", -0.5f, Model::kUnused},
                               {"\xE2\x96\x81", -1, Model::kNormal},
                               {"\xE2\x96\x81"
                                "a",
                                -1.2f, Model::kNormal},
                               {"abc", -1.5f, Model::kNormal},
                               {"<s", -1.6f, Model::kNormal},
                               {"a", -2, Model::kNormal},
                               {"b", -3, Model::kNormal},
                               {"c", -4, Model::kNormal},
                               {"ca", -2.5f, Model::kNormal},
                               {"<", -5, Model::kNormal},
                               {"s", -5, Model::kNormal},
                               {">", -5, Model::kNormal},
                               {"\xC3\xA9", -6, Model::kNormal}}),
                   BpeTrainer(), IdentityNormalizer());
}

std::string TinyUnigramModel() {
  return Serialize({{"<unk>", 0, Model::kUnknown},
                    {"<s>", 0, Model::kControl},
                    {"</s>", 0, Model::kControl},
                    {"\xE2\x96\x81"
                     "a",
                     -1, Model::kNormal},
                    {"a", -2, Model::kNormal},
                    {"b", -3, Model::kNormal},
                    {"\xE2\x96\x81", -4, Model::kNormal}},
                   VarintField(3, Model::kUnigram), IdentityNormalizer());
}

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  std::string path = (std::filesystem::path(::testing::TempDir()) / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string DefaultModelPath() {
  return std::string(STOCHA_SOURCE_DIR) + "/models/default/tokenizer.model";
}

// Sets the libsentencepiece switch for one scope.
class LibSentencePieceUsable {
 public:
  explicit LibSentencePieceUsable(bool usable) { SetLibSentencePieceUsable(usable); }
  ~LibSentencePieceUsable() { SetLibSentencePieceUsable(true); }
};

// --- The reader. ---

TEST(SentencePieceModelProtoTest, ReadsTheDefaultModel) {
  auto model = ReadSentencePieceModel(DefaultModelPath());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->pieces.size(), 4096u);
  EXPECT_EQ(model->pieces[0].piece, "<unk>");
  EXPECT_EQ(model->pieces[0].type, Model::kUnknown);
  EXPECT_EQ(model->pieces[1].type, Model::kControl);
  EXPECT_EQ(model->pieces[3].piece, "<0x00>");
  EXPECT_EQ(model->pieces[3].type, Model::kByte);
  EXPECT_EQ(model->trainer_spec.model_type, Model::kBpe);
  EXPECT_TRUE(model->trainer_spec.byte_fallback);
  EXPECT_EQ(model->trainer_spec.unk_id, 0);
  EXPECT_EQ(model->trainer_spec.bos_id, 1);
  EXPECT_EQ(model->trainer_spec.eos_id, 2);
  EXPECT_EQ(model->trainer_spec.pad_id, -1);
  EXPECT_EQ(model->normalizer_spec.name, "identity");
  EXPECT_TRUE(model->normalizer_spec.precompiled_charsmap.empty());
  EXPECT_TRUE(model->normalizer_spec.add_dummy_prefix);
  EXPECT_FALSE(model->normalizer_spec.remove_extra_whitespaces);
  EXPECT_TRUE(model->normalizer_spec.escape_whitespaces);
  EXPECT_EQ(BuiltInUnsupportedReason(*model), "");
}

TEST(SentencePieceModelProtoTest, ReadsTheLlama2Model) {
  const std::string path = SharedDataPath("llama2-tokenizer/tokenizer.model");
  if (!Exists(path)) STOCHA_FIXTURE_ABSENT(path << " absent (no ../shared)");
  auto model = ReadSentencePieceModel(path);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->pieces.size(), 32000u);
  EXPECT_EQ(model->pieces[15043].piece, "\xE2\x96\x81Hello");
  EXPECT_EQ(model->trainer_spec.model_type, Model::kBpe);
  EXPECT_EQ(model->normalizer_spec.name, "identity");
  EXPECT_EQ(BuiltInUnsupportedReason(*model), "");
}

TEST(SentencePieceModelProtoTest, DefaultsSkippedFieldsAndMerging) {
  std::string piece = PieceBytes({"x", 1.5f, Model::kUserDefined});
  piece += VarintField(7, 12345) + Key(8, 1) + std::string(8, '\x01');  // unknown fields
  std::string bytes = BytesField(1, piece);
  bytes += BytesField(1, BytesField(1, "y"));  // score and type default
  bytes += VarintField(99, 1) + Key(98, 1) + std::string(8, 'z') + BytesField(97, "skip me");
  bytes += Key(96, 3) + VarintField(1, 5) + Key(2, 3) + Key(2, 4) + Key(96, 4);  // groups
  bytes += Key(95, 5) + std::string(4, '\xFF');
  bytes += BytesField(4, BytesField(1, BytesField(1, "self test")));  // self_test_data
  // Two trainer_spec occurrences merge; unknown trainer fields of every type are skipped.
  bytes += BytesField(2, VarintField(3, Model::kWord) + BytesField(1, "input.txt") +
                             Fixed32Field(10, 0.99f) + VarintField(4, 8000));
  bytes += BytesField(2, VarintField(35, 1) + VarintField(43, -1) + VarintField(41, -1) +
                             BytesField(46, "<bos>") + BytesField(44, "??"));
  bytes += BytesField(3, BytesField(1, "nmt_nfkc") + BytesField(2, std::string("\0\1\2", 3)) +
                             VarintField(3, 0) + BytesField(6, "rules"));
  bytes += BytesField(5, VarintField(5, 0));
  auto model = ParseSentencePieceModel(bytes, "hand.model");
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->pieces.size(), 2u);
  EXPECT_EQ(model->pieces[0].piece, "x");
  EXPECT_EQ(model->pieces[0].score, 1.5f);
  EXPECT_EQ(model->pieces[0].type, Model::kUserDefined);
  EXPECT_EQ(model->pieces[1].piece, "y");
  EXPECT_EQ(model->pieces[1].score, 0.0f);
  EXPECT_EQ(model->pieces[1].type, Model::kNormal);
  const Model::TrainerSpec& t = model->trainer_spec;
  EXPECT_EQ(t.model_type, Model::kWord);
  EXPECT_TRUE(t.byte_fallback);
  EXPECT_EQ(t.unk_id, 0);
  EXPECT_EQ(t.bos_id, -1);  // a negative int32 is a 10-byte varint
  EXPECT_EQ(t.eos_id, 2);
  EXPECT_EQ(t.pad_id, -1);
  EXPECT_EQ(t.bos_piece, "<bos>");
  EXPECT_EQ(t.eos_piece, "</s>");
  EXPECT_EQ(t.unk_surface, "??");
  EXPECT_EQ(model->normalizer_spec.name, "nmt_nfkc");
  EXPECT_EQ(model->normalizer_spec.precompiled_charsmap, std::string("\0\1\2", 3));
  EXPECT_FALSE(model->normalizer_spec.add_dummy_prefix);
  EXPECT_TRUE(model->normalizer_spec.remove_extra_whitespaces);
  ASSERT_TRUE(model->denormalizer_spec.has_value());
  EXPECT_FALSE(model->denormalizer_spec->escape_whitespaces);
  EXPECT_THAT(BuiltInUnsupportedReason(*model), HasSubstr("model_type WORD"));
}

// Each malformed input gives InvalidArgument naming the file and the problem.
TEST(SentencePieceModelProtoTest, MalformedInputs) {
  const std::string good_piece = BytesField(1, PieceBytes({"a", 0, Model::kNormal}));
  const struct {
    std::string bytes;
    std::string expected;
  } cases[] = {
      {"", "no pieces"},
      {BytesField(2, BpeTrainer()), "no pieces"},
      {good_piece + "\x80", "truncated varint"},
      {good_piece + Key(3, 2) + "\x05" + "ab", "length 5 runs past the end"},
      {good_piece + std::string(11, '\xFF'), "longer than 10 bytes"},
      {good_piece + Varint(0 << 3 | 0) + "\x01", "invalid field number 0"},
      {good_piece + Key(9, 6), "invalid wire type 6"},
      {good_piece + Key(9, 7), "invalid wire type 7"},
      {good_piece + Key(9, 1) + "abc", "truncated fixed64"},
      {good_piece + Key(9, 5) + "ab", "truncated fixed32"},
      {good_piece + Key(9, 3) + VarintField(1, 1), "group 9 is not closed"},
      {good_piece + Key(9, 3) + Key(8, 4), "end-group tag for field 8 inside group 9"},
      {good_piece + Key(9, 4), "unexpected end-group tag"},
      {VarintField(1, 5), "pieces (field 1) has wire type varint, expected length-delimited"},
      {BytesField(1, BytesField(1, "a") + VarintField(2, 3)),
       "pieces[0]: score (field 2) has wire type varint, expected fixed32"},
      {BytesField(1, Fixed32Field(1, 1.0f)), "piece (field 1) has wire type fixed32"},
      {good_piece + BytesField(2, BytesField(3, "BPE")), "model_type (field 3) has wire type"},
      {good_piece + BytesField(3, Fixed32Field(3, 1.0f)), "add_dummy_prefix (field 3)"},
      {BytesField(1, PieceBytes({"a", 0, 9})), "unknown piece type 9"},
      {good_piece + BytesField(2, VarintField(3, 7)), "unknown model_type 7"},
      {BytesField(1, PieceBytes({"", 0, 1})), "pieces[0] is empty"},
      {good_piece + BytesField(2, VarintField(41, 5)), "trainer_spec.bos_id = 5 is outside"},
      {good_piece + BytesField(2, VarintField(40, -2)), "trainer_spec.unk_id = -2 is outside"},
      {good_piece + BytesField(2, "\x18"), "trainer_spec: truncated varint"},
      {good_piece + BytesField(1, BytesField(1, "b") + std::string("\x15\x00", 2)),
       "pieces[1]: score: truncated fixed32"},
  };
  for (const auto& c : cases) {
    auto model = ParseSentencePieceModel(c.bytes, "bad.model");
    ASSERT_FALSE(model.ok()) << "expected: " << c.expected;
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(model.status().ToString(), HasSubstr("bad.model: ")) << model.status();
    EXPECT_THAT(model.status().ToString(), HasSubstr(c.expected)) << model.status();
  }
}

TEST(SentencePieceModelProtoTest, GroupsNestedTooDeeplyAreAnError) {
  std::string bytes = BytesField(1, PieceBytes({"a", 0, Model::kNormal}));
  for (int i = 0; i < 100; ++i) bytes += Key(9, 3);
  auto model = ParseSentencePieceModel(bytes, "deep.model");
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().ToString(), HasSubstr("nested too deeply"));
}

// Every prefix of a real model: no crash, no read past the prefix (ASan), errors name the
// file. A cut that happens to fall between two fields leaves a valid but different model.
TEST(SentencePieceModelProtoTest, TruncatedFiles) {
  auto bytes = ReadFileToString(DefaultModelPath());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  int errors = 0, prefixes = 0;
  for (size_t n = 0; n < bytes->size(); n += n < 400 ? 1 : 61) {
    // A copy, so that ASan sees a read past the prefix.
    const std::string prefix = bytes->substr(0, n);
    auto model = ParseSentencePieceModel(prefix, "cut.model");
    ++prefixes;
    if (!model.ok()) {
      ++errors;
      EXPECT_THAT(model.status().ToString(), HasSubstr("cut.model: ")) << model.status();
    }
  }
  EXPECT_GT(errors, prefixes * 9 / 10);
  // Through the loader, with libsentencepiece off: the tail (trainer_spec and
  // normalizer_spec) is needed for the built-in tokenizer, so every cut is an error.
  LibSentencePieceUsable off(false);
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{100}, bytes->size() / 2,
                   bytes->size() - 30, bytes->size() - 1}) {
    const std::string path = WriteTemp("cut.model", bytes->substr(0, n));
    auto tok = stocha::LoadSentencePieceTokenizer(path);
    ASSERT_FALSE(tok.ok()) << "prefix " << n;
    EXPECT_THAT(tok.status().ToString(), HasSubstr(path)) << tok.status();
  }
}

// Random bytes and bit flips of a valid model: never a crash; a model that still parses
// goes through the built-in tokenizer too.
TEST(SentencePieceModelProtoTest, GarbageAndBitFlips) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 500; ++i) {
    std::string garbage(1 + i % 200, '\0');
    for (char& c : garbage) c = static_cast<char>(byte(rng));
    auto model = ParseSentencePieceModel(garbage, "garbage.model");
    if (!model.ok()) {
      EXPECT_THAT(model.status().ToString(), HasSubstr("garbage.model: "));
    }
  }
  const std::string tiny = TinyBpeModel();
  int parsed = 0;
  for (size_t pos = 0; pos < tiny.size(); pos += 3) {
    for (int mask : {0x01, 0x80, 0xFF}) {
      std::string flipped = tiny;
      flipped[pos] = static_cast<char>(flipped[pos] ^ mask);
      auto model = ParseSentencePieceModel(flipped, "flipped.model");
      if (!model.ok()) {
        EXPECT_THAT(model.status().ToString(), HasSubstr("flipped.model: "));
        continue;
      }
      ++parsed;
      auto vocab = SentencePieceModelToGgufVocab(*model, "flipped.model");
      if (!vocab.ok() || !ValidateGgufVocab(*vocab, "flipped.model").ok()) continue;
      auto tok = MakeGgufSpmTokenizer(*vocab, "flipped.model", {.sentencepiece = true});
      ASSERT_TRUE(tok.ok());
      EXPECT_TRUE((*tok)->Encode("ab <s> abc\xFF\xC3\xA9 x", true).ok());
    }
  }
  EXPECT_GT(parsed, 0);
}

TEST(SentencePieceModelProtoTest, GarbageFileNamesTheFile) {
  const std::string path = WriteTemp("garbage2.model", "this is not a protobuf \xFF\xFF\xFF");
  auto tok = stocha::LoadSentencePieceTokenizer(path);
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(tok.status().ToString(), HasSubstr(path));
  EXPECT_THAT(tok.status().ToString(), HasSubstr("malformed SentencePiece model"));
}

// --- The policy. ---

TEST(SentencePiecePolicyTest, UnigramNeedsLibSentencePiece) {
  const std::string path = WriteTemp("unigram.model", TinyUnigramModel());
  {
    LibSentencePieceUsable off(false);
    auto tok = stocha::LoadSentencePieceTokenizer(path);
    ASSERT_FALSE(tok.ok());
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(tok.status().ToString(), HasSubstr(path));
    EXPECT_THAT(tok.status().ToString(), HasSubstr("model_type UNIGRAM"));
    EXPECT_THAT(tok.status().ToString(), HasSubstr("normalizer \"identity\""));
    EXPECT_THAT(tok.status().ToString(), HasSubstr("tokenizer.json"));
    auto built_in = LoadSentencePieceTokenizer(path, SentencePieceBackend::kBuiltIn);
    ASSERT_FALSE(built_in.ok());
    EXPECT_THAT(built_in.status().ToString(), HasSubstr("model_type UNIGRAM"));
  }
  auto tok = stocha::LoadSentencePieceTokenizer(path);  // through libsentencepiece
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 7);
  EXPECT_EQ(*(*tok)->Encode("ab a", true), (std::vector<int>{1, 3, 5, 3}));
}

TEST(SentencePiecePolicyTest, InvalidUnigramIsAnErrorFromTheLibrary) {
  // Valid protobuf, but libsentencepiece needs an UNKNOWN piece.
  const std::string path =
      WriteTemp("nounk.model", Serialize({{"a", -1, Model::kNormal}, {"b", -2, Model::kNormal}},
                                         VarintField(3, Model::kUnigram), IdentityNormalizer()));
  auto tok = stocha::LoadSentencePieceTokenizer(path);
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(tok.status().ToString(), HasSubstr(path));
}

TEST(SentencePiecePolicyTest, BuiltInRejectsInconsistentVocabularies) {
  const std::string dup =
      WriteTemp("dup.model", Serialize({{"<unk>", 0, Model::kUnknown}, {"a", 0, 1}, {"a", 0, 1}},
                                       BpeTrainer(), IdentityNormalizer()));
  auto tok = stocha::LoadSentencePieceTokenizer(dup);
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(tok.status().ToString(), HasSubstr("pieces[2] \"a\" repeats pieces[1]"));
  const std::string nounk =
      WriteTemp("nounk_bpe.model", Serialize({{"a", 0, 1}}, BpeTrainer(), IdentityNormalizer()));
  tok = stocha::LoadSentencePieceTokenizer(nounk);
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(tok.status().ToString(), HasSubstr("no UNKNOWN piece"));
}

TEST(SentencePiecePolicyTest, ReasonsTheBuiltInTokenizerDeclines) {
  auto parse = [](const std::string& trainer, const std::string& normalizer) {
    auto m = ParseSentencePieceModel(Serialize(TinyPieces({}), trainer, normalizer), "x");
    EXPECT_TRUE(m.ok()) << m.status();
    return BuiltInUnsupportedReason(*m);
  };
  EXPECT_EQ(parse(BpeTrainer(), IdentityNormalizer()), "");
  EXPECT_THAT(parse(VarintField(3, Model::kChar), IdentityNormalizer()), HasSubstr("CHAR"));
  EXPECT_THAT(
      parse(BpeTrainer(), BytesField(1, "nmt_nfkc") + BytesField(2, "map") + VarintField(4, 0)),
      HasSubstr("maps characters"));
  EXPECT_THAT(parse(BpeTrainer(), BytesField(1, "identity")), HasSubstr("remove_extra"));
  EXPECT_THAT(parse(BpeTrainer(), IdentityNormalizer() + VarintField(5, 0)),
              HasSubstr("escape_whitespaces"));
  EXPECT_THAT(parse(BpeTrainer() + VarintField(24, 1), IdentityNormalizer()),
              HasSubstr("treat_whitespace_as_suffix"));
  EXPECT_THAT(parse(VarintField(3, Model::kBpe), IdentityNormalizer()), HasSubstr("byte_fallback"));
}

// A hand-made BPE model where libsentencepiece and llama.cpp differ: unused pieces,
// user-defined pieces, "<s>" spelled out, byte fallback, invalid UTF-8.
TEST(SentencePiecePolicyTest, TinyBpeModelMatchesLibSentencePiece) {
  const std::string path = WriteTemp("tiny_bpe.model", TinyBpeModel());
  auto built_in = LoadSentencePieceTokenizer(path, SentencePieceBackend::kBuiltIn);
  ASSERT_TRUE(built_in.ok()) << built_in.status();
  auto library = LoadSentencePieceTokenizer(path, SentencePieceBackend::kLibrary);
  ASSERT_TRUE(library.ok()) << library.status();
  static const std::vector<std::string> kParts = {
      "a", "b", "c", "ab", " ",        "  ",   "<sep>", "<s>",         "</s>",
      "<", "s", ">", "x",  "\xC3\xA9", "\xFF", "\xC3",  "\xE2\x96\x81"};
  std::vector<std::string> texts = {"", "ab", "abc", " ab", "<s>", "a<sep>b", "<sep> a"};
  std::mt19937 rng(11);
  std::uniform_int_distribution<size_t> pick(0, kParts.size() - 1);
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    for (int k = 1 + i % 12; k > 0; --k) s += kParts[pick(rng)];
    texts.push_back(std::move(s));
  }
  int differ = 0;
  for (const std::string& text : texts) {
    const std::vector<int> a = *(*built_in)->Encode(text, true);
    const std::vector<int> b = *(*library)->Encode(text, true);
    if ((a != b || (*built_in)->Decode(a) != (*library)->Decode(b)) && ++differ <= 10) {
      ADD_FAILURE() << "\"" << absl::CEscape(text) << "\": built-in [" << absl::StrJoin(a, " ")
                    << "], library [" << absl::StrJoin(b, " ") << "]";
    }
  }
  EXPECT_EQ(differ, 0);
  // The unused "ab" is merged first and then split again.
  EXPECT_EQ(*(*built_in)->Encode("ab", false), *(*library)->Encode("ab", false));
  const int a_id = 260 + 5, b_id = 260 + 6;
  EXPECT_EQ(*(*built_in)->Encode("ab", false), (std::vector<int>{260 + 1, a_id, b_id}));
}

}  // namespace
}  // namespace stocha::tokenizers
