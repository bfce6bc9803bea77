// Tests that stop strings never leak, even when split across pushes.
#include "engine/sampling/stop_matcher.h"

#include "gtest/gtest.h"

namespace stocha {
namespace {

TEST(StopMatcherTest, CutsAtStopAcrossChunks) {
  StopMatcher m({"THE END"});
  std::string out = m.Push("once upon a time. TH");
  EXPECT_EQ(out, "once upon a time. ");
  out += m.Push("E EN");
  EXPECT_FALSE(m.stopped());
  out += m.Push("D and more");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(out, "once upon a time. ");
  EXPECT_EQ(m.Push("x"), "");
}

TEST(StopMatcherTest, ReleasesFalseStarts) {
  StopMatcher m({"abc"});
  EXPECT_EQ(m.Push("xab"), "x");
  EXPECT_EQ(m.Push("d"), "abd");
  EXPECT_EQ(m.Push("a"), "");
  EXPECT_EQ(m.Flush(), "a");
}

TEST(StopMatcherTest, EarliestOfSeveral) {
  StopMatcher m({"zz", "\n\n"});
  EXPECT_EQ(m.Push("hello\n\nzz"), "hello");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcherTest, NoStopsPassesThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.Push("abc"), "abc");
  EXPECT_EQ(m.Flush(), "");
}

}  // namespace
}  // namespace stocha
