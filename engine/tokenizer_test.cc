// StreamDecoder never emits half a UTF-8 character.
#include "engine/tokenizer.h"

#include "gtest/gtest.h"

namespace stocha {
namespace {

// Token i is byte i (a byte-level vocabulary).
class ByteTokenizer : public Tokenizer {
 public:
  absl::StatusOr<std::vector<int>> Encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string TokenBytes(int, int token) const override {
    return std::string(1, static_cast<char>(token));
  }
  int vocab_size() const override { return 256; }
  int bos_id() const override { return -1; }
  int eos_id() const override { return -1; }
};

TEST(StreamDecoderTest, HoldsBackSplitCharacters) {
  ByteTokenizer tok;
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80z";  // a é 中 😀 z
  StreamDecoder dec(&tok);
  std::string out;
  for (unsigned char c : text) {
    const std::string piece = dec.Push(c);
    // Every emitted piece is whole characters only.
    if (!piece.empty()) {
      EXPECT_NE(static_cast<unsigned char>(piece.back()) & 0xC0, 0xC0) << "lead byte emitted alone";
    }
    out += piece;
  }
  out += dec.Flush();
  EXPECT_EQ(out, text);
}

TEST(StreamDecoderTest, InvalidBytesBecomeReplacementCharacters) {
  ByteTokenizer tok;
  StreamDecoder dec(&tok);
  std::string out = dec.Push(0xFF);
  out += dec.Push('a');
  out += dec.Push(0xE4);  // truncated 3-byte sequence at the end
  out += dec.Flush();
  EXPECT_EQ(out,
            "\xEF\xBF\xBD"
            "a"
            "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace stocha
