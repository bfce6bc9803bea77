// Regex pre-tokenization: llama.cpp/HF patterns and HF split behaviors.
#include "engine/tokenizers/pre_tokenizer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace stocha::tokenizers {
namespace {

using Pieces = std::vector<std::string>;

Pieces SplitWith(const PreTokenizer& pre, const std::string& text) {
  Pieces out;
  for (std::string_view p : pre.Split(text)) out.emplace_back(p);
  return out;
}

PreTokenizer ForGguf(std::string_view name) {
  auto spec = GgufPreTokenizerFor(name);
  EXPECT_TRUE(spec.ok()) << spec.status();
  PreTokenizer pre;
  for (const auto& p : spec->patterns) EXPECT_TRUE(pre.AddSplit(p, SplitBehavior::kIsolated).ok());
  return pre;
}

TEST(PreTokenizerTest, Gpt2) {
  const PreTokenizer pre = ForGguf("gpt-2");
  EXPECT_EQ(SplitWith(pre, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(SplitWith(pre, "   Hello"), (Pieces{"  ", " Hello"}));
  EXPECT_EQ(SplitWith(pre, "it's 42!!"), (Pieces{"it", "'s", " 42", "!!"}));
  EXPECT_EQ(SplitWith(pre, "\tHi\n"), (Pieces{"\t", "Hi", "\n"}));  // "\t" is a gap piece
  EXPECT_EQ(SplitWith(pre, ""), Pieces{});
}

TEST(PreTokenizerTest, Llama3) {
  const PreTokenizer pre = ForGguf("llama-bpe");
  EXPECT_TRUE(GgufPreTokenizerFor("llama-bpe")->ignore_merges);
  EXPECT_EQ(SplitWith(pre, "Hello, y'all! I'M"),
            (Pieces{"Hello", ",", " y", "'all", "!", " I", "'M"}));
  EXPECT_EQ(SplitWith(pre, "1314151\xE5\xA4\xA9"), (Pieces{"131", "415", "1", "\xE5\xA4\xA9"}));
  EXPECT_EQ(SplitWith(pre, "   Hello\n\n\n  x"), (Pieces{"  ", " Hello", "\n\n\n", " ", " x"}));
}

TEST(PreTokenizerTest, Qwen2SplitsDigitsOneByOne) {
  const PreTokenizer pre = ForGguf("qwen2");
  EXPECT_EQ(SplitWith(pre, "a 123"), (Pieces{"a", " ", "1", "2", "3"}));
}

TEST(PreTokenizerTest, LlamaCppDefaultChain) {
  const PreTokenizer pre = ForGguf("default");
  // Punctuation runs, then GPT-2 words, then digit runs cut into threes.
  EXPECT_EQ(SplitWith(pre, "ab,c 12345"), (Pieces{"ab", ",", "c", " ", "123", "45"}));
}

TEST(PreTokenizerTest, UnknownGgufPreIsAnError) {
  auto spec = GgufPreTokenizerFor("no-such-pre");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(PreTokenizerTest, BadRegexIsAnError) {
  PreTokenizer pre;
  EXPECT_EQ(pre.AddSplit("(unclosed", SplitBehavior::kIsolated).code(),
            absl::StatusCode::kInvalidArgument);
}

// The examples from the HF tokenizers documentation of SplitDelimiterBehavior.
TEST(PreTokenizerTest, HfSplitBehaviors) {
  const std::string text = "the-final--countdown";
  auto split = [&](SplitBehavior b, bool invert = false) {
    PreTokenizer pre;
    EXPECT_TRUE(pre.AddSplit("-", b, invert, /*literal=*/true).ok());
    return SplitWith(pre, text);
  };
  EXPECT_EQ(split(SplitBehavior::kRemoved), (Pieces{"the", "final", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::kIsolated), (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::kMergedWithPrevious),
            (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::kMergedWithNext), (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(SplitBehavior::kContiguous), (Pieces{"the", "-", "final", "--", "countdown"}));
  // invert: the words are the delimiters, so Removed keeps only the dashes.
  EXPECT_EQ(split(SplitBehavior::kRemoved, /*invert=*/true), (Pieces{"-", "-", "-"}));
}

}  // namespace
}  // namespace stocha::tokenizers
