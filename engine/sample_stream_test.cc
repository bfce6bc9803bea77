// SampleStream: the stop rules and limit, the RNG key, whole characters, stop strings cut
// with their tokens, tokens held back with their text.
#include "engine/sample_stream.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stocha {
namespace {

constexpr int kVocab = 100;
constexpr int kBos = 1;
constexpr int kEos = 2;

class MapTokenizer final : public Tokenizer {
 public:
  absl::StatusOr<std::vector<int>> Encode(std::string_view, bool) const override {
    return absl::UnimplementedError("not needed");
  }
  std::string TokenBytes(int /*prev*/, int token) const override {
    auto it = pieces_.find(token);
    return it == pieces_.end() ? "" : it->second;
  }
  int vocab_size() const override { return kVocab; }
  int bos_id() const override { return kBos; }
  int eos_id() const override { return kEos; }

 private:
  std::map<int, std::string> pieces_ = {
      {10, "he"}, {11, "llo"},  {12, " wor"},
      {13, "ld"}, {14, "\xE2"}, {15, "\x82\xAC"},  // the two halves of the euro sign
      {16, "EN"}, {17, "D"},    {18, "!"}};
};

// Greedy rules (the drawn token is the peak of the logits) with the model's end tokens.
SampleRules Greedy(int max_new_tokens, std::vector<std::string> stops = {}) {
  SampleRules r;
  r.sampling.temperature = 0;
  r.max_new_tokens = max_new_tokens;
  r.stop_strings = std::move(stops);
  r.eos_ids = {kEos, kBos};
  return r;
}

// Logits whose maximum is `token`.
std::vector<float> Peak(int token) {
  std::vector<float> l(kVocab, 0.0f);
  l[token] = 10.0f;  // greedy takes it; its log-probability is about -0.0045
  return l;
}

struct Out {
  std::string text;
  std::vector<int> tokens;
  std::vector<SampleResult> logprobs;
};

// Advances once per token (greedy), then takes what is released.
Out Feed(SampleStream& s, const std::vector<int>& tokens, Out so_far = {}) {
  for (int t : tokens) s.Advance(Peak(t));
  s.TakeReleased(&so_far.text, &so_far.tokens, &so_far.logprobs);
  return so_far;
}

TEST(SampleStreamTest, PassesTextThroughWithoutStops) {
  MapTokenizer tok;
  const SampleRules rules = Greedy(10);
  SampleStream s(&rules, &tok, {kBos}, 0);
  Out o = Feed(s, {10, 11});
  EXPECT_EQ(o.text, "hello");
  EXPECT_EQ(o.tokens, (std::vector<int>{10, 11}));
  EXPECT_FALSE(s.finished());
  EXPECT_EQ(s.next_token(), 11);
}

TEST(SampleStreamTest, NeverSplitsACharacter) {
  MapTokenizer tok;
  const SampleRules rules = Greedy(10);
  SampleStream s(&rules, &tok, {kBos}, 0);
  Out o = Feed(s, {14});
  EXPECT_EQ(o.text, "");
  o = Feed(s, {15}, o);
  EXPECT_EQ(o.text, "\xE2\x82\xAC");
  EXPECT_EQ(o.tokens, (std::vector<int>{14, 15}));
}

TEST(SampleStreamTest, StopAcrossTokensIsCutAndItsTokensDropped) {
  MapTokenizer tok;
  const SampleRules rules = Greedy(10, {"END"});
  SampleStream s(&rules, &tok, {kBos}, 0);
  Out o = Feed(s, {10, 16});  // "EN" could start "END": held back with its token
  EXPECT_EQ(o.text, "he");
  EXPECT_EQ(o.tokens, (std::vector<int>{10}));
  o = Feed(s, {17}, o);
  EXPECT_EQ(o.text, "he");
  EXPECT_EQ(o.tokens, (std::vector<int>{10}));
  ASSERT_TRUE(s.finished());
  EXPECT_EQ(*s.finish(), FinishReason::kStop);
  EXPECT_EQ(s.stop_string(), "END");
  EXPECT_FALSE(s.stop_token_id().has_value());
  EXPECT_EQ(s.drawn(), 3);
}

TEST(SampleStreamTest, LengthReleasesAPrefixThatNeverCompleted) {
  MapTokenizer tok;
  SampleRules rules = Greedy(2, {"END"});
  rules.keep_logprobs = true;
  SampleStream s(&rules, &tok, {kBos}, 0);
  Out o = Feed(s, {10, 16});
  EXPECT_EQ(*s.finish(), FinishReason::kLength);
  EXPECT_EQ(o.text, "heEN");
  EXPECT_EQ(o.tokens, (std::vector<int>{10, 16}));
  ASSERT_EQ(o.logprobs.size(), 2u);
  EXPECT_EQ(o.logprobs[1].token, 16);
  EXPECT_LT(o.logprobs[1].logprob, 0.0f);
}

TEST(SampleStreamTest, EarliestOfSeveralStopsWins) {
  MapTokenizer tok;
  const SampleRules rules = Greedy(10, {"world", "lo w"});
  SampleStream s(&rules, &tok, {kBos}, 0);
  Out o = Feed(s, {10, 11, 12});
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(o.text, "hel");
  EXPECT_EQ(s.stop_string(), "lo w");
}

TEST(SampleStreamTest, WithoutTokenizerTokensGoOutAtOnceAndStopStringsAreIgnored) {
  const SampleRules rules = Greedy(10, {"he"});
  SampleStream s(&rules, nullptr, {kBos}, 0);
  Out o = Feed(s, {10});
  EXPECT_EQ(o.text, "");
  EXPECT_EQ(o.tokens, (std::vector<int>{10}));
  EXPECT_FALSE(s.finished());
}

TEST(SampleStreamTest, MaxNewTokensCountsOutputTokens) {
  const SampleRules rules = Greedy(3);
  SampleStream s(&rules, nullptr, {kBos, 10}, 0);
  Out o = Feed(s, {11, 12});
  EXPECT_FALSE(s.finished());
  o = Feed(s, {13}, o);
  EXPECT_EQ(*s.finish(), FinishReason::kLength);
  EXPECT_EQ(o.tokens, (std::vector<int>{11, 12, 13}));

  const SampleRules none = Greedy(0);
  SampleStream z(&none, nullptr, {kBos}, 0);
  EXPECT_EQ(*z.finish(), FinishReason::kLength);  // starts finished: nothing to draw
  EXPECT_EQ(z.drawn(), 0);
}

TEST(SampleStreamTest, StopTokenEndsWithoutOutputAndReleasesHeldText) {
  MapTokenizer tok;
  SampleRules rules = Greedy(10, {"END"});
  rules.stop_token_ids = {18};
  SampleStream s(&rules, &tok, {kBos}, 0);
  Out o = Feed(s, {10, 16, 18});
  EXPECT_EQ(*s.finish(), FinishReason::kStop);
  EXPECT_EQ(s.stop_token_id(), 18);
  EXPECT_EQ(s.stop_string(), "");
  EXPECT_EQ(o.text, "heEN");  // "EN" never became "END"
  EXPECT_EQ(o.tokens, (std::vector<int>{10, 16}));
  EXPECT_EQ(s.drawn(), 3);  // the stop token was drawn (usage counts it)
}

TEST(SampleStreamTest, EosAndBosEndUnlessIgnored) {
  for (int end : {kEos, kBos}) {
    const SampleRules rules = Greedy(10);
    SampleStream s(&rules, nullptr, {kBos}, 0);
    Out o = Feed(s, {10, end});
    EXPECT_EQ(*s.finish(), FinishReason::kEos) << end;
    EXPECT_EQ(o.tokens, (std::vector<int>{10}));
  }
  SampleRules ignore = Greedy(3);
  ignore.ignore_eos = true;
  SampleStream s(&ignore, nullptr, {kBos}, 0);
  Out o = Feed(s, {kEos, kEos, kEos});
  EXPECT_EQ(*s.finish(), FinishReason::kLength);
  EXPECT_EQ(o.tokens, (std::vector<int>{kEos, kEos, kEos}));
}

TEST(SampleStreamTest, EndOfSequenceIdsJoinConfigTokenizerAndBos) {
  MapTokenizer tok;
  ModelConfig c;
  c.bos_token_id = 5;
  c.eos_token_ids = {7, 2};
  EXPECT_EQ(EndOfSequenceIds(c, &tok), (std::vector<int>{2, 5, 7}));
  EXPECT_EQ(EndOfSequenceIds(c, nullptr), (std::vector<int>{2, 5, 7}));
  c.eos_token_ids = {};
  EXPECT_EQ(EndOfSequenceIds(c, nullptr), (std::vector<int>{5}));
}

TEST(SampleStreamTest, CancelReleasesWhatIsHeldBack) {
  MapTokenizer tok;
  const SampleRules rules = Greedy(10, {"END"});
  SampleStream s(&rules, &tok, {kBos}, 0);
  Out o = Feed(s, {16});
  EXPECT_EQ(o.text, "");
  s.Cancel();
  o = Feed(s, {}, o);
  EXPECT_EQ(*s.finish(), FinishReason::kCancelled);
  EXPECT_EQ(o.text, "EN");
  EXPECT_EQ(o.tokens, (std::vector<int>{16}));
}

// Draws on flat logits: the key is (seed, sample index, position), nothing else.
std::vector<int> FlatDraws(uint64_t seed, uint32_t sample, std::vector<int> prompt, int n) {
  SampleRules rules;
  rules.sampling.seed = seed;
  rules.max_new_tokens = n;
  rules.ignore_eos = true;
  SampleStream s(&rules, nullptr, std::move(prompt), sample);
  const std::vector<float> flat(kVocab, 0.0f);
  while (!s.finished()) s.Advance(flat);
  Out o;
  s.TakeReleased(&o.text, &o.tokens, nullptr);
  return o.tokens;
}

TEST(SampleStreamTest, EachSampleHasItsOwnRngKey) {
  const std::vector<int> a = FlatDraws(7, 0, {kBos}, 16);
  ASSERT_EQ(a.size(), 16u);
  EXPECT_EQ(FlatDraws(7, 0, {kBos}, 16), a);     // reproducible
  EXPECT_NE(FlatDraws(7, 1, {kBos}, 16), a);     // another sample index
  EXPECT_NE(FlatDraws(8, 0, {kBos}, 16), a);     // another seed
  EXPECT_NE(FlatDraws(7, 0, {kBos, 3}, 16), a);  // other positions
  // The first draw is exactly the sampler's with key (seed, sample, prompt length).
  SamplingParams p;
  p.seed = 7;
  const std::vector<float> flat(kVocab, 0.0f);
  const std::vector<int> prompt = {kBos};
  EXPECT_EQ(a[0], Sample(p, flat, prompt, {}, RngKey{7, 0, 1, kSamplerStream}).token);
}

TEST(SampleStreamTest, PenaltiesSeeThePromptAndTheGeneratedTokens) {
  // Two equal peaks at 10 and 11; greedy takes the first index of the maximum.
  std::vector<float> two(kVocab, 0.0f);
  two[10] = two[11] = 5.0f;
  SampleRules rep = Greedy(2);
  rep.sampling.repetition_penalty = 2.0f;  // 10 is in the prompt: 11 wins, then neither
  SampleStream s(&rep, nullptr, {kBos, 10}, 0);
  s.Advance(two);
  EXPECT_EQ(s.next_token(), 11);
  SampleRules freq = Greedy(3);
  freq.sampling.frequency_penalty = 1.0f;  // only generated tokens count: 10, 11, 10
  SampleStream f(&freq, nullptr, {kBos, 10}, 0);
  Out o;
  for (int i = 0; i < 3; ++i) f.Advance(two);
  f.TakeReleased(&o.text, &o.tokens, nullptr);
  EXPECT_EQ(o.tokens, (std::vector<int>{10, 11, 10}));
}

}  // namespace
}  // namespace stocha
