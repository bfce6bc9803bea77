// GGUF container parsing: metadata of every type, tensor infos, vocab, malformed files.
#include "engine/format/gguf.h"

#include <string>

#include "engine/format/test_writers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha {
namespace {

using test::GgufBuilder;
using ::testing::HasSubstr;

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Error(const std::string& file) {
  auto parsed = ParseGguf(Bytes(file), "m.gguf");
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

template <typename T>
std::string B(T v) {
  return GgufBuilder::Bytes(v);
}

// A header claiming `n_tensors` and `n_kv`, followed by `rest`.
std::string Header(uint64_t n_tensors, uint64_t n_kv, const std::string& rest) {
  return "GGUF" + B<uint32_t>(3) + B(n_tensors) + B(n_kv) + rest;
}

TEST(GgufTest, ReadsEveryValueType) {
  GgufBuilder b;
  b.Raw("u8", 0, B<uint8_t>(200))
      .Raw("i8", 1, B<int8_t>(-5))
      .Raw("u16", 2, B<uint16_t>(60000))
      .Raw("i16", 3, B<int16_t>(-300))
      .U32("u32", 4000000000u)
      .Raw("i32", 5, B<int32_t>(-7))
      .F32("f32", 0.5f)
      .Bool("bool", true)
      .String("str", "hello")
      .Raw("u64", 10, B<uint64_t>(1ull << 40))
      .Raw("i64", 11, B<int64_t>(-(1ll << 40)))
      .Raw("f64", 12, B<double>(0.25))
      .Raw("big", 10, B<uint64_t>(~0ull))
      .Strings("strs", {"a", "", "ccc"})
      .F32s("floats", {1.5f, -2})
      .I32s("ints", {3, -4})
      .Raw("nested", 9,
           B<uint32_t>(9) + B<uint64_t>(2) + B<uint32_t>(0) + B<uint64_t>(1) + B<uint8_t>(7) +
               B<uint32_t>(8) + B<uint64_t>(1) + GgufBuilder::Str("x"));
  const std::string file = b.Build();
  auto f = ParseGguf(Bytes(file), "m.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->version, 3u);
  EXPECT_EQ(*f->GetInt("u8"), 200);
  EXPECT_EQ(*f->GetInt("i8"), -5);
  EXPECT_EQ(*f->GetInt("u16"), 60000);
  EXPECT_EQ(*f->GetInt("i16"), -300);
  EXPECT_EQ(*f->GetInt("u32"), 4000000000);
  EXPECT_EQ(*f->GetInt("i32"), -7);
  EXPECT_EQ(*f->GetInt("u64"), 1ll << 40);
  EXPECT_EQ(*f->GetInt("i64"), -(1ll << 40));
  EXPECT_EQ(*f->GetFloat("f32", 0), 0.5);
  EXPECT_EQ(*f->GetFloat("f64", 0), 0.25);
  EXPECT_EQ(*f->GetFloat("i32", 0), -7.0);
  EXPECT_EQ(*f->GetFloat("absent", 9), 9.0);
  EXPECT_TRUE(*f->GetBool("bool", false));
  EXPECT_EQ(*f->GetString("str"), "hello");
  EXPECT_EQ(*f->GetStringArray("strs"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(*f->GetFloatArray("floats"), (std::vector<float>{1.5f, -2}));
  EXPECT_EQ(*f->GetIntArray("ints"), (std::vector<int>{3, -4}));
  const GgufValue* nested = f->Find("nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->arrays.size(), 2u);
  EXPECT_EQ(nested->arrays[1].strings, std::vector<absl::string_view>{"x"});

  EXPECT_THAT(std::string(f->GetInt("big").status().message()),
              HasSubstr("m.gguf: metadata key 'big' has type u64, expected an integer"));
  EXPECT_THAT(std::string(f->GetInt("str").status().message()),
              HasSubstr("metadata key 'str' has type string, expected an integer"));
  EXPECT_THAT(std::string(f->GetString("u8").status().message()), HasSubstr("'u8' has type u8"));
  EXPECT_THAT(std::string(f->GetBool("u8", false).status().message()), HasSubstr("expected bool"));
  EXPECT_THAT(std::string(f->GetStringArray("floats").status().message()),
              HasSubstr("'floats' has type array of f32, expected array of string"));
  EXPECT_THAT(std::string(f->GetFloatArray("strs").status().message()), HasSubstr("'strs'"));
  EXPECT_THAT(std::string(f->GetIntArray("floats").status().message()), HasSubstr("'floats'"));
  EXPECT_THAT(std::string(f->GetInt("absent").status().message()),
              HasSubstr("m.gguf: missing metadata key 'absent'"));
}

TEST(GgufTest, ReadsTensorInfosAndAlignment) {
  GgufBuilder b;
  b.U32("general.alignment", 64)
      .Tensor("a", 0, {3, 2}, std::string(24, '\1'))
      .Tensor("b", 30, {5}, std::string(10, '\2'))
      .Tensor("q", 8, {32}, std::string(34, '\3'))
      .Tensor("k", 12, {256}, std::string(144, '\4'))
      .Tensor("u", 11, {256}, std::string(110, '\5'));
  const std::string file = b.Build(64);
  auto f = ParseGguf(Bytes(file), "m.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->alignment, 64u);
  EXPECT_EQ(f->data_offset % 64, 0u);
  const GgufTensorInfo* a = f->FindTensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{3, 2}));  // ne = [2, 3]
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->nbytes, 24u);
  EXPECT_EQ(a->data[0], 1);
  EXPECT_EQ(f->FindTensor("b")->dtype, DType::kBF16);
  EXPECT_EQ(f->FindTensor("b")->offset, 64u);
  EXPECT_EQ(f->FindTensor("b")->data[9], 2);
  EXPECT_EQ(f->FindTensor("q")->dtype, DType::kQ8_0);
  EXPECT_EQ(f->FindTensor("q")->nbytes, 34u);  // one block: F16 scale + 32 int8
  EXPECT_EQ(f->FindTensor("q")->data[33], 3);
  EXPECT_EQ(f->FindTensor("k")->dtype, DType::kQ4_K);
  EXPECT_EQ(f->FindTensor("k")->nbytes, 144u);  // one 256-element super-block
  EXPECT_EQ(f->FindTensor("k")->data[143], 4);
  EXPECT_FALSE(f->FindTensor("u")->dtype.has_value());  // Q3_K: not read
  EXPECT_EQ(f->FindTensor("u")->ggml_type, 11u);
  EXPECT_EQ(GgmlTypeName(8), "Q8_0");
  EXPECT_EQ(GgmlTypeName(99), "type 99");
  EXPECT_EQ(f->FindTensor("nope"), nullptr);
}

TEST(GgufTest, AcceptsVersion2) {
  EXPECT_EQ(Error(GgufBuilder().String("k", "v").Build(32, 2)), "");
}

TEST(GgufTest, RejectsBadMagicAndVersion) {
  EXPECT_THAT(Error(""), HasSubstr("m.gguf: not a GGUF file"));
  EXPECT_THAT(Error("GGUX1234"), HasSubstr("not a GGUF file"));
  EXPECT_THAT(Error(GgufBuilder().Build(32, 1)), HasSubstr("m.gguf: GGUF version 1 is not"));
  EXPECT_THAT(Error(GgufBuilder().Build(32, 4)), HasSubstr("GGUF version 4"));
  EXPECT_THAT(Error("GGUF\x03"), HasSubstr("m.gguf: truncated at byte 4 reading the version"));
}

TEST(GgufTest, RejectsTruncation) {
  const std::string file = test::TinyGguf(test::TinyModel::Make(true)).Build();
  const size_t data_start = ParseGguf(Bytes(file), "m.gguf")->data_offset;
  // Cut at many points in the header and in the data: always an error, never a crash.
  for (size_t n = 0; n < file.size(); n += (n < data_start ? 7 : 97)) {
    EXPECT_NE(Error(file.substr(0, n)), "") << n;
  }
  EXPECT_THAT(Error(file.substr(0, file.size() - 1)),
              HasSubstr("tensor 'blk.1.ffn_down.weight' data (offset"));
  EXPECT_THAT(Error(file.substr(0, 30)), HasSubstr("m.gguf: metadata count 15 exceeds what 6"));
}

TEST(GgufTest, RejectsHugeCountsWithoutAllocating) {
  EXPECT_THAT(Error(Header(0, ~0ull, "")),
              HasSubstr("m.gguf: metadata count 18446744073709551615 exceeds"));
  EXPECT_THAT(Error(Header(~0ull >> 1, 0, "")), HasSubstr("m.gguf: tensor count"));
  const std::string key = GgufBuilder::Str("k");
  EXPECT_THAT(Error(Header(0, 1, B<uint64_t>(~0ull) + std::string(16, 'k'))),
              HasSubstr("m.gguf: truncated at byte 32 reading a metadata key"));
  EXPECT_THAT(Error(Header(0, 1, key + B<uint32_t>(8) + B<uint64_t>(1ull << 60) + "abc")),
              HasSubstr("m.gguf: truncated at byte 45 reading k (needs 1152921504606846976"));
  // Arrays whose element bytes (count * size) overflow or exceed the file.
  EXPECT_THAT(Error(Header(0, 1, key + B<uint32_t>(9) + B<uint32_t>(10) + B<uint64_t>(~0ull))),
              HasSubstr("reading k"));
  EXPECT_THAT(Error(Header(0, 1, key + B<uint32_t>(9) + B<uint32_t>(8) + B<uint64_t>(1ull << 62))),
              HasSubstr("reading k"));
  EXPECT_THAT(Error(Header(0, 1, key + B<uint32_t>(9) + B<uint32_t>(9) + B<uint64_t>(1ull << 62))),
              HasSubstr("reading k"));
}

TEST(GgufTest, RejectsBadTypes) {
  const std::string key = GgufBuilder::Str("k");
  EXPECT_THAT(Error(Header(0, 1, key + B<uint32_t>(13) + "xxxxxxxx")),
              HasSubstr("m.gguf: metadata key 'k' has unknown type 13"));
  EXPECT_THAT(Error(Header(0, 1, key + B<uint32_t>(9) + B<uint32_t>(77) + B<uint64_t>(0))),
              HasSubstr("m.gguf: metadata key 'k' has unknown array type 77"));
  std::string deep = key + B<uint32_t>(9);
  for (int i = 0; i < 20; ++i) deep += B<uint32_t>(9) + B<uint64_t>(1);
  deep += B<uint32_t>(0) + B<uint64_t>(0) + std::string(100, '\0');
  EXPECT_THAT(Error(Header(0, 1, deep)), HasSubstr("metadata key 'k' nests arrays too deeply"));
}

TEST(GgufTest, RejectsDuplicates) {
  EXPECT_THAT(Error(GgufBuilder().U32("k", 1).U32("k", 2).Build()),
              HasSubstr("m.gguf: metadata key 'k' appears more than once"));
  EXPECT_THAT(Error(GgufBuilder().Tensor("t", 0, {1}, "abcd").Tensor("t", 0, {1}, "abcd").Build()),
              HasSubstr("m.gguf: tensor 't' appears more than once"));
}

// A one-tensor file with a hand-written tensor info.
std::string OneTensor(uint32_t n_dims, const std::vector<uint64_t>& ne, uint32_t type,
                      uint64_t offset, size_t data_bytes) {
  std::string info = GgufBuilder::Str("t") + B(n_dims);
  for (uint64_t d : ne) info += B(d);
  info += B(type) + B(offset);
  std::string file = Header(1, 0, info);
  while (file.size() % 32 != 0) file.push_back('\0');
  return file + std::string(data_bytes, '\0');
}

TEST(GgufTest, RejectsBadTensorInfos) {
  EXPECT_EQ(Error(OneTensor(2, {2, 3}, 0, 0, 24)), "");
  EXPECT_THAT(Error(OneTensor(5, {1, 1, 1, 1, 1}, 0, 0, 4)),
              HasSubstr("m.gguf: tensor 't' has 5 dims (max 4)"));
  EXPECT_THAT(Error(OneTensor(2, {1ull << 40, 1ull << 40}, 0, 0, 4)),
              HasSubstr("m.gguf: tensor 't' has an element count that overflows"));
  EXPECT_THAT(Error(OneTensor(1, {~0ull}, 0, 0, 4)), HasSubstr("tensor 't' has an element count"));
  EXPECT_THAT(Error(OneTensor(2, {2, 3}, 0, 0, 23)),
              HasSubstr("m.gguf: tensor 't' data (offset 0, 24 bytes) extends beyond the file"));
  EXPECT_THAT(Error(OneTensor(1, {1}, 1, ~0ull - 31, 4)), HasSubstr("extends beyond the file"));
  EXPECT_THAT(Error(OneTensor(1, {1}, 0, 4, 8)),
              HasSubstr("m.gguf: tensor 't' offset 4 is not a multiple of the alignment 32"));
  EXPECT_EQ(Error(OneTensor(1, {1ull << 60}, 11, 0, 0)), "");  // Q3_K: not located, no check
}

TEST(GgufTest, RejectsOverlapAndBadAlignment) {
  std::string info;
  for (const char* name : {"a", "b"}) {
    info += GgufBuilder::Str(name) + B<uint32_t>(1) + B<uint64_t>(16) + B<uint32_t>(0) +
            B<uint64_t>(name[0] == 'a' ? 0 : 32);
  }
  std::string file = Header(2, 0, info);
  while (file.size() % 32 != 0) file.push_back('\0');
  EXPECT_THAT(Error(file + std::string(96, '\0')),
              HasSubstr("m.gguf: tensors 'a' and 'b' overlap"));
  EXPECT_THAT(Error(GgufBuilder().U32("general.alignment", 24).Build()),
              HasSubstr("m.gguf: general.alignment (24) must be a power of two"));
  EXPECT_THAT(Error(GgufBuilder().U32("general.alignment", 0).Build()),
              HasSubstr("general.alignment (0)"));
  EXPECT_THAT(Error(GgufBuilder().String("general.alignment", "32").Build()),
              HasSubstr("metadata key 'general.alignment' has type string"));
}

TEST(GgufVocabTest, ReadsVocab) {
  GgufBuilder b = test::TinyGguf(test::TinyModel::Make(true));
  b.String("tokenizer.ggml.pre", "default")
      .Strings("tokenizer.ggml.merges", {"a b"})
      .U32("tokenizer.ggml.padding_token_id", 0xFFFFFFFF);  // how converters write "none"
  const std::string file = b.Build();
  auto f = ParseGguf(Bytes(file), "m.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  auto v = ReadGgufVocab(*f, "m.gguf");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->model, "llama");
  EXPECT_EQ(v->pre, "default");
  ASSERT_EQ(v->tokens.size(), 32u);
  EXPECT_EQ(v->tokens[1], "<s>");
  EXPECT_EQ(v->scores.size(), 32u);
  EXPECT_EQ(v->token_types.size(), 32u);
  EXPECT_EQ(v->merges, std::vector<std::string>{"a b"});
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_EQ(v->eos_id, 2);
  EXPECT_EQ(v->unk_id, -1);
  EXPECT_EQ(v->pad_id, -1);
  EXPECT_TRUE(v->add_bos);
}

TEST(GgufVocabTest, RejectsInconsistentVocab) {
  auto error = [](const GgufBuilder& b) {
    const std::string file = b.Build();
    auto f = ParseGguf(Bytes(file), "m.gguf");
    if (!f.ok()) return std::string(f.status().message());
    return std::string(ReadGgufVocab(*f, "m.gguf").status().message());
  };
  const std::vector<std::string> tokens = {"a", "b", "c"};
  EXPECT_THAT(error(GgufBuilder()),
              HasSubstr("m.gguf: missing metadata key 'tokenizer.ggml.tokens'"));
  EXPECT_THAT(error(GgufBuilder().F32s("tokenizer.ggml.tokens", {1})),
              HasSubstr("'tokenizer.ggml.tokens' has type array of f32"));
  EXPECT_THAT(error(GgufBuilder()
                        .Strings("tokenizer.ggml.tokens", tokens)
                        .F32s("tokenizer.ggml.scores", {1, 2})),
              HasSubstr("m.gguf: metadata key 'tokenizer.ggml.scores' has 2 entries but "
                        "tokenizer.ggml.tokens has 3"));
  EXPECT_THAT(error(GgufBuilder()
                        .Strings("tokenizer.ggml.tokens", tokens)
                        .I32s("tokenizer.ggml.token_type", {1, 1, 1, 1})),
              HasSubstr("'tokenizer.ggml.token_type' has 4 entries"));
  EXPECT_THAT(error(GgufBuilder()
                        .Strings("tokenizer.ggml.tokens", tokens)
                        .U32("tokenizer.ggml.eos_token_id", 3)),
              HasSubstr("m.gguf: metadata key 'tokenizer.ggml.eos_token_id' (3) is not a token "
                        "id in [0, 3)"));
  EXPECT_THAT(error(GgufBuilder()
                        .Strings("tokenizer.ggml.tokens", tokens)
                        .String("tokenizer.ggml.add_bos_token", "yes")),
              HasSubstr("'tokenizer.ggml.add_bos_token' has type string"));
}

TEST(GgufVocabTest, ReadsSharedVocabFiles) {
  const std::string spm = test::SharedData("vocab/ggml-vocab-llama-spm.gguf");
  if (spm.empty()) STOCHA_FIXTURE_ABSENT("../shared/data is absent");
  auto v = ReadGgufVocabFile(spm);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->model, "llama");
  EXPECT_EQ(v->tokens.size(), 32000u);
  EXPECT_EQ(v->scores.size(), 32000u);
  EXPECT_EQ(v->bos_id, 1);
  auto gpt2 = ReadGgufVocabFile(test::SharedData("vocab/ggml-vocab-gpt-2.gguf"));
  ASSERT_TRUE(gpt2.ok()) << gpt2.status();
  EXPECT_EQ(gpt2->model, "gpt2");
  EXPECT_FALSE(gpt2->merges.empty());
  EXPECT_EQ(ReadGgufVocabFile("/nonexistent.gguf").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace stocha
