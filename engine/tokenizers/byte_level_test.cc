// GPT-2 byte <-> unicode mapping.
#include "engine/tokenizers/byte_level.h"

#include <string>

#include "gtest/gtest.h"

namespace stocha::tokenizers {
namespace {

TEST(ByteLevelTest, KnownCharacters) {
  EXPECT_EQ(ByteLevelEncode(" "), "\xC4\xA0");   // Ġ
  EXPECT_EQ(ByteLevelEncode("\n"), "\xC4\x8A");  // Ċ
  EXPECT_EQ(ByteLevelEncode("Az!"), "Az!");
  EXPECT_EQ(ByteLevelEncode("\xC3\xA9"), "\xC3\x83\xC2\xA9");  // é -> Ã©
}

TEST(ByteLevelTest, AllBytesRoundTrip) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(ByteLevelDecode(ByteLevelEncode(all)), all);
}

TEST(ByteLevelTest, UnmappedCharactersPassThrough) {
  // A plain space and CJK are not byte-level characters (e.g. added-token content).
  EXPECT_EQ(ByteLevelDecode("a b\xE4\xB8\xAD"), "a b\xE4\xB8\xAD");
}

}  // namespace
}  // namespace stocha::tokenizers
