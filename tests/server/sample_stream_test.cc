// SampleStream: whole characters only, stop strings cut, tokens held back with their text.
#include "server/sample_stream.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stocha::server {
namespace {

class MapTokenizer final : public Tokenizer {
 public:
  absl::StatusOr<std::vector<int>> Encode(std::string_view, bool) const override {
    return absl::UnimplementedError("not needed");
  }
  std::string TokenBytes(int /*prev*/, int token) const override {
    auto it = pieces_.find(token);
    return it == pieces_.end() ? "" : it->second;
  }
  int vocab_size() const override { return 100; }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }

 private:
  std::map<int, std::string> pieces_ = {
      {10, "he"}, {11, "llo"},  {12, " wor"},
      {13, "ld"}, {14, "\xE2"}, {15, "\x82\xAC"},  // the two halves of the euro sign
      {16, "EN"}, {17, "D"},    {18, "!"}};
};

struct Out {
  std::string text;
  std::vector<int> tokens;
};

Out Take(SampleStream& s, Out so_far = {}) {
  SampleChunk c;
  s.TakeReleased(&c);
  so_far.text += c.text;
  so_far.tokens.insert(so_far.tokens.end(), c.token_ids.begin(), c.token_ids.end());
  return so_far;
}

TEST(SampleStreamTest, PassesTextThroughWithoutStops) {
  MapTokenizer tok;
  SampleStream s(&tok, 1, {}, false);
  EXPECT_FALSE(s.Push(10, {}));
  EXPECT_FALSE(s.Push(11, {}));
  Out o = Take(s);
  EXPECT_EQ(o.text, "hello");
  EXPECT_EQ(o.tokens, (std::vector<int>{10, 11}));
}

TEST(SampleStreamTest, NeverSplitsACharacter) {
  MapTokenizer tok;
  SampleStream s(&tok, 1, {}, false);
  s.Push(14, {});
  Out o = Take(s);
  EXPECT_EQ(o.text, "");
  s.Push(15, {});
  o = Take(s, o);
  EXPECT_EQ(o.text, "\xE2\x82\xAC");
  EXPECT_EQ(o.tokens, (std::vector<int>{14, 15}));
}

TEST(SampleStreamTest, StopAcrossTokensIsCutAndItsTokensDropped) {
  MapTokenizer tok;
  SampleStream s(&tok, 1, {"END"}, false);
  s.Push(10, {});
  s.Push(16, {});  // "EN" could start "END": held back with its token
  Out o = Take(s);
  EXPECT_EQ(o.text, "he");
  EXPECT_EQ(o.tokens, (std::vector<int>{10}));
  EXPECT_TRUE(s.Push(17, {}));
  o = Take(s, o);
  EXPECT_EQ(o.text, "he");
  EXPECT_EQ(o.tokens, (std::vector<int>{10}));
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.stop_string(), "END");
}

TEST(SampleStreamTest, FlushReleasesAPrefixThatNeverCompleted) {
  MapTokenizer tok;
  SampleStream s(&tok, 1, {"END"}, true);
  s.Push(10, SampleResult{10, -0.5f, {}});
  s.Push(16, SampleResult{16, -1.5f, {}});
  s.Flush();
  SampleChunk c;
  s.TakeReleased(&c);
  EXPECT_EQ(c.text, "heEN");
  EXPECT_EQ(c.token_ids, (std::vector<int>{10, 16}));
  ASSERT_EQ(c.logprobs.size(), 2u);
  EXPECT_FLOAT_EQ(c.logprobs[1].logprob, -1.5f);
}

TEST(SampleStreamTest, EarliestOfSeveralStopsWins) {
  MapTokenizer tok;
  SampleStream s(&tok, 1, {"world", "lo w"}, false);
  s.Push(10, {});
  s.Push(11, {});
  EXPECT_TRUE(s.Push(12, {}));
  Out o = Take(s);
  EXPECT_EQ(o.text, "hel");
  EXPECT_EQ(s.stop_string(), "lo w");
}

TEST(SampleStreamTest, WithoutTokenizerTokensGoOutAtOnce) {
  SampleStream s(nullptr, 1, {"x"}, false);
  EXPECT_FALSE(s.Push(10, {}));
  Out o = Take(s);
  EXPECT_EQ(o.text, "");
  EXPECT_EQ(o.tokens, (std::vector<int>{10}));
}

}  // namespace
}  // namespace stocha::server
