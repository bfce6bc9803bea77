// safetensors parsing: round trips and every malformed-header case.
#include "engine/format/safetensors.h"

#include <string>

#include "engine/format/test_writers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using test::SafetensorsRaw;
using ::testing::HasSubstr;

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Parses `file` as "w.safetensors" and returns the error message ("" if it parsed).
std::string ParseError(const std::string& file) {
  auto parsed = ParseSafetensors(Bytes(file), "w.safetensors");
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

std::string Header(const std::string& name, const std::string& body) {
  return "{\"" + name + "\": " + body + "}";
}

TEST(SafetensorsTest, ParsesTensorsAndSkipsMetadata) {
  const std::string file = test::SafetensorsBytes({{"a", "F32", {2, 3}, std::string(24, '\1')},
                                                   {"b", "BF16", {4}, std::string(8, '\2')},
                                                   {"c", "I64", {1}, std::string(8, '\3')}});
  auto parsed = ParseSafetensors(Bytes(file), "w.safetensors");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 3u);
  const SafetensorsTensor& a = (*parsed)[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.dtype, "F32");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.nbytes, 24u);
  EXPECT_EQ(a.data, Bytes(file).data() + file.size() - 40);
  EXPECT_EQ((*parsed)[1].data[0], 2);
  EXPECT_EQ((*parsed)[2].dtype, "I64");
}

TEST(SafetensorsTest, AcceptsScalarsAndEmptyTensors) {
  const std::string file = test::SafetensorsBytes(
      {{"scalar", "F32", {}, std::string(4, '\0')}, {"empty", "F16", {0, 5}, ""}});
  EXPECT_EQ(ParseError(file), "");
}

TEST(SafetensorsTest, RejectsFileShorterThanTheLengthField) {
  EXPECT_THAT(ParseError(""), HasSubstr("w.safetensors: truncated"));
  EXPECT_THAT(ParseError("1234"), HasSubstr("header length"));
}

TEST(SafetensorsTest, RejectsHeaderLengthBeyondFile) {
  std::string file = SafetensorsRaw("{}", "");
  file[0] = 100;
  EXPECT_THAT(ParseError(file), HasSubstr("w.safetensors: header length 100 extends beyond"));
  file.replace(0, 8, std::string(8, '\xff'));  // 2^64 - 1: must not allocate
  EXPECT_THAT(ParseError(file), HasSubstr("extends beyond the file"));
}

TEST(SafetensorsTest, RejectsBadJson) {
  EXPECT_THAT(ParseError(SafetensorsRaw("{not json", "")), HasSubstr("w.safetensors: header"));
  EXPECT_THAT(ParseError(SafetensorsRaw("[1, 2]", "")), HasSubstr("JSON object"));
  EXPECT_THAT(ParseError(SafetensorsRaw(Header("t", "3"), "")),
              HasSubstr("tensor 't' must be a JSON object"));
}

TEST(SafetensorsTest, RejectsTruncatedData) {
  const std::string h = Header("t", R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})");
  EXPECT_EQ(ParseError(SafetensorsRaw(h, std::string(16, '\0'))), "");
  EXPECT_THAT(ParseError(SafetensorsRaw(h, std::string(15, '\0'))),
              HasSubstr("w.safetensors: tensor 't' has data_offsets [0, 16] outside the data "
                        "section (15 bytes)"));
}

TEST(SafetensorsTest, RejectsHugeOffsets) {
  const std::string h = Header(
      "t",
      R"({"dtype":"F32","shape":[4],"data_offsets":[18446744073709551600,18446744073709551615]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(h, "")), HasSubstr("tensor 't' has data_offsets"));
}

TEST(SafetensorsTest, RejectsEndBeforeBegin) {
  const std::string h = Header("t", R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(h, std::string(8, '\0'))),
              HasSubstr("w.safetensors: tensor 't' has data_offsets [8, 4] with end < begin"));
}

