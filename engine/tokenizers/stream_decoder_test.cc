// StreamDecoder on real vocabularies: characters split across byte-fallback tokens.
#include <string>
#include <vector>

#include "engine/tokenizer.h"
#include "engine/tokenizers/load_tokenizer.h"
#include "engine/tokenizers/test_vectors.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha {
namespace {

// True if `s` is whole, valid UTF-8 characters (no partial sequence at either end).
bool IsCompleteUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80         ? 1
                       : (c >> 5) == 6  ? 2
                       : (c >> 4) == 14 ? 3
                       : (c >> 3) == 30 ? 4
                                        : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t j = 1; j < len; ++j) {
      if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

void CheckStreaming(const Tokenizer& tok, const std::string& text, int min_byte_tokens) {
  auto ids = tok.Encode(text, /*add_bos=*/true);
  ASSERT_TRUE(ids.ok()) << ids.status();
  const std::string full = tok.Decode(*ids);
  EXPECT_EQ(full, text);
  StreamDecoder dec(&tok);
  std::string streamed;
  int partial_tokens = 0;  // tokens whose own bytes are not whole characters
  for (int id : *ids) {
    const std::string piece = dec.Push(id);
    EXPECT_TRUE(IsCompleteUtf8(piece)) << "half a character emitted after token " << id;
    streamed += piece;
  }
  for (size_t k = 0; k < ids->size(); ++k) {
    partial_tokens += !IsCompleteUtf8(tok.TokenBytes(k ? (*ids)[k - 1] : -1, (*ids)[k]));
  }
  EXPECT_GE(partial_tokens, min_byte_tokens) << "the test text no longer splits characters";
  streamed += dec.Flush();
  EXPECT_EQ(streamed, full);
}

TEST(StreamDecoderVocabTest, EmojiAndCjkAcrossByteFallbackTokens) {
  const std::string path = tokenizers::SharedDataPath("stories260K/tok512.bin");
  if (!tokenizers::Exists(path)) STOCHA_FIXTURE_ABSENT("shared/data/stories260K absent");
  auto tok = LoadLlama2cTokenizer(path, 512);
  ASSERT_TRUE(tok.ok()) << tok.status();
  // tok512 has no piece for these characters: each becomes 3-4 <0xHH> tokens.
  CheckStreaming(**tok, "Tom \xF0\x9F\x98\x80 saw \xE4\xB8\xAD\xE6\x96\x87!", 7);
}

TEST(StreamDecoderVocabTest, Llama2ByteFallback) {
  const std::string path = tokenizers::SharedDataPath("llama2-tokenizer/tokenizer.model");
  if (!tokenizers::Exists(path)) STOCHA_FIXTURE_ABSENT("shared/data/llama2-tokenizer absent");
  auto tok = LoadSentencePieceTokenizer(path);
  ASSERT_TRUE(tok.ok()) << tok.status();
  CheckStreaming(**tok, "ok \xF0\x9F\x98\x80\xF0\x9F\x9A\x80 \xE1\x9E\x80 done", 4);
}

}  // namespace
}  // namespace stocha
