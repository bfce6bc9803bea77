// tests/fixtures.h: a missing fixture is a skip, or a failure under STOCHA_REQUIRE_FIXTURES=1.
#include "tests/fixtures.h"

#include <cstdlib>
#include <string>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace stocha::fixtures {
namespace {

void MissingFixture() {
  STOCHA_FIXTURE_ABSENT("data/x.bin"
                        << " absent");
}

// What MissingFixture reports, with STOCHA_REQUIRE_FIXTURES set to `value` (or unset).
void Report(const char* value, ::testing::TestPartResultArray* results) {
  const char* old = std::getenv("STOCHA_REQUIRE_FIXTURES");
  const std::string saved = old ? old : "";
  if (value != nullptr) {
    setenv("STOCHA_REQUIRE_FIXTURES", value, 1);
  } else {
    unsetenv("STOCHA_REQUIRE_FIXTURES");
  }
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, results);
    MissingFixture();
  }
  if (old != nullptr) {
    setenv("STOCHA_REQUIRE_FIXTURES", saved.c_str(), 1);
  } else {
    unsetenv("STOCHA_REQUIRE_FIXTURES");
  }
}

TEST(FixturesTest, MissingFixtureSkipsByDefault) {
  for (const char* value : {static_cast<const char*>(nullptr), "", "0", "yes"}) {
    ::testing::TestPartResultArray r;
    Report(value, &r);
    ASSERT_EQ(r.size(), 1) << (value ? value : "unset");
    EXPECT_TRUE(r.GetTestPartResult(0).skipped());
    EXPECT_STREQ(r.GetTestPartResult(0).message(), "data/x.bin absent");
  }
}

TEST(FixturesTest, MissingFixtureFailsWhenRequired) {
  ::testing::TestPartResultArray r;
  Report("1", &r);
  ASSERT_EQ(r.size(), 1);
  EXPECT_TRUE(r.GetTestPartResult(0).fatally_failed());
  EXPECT_NE(std::string(r.GetTestPartResult(0).message()).find("data/x.bin absent"),
            std::string::npos);
}

}  // namespace
}  // namespace stocha::fixtures