TEST(SafetensorsTest, RejectsBadOffsetsField) {
  for (const char* offsets : {"[0]", "[-1, 4]", "[0, 4.5]", "\"0,4\"", "[0, 4, 8]"}) {
    const std::string h =
        Header("t", std::string(R"({"dtype":"F32","shape":[1],"data_offsets":)") + offsets + "}");
    EXPECT_THAT(ParseError(SafetensorsRaw(h, std::string(8, '\0'))),
                HasSubstr("w.safetensors: tensor 't' needs 'data_offsets'"))
        << offsets;
  }
}

TEST(SafetensorsTest, RejectsSizeMismatch) {
  const std::string h = Header("t", R"({"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(h, std::string(8, '\0'))),
              HasSubstr("w.safetensors: tensor 't' has 8 bytes, but its shape [2, 3] of BF16 "
                        "needs 6 x 2"));
}

TEST(SafetensorsTest, RejectsOverlappingTensors) {
  const std::string h = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_THAT(ParseError(SafetensorsRaw(h, std::string(12, '\0'))),
              HasSubstr("w.safetensors: tensors 'x' and 'y' overlap"));
}

TEST(SafetensorsTest, RejectsUnknownDtype) {
  const std::string h = Header("t", R"({"dtype":"Q4","shape":[1],"data_offsets":[0,1]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(h, "x")),
              HasSubstr("w.safetensors: tensor 't' has unknown dtype 'Q4'"));
  const std::string missing = Header("t", R"({"shape":[1],"data_offsets":[0,1]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(missing, "x")), HasSubstr("tensor 't' has no 'dtype'"));
}

TEST(SafetensorsTest, RejectsDuplicateNames) {
  const std::string h = R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                        R"("t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  EXPECT_THAT(ParseError(SafetensorsRaw(h, "ab")),
              HasSubstr("w.safetensors: tensor 't' appears more than once"));
}

TEST(SafetensorsTest, RejectsBadShapes) {
  const std::string negative = Header("t", R"({"dtype":"U8","shape":[-1,2],"data_offsets":[0,0]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(negative, "")),
              HasSubstr("w.safetensors: tensor 't' has a negative dimension (-1)"));
  const std::string fraction = Header("t", R"({"dtype":"U8","shape":[1.5],"data_offsets":[0,1]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(fraction, "x")), HasSubstr("non-integer dimension"));
  const std::string absent = Header("t", R"({"dtype":"U8","data_offsets":[0,1]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(absent, "x")), HasSubstr("tensor 't' has no 'shape'"));
  const std::string overflow =
      Header("t", R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(overflow, "")), HasSubstr("tensor 't' has a shape whose"));
  const std::string bytes_overflow =
      Header("t", R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]})");
  EXPECT_THAT(ParseError(SafetensorsRaw(bytes_overflow, "")), HasSubstr("tensor 't' has 0 bytes"));
}

TEST(SafetensorsIndexTest, ParsesWeightMap) {
  auto map = ParseSafetensorsIndex(
      R"({"metadata":{"total_size":8},"weight_map":{"a":"m-1.safetensors","b":"m-2.safetensors"}})",
      "index.json");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->at("b"), "m-2.safetensors");
}

TEST(SafetensorsIndexTest, RejectsBadIndexes) {
  auto error = [](const std::string& text) {
    return std::string(ParseSafetensorsIndex(text, "index.json").status().message());
  };
  EXPECT_THAT(error("nope"), HasSubstr("index.json: must be a JSON object"));
  EXPECT_THAT(error("{}"), HasSubstr("index.json: field 'weight_map' must be an object"));
  EXPECT_THAT(error(R"({"weight_map":{"a":1}})"), HasSubstr("tensor 'a' maps to a non-string"));
  EXPECT_THAT(error(R"({"weight_map":{"a":"../x.safetensors"}})"),
              HasSubstr("index.json: tensor 'a' maps to '../x.safetensors', not a plain file"));
  EXPECT_THAT(error(R"({"weight_map":{"a":".."}})"), HasSubstr("not a plain file name"));
}

}  // namespace
}  // namespace stocha
