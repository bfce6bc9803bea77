// Leftmost-longest special-token splitting.
#include "engine/tokenizers/special_tokens.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace stocha::tokenizers {
namespace {

using Segs = std::vector<std::pair<std::string, int>>;

Segs SplitAll(const SpecialTokenMatcher& m, std::string_view text) {
  Segs out;
  for (const TextSegment& s : m.Split(text)) out.emplace_back(std::string(s.text), s.token);
  return out;
}

TEST(SpecialTokenMatcherTest, LongestMatchWins) {
  SpecialTokenMatcher m;
  m.Add("<|a|>", 1);
  m.Add("<|a|><|b|>", 2);
  m.Add("<s>", 3);
  EXPECT_EQ(SplitAll(m, "x<|a|><|b|>y<s>"),
            (Segs{{"x", -1}, {"<|a|><|b|>", 2}, {"y", -1}, {"<s>", 3}}));
  EXPECT_EQ(SplitAll(m, "<|a|><|a|>"), (Segs{{"<|a|>", 1}, {"<|a|>", 1}}));
  EXPECT_EQ(SplitAll(m, "plain"), (Segs{{"plain", -1}}));
  EXPECT_EQ(SplitAll(m, ""), Segs{});
}

TEST(SpecialTokenMatcherTest, StripFlagsSwallowWhitespace) {
  SpecialTokenMatcher m;
  m.Add("<mask>", 7, /*lstrip=*/true, /*rstrip=*/false);
  m.Add("<eos>", 8, /*lstrip=*/false, /*rstrip=*/true);
  EXPECT_EQ(SplitAll(m, "a  <mask> b<eos>  c"),
            (Segs{{"a", -1}, {"<mask>", 7}, {" b", -1}, {"<eos>", 8}, {"c", -1}}));
}

}  // namespace
}  // namespace stocha::tokenizers
