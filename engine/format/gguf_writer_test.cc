// GgufWriter: streamed files read back through the project's GGUF parser.
#include "engine/format/gguf_writer.h"

#include <sstream>
#include <string>

#include "engine/format/gguf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using ::testing::HasSubstr;

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(GgufWriterTest, StreamedTensorsRoundTripThroughTheParser) {
  GgufWriter w;
  w.String("general.architecture", "llama")
      .U32("general.alignment", 64)
      .I32("i", -3)
      .F32("f", 0.25f)
      .Bool("b", true)
      .Strings("s", {"x", "yz"})
      .F32s("fs", {1.5f, -2})
      .I32s("is", {7, -8, 9})
      .AddTensor("a", 0, {3, 5}, 60)   // F32 [3][5]
      .AddTensor("empty", 0, {0}, 0)   // zero bytes: still listed
      .AddTensor("q", 8, {2, 32}, 68)  // two Q8_0 blocks
      .AddTensor("h", 1, {7}, 14);     // F16, ends unaligned
  std::ostringstream out;
  ASSERT_TRUE(w.Begin(&out, 64).ok());
  std::string a(60, '\0');
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(i);
  // Chunks that straddle tensor boundaries: the writer places the padding.
  const std::string rest = a.substr(50) + std::string(68, '\x11') + std::string(14, '\x22');
  ASSERT_TRUE(w.Append(a.data(), 50).ok());
  ASSERT_TRUE(w.Append(rest.data(), 30).ok());
  ASSERT_TRUE(w.Append(rest.data() + 30, rest.size() - 30).ok());
  ASSERT_TRUE(w.Finish().ok());
  const std::string file = out.str();

  auto f = ParseGguf(Bytes(file), "w.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->alignment, 64u);
  EXPECT_EQ(f->data_offset % 64, 0u);
  EXPECT_EQ(*f->GetInt("i"), -3);
  EXPECT_EQ(*f->GetFloat("f", 0), 0.25);
  EXPECT_TRUE(*f->GetBool("b", false));
  EXPECT_EQ(*f->GetStringArray("s"), (std::vector<std::string>{"x", "yz"}));
  EXPECT_EQ(*f->GetFloatArray("fs"), (std::vector<float>{1.5f, -2}));
  EXPECT_EQ(*f->GetIntArray("is"), (std::vector<int>{7, -8, 9}));
  ASSERT_EQ(f->tensors.size(), 4u);
  const GgufTensorInfo* t = f->FindTensor("a");
  EXPECT_EQ(t->shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t->data), t->nbytes), a);
  const GgufTensorInfo* q = f->FindTensor("q");
  EXPECT_EQ(q->offset, 64u);
  EXPECT_EQ(q->dtype, DType::kQ8_0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(q->data), q->nbytes),
            std::string(68, '\x11'));
  const GgufTensorInfo* h = f->FindTensor("h");
  EXPECT_EQ(h->offset, 192u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(h->data), h->nbytes),
            std::string(14, '\x22'));
  EXPECT_EQ(file.size(), f->data_offset + 192 + 14);
  EXPECT_EQ(w.data_bytes(), 192u + 14);
}

TEST(GgufWriterTest, MoreOrFewerBytesThanPlannedAreErrors) {
  GgufWriter w;
  w.AddTensor("t", 0, {2}, 8);
  std::ostringstream out;
  ASSERT_TRUE(w.Begin(&out).ok());
  const std::string bytes(12, 'x');
  ASSERT_TRUE(w.Append(bytes.data(), 5).ok());
  EXPECT_THAT(std::string(w.Finish().message()), HasSubstr("tensor 't' got 5 of its 8 bytes"));
  EXPECT_THAT(std::string(w.Append(bytes.data(), 12).message()),
              HasSubstr("more than the tensors planned"));
  GgufWriter unstarted;
  EXPECT_FALSE(unstarted.Append(bytes.data(), 1).ok());
}

TEST(GgufWriterTest, AFailingStreamIsAnError) {
  GgufWriter w;
  w.AddTensor("t", 0, {2}, 8);
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  EXPECT_FALSE(w.Begin(&out).ok());
}

}  // namespace
}  // namespace stocha
